"""`timm:<model>` backbones: any timm VisionTransformer or CNN, built with random weights (never timm's download),
and the published ViT checkpoint key formats (DINO, DINOv2) converted to timm's key space.

The network keeps timm's own parameter names (its classifier and the layers behind the last used feature level
pruned), so a timm state dict loads into `backbone.net` with an exact key check. Features:
  ViT  final-norm patch tokens (cls / register tokens removed) as a map [n, C, ceil(H/p), ceil(W/p)] (input
       zero-padded to a multiple of the patch size p, position embeddings interpolated to the grid), resized
       bilinearly to the stride-16 grid ceil(H/16) x ceil(W/16) when p != 16 (DINOv2: p = 14). One tap.
       Stages: the patch/position embedding (with the cls / register tokens), then the blocks in 4 groups
       (the last one with the final norm).
  CNN  timm's `forward_intermediates` at the last stride-16 and the last stride-32 feature level; the stride-32
       map is upsampled to stride 16 and concatenated first, as the built-in backbones do. The network keeps its
       own strides, so `deepest` (PSOL localizer / classifier, DDT) is the classification network's stride-32 map.
       Stages end at each of timm's feature levels (`feature_info`).
Tapped features go through a ReLU (LayerNorm / residual outputs are signed; the C2AM loss assumes non-negative
features). timm is imported only when a timm backbone is built.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from .staged import TIMM_PREFIX, Stage, StagedBackbone

VIT_GROUPS = 4  # block groups of a ViT (frozen_stages counts the embedding, then these)
VIT_TOKENS = ("cls_token", "reg_token", "pos_embed")  # parameters of the ViT itself, frozen with its first stage


class TimmBackbone(StagedBackbone):
    """A StagedBackbone whose features come from timm's `forward_intermediates` (stages only group parameters)."""

    def __init__(self, name: str, net: nn.Module, stages: list[Stage], indices: list[int], channels: list[int],
                 head_prefixes: tuple[str, ...], patch_size: int | None):
        taps = [len(stages) - 1] if patch_size else [indices[1], indices[0]]
        super().__init__(name, net, stages, taps=taps, channels=channels, linear_taps=tuple(taps))
        self.indices = indices  # timm feature levels: [last block] (ViT) or [stride 16, stride 32] (CNN)
        self.patch_size = patch_size
        self.head_prefixes = head_prefixes

    def freeze(self, n_stages: int) -> None:
        super().freeze(n_stages)
        for name in VIT_TOKENS if self.patch_size else ():
            if getattr(self.net, name, None) is not None:
                getattr(self.net, name).requires_grad_(n_stages < 1)

    def _vit_map(self, x: torch.Tensor) -> torch.Tensor:
        (z,) = self.net.forward_intermediates(x, indices=self.indices, norm=True, intermediates_only=True)
        z = F.relu(z)
        if self.patch_size != 16:
            size = (math.ceil(x.shape[-2] / 16), math.ceil(x.shape[-1] / 16))
            z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
        return z

    def deepest(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch_size:
            return self._vit_map(x)
        (z,) = self.net.forward_intermediates(x, indices=self.indices[1:], stop_early=True, intermediates_only=True)
        return F.relu(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch_size:
            return self._vit_map(x)
        z16, z32 = self.net.forward_intermediates(x, indices=self.indices, stop_early=True, intermediates_only=True)
        z32 = F.interpolate(F.relu(z32), size=z16.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([z32, F.relu(z16)], dim=1)


def _create(model_name: str, vit: bool) -> nn.Module:
    import timm

    if not timm.is_model(model_name):
        raise ValueError(f"unknown timm model {model_name!r} (backbone {TIMM_PREFIX}{model_name}); "
                         f"see timm.list_models()")
    kwargs = dict(dynamic_img_size=True, dynamic_img_pad=True) if vit else {}
    # pretrained=False always: weights come only from a local file, through the pretrain-init stage
    return timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)


def _is_vit(model_name: str) -> bool:
    from timm.models import is_model_in_modules

    return is_model_in_modules(model_name, ["vision_transformer"])


def _head_prefixes(net: nn.Module, before: set[str]) -> tuple[str, ...]:
    """Key prefixes of the classifier and of the layers pruned behind the features (dropped from checkpoints)."""
    classifier = net.pretrained_cfg.get("classifier") or ()
    names = [classifier] if isinstance(classifier, str) else list(classifier)
    names += [k.rsplit(".", 1)[0] for k in before - set(net.state_dict())]
    return tuple(sorted({f"{n}." for n in names}))


def _vit_stages(net: nn.Module) -> list[Stage]:
    blocks = list(net.blocks)
    groups = min(VIT_GROUPS, len(blocks))
    sizes = [len(blocks) // groups + (i < len(blocks) % groups) for i in range(groups)]
    stages = [Stage("embed", (net.patch_embed, net.pos_drop, net.patch_drop, net.norm_pre))]
    start = 0
    for i, size in enumerate(sizes):
        tail = (net.norm,) if i == groups - 1 else ()
        stages.append(Stage(f"blocks{start}-{start + size - 1}", (*blocks[start:start + size], *tail)))
        start += size
    return stages


def _cnn_stages(net: nn.Module, module_names: list[str], model_name: str) -> list[Stage]:
    """Top-level modules in order (a Sequential split where a feature level lies inside it), cut after each level."""
    stages, current = [], []
    for child_name, child in net.named_children():
        if isinstance(child, nn.Sequential) and any(m.startswith(f"{child_name}.") for m in module_names):
            parts = [(f"{child_name}.{n}", m) for n, m in child.named_children()]
        else:
            parts = [(child_name, child)]
        for name, module in parts:
            if len(stages) == len(module_names):
                break
            current.append(module)
            if name == module_names[len(stages)]:
                stages.append(Stage(name, tuple(current)))
                current = []
    if len(stages) != len(module_names):
        raise ValueError(f"timm model {model_name!r} is not supported: its feature levels {module_names} are not "
                         f"a sequence of top-level modules")
    return stages


def _check_covered(net: nn.Module, stages: list[Stage], extra: tuple[str, ...], model_name: str) -> None:
    """Every parameter belongs to a stage (an unused trainable parameter would break DDP and freezing)."""
    covered = {id(p) for s in stages for m in s.modules for p in m.parameters()}
    covered |= {id(getattr(net, n)) for n in extra if isinstance(getattr(net, n, None), nn.Parameter)}
    outside = [k for k, p in net.named_parameters() if id(p) not in covered]
    if outside:
        raise ValueError(f"timm model {model_name!r} is not supported: parameters outside its feature path "
                         f"{outside[:8]}")


def build_timm_backbone(model_name: str) -> TimmBackbone:
    """A randomly initialised `timm:<model_name>` backbone (ViT or CNN, see the module docstring).

    The output stride is the same for the C2AM encoder and the pooled networks: 16 for ViTs (their only map);
    CNNs keep their strides (features at 16, `deepest` at 32), like the built-in MobileNetV2 / EfficientNets."""
    from timm.models import VisionTransformer

    vit = _is_vit(model_name)
    net = _create(model_name, vit)
    name = TIMM_PREFIX + model_name
    if not hasattr(net, "forward_intermediates") or not hasattr(net, "prune_intermediate_layers"):
        raise ValueError(f"timm model {model_name!r} is not supported: it has no forward_intermediates")
    before = set(net.state_dict())
    if vit:
        if not isinstance(net, VisionTransformer):
            raise ValueError(f"timm model {model_name!r} is not a timm VisionTransformer ({type(net).__name__})")
        indices = [len(net.blocks) - 1]
        net.prune_intermediate_layers(indices, prune_norm=False, prune_head=True)
        stages, channels = _vit_stages(net), [net.embed_dim]
        patch = net.patch_embed.patch_size
        if patch[0] != patch[1]:
            raise ValueError(f"timm model {model_name!r}: non-square patches {patch} are not supported")
        patch_size, extra = patch[0], VIT_TOKENS
    else:
        info = list(net.feature_info)
        levels = {r: max((i for i, f in enumerate(info) if f["reduction"] == r), default=None) for r in (16, 32)}
        if levels[16] is None or levels[32] is None:
            raise ValueError(f"timm model {model_name!r} is not supported: a backbone needs feature levels at "
                             f"stride 16 and 32 (timm VisionTransformers and CNNs are), it has strides "
                             f"{[f['reduction'] for f in info]}")
        indices = [levels[16], levels[32]]
        net.prune_intermediate_layers(indices, prune_norm=True, prune_head=True)
        stages = _cnn_stages(net, [f["module"] for f in info[: levels[32] + 1]], model_name)
        channels, patch_size, extra = [info[levels[32]]["num_chs"], info[levels[16]]["num_chs"]], None, ()
    _check_covered(net, stages, extra, model_name)
    return TimmBackbone(name, net, stages, indices, channels, _head_prefixes(net, before), patch_size)


# ------------------------------------------------------------------------------- published ViT key formats
KEY_FORMATS = ("auto", "timm", "dino", "dinov2")
DINO_PREFIXES = ("module.backbone.", "backbone.")
_DINOV2_CHUNKED = re.compile(r"^blocks\.\d+\.(\d+\..*)$")  # block_chunks > 0: blocks.<chunk>.<block>.*
_DINOV2_SWIGLU = {".mlp.w12.": ".mlp.fc1.", ".mlp.w3.": ".mlp.fc2."}  # ViT-g SwiGLU -> timm's SwiGLUPacked


def detect_key_format(obj: dict) -> str:
    """dino (a full training checkpoint, or keys under `backbone.`), dinov2 (mask_token / register_tokens),
    else timm. A plain DINO ViT state dict has timm's keys exactly, so it is detected (and loaded) as timm."""
    state = _unwrap(obj)
    if "teacher" in obj or any(k.startswith(DINO_PREFIXES) for k in state):
        return "dino"
    if "mask_token" in state or "register_tokens" in state:
        return "dinov2"
    return "timm"


def _unwrap(obj: dict) -> dict:
    for key in ("state_dict", "model"):
        if isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def dino_to_timm(obj: dict) -> tuple[dict, list[str]]:
    """facebookresearch/dino: the teacher of a full checkpoint (prefix `backbone.`; student ignored) or a plain
    ViT state dict (timm's keys; `backbone.` / `module.backbone.` prefixes removed). The DINO head is dropped."""
    if "teacher" in obj:
        if not isinstance(obj["teacher"], dict):
            raise ValueError("its `teacher` entry is not a state dict")
        state, tag = obj["teacher"], "teacher."
    else:
        state, tag = _unwrap(obj), ""
    for prefix in DINO_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            return kept, sorted(tag + k for k in state if not k.startswith(prefix))
    return {k: v for k, v in state.items() if not k.startswith("head.")}, sorted(tag + k for k in state
                                                                                  if k.startswith("head."))


def dinov2_to_timm(obj: dict) -> tuple[dict, list[str]]:
    """facebookresearch/dinov2 hub checkpoints -> timm's vit_*_patch14(_reg4)_dinov2 (as timm's own converter):
    mask_token dropped; register_tokens -> reg_token, with the cls token's position embedding folded into
    cls_token (timm's register models add position embeddings to the patch tokens only)."""
    state = dict(_unwrap(obj))
    dropped = ["mask_token"] if state.pop("mask_token", None) is not None else []
    if "register_tokens" in state:
        pos = state.pop("pos_embed")
        state["reg_token"] = state.pop("register_tokens")
        state["cls_token"] = state.pop("cls_token") + pos[:, :1]
        state["pos_embed"] = pos[:, 1:]
    out = {}
    for key, value in state.items():
        chunked = _DINOV2_CHUNKED.match(key)
        key = f"blocks.{chunked.group(1)}" if chunked else key
        for old, new in _DINOV2_SWIGLU.items():
            key = key.replace(old, new)
        out[key] = value
    return out, dropped


def convert_checkpoint(obj: dict, key_format: str) -> tuple[dict, list[str], str]:
    """(state dict in timm's keys, non-backbone keys dropped, the key format used) of a loaded checkpoint."""
    if key_format not in KEY_FORMATS:
        raise ValueError(f"key format must be one of {KEY_FORMATS}, got {key_format!r}")
    if key_format == "auto":
        key_format = detect_key_format(obj)
    if key_format == "dino":
        state, dropped = dino_to_timm(obj)
    elif key_format == "dinov2":
        state, dropped = dinov2_to_timm(obj)
    else:
        state, dropped = _unwrap(obj), []
    return state, dropped, key_format
