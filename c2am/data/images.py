"""C2AM's train / test views of an image, on uint8 tensors (decoding and Geometry are in decode.py, torch-free).

Every random choice is drawn from a generator seeded by (seed, epoch, sample position), so a run gives the
same batches whatever the number of loader workers, and a resumed run replays exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.transforms.v2.functional as TF

from .decode import Geometry, ImageDecodeError, read_rgb


def read_image(path: str | Path) -> torch.Tensor:
    """uint8 RGB tensor [3, H, W] of an image file (decode.read_rgb: EXIF rotation applied, any mode as 8-bit RGB)."""
    return torch.from_numpy(read_rgb(path)).permute(2, 0, 1).contiguous()


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


class _Check(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            img = read_image(self.paths[i])
        except (ImageDecodeError, FileNotFoundError) as exc:
            return i, str(exc), False
        return i, None, bool((img != img[:, :1, :1]).any())  # some pixel differs from the first one


def verify_images(paths: list, workers: int) -> dict:
    """Decode every image once (on `workers` loader processes) before a training starts, so a broken file stops
    it at once with every bad file named, not in the middle of an epoch. Raises ImageDecodeError listing the
    unreadable files, or ValueError when every image is a single colour (nothing to separate); returns
    {"images", "single_colour"}."""
    loader = torch.utils.data.DataLoader(_Check(list(paths)), batch_size=None, num_workers=workers)
    bad, flat = [], 0
    for i, error, varies in loader:
        if error is not None:
            bad.append(error)
        flat += not varies and error is None
    if bad:
        raise ImageDecodeError(f"{len(bad)} of {len(paths)} training images cannot be read: " + "; ".join(bad[:10])
                               + (" ..." if len(bad) > 10 else ""))
    if paths and flat == len(paths):
        raise ValueError(f"every one of the {len(paths)} training images is a single colour (e.g. {paths[0]}): "
                         f"there is no foreground to find")
    return {"images": len(paths), "single_colour": flat}
