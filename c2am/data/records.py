"""The one record type every dataset reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in original-image pixels, x1/y1 exclusive edges


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset.

    image_id: unique, stable id within the dataset (CUB: the images.txt id; VOC/folder: file stem or relative path).
    path:     absolute path of the image file.
    split:    "train", "test", "val", ... as the dataset's own split files say.
    label:    0-based class index for single-label sets (CUB, ImageNet), else None.
    labels:   image-level class ids for multi-label sets (VOC ids 1..20), else ().
    boxes:    ground-truth boxes (x0, y0, x1, y1) in original pixels; x1 = x + w (continuous coordinates).
    mask_path: ground-truth mask, else None; mask_kind says what its values are: "class_ids" (VOC: 0 background,
              1..254 object classes, 255 ignored) or "foreground" (CUB / wsolevaluation: 0..255 foreground
              strength, > 127 is foreground).
    width/height: original size when the annotation file states it, else None (read from the image on demand).
    """

    image_id: str
    path: Path
    split: str
    label: int | None = None
    labels: tuple[int, ...] = ()
    boxes: tuple[Box, ...] = ()
    mask_path: Path | None = None
    mask_kind: str | None = None
    width: int | None = None
    height: int | None = None
    class_name: str | None = field(default=None, compare=False)
