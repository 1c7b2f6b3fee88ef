"""The WSOL evaluation of one split, in one pass over its maps: each map is read once (MapStore.read) and every
map-based metric is accumulated from that read, in the manner of wsolevaluation's BoxEvaluator / MaskEvaluator
(`accumulate` per image, `compute` at the end). The held-out boxes are scored from their box table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.records import ImageRecord
from ..settings import WsolEvalSettings
from . import metrics
from .gt_boxes import store_rows
from .maps import MapStore, StoredMap
from .masks import foreground_mask


def boxes_of_records(boxes: pd.DataFrame, records: list[ImageRecord]) -> list[np.ndarray]:
    """Each record's predicted boxes [k, 4] (original pixels) from a box table (make_boxes / ddt_boxes)."""
    by_image = {k: g[["x0", "y0", "x1", "y1"]].to_numpy() for k, g in boxes.groupby("image_id", sort=False)}
    missing = [r.image_id for r in records if r.image_id not in by_image]
    if missing:
        raise ValueError(f"boxes table lacks {len(missing)} images of the split, e.g. {missing[:5]}")
    return [by_image[r.image_id] for r in records]


def held_out_loc(boxes: pd.DataFrame, records: list[ImageRecord], s: WsolEvalSettings) -> dict:
    """GT-known Loc of a box table's boxes (the held-out threshold's), averaged over images and over classes."""
    pred = boxes_of_records(boxes, records)
    gts = [r.boxes for r in records]
    labels = [r.label if r.label is not None else -1 for r in records]
    return {"gt_known_loc": metrics.gt_known_loc(pred, gts, s.iou_threshold, s.strict),
            "gt_known_loc_class_avg": metrics.gt_known_loc_class_averaged(pred, gts, labels, s.iou_threshold,
                                                                          s.strict)}


class MapEvaluator:
    """The map-based metrics of one split, accumulated one image at a time:
      authors_protocol  GT-known Loc of the largest contour, best of AUTHORS_THRESHOLDS on this split (optimistic);
      MaxBoxAccV2       Choe et al.: min-max maps, all contours, the sweep 0, maxboxacc_step, ..., IoU maxboxacc_iou;
      PxAP              min-max maps in the original frame against the masks (with `masks`: every image has one);
      center_box        a centred box whose size is tuned on this split (context only).
    `normalization` and `upsample` are the map scaling of the held-out boxes (the box table's metadata); the
    authors' curve uses them, MaxBoxAccV2 and PxAP always min-max."""

    def __init__(self, s: WsolEvalSettings, normalization: str, upsample: bool, masks: bool):
        self.s, self.normalization, self.upsample = s, normalization, upsample
        self.sweep = np.round(np.arange(0, 1, s.maxboxacc_step), 6)
        self.authors_rows: list[np.ndarray] = []  # per image: best IoU at each of AUTHORS_THRESHOLDS
        self.sweep_rows: list[np.ndarray] = []  # per image: best IoU at each threshold of the sweep
        self.sizes: list[tuple[int, int]] = []
        self.gts: list = []
        self.pxap = metrics.PixelAP(self.sweep) if masks else None

    def accumulate(self, stored: StoredMap, gt_boxes, mask: tuple[np.ndarray, np.ndarray | None] | None = None) -> None:
        """One image: its map as read (StoredMap), its GT boxes (original pixels) and, with `masks`, its
        (foreground, ignored pixels or None) masks in the original frame (c2am.wsol.masks.foreground_mask)."""
        box_map, transform = stored.prepared(self.normalization, self.upsample)
        self.authors_rows.append(metrics.best_iou_curve([box_map], [gt_boxes], metrics.AUTHORS_THRESHOLDS,
                                                        all_contours=False, transforms=[transform])[0])
        if self.normalization != "minmax":  # a min-max box map already is the sweep's map
            box_map, transform = stored.prepared("minmax", self.upsample)
        self.sweep_rows.append(metrics.best_iou_curve([box_map], [gt_boxes], self.sweep, all_contours=True,
                                                      transforms=[transform])[0])
        if self.pxap is not None:
            self.pxap.accumulate(stored.original("minmax"), *mask)
        self.sizes.append((stored.geometry.orig_w, stored.geometry.orig_h))
        self.gts.append(gt_boxes)

    def compute(self) -> dict:
        """The metrics of the accumulated images (at least one)."""
        s = self.s
        authors = metrics.AUTHORS_THRESHOLDS
        protocol = metrics.authors_protocol_from_curve(np.stack(self.authors_rows), authors, s.iou_threshold, s.strict)
        out: dict = {"authors_protocol": {k: v.tolist() if isinstance(v, np.ndarray) else v
                                          for k, v in protocol.items()}}
        mba = metrics.max_box_acc_v2_from_curve(np.stack(self.sweep_rows), self.sweep, s.maxboxacc_iou, s.strict)
        out.update({k: v for k, v in mba.items() if k.startswith("MaxBoxAcc") or k.startswith("best_threshold")})
        if self.pxap is not None:
            out["PxAP"] = self.pxap.compute()["PxAP"]
        center = metrics.center_box_baseline(self.sizes, self.gts, iou_threshold=s.iou_threshold, strict=s.strict)
        out["center_box"] = {"gt_known_loc_tuned_on_eval": center["gt_known_loc_tuned_on_eval"],
                             "best_frac_tuned_on_eval": center["best_frac_tuned_on_eval"]}
        return out


def evaluate_split(store: MapStore, records: list[ImageRecord], boxes: pd.DataFrame, s: WsolEvalSettings,
                   normalization: str, upsample: bool) -> dict:
    """GT-known Loc of the boxes (held-out threshold) and the map metrics of MapEvaluator (the authors' protocol,
    MaxBoxAccV2, PxAP where every image has a mask, the centre box) on one split, each map read once.
    `normalization` and `upsample` are the map scaling the boxes were made with (the box table's metadata)."""
    records = [r for r in records if r.boxes]
    if not records:
        raise ValueError("the evaluation split has no GT boxes")
    out: dict = {"images": len(records), "iou_threshold": s.iou_threshold, "strict": s.strict,
                 "box_threshold": float(boxes["threshold"].iloc[0]) if len(boxes) else None,
                 "normalization": normalization}
    out.update(held_out_loc(boxes, records, s))
    rows = store_rows(store, records)
    masks = all(r.mask_path is not None for r in records)
    evaluator = MapEvaluator(s, normalization, upsample, masks)
    for r, i in zip(records, rows):
        stored = store.read(i)
        mask = None
        if masks:
            mask = foreground_mask(r)
            g = stored.geometry
            if mask[0].shape != (g.orig_h, g.orig_w):
                raise ValueError(f"mask {r.mask_path} is {mask[0].shape[::-1]} but its image is "
                                 f"{(g.orig_w, g.orig_h)}")
        evaluator.accumulate(stored, r.boxes, mask)
    out.update(evaluator.compute())
    return out
