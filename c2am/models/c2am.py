"""C2AM network: encoder h(.), activation head phi(.) and the disentangler of Eq. 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import StagedBackbone, build_backbone

HEAD_INITS = ("kaiming_normal", "kaiming_uniform", "normal", "uniform")
HEAD_PADDINGS = ("zeros", "replicate", "reflect")


class ActivationHead(nn.Module):
    """phi(.): 3x3 convolution (no bias) -> BatchNorm(1) -> sigmoid, giving P in (0, 1).

    `padding_mode="replicate"` avoids the dark frame that zero padding draws on every map (which makes any
    border-based foreground rule useless); "zeros" is the authors' choice.
    """

    def __init__(self, in_channels: int, init: str, padding_mode: str):
        super().__init__()
        if init not in HEAD_INITS:
            raise ValueError(f"head init must be one of {HEAD_INITS}, got {init!r}")
        if padding_mode not in HEAD_PADDINGS:
            raise ValueError(f"head padding must be one of {HEAD_PADDINGS}, got {padding_mode!r}")
        self.conv = nn.Conv2d(in_channels, 1, kernel_size=3, padding=1, bias=False, padding_mode=padding_mode)
        self.bn = nn.BatchNorm2d(1)
        {"kaiming_normal": nn.init.kaiming_normal_, "kaiming_uniform": nn.init.kaiming_uniform_,
         "normal": nn.init.normal_, "uniform": nn.init.uniform_}[init](self.conv.weight)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.conv(z)))


def disentangle(p: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1: v_f = P Z^T and v_b = (1 - P) Z^T with P [n,1,H,W] and Z [n,C,H,W] flattened; returns [n, C] each.

    Divided by H*W as the authors do (cosine similarities, hence the loss, do not depend on that scale).
    """
    n, c, h, w = z.shape
    p = p.reshape(n, 1, h * w).to(z.dtype)
    z = z.reshape(n, c, h * w).transpose(1, 2)
    v_fg = torch.bmm(p, z).reshape(n, c) / (h * w)
    v_bg = torch.bmm(1 - p, z).reshape(n, c) / (h * w)
    return v_fg, v_bg


class C2AM(nn.Module):
    """Encoder + activation head. Input: RGB images scaled to [0, 1]; normalisation happens inside.

    `fg_flip` (a buffer, stored in checkpoints) says that the trained P activates the background, so the
    foreground map is 1 - P; it is decided after training from data-set statistics (see training/c2am.py).
    """

    def __init__(self, backbone: StagedBackbone, head_init: str, head_padding: str, input_mean, input_std):
        super().__init__()
        self.backbone = backbone
        self.head = ActivationHead(backbone.out_channels, head_init, head_padding)
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("fg_flip", torch.tensor(False))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.input_mean.to(images.dtype)) / self.input_std.to(images.dtype)
        return self.backbone(x)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training forward: (v_f, v_b, P) with P the raw head output (no flip)."""
        z = self.features(images)
        p = self.head(z)
        with torch.autocast(z.device.type, enabled=False):  # the pooled vectors feed cosines and ranks: fp32
            v_fg, v_bg = disentangle(p.float(), z.float())
        return v_fg, v_bg, p

    @torch.no_grad()
    def foreground_map(self, images: torch.Tensor) -> torch.Tensor:
        """[n, h, w] foreground activation (P, or 1 - P when fg_flip) at feature resolution, float32."""
        p = self.head(self.features(images)).float()[:, 0]
        return torch.where(self.fg_flip, 1 - p, p)

    @torch.no_grad()
    def averaged_foreground_map(self, images: torch.Tensor, scales=(1.0,), flip: bool = False) -> torch.Tensor:
        """Test-time augmentation: the mean of `foreground_map` over the images resized by each of `scales`
        (bilinear, antialiased when shrinking) and, with `flip`, their mirror images (maps mirrored back), every
        map resized bilinearly to the grid of scale 1.0 first. scales (1.0,) without flip is `foreground_map`."""
        scales = [float(s) for s in scales]
        if 1.0 not in scales:
            raise ValueError(f"test-time scales must include 1.0 (the maps keep its grid), got {scales}")
        n, (h, w) = images.shape[0], images.shape[-2:]
        maps = []
        for s in scales:
            # an explicit whole-pixel size (as multiscale_cams): a fractional scale factor would shift the resampling
            # grid, and the mirrored view would no longer give the mirrored map
            size = (max(8, round(h * s)), max(8, round(w * s)))
            x = images if s == 1.0 else F.interpolate(images, size=size, mode="bilinear", align_corners=False,
                                                      antialias=s < 1)
            m = self.foreground_map(torch.cat([x, x.flip(-1)]) if flip else x)
            maps.append((m[:n] + m[n:].flip(-1)) / 2 if flip else m)
        size = maps[scales.index(1.0)].shape[-2:]
        maps = [m if m.shape[-2:] == size else
                F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] for m in maps]
        return maps[0] if len(maps) == 1 else torch.stack(maps).mean(0)


def build_model(init_artifact: dict, head_init: str, head_padding: str, feature_stride: int) -> C2AM:
    """C2AM with the backbone weights of a pretrain-init artifact (see models.inits.build_init); P at
    `feature_stride` (16, or 8 with the stride-8 stage tapped as well)."""
    backbone = build_backbone(init_artifact["backbone"], init_artifact["tf_padding"], feature_stride=feature_stride)
    backbone.net.load_state_dict(init_artifact["state_dict"], strict=True)
    return C2AM(backbone, head_init, head_padding, init_artifact["input_mean"], init_artifact["input_std"])


def load_trained(path) -> tuple[C2AM, dict]:
    """A trained C2AM (eval mode) and its checkpoint metadata, from the c2am-train stage's model file."""
    from ..io import load_artifact
    from ..settings import C2AMTrainSettings
    from ..training.checkpoint import require_model_kind
    from .inits import check_finite

    ck = load_artifact(path, "C2AM model", "train_c2am", ("model", "backbone", "init", "settings"))
    require_model_kind(ck, path, "a C2AM model (train_c2am)", "--model")
    check_finite(ck["model"], f"C2AM model {path}", ValueError, "delete it and re-run the train_c2am stage")
    # read through the schema, so a setting the model file does not record (e.g. feature_stride) gets its default
    s = C2AMTrainSettings.from_dict(ck["settings"])
    model = C2AM(build_backbone(ck["backbone"], ck["init"]["tf_padding"], feature_stride=s.feature_stride),
                 s.head_init, s.head_padding, ck["init"]["input_mean"], ck["init"]["input_std"])
    model.load_state_dict(ck["model"], strict=True)
    return model.eval(), ck
