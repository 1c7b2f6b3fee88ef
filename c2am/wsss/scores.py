"""Segmentation scores: one confusion matrix per split, per-class IoU / FP / FN, mIoU (see c2am.wsss)."""

from __future__ import annotations

import numpy as np

from ..data.voc import VOC_IGNORE as IGNORE

N_CLASSES = 21


def confusion(gt: np.ndarray, pred: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    """Confusion matrix [n, n] (rows ground truth, columns prediction); ground-truth 255 pixels are ignored."""
    if gt.shape != pred.shape:
        raise ValueError(f"prediction of shape {pred.shape} does not match ground truth of shape {gt.shape}")
    valid = gt != IGNORE
    g, p = gt[valid].astype(np.int64), pred[valid].astype(np.int64)
    if g.size and (g.max() >= n or p.max() >= n or p.min() < 0):
        raise ValueError(f"class ids must be in 0..{n - 1} (ground truth max {g.max()}, prediction max {p.max()})")
    return np.bincount(g * n + p, minlength=n * n).reshape(n, n)


def segmentation_scores(conf: np.ndarray) -> dict:
    """Per-class IoU / FP / FN ratios (NaN for classes with an empty union), mIoU, mean FP and FN (fg classes)."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    t, p = conf.sum(1), conf.sum(0)
    union = t + p - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        fp = np.where(union > 0, (p - tp) / union, np.nan)
        fn = np.where(union > 0, (t - tp) / union, np.nan)
    present = union > 0
    return {"iou": iou, "fp": fp, "fn": fn,
            "miou": float(np.nanmean(iou)) if present.any() else float("nan"),
            "fp_mean": float(np.nanmean(fp[1:])) if present[1:].any() else float("nan"),
            "fn_mean": float(np.nanmean(fn[1:])) if present[1:].any() else float("nan"),
            "classes_scored": int(present.sum()), "pixels": int(conf.sum())}
