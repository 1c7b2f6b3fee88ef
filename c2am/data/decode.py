"""Image decoding without torch: any image file as 8-bit RGB, and the geometry of a network input in the
original image. Stages that only look at images (figures, saliency, refinement) import this, not images.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


class ImageDecodeError(ValueError):
    """A file that is not a readable image."""


def _to_uint8(im: Image.Image) -> np.ndarray:
    """RGB uint8 [H, W, 3] of any PIL image. Pillow's convert("RGB") clips 16-bit and 32-bit grayscale to 255 and
    float images to 0, so those are scaled here: 16-bit by 65535 -> 255, 32-bit integers by their type's range
    (65535 when no value exceeds it: 16-bit PNGs open as mode I), float images as [0, 1] (clipped to 0..255 when
    they exceed 1)."""
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() <= 65535 else 2.0 ** 31 - 1
        gray = np.clip(np.rint(a / top * 255), 0, 255).astype(np.uint8)
    elif im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        gray = np.clip(np.rint(a * 255 if a.max() <= 1.0 else a), 0, 255).astype(np.uint8)
    else:
        return np.array(im.convert("RGB"))
    return np.repeat(gray[..., None], 3, axis=2)


def read_rgb(path: str | Path) -> np.ndarray:
    """uint8 RGB array [H, W, 3]; EXIF rotation applied; grayscale, palette, RGBA, 16-bit, 32-bit and float
    images converted to 8-bit RGB with their range scaled (see _to_uint8)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}" + (" (a dangling symbolic link)" if path.is_symlink()
                                                             else ""))
    if path.stat().st_size == 0:
        raise ImageDecodeError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            arr = _to_uint8(ImageOps.exif_transpose(im))
    except Exception as exc:  # PIL raises UnidentifiedImageError / OSError for corrupt or truncated data
        raise ImageDecodeError(f"{path}: cannot decode image ({exc})") from exc
    return arr


@dataclass(frozen=True)
class Geometry:
    """Where a network input comes from in the original image.

    The input is the crop [crop_x0, crop_x0 + crop_w) x [crop_y0, crop_y0 + crop_h) of the image resized to
    resize_w x resize_h. A point x of the crop is at (x + crop_x0) * orig_w / resize_w in the original.
    """

    orig_w: int
    orig_h: int
    resize_w: int
    resize_h: int
    crop_x0: int
    crop_y0: int
    crop_w: int
    crop_h: int

    def to_original(self, map_w: int, map_h: int) -> tuple[float, float, float, float]:
        """(sx, sy, ox, oy) mapping coordinates of a map covering the crop to original pixels."""
        fx, fy = self.orig_w / self.resize_w, self.orig_h / self.resize_h
        return (self.crop_w / map_w * fx, self.crop_h / map_h * fy, self.crop_x0 * fx, self.crop_y0 * fy)
