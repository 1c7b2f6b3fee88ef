"""Image decoding and the train / test geometry of C2AM, on uint8 tensors.

Every random choice is drawn from a generator seeded by (seed, epoch, sample position), so a run gives the
same batches whatever the number of loader workers, and a resumed run replays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageOps


class ImageDecodeError(ValueError):
    """A file that is not a readable image."""


def read_image(path: str | Path) -> torch.Tensor:
    """uint8 RGB tensor [3, H, W]; EXIF rotation applied, grayscale and RGBA converted to RGB."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    if path.stat().st_size == 0:
        raise ImageDecodeError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            arr = np.array(im.convert("RGB"))
    except Exception as exc:  # PIL raises UnidentifiedImageError / OSError for corrupt or truncated data
        raise ImageDecodeError(f"{path}: cannot decode image ({exc})") from exc
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


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


def sample_generator(seed: int, epoch: int, position: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + position)
    return g


def train_view(img: torch.Tensor, resize: int, crop: int, hflip: bool, scale_min: float,
               color_jitter: float, g: torch.Generator) -> torch.Tensor:
    """The training view: resize to resize x resize, random crop (optionally of random scale), flip, jitter.

    scale_min = 1 gives the authors' recipe (resize 256, random crop 224, horizontal flip).
    """
    img = TF.resize(img, [resize, resize], antialias=True)
    if scale_min < 1.0:
        side = int(round(resize * float(torch.empty(1).uniform_(scale_min ** 0.5, 1.0, generator=g))))
        side = max(side, 8)
    else:
        side = crop
    side = min(side, resize)
    y0 = int(torch.randint(0, resize - side + 1, (1,), generator=g))
    x0 = int(torch.randint(0, resize - side + 1, (1,), generator=g))
    img = img[:, y0:y0 + side, x0:x0 + side]
    if side != crop:
        img = TF.resize(img, [crop, crop], antialias=True)
    if hflip and bool(torch.rand(1, generator=g) < 0.5):
        img = img.flip(-1)
    if color_jitter > 0:
        f = 1 + color_jitter * (2 * torch.rand(3, generator=g) - 1)
        img = TF.adjust_brightness(img, float(f[0]))
        img = TF.adjust_contrast(img, float(f[1]))
        img = TF.adjust_saturation(img, float(f[2]))
    return img


def eval_view(img: torch.Tensor, resize: int, crop: int | None) -> tuple[torch.Tensor, Geometry]:
    """Resize to resize x resize (aspect not kept, as the authors do), then centre crop `crop` (None: no crop)."""
    h, w = img.shape[-2:]
    img = TF.resize(img, [resize, resize], antialias=True)
    crop = crop or resize
    if crop > resize:
        raise ValueError(f"test crop {crop} larger than resize {resize}")
    off = (resize - crop) // 2
    img = img[:, off:off + crop, off:off + crop]
    return img, Geometry(w, h, resize, resize, off, off, crop, crop)
