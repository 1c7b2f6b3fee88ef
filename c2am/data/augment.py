"""Box-aware training views for the PSOL localizer (and plain random-resized crops for the classifier).

A random resized crop (area fraction in [scale_min, 1], aspect ratio in [3/4, 4/3]) is redrawn until it keeps
at least `min_box_keep` of the box's area, so the regression target stays on the object; the box is then
clipped to the crop and expressed in crop coordinates normalised to [0, 1]. A horizontal flip mirrors it.
After `tries` failed draws the whole image is used (it always keeps the whole box).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

RATIO = (3 / 4, 4 / 3)


def draw_crop(width: int, height: int, scale_min: float, g: torch.Generator) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a random resized crop of a width x height image."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(scale_min, 1.0, generator=g))
        ratio = math.exp(float(torch.empty(1).uniform_(*log_ratio, generator=g)))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            left = int(torch.randint(0, width - w + 1, (1,), generator=g))
            top = int(torch.randint(0, height - h + 1, (1,), generator=g))
            return left, top, w, h
    return 0, 0, width, height


def box_kept_fraction(box, crop) -> float:
    """Fraction of the box's area inside the crop (left, top, w, h)."""
    x0, y0, x1, y1 = box
    left, top, w, h = crop
    iw = max(0.0, min(x1, left + w) - max(x0, left))
    ih = max(0.0, min(y1, top + h) - max(y0, top))
    area = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return iw * ih / area if area > 0 else 0.0


def box_in_crop(box, crop) -> np.ndarray:
    """The box (original pixels) clipped to the crop, normalised to the crop: values in [0, 1]."""
    left, top, w, h = crop
    x0, y0, x1, y1 = box
    out = np.array([(x0 - left) / w, (y0 - top) / h, (x1 - left) / w, (y1 - top) / h], dtype=np.float64)
    return np.clip(out, 0.0, 1.0)


def box_aware_view(img: torch.Tensor, box, size: int, scale_min: float, hflip: bool, g: torch.Generator,
                   min_box_keep: float | None = None, tries: int = 10) -> tuple[torch.Tensor, np.ndarray | None]:
    """A size x size training view of uint8 img [3, H, W] and its box normalised to the view (None if no box).
    min_box_keep (the localizer's setting) is needed with a box only.

    box: (x0, y0, x1, y1) in original pixels with exclusive edges, or None for a plain random resized crop.
    """
    if box is not None and min_box_keep is None:
        raise ValueError("a box-aware crop needs min_box_keep (train_localizer.min_box_keep)")
    height, width = img.shape[-2:]
    crop = (0, 0, width, height)
    if scale_min < 1.0:
        for _ in range(tries):
            candidate = draw_crop(width, height, scale_min, g)
            if box is None or box_kept_fraction(box, candidate) >= min_box_keep:
                crop = candidate
                break
    left, top, w, h = crop
    view = TF.resized_crop(img, top, left, h, w, [size, size], antialias=True)
    target = box_in_crop(box, crop) if box is not None else None
    if hflip and bool(torch.rand(1, generator=g) < 0.5):
        view = view.flip(-1)
        if target is not None:
            target = np.array([1 - target[2], target[1], 1 - target[0], target[3]])
    return view, target
