"""The supervised trainers around C2AM, all a PooledNet (backbone + pooling + linear head) trained by the shared
loop: PSOL's class-agnostic localizer (one box per image from pseudo boxes), the classifier (image-level labels)
and the multi-label CAM classifier of the WSSS part.

Localizer targets are (x0, y0, x1, y1) normalised to the training view; the head starts from the mean training
box (zero weights, bias = mean target, through the inverse sigmoid when `box_output: sigmoid`), the loss is the
MSE (PSOL), and the first steps are tamed by a warm-up and gradient clipping (without them a fresh head on large
pooled features blew up, and a saturated sigmoid stopped learning, on CUB-10 at lr 0.05). The classifier uses
cross-entropy with label smoothing, the CAM classifier the multi-label soft-margin loss (IRN / PuzzleCAM).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..data.augment import box_aware_view
from ..data.images import read_image, sample_generator
from ..data.readers import record_size
from ..data.records import ImageRecord
from ..models.pooled import TASKS, PooledNet
from ..settings import (CamTrainSettings, ClassifierTrainSettings, LocalizerTrainSettings,
                        PooledTrainSettings)
from .checkpoint import TrainingError
from .loop import RunFiles, Task
from .trainer import task_for, train

SETTINGS = {"localizer": LocalizerTrainSettings, "classifier": ClassifierTrainSettings, "cam": CamTrainSettings}


class PooledViews(Dataset):
    """Training views of the pooled networks: box-aware random resized crops (localizer: the crop keeps
    `min_box_keep` of the box; the target is the box in view coordinates) or plain ones (classifier, CAMs)."""

    def __init__(self, records: list[ImageRecord], targets: list, s: PooledTrainSettings, task: str):
        self.records, self.targets, self.s, self.task, self.epoch = records, targets, s, task, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]):
        index, position = item
        g = sample_generator(self.s.seed, self.epoch, position)
        img = read_image(self.records[index].path)
        if self.task == "localizer":
            view, box = box_aware_view(img, self.targets[index], self.s.crop, self.s.scale_min, self.s.hflip, g,
                                       self.s.min_box_keep)
            return view, torch.tensor(box, dtype=torch.float32)
        view, _ = box_aware_view(img, None, self.s.crop, self.s.scale_min, self.s.hflip, g)
        dtype = torch.float32 if self.task == "cam" else torch.long
        return view, torch.tensor(self.targets[index], dtype=dtype)


def _normalised(box, record: ImageRecord) -> list[float]:
    """A box in original pixels as fractions of its image's width and height."""
    w, h = record_size(record)
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


def _loss(task: str, s: PooledTrainSettings):
    def loss(out: torch.Tensor, target: torch.Tensor):
        out = out.float()
        if task == "localizer":
            return F.mse_loss(torch.sigmoid(out) if s.box_output == "sigmoid" else out, target), {}
        if task == "cam":
            return F.multilabel_soft_margin_loss(out, target), {}
        return F.cross_entropy(out, target, label_smoothing=s.label_smoothing), {}

    return loss


def train_pooled(task: str, records: list[ImageRecord], targets: list, init_artifact: dict, s: PooledTrainSettings,
                 out_model: Path, checkpoint: Path, log_path: Path, device: str = "auto", extra: dict | None = None,
                 progress: bool = True, stop_after_steps: int | None = None) -> dict:
    """Train the localizer (targets: boxes in original pixels), the classifier (targets: class indices) or the
    multi-label CAM classifier (targets: multi-hot vectors) with c2am.training.trainer.train; write out_model;
    return the summary."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}")
    if not isinstance(s, SETTINGS[task]):
        raise TypeError(f"the {task} trainer takes {SETTINGS[task].__name__}, got {type(s).__name__}")
    if len(records) != len(targets) or not records:
        raise TrainingError(f"need one target per training image, got {len(records)} images, {len(targets)} targets")
    outputs = 4 if task == "localizer" else len(targets[0]) if task == "cam" else int(max(targets)) + 1
    output_stride = s.output_stride if task == "cam" else 32

    def build(_ctx, _dev) -> Task:
        model = PooledNet(init_artifact["backbone"], outputs, init_artifact["input_mean"], init_artifact["input_std"],
                          init_artifact["tf_padding"], s.dropout, output_stride)
        model.backbone.net.load_state_dict(init_artifact["state_dict"], strict=True)
        if task == "localizer":  # start from the mean box of the training images
            nn.init.zeros_(model.head.weight)
            with torch.no_grad():
                mean_box = torch.tensor([_normalised(t, r) for t, r in zip(targets, records)]).mean(0)
                if s.box_output == "sigmoid":
                    mean_box = torch.logit(mean_box.clamp(0.01, 0.99))
                model.head.bias.copy_(mean_box)
        return task_for(task, model, PooledViews(records, targets, s, task), _loss(task, s), s, init_artifact,
                        records, targets, bias_lr_mult=1.0)

    return train(build, s, init_artifact, records, out_model, RunFiles(checkpoint, log_path), device, progress,
                 stop_after_steps, finish=lambda _model, _dev: {"task": task},
                 model_entries={"task": task, "outputs": outputs, "output_stride": output_stride, **(extra or {})})
