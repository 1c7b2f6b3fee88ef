"""GT foreground masks of records, for PxAP."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.records import ImageRecord
from ..data.voc import VOC_IGNORE, read_mask


def foreground_mask(record: ImageRecord) -> tuple[np.ndarray, np.ndarray | None]:
    """(foreground bool [H, W], ignored pixels bool [H, W] or None) of a record's mask: for VOC class-id masks
    any object class (1..254) is foreground and 255 is ignored; CUB-style masks are foreground above 127."""
    if record.mask_kind == "class_ids":
        ids = read_mask(record.mask_path)
        return (ids > 0) & (ids < VOC_IGNORE), ids == VOC_IGNORE
    if record.mask_kind != "foreground":
        raise ValueError(f"image {record.image_id}: unknown mask kind {record.mask_kind!r} of {record.mask_path}")
    mask = cv2.imread(str(record.mask_path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot read mask {record.mask_path}")
    return mask > 127, None
