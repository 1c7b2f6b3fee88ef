"""Dense CRF (Kraehenbuehl & Koltun 2011, pydensecrf): refinement of label maps (IRN / C2AM code: label unary)
and of score maps (PSA: softmax unary). Every CRF takes one CrfSettings (the crf_* keys of the config schema)."""

from __future__ import annotations

import numpy as np

from ..settings import CrfSettings


def dense_crf(image: np.ndarray, unary: np.ndarray, n: int, crf: CrfSettings) -> np.ndarray:
    """Mean-field inference of a fully connected CRF (Kraehenbuehl & Koltun) with a Gaussian and a bilateral
    pairwise term over an RGB uint8 image; unary [n, H*W]; returns the index map [H, W]."""
    return np.argmax(crf_marginals(image, unary, n, crf), axis=0)


def crf_marginals(image: np.ndarray, unary: np.ndarray, n: int, crf: CrfSettings) -> np.ndarray:
    """The mean-field marginals [n, H, W] of `dense_crf` (float32, summing to 1 per pixel)."""
    import pydensecrf.densecrf as dcrf

    h, w = image.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=crf.crf_gaussian_sxy, compat=crf.crf_gaussian_compat)
    d.addPairwiseBilateral(sxy=crf.crf_bilateral_sxy, srgb=crf.crf_bilateral_srgb,
                           rgbim=np.ascontiguousarray(image, np.uint8), compat=crf.crf_bilateral_compat)
    return np.array(d.inference(crf.crf_iterations), np.float32).reshape(n, h, w)


def crf_from_labels(image: np.ndarray, labels: np.ndarray, n_labels: int, crf: CrfSettings) -> np.ndarray:
    """Dense CRF on a label map of indices 0..n_labels-1 (unary from labels with confidence crf_gt_prob); returns
    the refined index map."""
    from pydensecrf.utils import unary_from_labels

    if n_labels < 2:
        return np.zeros(labels.shape, np.int64)
    unary = unary_from_labels(labels.astype(np.int64), n_labels, gt_prob=crf.crf_gt_prob, zero_unsure=False)
    return dense_crf(image, unary, n_labels, crf)


def crf_from_scores(image: np.ndarray, scores: np.ndarray, crf: CrfSettings) -> np.ndarray:
    """Dense CRF with a softmax unary (-log of the channel scores normalised to sum 1; PSA's crf_inference);
    returns the refined index map [H, W]."""
    from pydensecrf.utils import unary_from_softmax

    n = scores.shape[0]
    if n < 2:
        return np.zeros(scores.shape[1:], np.int64)
    probs = np.clip(scores.astype(np.float32), 1e-5, None)
    probs /= probs.sum(0, keepdims=True)
    return dense_crf(image, unary_from_softmax(probs), n, crf)


def crf_foreground(image: np.ndarray, scaled: np.ndarray, threshold: float, max_side: int,
                   crf: CrfSettings) -> np.ndarray:
    """Edge-aware refinement of a foreground map: a dense CRF (label unary from scaled >= threshold) on the RGB
    image [H, W, 3] uint8 downscaled to `max_side` on its longest side. Returns the foreground marginal at [H, W]
    (float32 in [0, 1]: > 0.5 is the CRF's foreground). `scaled` is the min-max scaled map at [H, W]."""
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
    unary = unary_from_labels(labels, 2, gt_prob=crf.crf_gt_prob, zero_unsure=False)
    q = crf_marginals(image, unary, 2, crf)[1]
    return cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else q
