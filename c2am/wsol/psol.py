"""PSOL's route for WSOL (Zhang et al., CVPR 2020) on top of class-agnostic boxes: pseudo boxes of the training
split -> a localizer (c2am.training.supervised) -> its boxes on the evaluation split, combined with a
classifier's top-5 classes into Top-1 / Top-5 / GT-known Loc.
"""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.images import eval_view, read_image
from ..data.records import ImageRecord, record_size
from ..models.pooled import PooledNet
from ..training.loop import amp_dtype, pick_device, progress_bar, to_input
from . import metrics


def pseudo_box_per_image(boxes: pd.DataFrame) -> dict[str, tuple[float, float, float, float]]:
    """One training box per image from a box table: the box with the most activation (score, the mean
    activation inside it, times its area), so with several contours per image the object wins over a small
    peak; the first row on ties."""
    need = {"image_id", "x0", "y0", "x1", "y1", "score"}
    if not need <= set(boxes.columns):
        raise ValueError(f"box table lacks columns {sorted(need - set(boxes.columns))}")
    mass = boxes["score"] * (boxes["x1"] - boxes["x0"]).clip(lower=0) * (boxes["y1"] - boxes["y0"]).clip(lower=0)
    ranked = boxes.assign(_mass=mass.fillna(0)).sort_values(["image_id", "_mass"], ascending=[True, False],
                                                            kind="stable")
    best = ranked.drop_duplicates("image_id")
    return {str(r.image_id): (float(r.x0), float(r.y0), float(r.x1), float(r.y1)) for r in best.itertuples()}


def localizer_targets(records: list[ImageRecord], boxes: pd.DataFrame, source: str) -> tuple[list, list[str]]:
    """The localizer's training target of every record (its pseudo box; `source` names the table in errors)
    and the ids of the images whose pseudo box is empty (an empty map gives no box): their target is the whole
    image, so they still teach "the object fills the view" rather than nothing."""
    per_image = pseudo_box_per_image(boxes)
    missing = [r.image_id for r in records if r.image_id not in per_image]
    if missing:
        raise ValueError(f"{source} has no pseudo box for {len(missing)} training images, e.g. {missing[:5]}")
    targets, empty = [], []
    for r in records:
        x0, y0, x1, y1 = per_image[r.image_id]
        if not (x1 > x0 and y1 > y0):
            w, h = record_size(r)
            x0, y0, x1, y1 = 0.0, 0.0, float(w), float(h)
            empty.append(r.image_id)
        targets.append((x0, y0, x1, y1))
    return targets, empty


class WholeImageViews(Dataset):
    def __init__(self, records: list[ImageRecord], size: int):
        self.records, self.size = records, size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        img, geom = eval_view(read_image(self.records[i].path), self.size, None)
        return img, torch.tensor(astuple(geom)[:2], dtype=torch.float64), i


@torch.no_grad()
def pooled_outputs(model: PooledNet, records: list[ImageRecord], size: int, batch_size: int, workers: int,
                   device: str, amp: bool, channels_last: bool,
                   progress: bool = True) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(image ids, raw outputs [n, k] float32, original sizes [n, 2] (w, h)) of a localizer or classifier on
    whole images resized to size x size."""
    dev = pick_device(device)
    on_gpu = dev.type == "cuda"
    model = model.to(dev).eval()
    if on_gpu and channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = DataLoader(WholeImageViews(records, size), batch_size=batch_size, num_workers=workers, pin_memory=on_gpu)
    outs, sizes, ids = [], [], []
    for images, wh, idx in progress_bar(loader, len(loader), "predict", progress):
        with torch.autocast(dev.type, dtype=amp_dtype(dev), enabled=on_gpu and amp):
            outs.append(model(to_input(images, dev, channels_last)).float().cpu())
        sizes.append(wh)
        ids += [records[i].image_id for i in idx.tolist()]
    return ids, torch.cat(outs), torch.cat(sizes)


def boxes_from_outputs(ids: list[str], outputs: torch.Tensor, sizes: torch.Tensor, box_output: str) -> pd.DataFrame:
    """Localizer outputs (normalised x0, y0, x1, y1; through a sigmoid first when box_output is sigmoid) -> box
    table in original pixels (clipped to the image, coordinates ordered)."""
    b = (torch.sigmoid(outputs) if box_output == "sigmoid" else outputs).double().clamp(0, 1)
    x0, x1 = torch.minimum(b[:, 0], b[:, 2]), torch.maximum(b[:, 0], b[:, 2])
    y0, y1 = torch.minimum(b[:, 1], b[:, 3]), torch.maximum(b[:, 1], b[:, 3])
    w, h = sizes[:, 0], sizes[:, 1]
    return pd.DataFrame({"image_id": ids, "box": 0, "x0": (x0 * w).numpy(), "y0": (y0 * h).numpy(),
                         "x1": (x1 * w).numpy(), "y1": (y1 * h).numpy(), "threshold": np.nan, "score": 1.0})


def topk_table(ids: list[str], logits: torch.Tensor, class_ids: list[int], k: int = 5) -> pd.DataFrame:
    """Classifier outputs -> image_id, top1..topk class ids (dataset labels), p1..pk softmax probabilities."""
    k = min(k, logits.shape[1])
    probs = torch.softmax(logits.double(), dim=1)
    p, idx = probs.topk(k, dim=1)
    labels = torch.tensor(class_ids)[idx]
    cols = {"image_id": ids}
    cols.update({f"top{j + 1}": labels[:, j].numpy() for j in range(k)})
    cols.update({f"p{j + 1}": p[:, j].numpy() for j in range(k)})
    return pd.DataFrame(cols)


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
        out["top1_loc" + suffix] = metrics.top_k_loc(pred, gts, topk, labels, 1, iou_threshold, strict, avg)
        out["top5_loc" + suffix] = metrics.top_k_loc(pred, gts, topk, labels, min(5, k), iou_threshold, strict, avg)
    out["gt_known_loc"] = metrics.gt_known_loc(pred, gts, iou_threshold, strict)
    out["gt_known_loc_class_avg"] = metrics.gt_known_loc_class_averaged(pred, gts, labels, iou_threshold, strict)
    out["top1_cls"] = float((topk[:, 0] == labels).mean())
    out["top5_cls"] = float((topk[:, :min(5, k)] == labels[:, None]).any(axis=1).mean())
    return out
