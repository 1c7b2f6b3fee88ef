"""The held-out box threshold: the map threshold maximising GT-known Loc on a calibration part of the training split
(the evaluation split is never used), found on the stored maps in the box frame (MapStore.prepared)."""

from __future__ import annotations

import hashlib

import numpy as np

from ..data.records import ImageRecord
from ..settings import BoxSettings, WsolEvalSettings
from . import metrics
from .gt_boxes import store_rows
from .maps import MapStore

CHUNK = 256  # maps in memory at a time
CALIBRATION_MINIMUM = 10  # images: a smaller calibration part would pick the threshold on noise


def calibration_subset(records: list[ImageRecord], fraction: float, seed: int) -> list[ImageRecord]:
    """A fixed part of the training split (chosen by a seeded hash of the image id; `fraction` of it, at least
    CALIBRATION_MINIMUM images) whose GT boxes pick the box threshold. The evaluation split is never used."""
    minimum = CALIBRATION_MINIMUM
    with_boxes = [r for r in records if r.boxes]
    if not with_boxes:
        raise ValueError("the training split has no GT boxes: set make_boxes.threshold to a number instead of auto")
    keyed = sorted(with_boxes, key=lambda r: hashlib.sha256(f"{seed}:{r.image_id}".encode()).hexdigest())
    n = min(len(keyed), max(minimum, int(round(fraction * len(keyed)))))
    return sorted(keyed[:n], key=lambda r: r.image_id)


def threshold_grid(step: float) -> np.ndarray:
    return np.round(np.arange(step, 1.0 - 1e-9, step), 6)


def store_iou_curve(store: MapStore, records: list[ImageRecord], thresholds, normalization: str,
                    all_contours: bool, upsample: bool) -> np.ndarray:
    """[n, T] best IoU with the GT boxes of each record at each threshold, on the stored maps (chunked)."""
    rows = store_rows(store, records)
    out = []
    for start in range(0, len(rows), CHUNK):
        prepared = [store.prepared(i, normalization, upsample) for i in rows[start:start + CHUNK]]
        out.append(metrics.best_iou_curve([m for m, _ in prepared], [r.boxes for r in records[start:start + CHUNK]],
                                          thresholds, all_contours=all_contours,
                                          transforms=[t for _, t in prepared]))
    return np.concatenate(out) if out else np.zeros((0, len(thresholds)))


def choose_box_threshold(store: MapStore, train_records: list[ImageRecord], box: BoxSettings,
                         evaluation: WsolEvalSettings) -> dict:
    """The threshold maximising GT-known Loc (counted as the evaluation counts it: evaluation.iou_threshold and
    .strict) on the calibration part of the training split (metrics.choose_threshold, the one chooser)."""
    calib = calibration_subset(train_records, box.calib_fraction, box.calib_seed)
    grid = threshold_grid(box.threshold_grid_step)
    best = store_iou_curve(store, calib, grid, box.normalization, box.all_contours, box.upsample)
    threshold, curve = metrics.choose_threshold(best, grid, evaluation.iou_threshold, evaluation.strict)
    return {"threshold": threshold, "calibration_gt_known_loc": float(curve.max()),
            "grid": grid.tolist(), "curve": curve.tolist(), "calibration_images": [r.image_id for r in calib],
            "normalization": box.normalization, "all_contours": box.all_contours,
            "iou_threshold": evaluation.iou_threshold, "strict": evaluation.strict}
