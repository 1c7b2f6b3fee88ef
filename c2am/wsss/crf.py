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
    q = crf_marginals(image, unary, n, iterations, gaussian_sxy, gaussian_compat, bilateral_sxy, bilateral_srgb,
                      bilateral_compat)
    return np.argmax(q, axis=0)


def crf_marginals(image: np.ndarray, unary: np.ndarray, n: int, iterations: int, gaussian_sxy: float,
                  gaussian_compat: float, bilateral_sxy: float, bilateral_srgb: float,
                  bilateral_compat: float) -> np.ndarray:
    """The mean-field marginals [n, H, W] of `dense_crf` (float32, summing to 1 per pixel)."""
    import pydensecrf.densecrf as dcrf

    h, w = image.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    d.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb, rgbim=np.ascontiguousarray(image, np.uint8),
                           compat=bilateral_compat)
    return np.array(d.inference(iterations), np.float32).reshape(n, h, w)


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


def crf_foreground(image: np.ndarray, scaled: np.ndarray, threshold: float, max_side: int = 512,
                   iterations: int = 10, gt_prob: float = 0.7) -> np.ndarray:
    """Edge-aware refinement of a foreground map: a dense CRF (label unary from scaled >= threshold, confidence
    gt_prob; IRN / C2AM label settings: Gaussian 3/3, bilateral 50/5/10) on the RGB image [H, W, 3] uint8
    downscaled to `max_side` on its longest side. Returns the foreground marginal at [H, W] (float32 in [0, 1]:
    > 0.5 is the CRF's foreground). `scaled` is the min-max scaled map at [H, W]."""
    import cv2
    from pydensecrf.utils import unary_from_labels

    h, w = scaled.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image of shape {image.shape[:2]} does not match the map of shape {(h, w)}")
    labels = (scaled >= threshold).astype(np.int64)
    if labels.min() == labels.max():  # nothing to separate
        return labels.astype(np.float32)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(np.int64)
    unary = unary_from_labels(labels, 2, gt_prob=gt_prob, zero_unsure=False)
    q = crf_marginals(image, unary, 2, iterations, 3, 3, 50, 5, 10)[1]
    return cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else q
