"""WSOL metrics: IoU, GT-known / Top-k Loc, MaxBoxAccV2, PxAP, centre-box baseline, the threshold chooser, and
the PSOL evaluation of a split (evaluate_psol).

Box convention (same as ``c2am.data.records``, see ``c2am.wsol.boxes``): ``(x0, y0, x1, y1)`` in continuous pixel coordinates,
x1/y1 EXCLUSIVE edges; area = (x1 - x0) * (y1 - y0). IoU has no "+1" (old WSOL code adds one).
Accuracies are fractions in [0, 1] (wsolevaluation and papers print percentages).

Per-image box inputs ("box lists") are either an array [n, 4] (one box per image), an array [n, k, 4],
or a sequence of n array-likes each reshaped to [k_i, 4] (a single (x0, y0, x1, y1) tuple is one box).

Boundary: a box is correct when IoU >= threshold (PSOL / C2AM paper wording, wsolevaluation code).
The C2AM authors' evaluation code uses IoU > 0.5; pass ``strict=True`` to get that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..data.records import ImageRecord
from .boxes import boxes_from_map, center_box, scale_boxes

if TYPE_CHECKING:
    import pandas as pd

# Map thresholds swept by the C2AM authors' evaluation: 0.05, 0.10, ..., 0.95 (19 values).
AUTHORS_THRESHOLDS = np.round(np.arange(1, 20) * 0.05, 2)
# (sx, sy, ox, oy): maps boxes from map pixels to GT (original-image) pixels, see c2am.wsol.boxes.scale_boxes.
Transform = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------------- IoU
def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Broadcasting IoU of boxes a[..., 4] and b[..., 4]; zero union gives 0."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0.0, None) * np.clip(a[..., 3] - a[..., 1], 0.0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0.0, None) * np.clip(b[..., 3] - b[..., 1], 0.0, None)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix [N, M] of boxes a [N, 4] and b [M, 4] (exclusive edges; zero-area boxes give 0)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _iou(a[:, None, :], b[None, :, :])


def _as_box_list(boxes, name: str) -> list[np.ndarray]:
    """Normalise a box-list argument to a list of float arrays [k_i, 4]."""
    if isinstance(boxes, np.ndarray):
        arr = boxes.astype(np.float64)
        if arr.ndim == 2 and arr.shape[1] == 4:
            return list(arr[:, None, :])
        if arr.ndim == 3 and arr.shape[2] == 4:
            return list(arr)
        raise ValueError(f"{name}: expected [n, 4] or [n, k, 4], got shape {arr.shape}")
    return [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]


def _check_lengths(n: int, **named: int) -> None:
    for k, v in named.items():
        if v != n:
            raise ValueError(f"{k} has {v} entries, expected {n} (one per image)")


def best_iou_per_image(pred_boxes, gt_boxes) -> np.ndarray:
    """[n] max IoU over all (predicted, GT) box pairs of each image; 0 for an image with no prediction.

    Every image needs at least one GT box (ValueError otherwise). Vectorized over all pairs.
    """
    preds, gts = _as_box_list(pred_boxes, "pred_boxes"), _as_box_list(gt_boxes, "gt_boxes")
    n = len(preds)
    _check_lengths(n, gt_boxes=len(gts))
    kp = np.array([len(p) for p in preds], dtype=np.int64)
    kg = np.array([len(g) for g in gts], dtype=np.int64)
    if n and (kg == 0).any():
        raise ValueError(f"images without GT boxes at positions {np.flatnonzero(kg == 0)[:10].tolist()}")
    best = np.zeros(n, dtype=np.float64)
    if n == 0 or kp.sum() == 0:
        return best
    P = np.concatenate(preds)
    G = np.concatenate(gts)
    img_of_pred = np.repeat(np.arange(n), kp)  # [K]
    pairs_per_pred = kg[img_of_pred]  # each predicted box meets every GT box of its image
    pred_idx = np.repeat(np.arange(len(P)), pairs_per_pred)
    pair_start = np.cumsum(pairs_per_pred) - pairs_per_pred
    within = np.arange(len(pred_idx)) - np.repeat(pair_start, pairs_per_pred)
    gt_start = np.cumsum(kg) - kg
    gt_idx = gt_start[img_of_pred[pred_idx]] + within
    np.maximum.at(best, img_of_pred[pred_idx], _iou(P[pred_idx], G[gt_idx]))
    return best


# ----------------------------------------------------------------------------- GT-known / Top-k
def _passes(iou: np.ndarray, threshold: float, strict: bool) -> np.ndarray:
    return iou > threshold if strict else iou >= threshold


def _class_mean(values: np.ndarray, labels) -> float:
    """Mean over the classes present in labels of the per-class mean of values."""
    labels = np.asarray(labels).reshape(-1)
    _check_lengths(len(values), labels=len(labels))
    _, inv = np.unique(labels, return_inverse=True)
    per_class = np.bincount(inv, weights=values.astype(np.float64)) / np.bincount(inv)
    return float(per_class.mean())


def loc_correct(pred_boxes, gt_boxes, iou_threshold: float = 0.5, strict: bool = False) -> np.ndarray:
    """[n] bool: the image's best predicted box has IoU >= threshold (> if strict) with ANY GT box."""
    return _passes(best_iou_per_image(pred_boxes, gt_boxes), iou_threshold, strict)


def gt_known_loc(pred_boxes, gt_boxes, iou_threshold: float = 0.5, strict: bool = False) -> float:
    """GT-known Loc, image-averaged: fraction of images with a predicted box overlapping a GT box by
    IoU >= iou_threshold (PSOL / C2AM: "over 50% with one of the GT boxes"; authors' code: strict=True)."""
    c = loc_correct(pred_boxes, gt_boxes, iou_threshold, strict)
    return float(c.mean()) if len(c) else float("nan")


def gt_known_loc_class_averaged(
    pred_boxes, gt_boxes, labels, iou_threshold: float = 0.5, strict: bool = False
) -> float:
    """GT-known Loc averaged per class first (PSOL style): mean over classes of per-class accuracy."""
    return _class_mean(loc_correct(pred_boxes, gt_boxes, iou_threshold, strict), labels)


def top_k_loc(
    pred_boxes,
    gt_boxes,
    class_topk,
    gt_labels,
    k: int,
    iou_threshold: float = 0.5,
    strict: bool = False,
    class_averaged: bool = False,
) -> float:
    """Top-k Loc: localization correct AND the GT label among the first k columns of class_topk.

    class_topk: [n, >=k] predicted class ids, best first. class_averaged=True averages per class first.
    """
    topk = np.asarray(class_topk)
    topk = topk.reshape(-1, 1) if topk.ndim == 1 else topk
    labels = np.asarray(gt_labels).reshape(-1)
    if topk.shape[1] < k:
        raise ValueError(f"class_topk has {topk.shape[1]} columns, need at least k={k}")
    loc = loc_correct(pred_boxes, gt_boxes, iou_threshold, strict)
    _check_lengths(len(loc), class_topk=len(topk), gt_labels=len(labels))
    correct = loc & (topk[:, :k] == labels[:, None]).any(axis=1)
    if class_averaged:
        return _class_mean(correct, labels)
    return float(correct.mean()) if len(correct) else float("nan")


# ------------------------------------------------------------------------- threshold sweeps on maps
def best_iou_curve(
    maps: Sequence[np.ndarray],
    gt_boxes,
    thresholds,
    all_contours: bool = False,
    transforms: Sequence[Transform] | None = None,
) -> np.ndarray:
    """[n, T] best IoU of each image at each map threshold (one boxes_from_map call per image).

    maps: HxW maps already normalised to [0, 1], sizes may differ. gt_boxes are in the frame of the
    maps, or, with transforms, in original pixels: predicted boxes are mapped with
    scale_boxes(boxes, sx, sy, ox, oy) for that image's (sx, sy, ox, oy) before the IoU.
    """
    gts = _as_box_list(gt_boxes, "gt_boxes")
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    n = len(maps)
    extra = {"transforms": len(transforms)} if transforms is not None else {}
    _check_lengths(n, gt_boxes=len(gts), **extra)
    out = np.zeros((n, len(thr)), dtype=np.float64)
    for i in range(n):
        if len(gts[i]) == 0:
            raise ValueError(f"image {i} has no GT box")
        per_thr = boxes_from_map(maps[i], thr, all_contours=all_contours)
        counts = np.array([len(b) for b in per_thr])
        boxes = np.concatenate(per_thr)
        if transforms is not None:
            boxes = scale_boxes(boxes, *transforms[i])
        iou = box_iou(boxes, gts[i]).max(axis=1)
        out[i] = np.maximum.reduceat(iou, np.cumsum(counts) - counts)
    return out


def max_box_acc_v2_from_curve(best: np.ndarray, thresholds, iou_thresholds=(0.3, 0.5, 0.7),
                              strict: bool = False) -> dict:
    """MaxBoxAccV2 (Choe et al., CVPR 2020) from a [n, T] best-IoU curve (see best_iou_curve; the evaluation sweeps
    min-max maps with all contours): mean over IoU thresholds d of max over map thresholds t of BoxAcc(t, d), where
    an image counts at (t, d) if the best IoU between any of its boxes at t and any GT box is >= d (> if strict).

    Returns "MaxBoxAccV2", "MaxBoxAcc@30" (etc.), "best_threshold@30" (etc., first argmax),
    "box_acc" [len(iou_thresholds), len(thresholds)], "thresholds", "iou_thresholds". Fractions in [0, 1].
    Differences from wsolevaluation: maps are thresholded as float map >= t (not uint8 > int(255 t)),
    contours are RETR_EXTERNAL (not RETR_TREE), boxes are not clipped to size-1 and IoU has no +1.
    """
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    deltas = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    box_acc = _passes(best[None, :, :], deltas[:, None, None], strict).mean(axis=1)  # [D, T]
    out: dict = {"box_acc": box_acc, "thresholds": thr, "iou_thresholds": deltas}
    for d, row in zip(deltas, box_acc):
        key = f"{int(round(d * 100))}"
        out[f"MaxBoxAcc@{key}"] = float(row.max())
        out[f"best_threshold@{key}"] = float(thr[int(np.argmax(row))])
    out["MaxBoxAccV2"] = float(box_acc.max(axis=1).mean())
    return out


def loc_accuracy(best: np.ndarray, iou_threshold: float, strict: bool) -> np.ndarray:
    """[T] GT-known Loc at each threshold of a [n, T] best-IoU curve (see best_iou_curve)."""
    return _passes(np.asarray(best), iou_threshold, strict).mean(axis=0)


def choose_threshold(best: np.ndarray, thresholds, iou_threshold: float, strict: bool) -> tuple[float, np.ndarray]:
    """The one threshold chooser: (the map threshold maximising GT-known Loc, the GT-known Loc curve [T]) from a
    [n, T] best-IoU curve (see best_iou_curve) of the images it is chosen on. Ties go to the first threshold (the
    lowest, for ascending thresholds). A box counts when IoU >= iou_threshold (> with strict)."""
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    curve = loc_accuracy(best, iou_threshold, strict)
    return float(thr[int(np.argmax(curve))]), curve


def authors_protocol_from_curve(best: np.ndarray, thresholds=AUTHORS_THRESHOLDS, iou_threshold: float = 0.5,
                                strict: bool = False) -> dict:
    """The C2AM authors' OPTIMISTIC protocol from a [n, T] best-IoU curve of the largest contour (see best_iou_curve)
    at the thresholds 0.05..0.95: choose_threshold on the evaluated set itself. Not a held-out number.

    Returns "gt_known_loc_tuned_on_eval", "threshold_tuned_on_eval", "curve" [T], "thresholds", "protocol".
    (The authors' code counts IoU > 0.5: pass strict=True to match it.)
    """
    threshold, curve = choose_threshold(best, thresholds, iou_threshold, strict)
    return {
        "gt_known_loc_tuned_on_eval": float(curve.max()),
        "threshold_tuned_on_eval": threshold,
        "curve": curve,
        "thresholds": np.asarray(thresholds, dtype=np.float64).reshape(-1),
        "protocol": "authors: box threshold tuned on the evaluated set (optimistic, not held-out)",
    }


def center_box_baseline(
    sizes,
    gt_boxes,
    fracs=np.linspace(0.3, 1.0, 15),
    iou_threshold: float = 0.5,
    strict: bool = False,
) -> dict:
    """GT-known Loc of a centred box covering frac of each side, for every frac (context row only).

    sizes: [(width, height)] per image. The best frac is TUNED ON THE EVALUATED SPLIT (keys say so).
    Returns "fracs", "gt_known_loc" [F], "best_frac_tuned_on_eval", "gt_known_loc_tuned_on_eval".
    """
    wh = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    fr = np.asarray(fracs, dtype=np.float64).reshape(-1)
    acc = np.array(
        [gt_known_loc(center_box(wh[:, 0], wh[:, 1], f), gt_boxes, iou_threshold, strict) for f in fr]
    )
    i = int(np.argmax(acc))
    return {
        "fracs": fr,
        "gt_known_loc": acc,
        "best_frac_tuned_on_eval": float(fr[i]),
        "gt_known_loc_tuned_on_eval": float(acc[i]),
    }


# ------------------------------------------------------------------------------------------ PxAP
class PixelAP:
    """Pixel average precision (PxAP, Choe et al. CVPR 2020) of maps in [0, 1] against binary GT masks, accumulated
    one image at a time (as wsolevaluation's MaskEvaluator: `accumulate` per image, then `compute`).

    Levels L = thresholds (strictly increasing, in [0, 1]) plus 1.0 if absent. Over all (non-ignored)
    pixels of all images: TP_j / FP_j = foreground / background pixels with map >= L_j (histograms via
    searchsorted + bincount, then reverse cumulative sums), precision_j = TP_j / (TP_j + FP_j) (1 where
    no pixel passes), recall_j = TP_j / #foreground pixels (recall decreases with j), and
    PxAP = sum_j precision_j * (recall_j - recall_{j+1}) with recall past the last level = 0.
    This equals wsolevaluation's MaskEvaluator for thresholds = arange(0, 1, 0.01) (as a fraction).
    """

    def __init__(self, thresholds=np.arange(0, 1, 0.01)):
        levels = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if len(levels) == 0 or (np.diff(levels) <= 0).any() or levels[0] < 0 or levels[-1] > 1:
            raise ValueError("thresholds must be strictly increasing values in [0, 1]")
        self.levels = levels if levels[-1] >= 1.0 else np.append(levels, 1.0)
        nb = len(self.levels) + 1  # bin 0: below the lowest level; bin j+1: [L_j, L_{j+1})
        self.hist_fg = np.zeros(nb, dtype=np.int64)
        self.hist_bg = np.zeros(nb, dtype=np.int64)
        self.images = 0

    def accumulate(self, m: np.ndarray, mask: np.ndarray, ignored: np.ndarray | None = None) -> None:
        """One image: its map in [0, 1], its mask (nonzero = foreground) and its ignored pixels (bool) or None."""
        m = np.asarray(m, dtype=np.float64)
        g = np.asarray(mask)
        i, self.images = self.images, self.images + 1
        if m.shape != g.shape:
            raise ValueError(f"image {i}: map shape {m.shape} != mask shape {g.shape}")
        if not np.isfinite(m).all() or m.min() < -1e-6 or m.max() > 1 + 1e-6:
            raise ValueError(f"image {i}: map values must be finite and in [0, 1] (normalise first)")
        nb = len(self.hist_fg)
        bins = np.searchsorted(self.levels, np.clip(m, 0.0, 1.0), side="right")
        fg = g != 0
        valid = np.ones_like(fg) if ignored is None else ~np.asarray(ignored, bool)
        self.hist_fg += np.bincount(bins[fg & valid], minlength=nb)
        self.hist_bg += np.bincount(bins[~fg & valid], minlength=nb)

    def compute(self) -> dict:
        """The accumulated images' "PxAP", "precision" [L], "recall" [L] and "thresholds" (the levels L)."""
        num_fg = self.hist_fg.sum()
        if num_fg == 0:
            raise ValueError("no foreground pixel in the masks: PxAP is undefined")
        tp = np.cumsum(self.hist_fg[::-1])[::-1][1:]  # tp[j] = #fg pixels with map >= L_j
        fp = np.cumsum(self.hist_bg[::-1])[::-1][1:]
        pos = tp + fp
        precision = np.divide(tp, pos, out=np.ones(len(tp)), where=pos > 0)
        recall = tp / num_fg
        ap = float(np.sum(precision * (recall - np.append(recall[1:], 0.0))))
        return {"PxAP": ap, "precision": precision, "recall": recall, "thresholds": self.levels}


def evaluate_psol(records: list[ImageRecord], boxes: pd.DataFrame, classes: pd.DataFrame, iou_threshold: float,
                  strict: bool) -> dict:
    """Top-1 / Top-5 / GT-known Loc of a localizer's boxes with a classifier's top-k classes on one split,
    each averaged over images and over classes (PSOL), plus the classifier's top-1 / top-5 accuracy.

    With fewer than 5 classes Top-5 uses all of them (`top5_k` says how many)."""
    records = [r for r in records if r.boxes]
    if not records:
        raise ValueError("the evaluation split has no GT boxes")
    unlabeled = [r.image_id for r in records if r.label is None]
    if unlabeled:
        raise ValueError(f"Top-1/Top-5 Loc need class labels; {len(unlabeled)} images have none, e.g. {unlabeled[:3]}")
    by_image = {k: g[["x0", "y0", "x1", "y1"]].to_numpy() for k, g in boxes.groupby("image_id", sort=False)}
    cls = classes.set_index("image_id")
    for table, name in ((by_image, "localizer boxes"), (cls.index, "classifier predictions")):
        missing = [r.image_id for r in records if r.image_id not in table]
        if missing:
            raise ValueError(f"{name} lack {len(missing)} images of the split, e.g. {missing[:5]}")
    k = len([c for c in classes.columns if c.startswith("top")])
    topk = cls.loc[[r.image_id for r in records], [f"top{j + 1}" for j in range(k)]].to_numpy()
    pred = [by_image[r.image_id] for r in records]
    gts = [r.boxes for r in records]
    labels = np.array([r.label for r in records])
    out = {"images": len(records), "classes": int(len(np.unique(labels))), "iou_threshold": iou_threshold,
           "strict": strict, "top5_k": min(5, k)}
    for avg in (False, True):
        suffix = "_class_avg" if avg else ""
        out["top1_loc" + suffix] = top_k_loc(pred, gts, topk, labels, 1, iou_threshold, strict, avg)
        out["top5_loc" + suffix] = top_k_loc(pred, gts, topk, labels, min(5, k), iou_threshold, strict, avg)
    out["gt_known_loc"] = gt_known_loc(pred, gts, iou_threshold, strict)
    out["gt_known_loc_class_avg"] = gt_known_loc_class_averaged(pred, gts, labels, iou_threshold, strict)
    out["top1_cls"] = float((topk[:, 0] == labels).mean())
    out["top5_cls"] = float((topk[:, :min(5, k)] == labels[:, None]).any(axis=1).mean())
    return out
