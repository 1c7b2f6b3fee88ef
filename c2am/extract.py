"""Batched map extraction at the test recipe (resize, centre crop) into a MapStore folder."""

from __future__ import annotations

import sys
import time
from dataclasses import astuple
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .data.images import Geometry, read_image, eval_view
from .data.records import ImageRecord
from .maps import MapWriter
from .models.c2am import C2AM


class EvalViews(Dataset):
    def __init__(self, records: list[ImageRecord], resize: int, crop: int | None):
        self.records, self.resize, self.crop = records, resize, crop

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        img, geom = eval_view(read_image(self.records[i].path), self.resize, self.crop)
        return img, torch.tensor(astuple(geom)), i


@torch.no_grad()
def extract_maps(model: C2AM, records: list[ImageRecord], settings: dict, out_dir: str | Path,
                 device: torch.device, progress: bool = True) -> dict:
    """Foreground maps of every record (feature resolution, float16) written with a manifest."""
    from tqdm import tqdm

    on_gpu = device.type == "cuda"
    model = model.to(device).eval()
    if on_gpu and settings["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    amp_dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
    loader = DataLoader(EvalViews(records, settings["resize"], settings["crop"]), batch_size=settings["batch_size"],
                        num_workers=settings["workers"], pin_memory=on_gpu, shuffle=False)
    writer = MapWriter(out_dir, settings["shard_size"], settings)
    start = time.time()
    fg_map = torch.compile(model.foreground_map) if on_gpu and settings.get("compile") else model.foreground_map
    bar = tqdm(loader, disable=not progress, desc="extract maps", file=sys.stderr,
               mininterval=1 if sys.stderr.isatty() else 15)
    for images, geoms, idx in bar:
        x = images.to(device, non_blocking=True).float().div_(255)
        if on_gpu and settings["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=on_gpu and settings["amp"]):
            maps = fg_map(x)
        maps = maps.float().cpu().numpy()
        for m, g, i in zip(maps, geoms.tolist(), idx.tolist()):
            writer.add(records[i].image_id, m, Geometry(*g))
    writer.close()
    seconds = time.time() - start
    return {"images": len(records), "seconds": seconds, "images_per_second": len(records) / max(seconds, 1e-9)}
