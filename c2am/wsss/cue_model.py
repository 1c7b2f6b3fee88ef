"""The background-cue model of the paper's WSSS section: a small segmentation network trained on C2AM's
background pseudo labels (no image-level or pixel labels), whose predicted background probability is the cue
that refines CAMs.

Network: the backbone's stride-16 features (the same taps C2AM uses) -> 3x3 conv (128) + BN + ReLU -> 1x1 conv
-> one background logit, upsampled bilinearly to the input. Loss: binary cross-entropy against the pseudo
label (255 = background, 0 = foreground; intermediate values are soft targets), at the training view's size.
Training views: random resized crop (area in [scale_min, 1], aspect 3/4..4/3) of image and label together,
resized to crop x crop, random horizontal flip. SGD with a head learning-rate multiplier, poly/cosine schedule,
AMP on GPU, channels_last (GPU and CPU), one checkpoint per epoch and exact resume (same fingerprint rule as the other
trainers, through the shared trainer skeleton and loop). Prediction: the whole image resized to
predict_cues.test_size squared, sigmoid, resized back to the original.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn
from torch.utils.data import Dataset

from ..data.augment import draw_crop
from ..data.images import read_image, sample_generator
from ..data.records import ImageRecord
from ..inference import amp_dtype
from ..io import load_artifact
from ..models.backbones import build_backbone
from ..settings import CueTrainSettings
from ..training.checkpoint import TrainingError, require_model_kind
from ..training.loop import RunFiles, Task
from ..training.trainer import task_for, train


class CueNet(nn.Module):
    """Backbone taps at stride 16 -> conv-BN-ReLU -> 1x1 conv: one background logit per pixel (input in [0, 1])."""

    def __init__(self, backbone_name: str, input_mean, input_std, tf_padding: bool, width: int):
        super().__init__()
        self.backbone = build_backbone(backbone_name, tf_padding, output_stride=16)
        self.head = nn.Sequential(nn.Conv2d(self.backbone.out_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.Conv2d(width, 1, 1))
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.input_mean.to(images.dtype)) / self.input_std.to(images.dtype)
        logits = self.head(self.backbone(x))
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


def read_label(path: Path) -> torch.Tensor:
    """A cue pseudo label PNG (uint8, 255 = background) as a uint8 tensor [1, H, W]."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 2:
        raise ValueError(f"{path}: not a single-channel PNG cue label")
    return torch.from_numpy(arr)[None]


class CueViews(Dataset):
    """(image, background label in [0, 1]) training views: the same random resized crop and flip of both."""

    def __init__(self, records: list[ImageRecord], labels: list[Path], s: CueTrainSettings):
        self.records, self.labels, self.s, self.epoch = records, labels, s, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]):
        index, position = item
        g = sample_generator(self.s.seed, self.epoch, position)
        img = read_image(self.records[index].path)
        label = read_label(self.labels[index])
        if label.shape[-2:] != img.shape[-2:]:
            raise ValueError(f"{self.labels[index]}: label of size {tuple(label.shape[-2:])} does not match image "
                             f"{self.records[index].path} of size {tuple(img.shape[-2:])}")
        left, top, w, h = draw_crop(img.shape[-1], img.shape[-2], self.s.scale_min, g) \
            if self.s.scale_min < 1 else (0, 0, img.shape[-1], img.shape[-2])
        size = [self.s.crop, self.s.crop]
        img = TF.resized_crop(img, top, left, h, w, size, antialias=True)
        label = TF.resized_crop(label.float(), top, left, h, w, size, antialias=False)
        if self.s.hflip and bool(torch.rand(1, generator=g) < 0.5):
            img, label = img.flip(-1), label.flip(-1)
        return img, label / 255.0


def train_cue_model(records: list[ImageRecord], labels: list[Path], init_artifact: dict, s: CueTrainSettings,
                    out_model: Path, checkpoint: Path, log_path: Path, device: str = "auto",
                    progress: bool = True, stop_after_steps: int | None = None) -> dict:
    """Train CueNet on (image, background pseudo label) pairs with c2am.training.trainer.train; write out_model;
    return a summary."""
    if len(records) != len(labels) or not records:
        raise TrainingError(f"need one pseudo label per image, got {len(records)} images and {len(labels)} labels")
    label_hashes = [hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in labels]

    def build(_ctx, _dev) -> Task:
        model = CueNet(init_artifact["backbone"], init_artifact["input_mean"], init_artifact["input_std"],
                       init_artifact["tf_padding"], s.head_width)
        model.backbone.net.load_state_dict(init_artifact["state_dict"], strict=True)
        return task_for("cue_model", model, CueViews(records, labels, s),
                        lambda out, target: (F.binary_cross_entropy_with_logits(out.float(), target), {}),
                        s, init_artifact, records, label_hashes, bias_lr_mult=1.0, decay_all=True)

    return train(build, s, init_artifact, records, out_model, RunFiles(checkpoint, log_path), device, progress,
                 stop_after_steps)


def load_cue_model(path, fits: dict | None = None, option: str = "--model") -> tuple[CueNet, dict]:
    """A trained cue model (eval mode) and its model file; `option` names it in errors. `fits`: the C2AM model file
    (load_trained's metadata) it is used with (predict --masks self_trained): its backbone must be the cue model's,
    as the workflow trains both from the experiment's init."""
    ck = load_artifact(path, "cue model", "train_cue_model", ("model", "backbone", "init", "settings"))
    require_model_kind(ck, path, "a cue model (train_cue_model)", option)
    if fits is not None and ck["backbone"] != fits.get("backbone"):
        raise ValueError(f"{option} {path} does not fit the C2AM model: it is a cue model on backbone "
                         f"{ck['backbone']!r}, the C2AM model's backbone is {fits.get('backbone')!r} (give the cue "
                         f"model of the same experiment: rule train_cue_model, trained from the C2AM model's init)")
    model = CueNet(ck["backbone"], ck["init"]["input_mean"], ck["init"]["input_std"], ck["init"]["tf_padding"],
                   ck["settings"]["head_width"])
    model.load_state_dict(ck["model"], strict=True)
    return model.eval(), ck


@torch.no_grad()
def predict_background(model: CueNet, image: torch.Tensor, size: int, device: torch.device, amp: bool,
                       flip: bool = True) -> np.ndarray:
    """Background probability [H, W] float32 of a uint8 image [3, H, W] (whole image at size x size, averaged
    with its horizontal flip), at the image's original size."""
    h, w = image.shape[-2:]
    x = TF.resize(image, [size, size], antialias=True).to(device).float().div(255)[None]
    if flip:
        x = torch.cat([x, x.flip(-1)])
    with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp and device.type == "cuda"):
        logits = model(x).float()
    if flip:
        logits = (logits[:1] + logits[1:].flip(-1)) / 2
    prob = torch.sigmoid(F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False))[0, 0]
    return prob.cpu().numpy()
