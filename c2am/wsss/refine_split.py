"""Refine the CAMs of every image of a split (c2am.wsss.refine.refine_image), optionally in worker processes:
write each image's label map and sum the confusion matrices against the split's masks."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from ..data.decode import read_rgb
from ..data.voc import read_mask, write_mask
from ..io import image_file
from ..progress import progress_bar
from ..settings import RefineSettings
from .cams import cam_file, load_cams
from .cues import read_background
from .refine import refine_image
from .scores import confusion


def refine_one(job: tuple, method: str, cams: str | Path, cues: str | Path | None, s: RefineSettings,
               threshold: float | None, out_dir: Path) -> np.ndarray:
    """Refine one image's CAMs (job: image_id, image path, mask path), write its label map to
    out_dir/<image_id>.png, return its confusion matrix (errors name the image)."""
    image_id, path, mask_path = job
    try:
        image = read_rgb(path)
        size = (image.shape[1], image.shape[0])
        keys, maps = load_cams(cam_file(cams, image_id), size=size)
        background = None
        if method in ("cue", "saliency"):
            background = read_background(cues, image_id, size, method == "saliency")
        labels = refine_image(method, image, maps, keys, s, threshold, background)
        out = out_dir / image_file(image_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_mask(out, labels)
        return confusion(read_mask(mask_path), labels)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"image {image_id} ({path}, mask {mask_path}): {exc}") from exc


def refine_split(records: list, method: str, cams: str | Path, cues: str | Path | None, s: RefineSettings,
                 threshold: float | None, out_dir: Path, threads: int = 1, progress: bool = True) -> np.ndarray:
    """Refine every record (each with a mask) by `method` (c2am.wsss.refine.METHODS) from the CAM folder `cams`
    and, for cue / saliency, the folder `cues`; write out_dir/<image_id>.png (VOC palette label maps) and return
    the summed confusion matrix. threads > 1: that many worker processes (the dense CRF is single-threaded)."""
    jobs = [(r.image_id, r.path, r.mask_path) for r in records]
    work = partial(refine_one, method=method, cams=cams, cues=cues, s=s, threshold=threshold, out_dir=out_dir)
    if threads > 1:
        with ProcessPoolExecutor(threads) as pool:
            return sum(progress_bar(pool.map(work, jobs, chunksize=4), len(jobs), method, progress))
    return sum(progress_bar(map(work, jobs), len(jobs), method, progress))
