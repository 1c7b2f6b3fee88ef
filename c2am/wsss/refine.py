"""Refinement of CAMs with a background channel (paper Sec. 3.5): stack the background in front of the CAMs
and take the argmax per pixel; the constant-threshold baseline and its sweep (see c2am.wsss)."""

from __future__ import annotations

import numpy as np

from ..settings import CrfSettings, RefineSettings
from .crf import crf_from_labels, crf_from_scores
from .scores import IGNORE, N_CLASSES, confusion

METHODS = ("threshold", "cue", "saliency", "crf_label", "crf_softmax")


def label_ids(keys: np.ndarray) -> np.ndarray:
    """VOC ids of the channels [background, CAM_1, ..., CAM_K]."""
    return np.concatenate([[0], np.asarray(keys, np.int64) + 1]).astype(np.uint8)


def refine_with_threshold(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """VOC label map of argmax over [t, CAMs] (the constant-background baseline)."""
    h, w = cams.shape[1:]
    if not len(keys):
        return np.zeros((h, w), np.uint8)
    peak, arg = cams.max(0), cams.argmax(0)
    return np.where(peak > threshold, label_ids(keys)[arg + 1], 0).astype(np.uint8)


def refine_with_background(cams: np.ndarray, keys: np.ndarray, background: np.ndarray) -> np.ndarray:
    """VOC label map of argmax over [background, CAMs]; background in [0, 1] at the CAMs' size (paper Fig. 5)."""
    if background.shape != cams.shape[1:]:
        raise ValueError(f"background cue of shape {background.shape} does not match CAMs of shape {cams.shape[1:]}")
    stack = np.concatenate([background[None].astype(np.float32), cams])
    return label_ids(keys)[stack.argmax(0)]


def sweep_confusions(cams: np.ndarray, keys: np.ndarray, gt: np.ndarray, thresholds) -> np.ndarray:
    """Confusion matrices [len(thresholds), 21, 21] of the threshold baseline at every t, in one pass."""
    valid = gt != IGNORE
    g = gt[valid].astype(np.int64)
    if g.size and g.max() >= N_CLASSES:
        raise ValueError(f"ground truth holds ids {sorted(set(np.unique(g[g >= N_CLASSES]).tolist()))}; "
                         f"expected 0..{N_CLASSES - 1} or {IGNORE}")
    out = np.zeros((len(thresholds), N_CLASSES, N_CLASSES), np.int64)
    if not len(keys):
        out[:] = confusion(gt, np.zeros_like(gt))
        return out
    peak = cams.max(0)[valid]
    fg_label = label_ids(keys)[cams.argmax(0)[valid] + 1].astype(np.int64)
    for i, t in enumerate(thresholds):
        pred = np.where(peak > t, fg_label, 0)
        out[i] = np.bincount(g * N_CLASSES + pred, minlength=N_CLASSES ** 2).reshape(N_CLASSES, N_CLASSES)
    return out


def crf_refine_labels(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, threshold: float,
                      crf: CrfSettings) -> np.ndarray:
    """+dCRF (label unary): the threshold baseline's label map refined by a dense CRF, as VOC ids."""
    if not len(keys):
        return np.zeros(cams.shape[1:], np.uint8)
    ids = label_ids(keys)
    to_index = np.zeros(256, np.int64)
    to_index[ids] = np.arange(len(ids))  # VOC id -> channel index (keys need not be sorted)
    index = to_index[refine_with_threshold(cams, keys, threshold)]
    return ids[crf_from_labels(image, index, len(ids), crf)]


def crf_refine_scores(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, bg_power: float,
                      crf: CrfSettings) -> np.ndarray:
    """+dCRF (softmax unary, PSA): scores [(1 - max CAM) ** bg_power, CAMs] refined by a dense CRF, as VOC ids."""
    if not len(keys):
        return np.zeros(cams.shape[1:], np.uint8)
    cams = np.clip(cams, 0, 1)  # CAMs made elsewhere may exceed 1; a fractional power of a negative is NaN
    bg = np.power(1 - cams.max(0), bg_power)
    return label_ids(keys)[crf_from_scores(image, np.concatenate([bg[None], cams]), crf)]


def refine_image(method: str, image: np.ndarray, cams: np.ndarray, keys: np.ndarray, s: RefineSettings,
                 threshold: float | None = None, background: np.ndarray | None = None) -> np.ndarray:
    """VOC label map of one image's CAMs refined by `method` (paper Sec. 3.5 and Table 5's columns):
      threshold    constant background `threshold`: the unrefined "CAMs" column
      cue          `background` in [0, 1] (C2AM's cue / 255): +C2AM
      saliency     `background` = 1 - saliency: +saliency
      crf_label    the threshold baseline refined by a dense CRF with a label unary (IRN / C2AM code settings)
      crf_softmax  dense CRF with a softmax unary on [(1 - max CAM) ** power, CAMs] (PSA settings)
    image: RGB uint8 [H, W, 3]; cams [K, H, W] with their 0-based class keys."""
    if method not in METHODS:
        raise ValueError(f"unknown refinement {method!r}; use one of {METHODS}")
    if method in ("threshold", "crf_label") and threshold is None:
        raise ValueError(f"refinement {method} needs a threshold")
    if method in ("cue", "saliency") and background is None:
        raise ValueError(f"refinement {method} needs a background map")
    if method == "threshold":
        return refine_with_threshold(cams, keys, threshold)
    if method in ("cue", "saliency"):
        return refine_with_background(cams, keys, background)
    if method == "crf_label":
        return crf_refine_labels(image, cams, keys, threshold, s.crf())
    psa = s.crf(crf_bilateral_sxy=s.crf_softmax_bilateral_sxy, crf_bilateral_srgb=s.crf_softmax_bilateral_srgb)
    return crf_refine_scores(image, cams, keys, s.crf_softmax_bg_power, psa)
