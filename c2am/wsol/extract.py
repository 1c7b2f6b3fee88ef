"""Batched map extraction at the test recipe (resize, centre crop) into a MapStore folder."""

from __future__ import annotations

import sys
import time
from dataclasses import astuple
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.decode import Geometry
from ..data.images import eval_view, read_image
from ..data.records import ImageRecord
from ..inference import infer, inference_model
from ..models.c2am import C2AM
from ..settings import ExtractSettings
from ..progress import progress_bar
from .boxes import flat_maps
from .maps import MapWriter


class EvalViews(Dataset):
    def __init__(self, records: list[ImageRecord], resize: int, crop: int | None):
        self.records, self.resize, self.crop = records, resize, crop

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        img, geom = eval_view(read_image(self.records[i].path), self.resize, self.crop)
        return img, torch.tensor(astuple(geom)), i


@torch.no_grad()
def extract_maps(model: C2AM, records: list[ImageRecord], s: ExtractSettings, out_dir: str | Path,
                 device: torch.device, meta: dict, progress: bool = True) -> dict:
    """Foreground maps of every record (feature resolution, float16) written with a manifest whose metadata holds
    the settings and `meta` (model file, backbone, foreground side)."""
    on_gpu = device.type == "cuda"
    model = inference_model(model, device, s.channels_last)
    loader = DataLoader(EvalViews(records, s.resize, s.crop), batch_size=s.batch_size, num_workers=s.workers,
                        pin_memory=on_gpu, shuffle=False)
    start = time.time()
    fg_map = partial(model.averaged_foreground_map, scales=s.scales, flip=s.flip)
    fg_map = torch.compile(fg_map) if on_gpu and s.compile else fg_map
    flat = 0
    with MapWriter(out_dir, s.shard_size, {**s.to_dict(), **meta}) as writer:
        for images, geoms, idx in progress_bar(loader, len(loader), "extract maps", progress):
            maps = infer(fg_map, images, device, s.channels_last, s.amp).cpu().numpy()
            no_contrast = flat_maps(maps, images)  # predict's rule: stored, so no box is made from these maps
            flat += int(no_contrast.sum())
            for m, g, i, f in zip(maps, geoms.tolist(), idx.tolist(), no_contrast.tolist()):
                writer.add(records[i].image_id, m, Geometry(*g), flat=f)
        if flat == len(records):
            raise ValueError(f"all {len(records)} maps are flat (no foreground / background contrast in any image): "
                             f"the model separates nothing; check its training images (all alike, e.g. blank?)")
    if flat:
        print(f"warning: {flat} of {len(records)} maps are flat (no contrast, e.g. a blank image): they get no box",
              file=sys.stderr)
    seconds = time.time() - start
    return {"images": len(records), "flat_maps": flat, "seconds": seconds,
            "images_per_second": len(records) / max(seconds, 1e-9)}
