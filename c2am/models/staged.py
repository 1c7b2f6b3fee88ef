"""The staged backbone every encoder is: a network split into named stages (the unit of freezing) whose tapped
stage outputs are upsampled to the finest and concatenated. The torchvision builders (backbones.py) and the timm
backbones (timm_backbone.py) both build on it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TIMM_PREFIX = "timm:"  # backbone names `timm:<timm model name>`


@dataclass(frozen=True)
class Stage:
    """A named run of modules executed in order; the unit of freezing."""

    name: str
    modules: tuple[nn.Module, ...]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.modules:
            x = module(x)
        return x


class StagedBackbone(nn.Module):
    """A network split into stages; the outputs of `taps` stages are upsampled to the finest and concatenated."""

    def __init__(self, name: str, net: nn.Module, stages: list[Stage], taps: list[int], channels: list[int],
                 linear_taps: tuple[int, ...] = ()):
        super().__init__()
        self.name = name
        self.net = net
        self._stages = stages  # plain list: the modules are registered once, under `net`
        self.taps = taps
        # Outputs of linear bottlenecks (MobileNetV2 / EfficientNet blocks end without an activation) are
        # signed; a ReLU keeps the tapped features non-negative, as the loss's cosines and logs assume.
        self.linear_taps = tuple(linear_taps)
        self.channels = list(channels)
        self.out_channels = sum(channels)
        self.stride = 16
        self.frozen_stages = 0
        # key prefixes of a checkpoint's classifier / layers behind the features, for backbones that are not in
        # models.inits.CLASSIFIER_PREFIXES (timm backbones)
        self.head_prefixes: tuple[str, ...] = ()

    def add_stride8_tap(self, stage: int, channels: int, linear: bool) -> None:
        """Tap `stage` (which ends at stride 8) too: features (and C2AM's P) at stride 8, the deeper taps upsampled."""
        self.taps = [*self.taps, stage]
        self.channels = [*self.channels, channels]
        self.out_channels += channels
        self.linear_taps = (*self.linear_taps, stage) if linear else self.linear_taps
        self.stride = 8

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self._stages]

    def freeze(self, n_stages: int) -> None:
        """Fix the parameters and BatchNorm statistics of the first `n_stages` stages."""
        if not 0 <= n_stages <= len(self._stages):
            raise ValueError(f"frozen_stages must be in 0..{len(self._stages)} for {self.name}, got {n_stages}")
        self.frozen_stages = n_stages
        for i, stage in enumerate(self._stages):
            for module in stage.modules:
                for p in module.parameters():
                    p.requires_grad_(i >= n_stages)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        for stage in self._stages[: self.frozen_stages]:
            for module in stage.modules:
                module.eval()
        return self

    def deepest(self, x: torch.Tensor) -> torch.Tensor:
        """The output of the deepest tapped stage alone (its native stride; ReLU on a linear bottleneck).

        DDT descriptors and the pooled features of the PSOL localizer / classifier heads use it."""
        last = max(self.taps)
        for stage in self._stages[: last + 1]:
            x = stage(x)
        return F.relu(x) if last in self.linear_taps else x

    @property
    def deepest_channels(self) -> int:
        return self.channels[self.taps.index(max(self.taps))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        last_tap = max(self.taps)
        for i, stage in enumerate(self._stages[: last_tap + 1]):
            x = stage(x)
            outputs.append(x)
        feats = [F.relu(outputs[t]) if t in self.linear_taps else outputs[t] for t in self.taps]
        size = max((f.shape[-2:] for f in feats), key=lambda s: s[0] * s[1])
        feats = [f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                 for f in feats]
        return torch.cat(feats, dim=1)
