"""PooledNet: a backbone + global average pooling + a linear head, the network of PSOL's localizer (4 box
outputs), of the classifier and of the multi-label CAM classifier (whose linear head, applied at every location,
gives the class activation maps)."""

from __future__ import annotations

import torch
from torch import nn

from ..io import load_artifact
from .backbones import build_backbone

TASKS = ("localizer", "classifier", "cam")


class PooledNet(nn.Module):
    """Backbone (output stride 32, or 16 for CAMs as in IRN / PuzzleCAM) -> global average pooling -> dropout ->
    linear; input RGB in [0, 1]."""

    def __init__(self, backbone_name: str, outputs: int, input_mean, input_std, tf_padding: bool,
                 dropout: float, output_stride: int):
        super().__init__()
        self.backbone = build_backbone(backbone_name, tf_padding, output_stride=output_stride)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.deepest_channels, outputs)
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1))

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The deepest backbone features [n, C, h, w] of images in [0, 1]."""
        x = (images - self.input_mean.to(images.dtype)) / self.input_std.to(images.dtype)
        return self.backbone.deepest(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.feature_map(images).mean(dim=(2, 3))
        return self.head(self.dropout(pooled))


def load_pooled(path, task: str | None = None) -> tuple[PooledNet, dict]:
    """A trained localizer, classifier or CAM classifier (eval mode) and its model file; `task` checks which."""
    what = f"{task} model" if task else "localizer/classifier model"
    producer = f"train_{task}" if task else "train_localizer or train_classifier"
    ck = load_artifact(path, what, producer, ("model", "task", "backbone", "outputs", "init", "settings"))
    if task is not None and ck["task"] != task:
        raise ValueError(f"{path} is a {ck['task']} model, not a {task}")
    model = PooledNet(ck["backbone"], ck["outputs"], ck["init"]["input_mean"], ck["init"]["input_std"],
                      ck["init"]["tf_padding"], ck["settings"]["dropout"], ck["output_stride"])
    model.load_state_dict(ck["model"], strict=True)
    return model.eval(), ck
