"""SGD parameter groups and the learning-rate schedule of every trainer."""

from __future__ import annotations

import math

from torch import nn

NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def param_groups(model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float, bias_lr_mult: float,
                 train_norm_affine: bool, decay_all: bool = False, norm_group: bool = False) -> list[dict]:
    """SGD groups: weights (lr, weight decay), biases and normalisation scales/shifts (bias_lr_mult x lr, no decay
    unless `decay_all`), everything under a module named `head...` at head_lr_mult x those rates; with
    `norm_group`, normalisation scales/shifts instead form one group "bn" at lr without decay, head or not.

    Normalisation parameters are frozen (requires_grad off) unless `train_norm_affine`. Parameters that do not
    require a gradient (frozen stages) are left out. The trainers' policies:
      C2AM (the authors' groups): bias_lr_mult 2, norm_group, train_norm_affine = train_bn_affine (off by default);
      localizer / classifier / CAM classifier: bias_lr_mult 1, train_norm_affine = train_bn_affine;
      cue model: bias_lr_mult 1, decay_all, train_norm_affine = train_cue_model.train_bn_affine (on by default).
    """
    groups: dict[str, list] = {k: [] for k in ("w", "b", "hw", "hb", "bn")}
    for module_name, module in model.named_modules():
        is_head = module_name.startswith("head")
        is_norm = isinstance(module, NORM_LAYERS)
        for pname, p in module.named_parameters(recurse=False):
            if is_norm and not train_norm_affine:
                p.requires_grad_(False)
            if not p.requires_grad:
                continue
            if is_norm and norm_group:
                groups["bn"].append(p)
                continue
            kind = "w" if pname == "weight" and not is_norm else "b"
            groups[("h" if is_head else "") + kind].append(p)
    head = head_lr_mult
    bias_decay = weight_decay if decay_all else 0.0
    spec = [("w", lr, weight_decay), ("b", bias_lr_mult * lr, bias_decay), ("hw", head * lr, weight_decay),
            ("hb", head * bias_lr_mult * lr, bias_decay), ("bn", lr, 0.0)]
    return [{"params": groups[k], "lr": g_lr, "initial_lr": g_lr, "weight_decay": g_wd, "name": k}
            for k, g_lr, g_wd in spec if groups[k]]


def lr_factor(schedule: str, step: int, total: int, poly_power: float) -> float:
    """Multiplier of the initial learning rates at `step` of `total` steps (poly, cosine or constant)."""
    t = min(step / max(total, 1), 1.0)
    if schedule == "poly":
        return (1 - t) ** poly_power
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {schedule!r}")


def warmup_factor(step: int, warmup_steps: float) -> float:
    """Linear warm-up: (step + 1) / warmup_steps for the first steps, then 1 (warmup_steps <= 1: always 1)."""
    return min(1.0, (step + 1) / max(1.0, warmup_steps))
