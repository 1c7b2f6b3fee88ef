"""make-cue-labels: background pseudo labels for the cue model from C2AM's maps (the authors' recipe: scale
each map, foreground where it is > threshold (0.3), then a dense CRF of 10 iterations on the binary labels).
uint8 PNG at the original size, 255 = background, 0 = foreground; with threshold none the soft 1 - map.
No labels or masks are read.

Reads:  --maps (extract_maps of the train split), the images of --split (for the CRF's colour term).
Writes: --out-dir/<image_id>.png and manifest.parquet (with the background fraction per image).

By hand:
    python -m stages.make_cue_labels --maps results/demo_voc_effl0/maps/train --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-dir results/demo_voc_effl0/wsss/cue_labels
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from c2am.boxes import normalize_map
from c2am.cli import add_dataset_args, add_settings, read_split, run_main, settings_from
from c2am.data.images import read_image
from c2am.io import atomic_dir, write_parquet
from c2am.maps import MapStore
from c2am.wsss import crf_from_labels, image_file, write_gray_png

KEYS: list[str] = []


def cue_label(fg: np.ndarray, image: np.ndarray, threshold: float | None, crf_iterations: int) -> np.ndarray:
    """uint8 background label (255 = background) of a foreground map in [0, 1] at the image's size."""
    if threshold is None:
        return np.round((1 - fg) * 255).astype(np.uint8)
    fg_mask = (fg > threshold).astype(np.int64)
    if crf_iterations > 0 and 0 < fg_mask.sum() < fg_mask.size:
        fg_mask = crf_from_labels(image, fg_mask, 2, iterations=crf_iterations)
    return np.where(fg_mask > 0, 0, 255).astype(np.uint8)


def run(args: argparse.Namespace) -> None:
    s = settings_from(args, KEYS)
    store = MapStore(args.maps)
    rows = []
    with atomic_dir(args.out_dir) as tmp:
        for r in read_split(args):
            if r.image_id not in store.index:
                raise KeyError(f"image {r.image_id} of split {args.split!r} has no map in {args.maps}")
            i = store.index[r.image_id]
            fg = normalize_map(store.original_size_map(i), s["normalization"])
            image = read_image(r.path).permute(1, 2, 0).numpy()
            if fg.shape != image.shape[:2]:
                raise ValueError(f"map of {r.image_id} in {args.maps} has size {fg.shape}, image {r.path} "
                                 f"{image.shape[:2]}")
            label = cue_label(fg, image, s["threshold"], s["crf_iterations"])
            name = image_file(r.image_id)
            write_gray_png(tmp / name, label)
            rows.append({"image_id": r.image_id, "file": name, "background_fraction": float((label / 255).mean())})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", "make_cue_labels", {**s, "maps": args.maps})
    fractions = [row["background_fraction"] for row in rows]
    print(f"{args.out_dir}: {len(rows)} cue labels, mean background fraction {np.mean(fractions):.3f}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", required=True)
    add_dataset_args(p)
    p.add_argument("--out-dir", required=True)
    KEYS[:] = add_settings(p, "cue_labels")
    return p


if __name__ == "__main__":
    run_main(run, parser())
