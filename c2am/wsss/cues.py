"""C2AM's background cues and pseudo labels from its foreground maps, and reading a cue or saliency folder as a
background channel (see c2am.wsss: a cue is uint8, 255 = background; a saliency map is 255 = salient)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..io import image_file
from ..settings import CueLabelSettings
from .crf import crf_from_labels


def one_minus_p_cue(fg: np.ndarray) -> np.ndarray:
    """The raw cue of a foreground map in [0, 1]: round((1 - fg) * 255) as uint8 (the "+C2AM (raw 1-P)" column)."""
    return np.round((1 - fg) * 255).astype(np.uint8)


def cue_label(fg: np.ndarray, image: np.ndarray, s: CueLabelSettings) -> np.ndarray:
    """The background pseudo label (uint8, 255 = background) of a foreground map in [0, 1] at the image's size,
    the cue model's training target (the authors' inference_crf.py): foreground where fg > threshold, cleaned by
    a dense CRF on the RGB image (s.crf_*); threshold None gives the soft label 1 - fg."""
    if s.threshold is None:
        return one_minus_p_cue(fg)
    fg_mask = (fg > s.threshold).astype(np.int64)
    if s.crf_iterations > 0 and 0 < fg_mask.sum() < fg_mask.size:
        fg_mask = crf_from_labels(image, fg_mask, 2, s.crf())
    return np.where(fg_mask > 0, 0, 255).astype(np.uint8)


def read_unit_map(folder: str | Path, image_id: str, size: tuple[int, int], what: str) -> np.ndarray:
    """An image's grayscale PNG in a per-image folder (a cue or saliency folder) as float32 in [0, 1] (file / 255)
    at size (w, h), resized bilinearly when the file has another size; `what` names it in the error."""
    path = Path(folder) / image_file(image_id)
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise FileNotFoundError(f"no readable {what} {path}")
    if gray.shape != (size[1], size[0]):
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR)
    return gray.astype(np.float32) / 255.0


def read_background(folder: str | Path, image_id: str, size: tuple[int, int], saliency: bool) -> np.ndarray:
    """The background channel in [0, 1] of an image (size = (w, h)) from a cue folder (cue / 255) or a saliency
    folder (1 - saliency / 255)."""
    if saliency:
        return 1.0 - read_unit_map(folder, image_id, size, "saliency map")
    return read_unit_map(folder, image_id, size, "background cue")
