"""Foreground-mask scores of any score map against VOC-layout masks: what a user of `predict` cares about.

Ground truth: every object class (ids 1..254) is foreground, 0 is background, 255 is ignored. Score maps are
in [0, 1] at the mask's size: a raw map is min-max scaled per image first (`wsol.boxes.normalize_map`, as
`predict` does), and the mask of an image is score >= its level (the threshold t, or 0.5 for the CRF's
foreground marginal: predict's mask, c2am.predict.mask_score).
  fg IoU         mean over images of |pred & fg| / |pred | fg| on the valid pixels (an image with neither
                 predicted nor true foreground scores 1);
  pixel acc      mean over images of the share of valid pixels where pred equals the truth;
  IoU curve      the mean fg IoU at each of the 255 levels k / 255, k = 1..255, pred = round(255 x score) >= k
                 (used to choose a level on a training split and report it on another);
  maxF           the salient-object protocol (Achanta et al. 2009; beta^2 = 0.3): per level, precision and
                 recall per image, averaged over the images that hold foreground (precision of an empty
                 prediction is 0), F = (1 + b^2) P R / (b^2 P + R) of the means, max over the 255 levels.
All counts are exact integers per image (histograms of the quantised map), so the curves need no loop per level.
"""

from __future__ import annotations

import numpy as np

from .data.voc import VOC_IGNORE

LEVELS = 255
BETA2 = 0.3


def foreground_truth(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VOC class-id mask -> (foreground, valid) boolean maps: ids 1..254 are foreground, 255 is ignored."""
    valid = mask != VOC_IGNORE
    return (mask > 0) & valid, valid


def _at_or_above(values: np.ndarray) -> np.ndarray:
    """Counts of quantised values >= k for k = 1..255 (a reversed cumulative histogram)."""
    return np.cumsum(np.bincount(values, minlength=LEVELS + 1)[::-1])[::-1][1:]


class ForegroundScores:
    """Accumulates the scores of one split, image by image (`add`), and summarises them (`summary`)."""

    def __init__(self):
        self.iou: list[float] = []
        self.acc: list[float] = []
        self.tp: list[np.ndarray] = []  # per image: true-positive pixels at levels 1..255
        self.fp: list[np.ndarray] = []
        self.n_fg: list[int] = []

    def add(self, score: np.ndarray, mask: np.ndarray, level: float) -> float:
        """Score one image: `score` in [0, 1] at the mask's size, predicted foreground = score >= level.
        Returns the image's fg IoU."""
        if score.shape != mask.shape:
            raise ValueError(f"score map of shape {score.shape} does not match the mask of shape {mask.shape}")
        if not (np.isfinite(score).all() and score.min() >= 0 and score.max() <= 1):
            raise ValueError("score map must be finite and in [0, 1] (min-max scale raw maps first)")
        fg, valid = foreground_truth(mask)
        pred = (score >= level) & valid
        union = int((pred | fg).sum())
        iou = float((pred & fg).sum()) / union if union else 1.0
        self.iou.append(iou)
        self.acc.append(float(((pred == fg) & valid).sum()) / max(int(valid.sum()), 1))
        q = np.rint(np.asarray(score, np.float64) * LEVELS).astype(np.int64)
        self.tp.append(_at_or_above(q[fg]))
        self.fp.append(_at_or_above(q[valid & ~fg]))
        self.n_fg.append(int(fg.sum()))
        return iou

    def iou_curve(self) -> np.ndarray:
        """Mean fg IoU at the levels k / 255, k = 1..255."""
        tp, fp = np.array(self.tp, np.float64), np.array(self.fp, np.float64)
        union = np.array(self.n_fg, np.float64)[:, None] + fp
        per_image = np.where(union > 0, tp / np.maximum(union, 1), 1.0)
        return per_image.mean(0)

    def max_f(self) -> tuple[float, float]:
        """(maxF_beta, its level in [0, 1]) over the images that hold foreground; (nan, nan) when none does."""
        n_fg = np.array(self.n_fg)
        keep = n_fg > 0
        if not keep.any():
            return float("nan"), float("nan")
        tp, fp = np.array(self.tp, np.float64)[keep], np.array(self.fp, np.float64)[keep]
        predicted = tp + fp
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0).mean(0)
        recall = (tp / n_fg[keep, None]).mean(0)
        denom = BETA2 * precision + recall
        f = np.where(denom > 0, (1 + BETA2) * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        k = int(np.argmax(f))
        return float(f[k]), (k + 1) / LEVELS

    def summary(self) -> dict:
        if not self.iou:
            raise ValueError("no image was scored")
        f, level = self.max_f()
        curve = self.iou_curve()
        return {"images": len(self.iou), "fg_iou": float(np.mean(self.iou)),
                "pixel_acc": float(np.mean(self.acc)), "max_f": f, "max_f_level": level,
                "images_with_foreground": int(np.count_nonzero(self.n_fg)),
                "iou_curve": [round(float(v), 6) for v in curve]}


def best_level(curve: list[float]) -> tuple[float, float]:
    """(level, mean IoU) of the best level of an IoU curve (levels k / 255, k = 1..255; the first of ties)."""
    k = int(np.argmax(curve))
    return (k + 1) / LEVELS, float(curve[k])

