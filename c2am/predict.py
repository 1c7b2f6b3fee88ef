"""Foreground of any image folder with a trained C2AM model: masks, boxes and overlay previews.

Each image is read with EXIF rotation applied (grayscale, palette and RGBA become RGB), resized as a whole to
size x size at each test-time scale (inference_recipe: as the maps the box threshold was chosen on, unless given),
and its foreground map is resized back to the original size, min-max scaled per image and thresholded (refine
crf: the mask is then refined by a dense CRF on the image, mask_score). With masks
self_trained the mask is made the same way from 1 - the background probability of a cue model trained on C2AM's
own pseudo labels (c2am.wsss.cue_model). The box is the bounding rectangle of the written mask's largest region,
so box and mask always agree. Images that
cannot be read (corrupt, truncated, empty files, dangling links) are skipped, counted and listed; an image whose
map has no foreground/background contrast (c2am.wsol.boxes.flat_maps: a blank image, or a constant map) gets an
empty mask and no box, flagged `empty_map`. A file whose name is not UTF-8 is written (outputs and its row of
boxes.parquet) under its escaped name (c2am.names: caf\\xe9.jpg -> caf%E9.jpg), listed in the summary's `renamed`.

Output names keep the input's whole relative path, extension included (photo.jpg -> masks/photo.jpg.png,
previews/photo.jpg.jpg), so image.bmp and image.tif of one folder never overwrite each other.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .data.decode import ImageDecodeError
from .data.images import eval_view, read_image
from .data.readers import list_images
from .data.demo import is_demo_image
from .gallery import NEARLY_EMPTY, write_gallery
from .inference import infer, inference_model, pick_device
from .io import atomic_dir, check_out_paths, legacy_manifest_layout, write_image, write_parquet
from .models.c2am import load_trained
from .settings import CrfSettings, PredictCuesSettings, PredictSettings
from .progress import progress_bar
from .names import readable, safe_names
from .wsol.boxes import boxes_from_map, flat_maps, normalize_map
from .wsss.crf import crf_foreground
from .wsss.cue_model import load_cue_model, predict_background

# The level of predict.masks self_trained on the min-max scaled foreground of the cue model: the box threshold was
# chosen on C2AM's maps, not on this model's, and results/table_fg.csv scores the self-trained rows at 0.5 (its
# evaluate_fg.threshold default, TokenCut's protocol), so predict writes the masks that table reports.
SELF_TRAINED_MASK_THRESHOLD = 0.5


def output_name(rel: Path, suffix: str) -> Path:
    """The output file of an input (relative path): its whole name plus `suffix`, unique per input file."""
    return rel.with_name(rel.name + suffix)


class _Views(Dataset):
    def __init__(self, files: list[Path], size: int):
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            img = read_image(self.files[i])
        except (ImageDecodeError, FileNotFoundError) as exc:  # corrupt files, dangling links
            return i, None, str(exc)
        view, _ = eval_view(img, self.size, None)
        return i, view, img


def _collate(items):
    good = [(i, v, img) for i, v, img in items if v is not None]
    bad = [(i, err) for i, v, err in items if v is None]
    views = torch.stack([v for _, v, _ in good]) if good else None
    return [i for i, _, _ in good], views, [img for _, _, img in good], bad


# Okabe-Ito colours (readable with every common colour-vision deficiency), each drawn over a black line so that it
# shows on any photo: the mask's outline yellow, the box sky blue
OUTLINE_RGB, BOX_RGB = (240, 228, 66), (86, 180, 233)


def overlay(img: np.ndarray, mask: np.ndarray, box, max_side: int = 512) -> np.ndarray:
    """RGB preview, longest side <= max_side: the photo with its background dimmed, the mask's outline in yellow
    and the box in sky blue, each line on a black one (visible on red, yellow or blue objects alike)."""
    scale = min(1.0, max_side / max(img.shape[:2]))
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    small = cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), size, interpolation=cv2.INTER_AREA)
    keep = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = small.astype(np.float32)
    out[~keep] *= 0.55
    out = np.ascontiguousarray(out.astype(np.uint8))
    width = max(1, round(max(size) / 256))
    contours, _ = cv2.findContours(keep.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (0, 0, 0), 3 * width)
    cv2.drawContours(out, contours, -1, OUTLINE_RGB, width)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        corners = (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1))
        cv2.rectangle(out, *corners, (0, 0, 0), 3 * width)
        cv2.rectangle(out, *corners, BOX_RGB, width)
    return out


REFINES = ("none", "crf")


def mask_score(scaled: np.ndarray, image: np.ndarray | None, threshold: float, refine: str,
               max_side: int) -> tuple[np.ndarray, float]:
    """predict's foreground of one image as (score in [0, 1], level): its mask is score >= level.

    scaled: the min-max scaled map at the image's size; refine none keeps it (level = threshold); crf returns
    the foreground marginal of a dense CRF on the RGB uint8 image [H, W, 3] seeded with scaled >= threshold
    (level 0.5; c2am.wsss.crf.crf_foreground)."""
    if refine == "none":
        return scaled, threshold
    if refine != "crf":
        raise ValueError(f"unknown refine {refine!r}; use one of {REFINES}")
    return np.clip(crf_foreground(image, scaled, threshold, max_side, CrfSettings.defaults()), 0, 1), 0.5


def mask_box(mask: np.ndarray):
    """The box predict writes: the bounding rectangle of the written mask's largest connected region (by
    c2am.wsol.boxes.boxes_from_map's contour rule), None for an empty mask."""
    if not mask.any():
        return None
    return boxes_from_map(mask.astype(np.float32), [0.5])[0][0]


def _predicted_files(table: pd.DataFrame) -> set[str]:
    rels = [Path(f) for f in table["file"]]
    return {"summary.json", "index.html", *(("masks" / output_name(r, ".png")).as_posix() for r in rels),
            *(("previews" / output_name(r, ".jpg")).as_posix() for r in rels)}


# a predict folder without an output marker counts as ours when boxes.parquet's c2am metadata names predict; its
# files are boxes.parquet, summary.json, index.html and each listed image's mask and preview
legacy_predictions = legacy_manifest_layout("predict", "boxes.parquet", extra=_predicted_files)


def inference_recipe(s: PredictSettings, maps_recipe: dict | None, model_settings: dict) -> dict:
    """The size, scales and flip predict runs at: each as given (--size, --scales, --flip), else as the maps the box
    threshold was chosen on were extracted (`maps_recipe`, recorded in choose_threshold's threshold.json), else
    the model's training resize, one scale, no flip. Returns them with `recipe_from` saying where they came from."""
    if maps_recipe is not None:
        fallback, source = maps_recipe, "the threshold file (the maps it was chosen on)"
    else:
        fallback, source = {"size": model_settings["resize"], "scales": [1.0], "flip": False}, \
            "the model (its training resize)"
    given = {"size": s.size, "scales": s.scales, "flip": s.flip}
    recipe = {k: v if v is not None else fallback[k] for k, v in given.items()}
    recipe["recipe_from"] = {k: "given" if v is not None else source for k, v in given.items()}
    return recipe


def _warnings(ck: dict, model_path, files: list[Path], predicted: int, nearly_empty: int) -> list[str]:
    found = []
    if ck.get("summary", {}).get("synthetic_demo") and not all(is_demo_image(f) for f in files[:50]):
        found.append(f"the model {model_path} was trained on the synthetic demo images only: its masks of other "
                     f"photos mean little; train C2AM on your own photos (make segment IMAGES=DIR)")
    if predicted and nearly_empty > predicted / 2:
        found.append(f"{nearly_empty} of {predicted} masks are (nearly) empty (foreground < {NEARLY_EMPTY:.0%} "
                     f"of the photo): the model or its threshold does not suit these photos")
    return found


@dataclass
class _MaskSource:
    """Where predict's masks come from: C2AM's map, or with `model` (masks self_trained) 1 - the cue model's
    background at `size` (predict_cues.test_size). `needs_rgb`: an HWC copy of each image only for the CRF and the
    preview."""

    device: torch.device
    amp: bool
    needs_rgb: bool
    model: torch.nn.Module | None = None
    size: int | None = None


def _write_outputs(tmp: Path, name: str, img: torch.Tensor, fg: np.ndarray, flat: bool, threshold: float,
                   s: PredictSettings, masks: _MaskSource) -> dict:
    """One image's mask (and preview) under `tmp` from its map `fg` on the network grid; returns its boxes.parquet
    row. A map without contrast (`flat`, a blank image) gives an empty mask and no box."""
    rel = Path(name)
    h, w = img.shape[-2:]
    full = normalize_map(cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR), "minmax")
    rgb_full = np.ascontiguousarray(img.permute(1, 2, 0).numpy()) if masks.needs_rgb else None
    if masks.model is None:
        mask_map, mask_threshold = full, threshold
    else:
        fg_prob = 1 - predict_background(masks.model, img, masks.size, masks.device, masks.amp)
        mask_map, mask_threshold = normalize_map(fg_prob, "minmax"), SELF_TRAINED_MASK_THRESHOLD
    score, level = mask_score(mask_map, rgb_full, mask_threshold, s.refine, s.refine_max_side)
    mask = score >= level if not flat else np.zeros((h, w), bool)
    box = mask_box(mask)  # the box of what is written, so that box and mask never disagree
    mask_path = tmp / "masks" / output_name(rel, ".png")
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    write_image(mask_path, mask.astype(np.uint8) * 255)
    if s.previews:
        prev = tmp / "previews" / output_name(rel, ".jpg")
        prev.parent.mkdir(parents=True, exist_ok=True)
        rgb = overlay(rgb_full, mask, box)
        write_image(prev, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    x0, y0, x1, y1 = box if box is not None else (np.nan,) * 4
    return {"file": name, "width": w, "height": h, "x0": float(x0), "y0": float(y0), "x1": float(x1),
            "y1": float(y1), "threshold": threshold, "foreground_fraction": float(mask.mean()), "empty_map": flat}


def predict_folder(model_path: str | Path, folder: str | Path, out_dir: str | Path, threshold: float,
                   s: PredictSettings, device: str = "auto", progress: bool = True,
                   mask_model_path: str | Path | None = None, maps_recipe: dict | None = None,
                   cues: PredictCuesSettings | None = None) -> dict:
    """Write OUT/masks/REL.png (255 = foreground), OUT/boxes.parquet, OUT/previews/REL.jpg, OUT/index.html (the
    gallery) and OUT/summary.json for every image REL under `folder` (REL keeps its extension:
    masks/a/photo.jpg.png); the folder is written completely or not at all. `mask_model_path`: the cue model of
    s.masks self_trained, run as predict_cues runs it (`cues`: its predict_cues settings, the schema's defaults
    when None); `maps_recipe`: the size, scales and flip of the maps the threshold was chosen on
    (inference_recipe). Returns the summary."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if (s.masks == "self_trained") != (mask_model_path is not None):
        raise ValueError(f"masks {s.masks!r} " + (
            "needs the cue model trained on C2AM's pseudo labels (--mask-model, rule train_cue_model)"
            if mask_model_path is None else "takes no mask model (--mask-model is for masks self_trained)"))
    folder = Path(folder)
    if folder.is_file():
        raise NotADirectoryError(f"--images {folder} is a file, not a folder: predict reads every image under a "
                                 "folder (give the folder that holds it)")
    # the output folder is replaced as a whole: never the images' folder, one holding it, or one inside it
    check_out_paths({"--out-dir": out_dir}, {"--images": folder, "--model": model_path,
                                             "--mask-model": mask_model_path}, listed=("--images",))
    files = list_images(folder)
    dev = pick_device(device)
    model, ck = load_trained(model_path)
    recipe = inference_recipe(s, maps_recipe, ck["settings"])
    size = recipe["size"]
    model = inference_model(model, dev, True)
    masks = _MaskSource(dev, s.amp, needs_rgb=s.refine == "crf" or s.previews)
    if mask_model_path:  # run as predict_cues runs it for table_fg: at predict_cues.test_size
        cue_net, _ = load_cue_model(mask_model_path, fits=ck, option="--mask-model")
        masks.model = inference_model(cue_net, dev, True)
        masks.size = (cues or PredictCuesSettings.defaults()).test_size
    on_gpu = dev.type == "cuda"
    loader = DataLoader(_Views(files, size), batch_size=s.batch_size, num_workers=s.workers, collate_fn=_collate,
                        pin_memory=on_gpu)
    rows, skipped, empty = [], [], 0
    # a name that is not UTF-8 cannot go into Parquet, JSON or OpenCV: its outputs and rows use its escaped form
    rels = [str(f.relative_to(folder)) for f in files]
    renamed = safe_names(rels)
    names = [renamed.get(r, r) for r in rels]
    fg_map = partial(model.averaged_foreground_map, scales=recipe["scales"], flip=recipe["flip"])
    start = time.time()
    with atomic_dir(out_dir, legacy_predictions, "predict") as tmp:
        for indices, views, originals, bad in progress_bar(loader, len(loader), "predict", progress):
            skipped += [{"file": names[i], "error": readable(err)} for i, err in bad]
            if views is None:
                continue
            maps = infer(fg_map, views, dev, True, s.amp).cpu().numpy()
            for i, fg, img, flat in zip(indices, maps, originals, flat_maps(maps, views)):
                rows.append(_write_outputs(tmp, names[i], img, fg, bool(flat), threshold, s, masks))
                empty += bool(flat)
        if files and not rows and len(skipped) == len(files):
            listed = "; ".join(f"{item['file']}: {item['error']}" for item in skipped[:10])
            raise ValueError(f"none of the {len(files)} images under {folder} could be read ({listed}"
                             f"{f'; and {len(skipped) - 10} more' if len(skipped) > 10 else ''}); nothing written")
        table = pd.DataFrame(rows, columns=["file", "width", "height", "x0", "y0", "x1", "y1", "threshold",
                                            "foreground_fraction", "empty_map"])
        nearly_empty = int((table["foreground_fraction"] < NEARLY_EMPTY).sum())
        warnings = _warnings(ck, model_path, files, len(table), nearly_empty)
        summary = {"images": len(files), "predicted": len(rows), "skipped_unreadable": len(skipped),
                   "empty_maps": int(empty), "nearly_empty_masks": nearly_empty,
                   "threshold": threshold, "size": size, "scales": list(recipe["scales"]),
                   "flip": recipe["flip"], "recipe_from": recipe["recipe_from"], "refine": s.refine,
                   "model": str(model_path), "masks": s.masks,
                   "mask_model": None if mask_model_path is None else str(mask_model_path),
                   "mask_model_size": masks.size if mask_model_path else None,
                   "foreground_is": "1 - P" if bool(model.fg_flip) else "P", "device": str(dev),
                   "seconds": round(time.time() - start, 2), "warnings": warnings, "skipped": skipped,
                   "renamed": [{"file": renamed[r], "name": readable(r)} for r in rels if r in renamed]}
        write_parquet(table, tmp / "boxes.parquet", "predict", {k: summary[k] for k in ("threshold", "size", "model")})
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        write_gallery(tmp, table, summary, s.previews)
    for item in summary["renamed"]:
        print(f"renamed {item['name']} -> {item['file']} (its name is not UTF-8)", file=sys.stderr)
    for item in skipped:
        print(f"skipped {item['file']}: {item['error']}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return summary
