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
from ..data.readers import record_size
from ..data.records import ImageRecord
from ..inference import infer, inference_model, pick_device
from ..models.pooled import PooledNet
from ..progress import progress_bar


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
    model = inference_model(model, dev, channels_last)
    loader = DataLoader(WholeImageViews(records, size), batch_size=batch_size, num_workers=workers, pin_memory=on_gpu)
    outs, sizes, ids = [], [], []
    for images, wh, idx in progress_bar(loader, len(loader), "predict", progress):
        outs.append(infer(model, images, dev, channels_last, amp).cpu())
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
