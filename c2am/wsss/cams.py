"""Class activation maps: multi-scale CAMs of the CAM classifier, and CAM files (ours, IRN / PuzzleCAM, PSA /
SEAM); see c2am.wsss for the conventions."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..io import image_file
from .scores import N_CLASSES

if TYPE_CHECKING:
    import torch

CAM_KEYS = ("high_res", "hr_cam", "cam", "rw")  # map entries of IRN / PuzzleCAM npy files, in order of use


def multiscale_cams(model, image: torch.Tensor, class_index: list[int], scales=(0.5, 1.0, 1.5, 2.0),
                    flip: bool = True, device: torch.device | str = "cpu", amp: bool = True) -> torch.Tensor:
    """CAMs [K, H, W] (float32, each max-normalised to 1) of a uint8 image [3, H, W] for the classifier
    outputs `class_index`: ReLU(W_c . f) on the backbone's deepest features at every scale (and its
    horizontal flip, flipped back), upsampled bilinearly to H x W and summed, then divided by the maximum.

    torch is imported here, not with the module: the stages that only read CAM files start without it."""
    import torch

    with torch.no_grad():
        return _multiscale_cams(model, image, class_index, scales, flip, torch.device(device), amp)


def _multiscale_cams(model, image, class_index, scales, flip, dev, amp):
    import torch
    import torch.nn.functional as F

    from ..inference import amp_dtype

    h, w = image.shape[-2:]
    if not class_index:
        return torch.zeros((0, h, w))
    weight = model.head.weight[class_index].to(dev)[:, :, None, None].float()
    x0 = image.to(dev).float().div(255)[None]
    total = torch.zeros((len(class_index), h, w), device=dev)
    for s in scales:
        size = (max(8, round(h * s)), max(8, round(w * s)))
        x = F.interpolate(x0, size=size, mode="bilinear", align_corners=False, antialias=s < 1)
        if flip:
            x = torch.cat([x, x.flip(-1)])
        with torch.autocast(dev.type, dtype=amp_dtype(dev), enabled=amp and dev.type == "cuda"):
            feats = model.feature_map(x)
        cam = F.relu(F.conv2d(feats.float(), weight))
        if flip:
            cam = cam[:1] + cam[1:].flip(-1)
        total += F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[0]
    peak = total.flatten(1).amax(1).clamp_min(1e-5)[:, None, None]
    return (total / peak).cpu()


def save_cams(path: str | Path, keys: np.ndarray, cams: np.ndarray) -> None:
    """One image's CAMs as .npz: keys (int16, 0-based foreground indices) and cam (float16 [K, H, W])."""
    keys = np.asarray(keys, np.int16)
    if cams.ndim != 3 or cams.shape[0] != len(keys):
        raise ValueError(f"{path}: need one [H, W] map per key, got {len(keys)} keys and maps of shape {cams.shape}")
    with open(path, "wb") as f:
        np.savez(f, keys=keys, cam=cams.astype(np.float16))


def load_cams(path: str | Path, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(keys: sorted 0-based foreground indices int64 [K], cams float32 [K, H, W]) of one image, from
    - our .npz (keys, cam),
    - an IRN / PuzzleCAM .npy dict: `keys` (0-based) and one of high_res, hr_cam, cam; or PuzzleCAM's random-walk
      `rw` with keys [0, VOC ids...] (background first, K maps),
    - a PSA / SEAM .npy dict {0-based class index: map}.
    .npy dicts are pickles; they are read by an unpickler that builds only numpy arrays and torch tensors (IRN
    stores tensors), so a crafted file cannot run code. size (w, h) resizes maps of another size (e.g. IRN's
    stride-4 `cam`) bilinearly. Anything else is an error naming the file; nothing is guessed."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                keys, cams = z["keys"], z["cam"]
        else:
            d = load_npy_safely(path)
            d = d.item() if d.dtype == object and d.shape == () else None
            if not isinstance(d, dict):
                raise ValueError("not a dict of CAMs")
            if "keys" not in d and d and all(isinstance(k, (int, np.integer)) for k in d):  # PSA / SEAM
                keys = np.array(sorted(int(k) for k in d))
                cams = np.stack([np.asarray(d[k], np.float32) for k in sorted(d)])
            elif "keys" in d:
                entry = next((k for k in CAM_KEYS if k in d), None)
                if entry is None:
                    raise ValueError(f"none of the map entries {CAM_KEYS} (has {sorted(map(str, d))})")
                keys, cams = _as_numpy(d["keys"]).astype(np.int64).ravel(), d[entry]
                if entry == "rw":  # PuzzleCAM random walk: keys are [0, VOC ids...]
                    if not len(keys) or keys[0] != 0:
                        raise ValueError(f"rw keys {keys.tolist()} do not start with the background id 0")
                    keys = keys[1:] - 1
            else:
                raise ValueError(f"a dict without 'keys' or class-index entries (has {sorted(map(str, d))[:8]})")
    except (OSError, ValueError, KeyError, EOFError, IndexError, AttributeError, ImportError,
            pickle.UnpicklingError) as exc:
        raise ValueError(f"{path}: not a readable CAM file ({exc})") from exc
    keys = _as_numpy(keys).astype(np.int64).ravel()
    cams = _as_numpy(cams).astype(np.float32)
    if cams.ndim == 2:
        cams = cams[None]
    if cams.ndim != 3 or cams.shape[0] != len(keys) or (len(keys) and (keys.min() < 0 or keys.max() >= N_CLASSES - 1)):
        raise ValueError(f"{path}: {len(keys)} keys {keys.tolist()} do not match maps of shape {cams.shape}, or a key "
                         f"is outside 0..{N_CLASSES - 2} (keys are 0-based foreground class indices)")
    if len(set(keys.tolist())) != len(keys):
        raise ValueError(f"{path}: repeated keys {keys.tolist()}")
    order = np.argsort(keys)
    keys, cams = keys[order], cams[order]
    if not np.isfinite(cams).all():
        raise ValueError(f"{path}: CAMs contain NaN or inf")
    if size is not None and cams.shape[1:] != (size[1], size[0]) and len(keys):
        cams = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in cams])
    elif size is not None and not len(keys):
        cams = np.zeros((0, size[1], size[0]), np.float32)
    return keys, cams


# What a pickled dict of CAMs may contain: numpy arrays and scalars, torch tensors (as IRN writes them), dicts.
_SAFE_GLOBALS = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
                 ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"), ("numpy", "ndarray"),
                 ("numpy", "dtype"), ("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict")}


class _CamUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):  # a tensor's storage, read without code
            import io

            from ..io import torch_load_plain  # errors without torch's advice to load with weights_only=False

            return lambda data: torch_load_plain(io.BytesIO(data))
        if (module, name) in _SAFE_GLOBALS or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays and torch tensors are read "
                                     f"from CAM files)")


def load_npy_safely(path: str | Path) -> np.ndarray:
    """np.load of a .npy file; object arrays (pickles) go through an unpickler that runs no code."""
    from numpy.lib import format as npy

    with open(path, "rb") as f:
        version = npy.read_magic(f)
        _, _, dtype = npy.read_array_header_1_0(f) if version == (1, 0) else npy.read_array_header_2_0(f)
        if not dtype.hasobject:
            f.seek(0)
            return np.load(f, allow_pickle=False)
        return np.asarray(_CamUnpickler(f).load())


def _as_numpy(x) -> np.ndarray:
    """numpy view of an array or a torch tensor (CAM files written by PyTorch code often hold tensors)."""
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def cam_file(folder: str | Path, image_id: str) -> Path:
    """The CAM file of an image in a folder: <id>.npz (ours) or <id>.npy (IRN / PuzzleCAM)."""
    stem = image_file(image_id, "")
    for suffix in (".npz", ".npy"):
        p = Path(folder) / f"{stem}{suffix}"
        if p.is_file():
            return p
    raise FileNotFoundError(f"no CAM file for image {image_id!r} in {folder} (expected {stem}.npz or {stem}.npy)")
