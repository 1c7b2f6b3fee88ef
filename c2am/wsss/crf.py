"""Dense CRF (Kraehenbuehl & Koltun 2011, pydensecrf): refinement of label maps (IRN / C2AM code: label unary)
and of score maps (PSA: softmax unary). Keyword defaults equal the `refine` section of the config schema
(crf_from_scores: its crf_softmax_* settings)."""

from __future__ import annotations

import numpy as np


def dense_crf(image: np.ndarray, unary: np.ndarray, n: int, iterations: int, gaussian_sxy: float,
               gaussian_compat: float, bilateral_sxy: float, bilateral_srgb: float,
               bilateral_compat: float) -> np.ndarray:
    """Mean-field inference of a fully connected CRF (Kraehenbuehl & Koltun) with a Gaussian and a bilateral
    pairwise term over an RGB uint8 image; unary [n, H*W]; returns the index map [H, W]."""
    import pydensecrf.densecrf as dcrf

    h, w = image.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    d.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb, rgbim=np.ascontiguousarray(image, np.uint8),
                           compat=bilateral_compat)
    q = d.inference(iterations)
    return np.argmax(np.array(q).reshape(n, h, w), axis=0)


def crf_from_labels(image: np.ndarray, labels: np.ndarray, n_labels: int, iterations: int = 10,
                    gt_prob: float = 0.7, gaussian_sxy: float = 3, gaussian_compat: float = 3,
                    bilateral_sxy: float = 50, bilateral_srgb: float = 5, bilateral_compat: float = 10) -> np.ndarray:
    """Dense CRF on a label map of indices 0..n_labels-1 (unary from labels with confidence gt_prob); returns the
    refined index map. Settings default to the C2AM / IRN public code."""
    from pydensecrf.utils import unary_from_labels

    if n_labels < 2:
        return np.zeros(labels.shape, np.int64)
    unary = unary_from_labels(labels.astype(np.int64), n_labels, gt_prob=gt_prob, zero_unsure=False)
    return dense_crf(image, unary, n_labels, iterations, gaussian_sxy, gaussian_compat, bilateral_sxy,
                      bilateral_srgb, bilateral_compat)


def crf_from_scores(image: np.ndarray, scores: np.ndarray, iterations: int = 10, gaussian_sxy: float = 3,
                    gaussian_compat: float = 3, bilateral_sxy: float = 80, bilateral_srgb: float = 13,
                    bilateral_compat: float = 10) -> np.ndarray:
    """Dense CRF with a softmax unary (-log of the channel scores normalised to sum 1; PSA's crf_inference
    settings); returns the refined index map [H, W]."""
    from pydensecrf.utils import unary_from_softmax

    n = scores.shape[0]
    if n < 2:
        return np.zeros(scores.shape[1:], np.int64)
    probs = np.clip(scores.astype(np.float32), 1e-5, None)
    probs /= probs.sum(0, keepdims=True)
    return dense_crf(image, unary_from_softmax(probs), n, iterations, gaussian_sxy, gaussian_compat,
                      bilateral_sxy, bilateral_srgb, bilateral_compat)
