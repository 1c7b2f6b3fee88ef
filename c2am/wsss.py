"""Weakly supervised semantic segmentation: CAMs, background cues, refinement, dense CRF, saliency, mIoU.

Conventions
- Class ids are PASCAL VOC ids: 0 = background, 1..20 = the object classes, 255 = ignore (ground truth only).
- A CAM file holds `keys` (0-based foreground class indices, VOC id - 1, as IRN / PuzzleCAM write them) and
  one map per key at the image's original size, each scaled so its maximum is 1 (per-class max normalisation).
- A background cue is a uint8 image at the original size, 255 = background, 0 = foreground (paper Fig. 7).
  A saliency map is the opposite (255 = salient); its cue is 255 - saliency.
- Refinement (paper Sec. 3.5): stack a background channel in front of the CAMs and take the argmax per pixel.
  The background channel is a constant threshold t (the unrefined baseline, "CAMs") or a cue in [0, 1].
  On ties the background wins (argmax returns the first channel), so with a constant t a pixel is foreground
  only where its largest CAM value is > t.
- mIoU: one 21 x 21 confusion matrix accumulated over the split (255 pixels ignored); IoU_c = TP / (T + P - TP);
  the mean is over the classes whose union T + P - TP is non-zero (classes absent from both ground truth and
  prediction are left out, so a subset without cows is not charged 0 for cows). FP_c = (P - TP) / union and
  FN_c = (T - TP) / union (IoU + FP + FN = 1), averaged over foreground classes as SEAM / C2AM's code report.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F


N_CLASSES = 21
IGNORE = 255
CAM_KEYS = ("high_res", "hr_cam", "cam", "rw")  # map entries of IRN / PuzzleCAM npy files, in order of use


# ----------------------------------------------------------------------------------------------- CAMs
@torch.no_grad()
def multiscale_cams(model, image: torch.Tensor, class_index: list[int], scales=(0.5, 1.0, 1.5, 2.0),
                    flip: bool = True, device: torch.device | str = "cpu", amp: bool = False) -> torch.Tensor:
    """CAMs [K, H, W] (float32, each max-normalised to 1) of a uint8 image [3, H, W] for the classifier
    outputs `class_index`: ReLU(W_c . f) on the backbone's deepest features at every scale (and its
    horizontal flip, flipped back), upsampled bilinearly to H x W and summed, then divided by the maximum."""
    dev = torch.device(device)
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
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
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
    .npy dicts are pickles: read only files you trust. size (w, h) resizes maps of another size (e.g. IRN's
    stride-4 `cam`) bilinearly. Anything else is an error naming the file; nothing is guessed."""
    import pickle

    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                keys, cams = z["keys"], z["cam"]
        else:
            d = np.load(path, allow_pickle=True)
            d = d.item() if d.dtype == object else None
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


def _as_numpy(x) -> np.ndarray:
    """numpy view of an array or a torch tensor (CAM files written by PyTorch code often hold tensors)."""
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def image_file(image_id: str, suffix: str = ".png") -> str:
    """File name of an image's per-image output (CAMs, cues, masks): its id with "/" as "__", plus suffix."""
    return str(image_id).replace("/", "__") + suffix


def cam_file(folder: str | Path, image_id: str) -> Path:
    """The CAM file of an image in a folder: <id>.npz (ours) or <id>.npy (IRN / PuzzleCAM)."""
    stem = image_file(image_id, "")
    for suffix in (".npz", ".npy"):
        p = Path(folder) / f"{stem}{suffix}"
        if p.is_file():
            return p
    raise FileNotFoundError(f"no CAM file for image {image_id!r} in {folder} (expected {stem}.npz or {stem}.npy)")


# ----------------------------------------------------------------------------------------------- refinement
def label_ids(keys: np.ndarray) -> np.ndarray:
    """VOC ids of the channels [background, CAM_1, ..., CAM_K]."""
    return np.concatenate([[0], np.asarray(keys, np.int64) + 1]).astype(np.uint8)


def refine_with_threshold(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """VOC label map of argmax over [t, CAMs] (the constant-background baseline)."""
    h, w = cams.shape[1:]
    if not len(keys):
        return np.zeros((h, w), np.uint8)
    peak, arg = cams.max(0), cams.argmax(0)
    return np.where(peak > threshold, label_ids(keys)[arg + 1], 0).astype(np.uint8)


def refine_with_background(cams: np.ndarray, keys: np.ndarray, background: np.ndarray) -> np.ndarray:
    """VOC label map of argmax over [background, CAMs]; background in [0, 1] at the CAMs' size (paper Fig. 5)."""
    if background.shape != cams.shape[1:]:
        raise ValueError(f"background cue of shape {background.shape} does not match CAMs of shape {cams.shape[1:]}")
    stack = np.concatenate([background[None].astype(np.float32), cams])
    return label_ids(keys)[stack.argmax(0)]


def cue_to_background(cue: np.ndarray) -> np.ndarray:
    """A uint8 background cue (255 = background) as a background score in [0, 1]."""
    return cue.astype(np.float32) / 255.0


def sweep_confusions(cams: np.ndarray, keys: np.ndarray, gt: np.ndarray, thresholds) -> np.ndarray:
    """Confusion matrices [len(thresholds), 21, 21] of the threshold baseline at every t, in one pass."""
    valid = gt != IGNORE
    g = gt[valid].astype(np.int64)
    if g.size and g.max() >= N_CLASSES:
        raise ValueError(f"ground truth holds ids {sorted(set(np.unique(g[g >= N_CLASSES]).tolist()))}; "
                         f"expected 0..{N_CLASSES - 1} or {IGNORE}")
    out = np.zeros((len(thresholds), N_CLASSES, N_CLASSES), np.int64)
    if not len(keys):
        out[:] = confusion(gt, np.zeros_like(gt))
        return out
    peak = cams.max(0)[valid]
    fg_label = label_ids(keys)[cams.argmax(0)[valid] + 1].astype(np.int64)
    for i, t in enumerate(thresholds):
        pred = np.where(peak > t, fg_label, 0)
        out[i] = np.bincount(g * N_CLASSES + pred, minlength=N_CLASSES ** 2).reshape(N_CLASSES, N_CLASSES)
    return out


# ----------------------------------------------------------------------------------------------- dense CRF
def _dense_crf(image: np.ndarray, unary: np.ndarray, n: int, iterations: int, gaussian_sxy: float,
               gaussian_compat: float, bilateral_sxy: float, bilateral_srgb: float,
               bilateral_compat: float) -> np.ndarray:
    """Mean-field inference of a fully connected CRF (Kraehenbuehl & Koltun) with a Gaussian and a bilateral
    pairwise term over an RGB uint8 image; unary [n, H*W]; returns the index map [H, W]."""
    import pydensecrf.densecrf as dcrf

    h, w = image.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    d.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb, rgbim=np.ascontiguousarray(image, np.uint8),
                           compat=bilateral_compat)
    q = d.inference(iterations)
    return np.argmax(np.array(q).reshape(n, h, w), axis=0)


def crf_from_labels(image: np.ndarray, labels: np.ndarray, n_labels: int, iterations: int = 10,
                    gt_prob: float = 0.7, gaussian_sxy: float = 3, gaussian_compat: float = 3,
                    bilateral_sxy: float = 50, bilateral_srgb: float = 5, bilateral_compat: float = 10) -> np.ndarray:
    """Dense CRF on a label map of indices 0..n_labels-1 (unary from labels with confidence gt_prob); returns the
    refined index map. Settings default to the C2AM / IRN public code."""
    from pydensecrf.utils import unary_from_labels

    if n_labels < 2:
        return np.zeros(labels.shape, np.int64)
    unary = unary_from_labels(labels.astype(np.int64), n_labels, gt_prob=gt_prob, zero_unsure=False)
    return _dense_crf(image, unary, n_labels, iterations, gaussian_sxy, gaussian_compat, bilateral_sxy,
                      bilateral_srgb, bilateral_compat)


def crf_from_scores(image: np.ndarray, scores: np.ndarray, iterations: int = 10, gaussian_sxy: float = 3,
                    gaussian_compat: float = 3, bilateral_sxy: float = 80, bilateral_srgb: float = 13,
                    bilateral_compat: float = 10) -> np.ndarray:
    """Dense CRF with a softmax unary (-log of the channel scores normalised to sum 1; PSA's crf_inference
    settings); returns the refined index map [H, W]."""
    from pydensecrf.utils import unary_from_softmax

    n = scores.shape[0]
    if n < 2:
        return np.zeros(scores.shape[1:], np.int64)
    probs = np.clip(scores.astype(np.float32), 1e-5, None)
    probs /= probs.sum(0, keepdims=True)
    return _dense_crf(image, unary_from_softmax(probs), n, iterations, gaussian_sxy, gaussian_compat,
                      bilateral_sxy, bilateral_srgb, bilateral_compat)


def crf_refine_labels(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, threshold: float, **crf) -> np.ndarray:
    """+dCRF (label unary): the threshold baseline's label map refined by a dense CRF, as VOC ids."""
    if not len(keys):
        return np.zeros(cams.shape[1:], np.uint8)
    ids = label_ids(keys)
    to_index = np.zeros(256, np.int64)
    to_index[ids] = np.arange(len(ids))  # VOC id -> channel index (keys need not be sorted)
    index = to_index[refine_with_threshold(cams, keys, threshold)]
    return ids[crf_from_labels(image, index, len(ids), **crf)]


def crf_refine_scores(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, bg_power: float, **crf) -> np.ndarray:
    """+dCRF (softmax unary, PSA): scores [(1 - max CAM) ** bg_power, CAMs] refined by a dense CRF, as VOC ids."""
    if not len(keys):
        return np.zeros(cams.shape[1:], np.uint8)
    cams = np.clip(cams, 0, 1)  # CAMs made elsewhere may exceed 1; a fractional power of a negative is NaN
    bg = np.power(1 - cams.max(0), bg_power)
    return label_ids(keys)[crf_from_scores(image, np.concatenate([bg[None], cams]), **crf)]


# ----------------------------------------------------------------------------------------------- saliency
def spectral_residual_saliency(image: np.ndarray, width: int = 64, sigma: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of an RGB uint8 image, in [0, 1] at its size."""
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(gray, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), sigma)
    return _unit(cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR))


def frequency_tuned_saliency(image: np.ndarray) -> np.ndarray:
    """Frequency-tuned saliency (Achanta et al., CVPR 2009): distance in Lab between the image's mean colour
    and each slightly blurred pixel, in [0, 1]."""
    blurred = cv2.GaussianBlur(image, (5, 5), 0)
    lab = cv2.cvtColor(blurred.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0)
    return _unit(np.linalg.norm(lab - mean, axis=2))


SALIENCY_METHODS = {"spectral_residual": spectral_residual_saliency, "frequency_tuned": frequency_tuned_saliency}


def _unit(m: np.ndarray) -> np.ndarray:
    from .boxes import normalize_map

    return normalize_map(m, "minmax").astype(np.float32)


# ----------------------------------------------------------------------------------------------- evaluation
def confusion(gt: np.ndarray, pred: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    """Confusion matrix [n, n] (rows ground truth, columns prediction); ground-truth 255 pixels are ignored."""
    if gt.shape != pred.shape:
        raise ValueError(f"prediction of shape {pred.shape} does not match ground truth of shape {gt.shape}")
    valid = gt != IGNORE
    g, p = gt[valid].astype(np.int64), pred[valid].astype(np.int64)
    if g.size and (g.max() >= n or p.max() >= n or p.min() < 0):
        raise ValueError(f"class ids must be in 0..{n - 1} (ground truth max {g.max()}, prediction max {p.max()})")
    return np.bincount(g * n + p, minlength=n * n).reshape(n, n)


def segmentation_scores(conf: np.ndarray) -> dict:
    """Per-class IoU / FP / FN ratios (NaN for classes with an empty union), mIoU, mean FP and FN (fg classes)."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    t, p = conf.sum(1), conf.sum(0)
    union = t + p - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        fp = np.where(union > 0, (p - tp) / union, np.nan)
        fn = np.where(union > 0, (t - tp) / union, np.nan)
    present = union > 0
    return {"iou": iou, "fp": fp, "fn": fn,
            "miou": float(np.nanmean(iou)) if present.any() else float("nan"),
            "fp_mean": float(np.nanmean(fp[1:])) if present[1:].any() else float("nan"),
            "fn_mean": float(np.nanmean(fn[1:])) if present[1:].any() else float("nan"),
            "classes_scored": int(present.sum()), "pixels": int(conf.sum())}


def write_gray_png(path: str | Path, image: np.ndarray) -> None:
    """A uint8 map (cue, saliency, pseudo label) as a grayscale PNG; a failed write is an error naming the file."""
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def write_mask(path: str | Path, labels: np.ndarray) -> None:
    """A VOC label map as a palette PNG (VOC colours)."""
    from PIL import Image

    from .data.synthetic import voc_palette

    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(voc_palette().ravel().tolist())
    im.save(path, "PNG")


def colorize(labels: np.ndarray) -> np.ndarray:
    """RGB uint8 rendering of a VOC label map."""
    from .data.synthetic import voc_palette

    return voc_palette()[labels]
