"""From stored maps to boxes, the held-out threshold choice, and the WSOL evaluation of one split.

Every map is resized to its crop (bilinear), normalised per image (`normalization`: minmax or max), and
boxes found on it are mapped to original-image pixels with the manifest's geometry. Work is done in chunks
so a split of any size fits in memory.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..data.records import ImageRecord
from ..data.voc import VOC_IGNORE, read_mask
from ..settings import BoxSettings, WsolEvalSettings
from . import metrics
from .boxes import boxes_from_map, clip_boxes, normalize_map, scale_boxes
from .maps import MapStore

CHUNK = 256


CALIBRATION_MINIMUM = 10  # images: a smaller calibration part would pick the threshold on noise


def calibration_subset(records: list[ImageRecord], fraction: float, seed: int) -> list[ImageRecord]:
    """A fixed part of the training split (chosen by a seeded hash of the image id; `fraction` of it, at least
    CALIBRATION_MINIMUM images) whose GT boxes pick the box threshold. The evaluation split is never used."""
    minimum = CALIBRATION_MINIMUM
    with_boxes = [r for r in records if r.boxes]
    if not with_boxes:
        raise ValueError("the training split has no GT boxes: set boxes.threshold to a number instead of auto")
    keyed = sorted(with_boxes, key=lambda r: hashlib.sha256(f"{seed}:{r.image_id}".encode()).hexdigest())
    n = min(len(keyed), max(minimum, int(round(fraction * len(keyed)))))
    return sorted(keyed[:n], key=lambda r: r.image_id)


def threshold_grid(step: float) -> np.ndarray:
    return np.round(np.arange(step, 1.0 - 1e-9, step), 6)


BOX_TOLERANCE = 1.0  # pixels a GT box may extend past the image edge (annotation rounding)


def _aligned(store: MapStore, records: list[ImageRecord]) -> list[int]:
    missing = [r.image_id for r in records if r.image_id not in store.index]
    if missing:
        raise ValueError(f"{store.folder}: no map for {len(missing)} images, e.g. {missing[:5]}")
    rows = [store.index[r.image_id] for r in records]
    check_boxes_inside(records, [store.geometry(i) for i in rows])
    return rows


def check_boxes_inside(records: list[ImageRecord], geometries) -> None:
    """A GT box reaching more than BOX_TOLERANCE pixels outside its image is an annotation error: name it."""
    for r, g in zip(records, geometries):
        for box in r.boxes or ():
            x0, y0, x1, y1 = box
            t = BOX_TOLERANCE
            if x0 < -t or y0 < -t or x1 > g.orig_w + t or y1 > g.orig_h + t:
                raise ValueError(f"GT box {tuple(round(float(v), 1) for v in box)} of image {r.image_id} ({r.path}) "
                                 f"lies outside the image ({g.orig_w} x {g.orig_h} pixels): check its annotation")


def store_iou_curve(store: MapStore, records: list[ImageRecord], thresholds, normalization: str,
                    all_contours: bool, upsample: bool) -> np.ndarray:
    """[n, T] best IoU with the GT boxes of each record at each threshold, on the stored maps (chunked)."""
    rows = _aligned(store, records)
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
    .strict) on the calibration part of the training split."""
    calib = calibration_subset(train_records, box.calib_fraction, box.calib_seed)
    grid = threshold_grid(box.threshold_grid_step)
    best = store_iou_curve(store, calib, grid, box.normalization, box.all_contours, box.upsample)
    threshold, curve = metrics.choose_threshold(best, grid, evaluation.iou_threshold, evaluation.strict)
    return {"threshold": threshold, "calibration_gt_known_loc": float(curve.max()),
            "grid": grid.tolist(), "curve": curve.tolist(), "calibration_images": [r.image_id for r in calib],
            "normalization": box.normalization, "all_contours": box.all_contours,
            "iou_threshold": evaluation.iou_threshold, "strict": evaluation.strict}


def boxes_table(store: MapStore, threshold: float, normalization: str, all_contours: bool,
                upsample: bool) -> pd.DataFrame:
    """One row per (image, box) in original pixels, with the threshold and a score (mean normalised
    activation inside the box on the map)."""
    rows = []
    for i in range(len(store)):
        fg_map, transform = store.prepared(i, normalization, upsample)
        geom = store.geometry(i)
        boxes = boxes_from_map(fg_map, [threshold], all_contours=all_contours)[0]
        orig = clip_boxes(scale_boxes(boxes, *transform), geom.orig_w, geom.orig_h)
        image_id = store.manifest["image_id"].iloc[i]
        for k, (b, ob) in enumerate(zip(boxes.astype(int), orig)):
            inside = fg_map[b[1]:b[3], b[0]:b[2]]
            rows.append({"image_id": image_id, "box": k, "x0": ob[0], "y0": ob[1], "x1": ob[2], "y1": ob[3],
                         "threshold": threshold, "score": float(inside.mean()) if inside.size else 0.0})
    return pd.DataFrame(rows, columns=["image_id", "box", "x0", "y0", "x1", "y1", "threshold", "score"])


def evaluate_split(store: MapStore, records: list[ImageRecord], boxes: pd.DataFrame, s: WsolEvalSettings,
                   normalization: str, upsample: bool) -> dict:
    """GT-known Loc of the boxes (held-out threshold), the authors' test-tuned protocol, MaxBoxAccV2,
    PxAP (where masks exist) and the centre-box baseline, on one split. `normalization` and `upsample` are the
    map scaling the boxes were made with (the box table's metadata)."""
    records = [r for r in records if r.boxes]
    if not records:
        raise ValueError("the evaluation split has no GT boxes")
    iou_thr, strict = s.iou_threshold, s.strict
    by_image = {k: g[["x0", "y0", "x1", "y1"]].to_numpy() for k, g in boxes.groupby("image_id", sort=False)}
    missing = [r.image_id for r in records if r.image_id not in by_image]
    if missing:
        raise ValueError(f"boxes table lacks {len(missing)} images of the split, e.g. {missing[:5]}")
    pred = [by_image[r.image_id] for r in records]
    gts = [r.boxes for r in records]
    labels = [r.label if r.label is not None else -1 for r in records]
    out: dict = {"images": len(records), "iou_threshold": iou_thr, "strict": strict,
                 "box_threshold": float(boxes["threshold"].iloc[0]) if len(boxes) else None,
                 "normalization": normalization}
    out["gt_known_loc"] = metrics.gt_known_loc(pred, gts, iou_thr, strict)
    out["gt_known_loc_class_avg"] = metrics.gt_known_loc_class_averaged(pred, gts, labels, iou_thr, strict)
    authors = metrics.AUTHORS_THRESHOLDS
    curve = store_iou_curve(store, records, authors, normalization, all_contours=False, upsample=upsample)
    protocol = metrics.authors_protocol_from_curve(curve, authors, iou_thr, strict)
    out["authors_protocol"] = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in protocol.items()}

    # MaxBoxAccV2 follows Choe et al.: min-max normalised maps, all contours, fine threshold sweep.
    sweep = np.round(np.arange(0, 1, s.maxboxacc_step), 6)
    fine = store_iou_curve(store, records, sweep, "minmax", all_contours=True, upsample=upsample)
    mba = metrics.max_box_acc_v2_from_curve(fine, sweep, s.maxboxacc_iou, strict)
    out.update({k: v for k, v in mba.items() if k.startswith("MaxBoxAcc") or k.startswith("best_threshold")})

    masked = [r for r in records if r.mask_path is not None]
    if masked and len(masked) == len(records):
        out["PxAP"] = pixel_ap(store, masked, sweep)

    geoms = [store.geometry(store.index[r.image_id]) for r in records]
    sizes = [(g.orig_w, g.orig_h) for g in geoms]
    center = metrics.center_box_baseline(sizes, gts, iou_threshold=iou_thr, strict=strict)
    out["center_box"] = {"gt_known_loc_tuned_on_eval": center["gt_known_loc_tuned_on_eval"],
                         "best_frac_tuned_on_eval": center["best_frac_tuned_on_eval"]}
    return out


def foreground_mask(record: ImageRecord) -> tuple[np.ndarray, np.ndarray | None]:
    """(foreground bool [H, W], ignored pixels bool [H, W] or None) of a record's mask: for VOC class-id masks
    any object class (1..254) is foreground and 255 is ignored; CUB-style masks are foreground above 127."""
    import cv2

    if record.mask_kind == "class_ids":
        ids = read_mask(record.mask_path)
        return (ids > 0) & (ids < VOC_IGNORE), ids == VOC_IGNORE
    if record.mask_kind != "foreground":
        raise ValueError(f"image {record.image_id}: unknown mask kind {record.mask_kind!r} of {record.mask_path}")
    mask = cv2.imread(str(record.mask_path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot read mask {record.mask_path}")
    return mask > 127, None


def pixel_ap(store: MapStore, records: list[ImageRecord], thresholds) -> float:
    """PxAP of min-max normalised maps in the original frame against the records' foreground masks (ignored
    pixels left out), streamed: one image in memory at a time."""
    def images():
        for r in records:
            m = store.original_size_map(store.index[r.image_id])
            fg, ignored = foreground_mask(r)
            if fg.shape != m.shape:
                raise ValueError(f"mask {r.mask_path} is {fg.shape[::-1]} but its image is {m.shape[::-1]}")
            yield normalize_map(m, "minmax"), fg, ignored

    return metrics.pxap_streamed(images(), thresholds)["PxAP"]


def fg_rule_ablation(train_store: MapStore, test_store: MapStore, train_records: list[ImageRecord],
                     test_records: list[ImageRecord], box: BoxSettings, evaluation: WsolEvalSettings) -> dict:
    """GT-known Loc of the test split under three foreground rules, each with its own held-out threshold
    (chosen on the training split, as for the main result):
    dataset_border (ours: one decision for the data set), raw_P (no rule: P is the foreground), and
    per_image_border (the same border test on every image separately)."""
    flipped = bool(train_store.meta["settings"]["fg_flip"])
    sides = {"dataset_border": "stored", "raw_P": "opposite" if flipped else "stored", "per_image_border": "per_image"}
    test_records = [r for r in test_records if r.boxes]
    out = {"fg_flip": flipped, "rules": {}}
    for rule, side in sides.items():
        t = choose_box_threshold(train_store.with_side(side), train_records, box, evaluation)["threshold"]
        best = store_iou_curve(test_store.with_side(side), test_records, [t], box.normalization, box.all_contours,
                               box.upsample)
        accuracy = metrics.loc_accuracy(best, evaluation.iou_threshold, evaluation.strict)[0]
        out["rules"][rule] = {"side": side, "threshold": t, "gt_known_loc": float(accuracy),
                              "images": len(test_records)}
    return out
