"""The PASCAL VOC conventions shared by the readers, the WSSS part and the demo generator: class names and ids
(0 = background, 1..20 objects, 255 = ignore), class-id mask PNGs (palette indices), and the VOC colour map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOC_IGNORE = 255


def voc_palette() -> np.ndarray:
    """The standard PASCAL VOC colour map, (256, 3) uint8 (index 255 -> (224, 224, 192))."""
    idx = np.arange(256)
    pal = np.zeros((256, 3), np.int64)
    for j in range(8):
        for ch in range(3):
            pal[:, ch] |= ((idx >> (3 * j + ch)) & 1) << (7 - j)
    return pal.astype(np.uint8)


def read_mask(path: str | Path) -> np.ndarray:
    """A class-id mask PNG (palette indices or grayscale) as uint8 [H, W]; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask not found: {path}")
    try:
        with Image.open(path) as im:
            mode = im.mode
            mask = np.array(im) if mode in ("P", "L") else None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read mask ({exc})") from exc
    if mask is None:
        raise ValueError(f"{path}: expected a palette or grayscale PNG of class ids, got mode {mode}")
    return mask


def voc_labels_from_mask(path: str | Path) -> tuple[int, ...]:
    """Sorted VOC class ids present in a class-id mask PNG (palette indices), 0 and 255 excluded."""
    counts = np.bincount(read_mask(path).ravel(), minlength=256)
    present = np.flatnonzero(counts)
    bad = present[(present >= len(VOC_CLASSES)) & (present != VOC_IGNORE)]
    if bad.size:
        raise ValueError(f"{path}: values {bad.tolist()} are neither VOC class ids (0-20) nor 255 (ignore)")
    return tuple(int(c) for c in present if 0 < c < VOC_IGNORE)


def write_mask(path: str | Path, labels: np.ndarray) -> None:
    """A VOC label map as a palette PNG (VOC colours)."""
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(voc_palette().ravel().tolist())
    im.save(path, "PNG")


def colorize(labels: np.ndarray) -> np.ndarray:
    """RGB uint8 rendering of a VOC label map."""
    return voc_palette()[labels]
