"""make-cue-labels: background pseudo labels for the cue model from C2AM's maps (the authors' recipe: scale
each map, foreground where it is > threshold (0.3), then a dense CRF of 10 iterations on the binary labels).
uint8 PNG at the original size, 255 = background, 0 = foreground; with threshold none the soft 1 - map.
No labels or masks are read.

Reads:  --maps (extract_maps of the train split), the images of --split (for the CRF's colour term).
Writes: --out-dir/<image_id>.png and manifest.parquet (with the background fraction per image).

By hand:
    python -m stages.make_cue_labels --maps results/demo_voc_effl0/maps/train --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-dir results/demo_voc_effl0/wsss/make_cue_labels
"""

from __future__ import annotations

import argparse

import numpy as np

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.data.decode import read_rgb
from c2am.io import write_image_folder
from c2am.settings import CueLabelSettings
from c2am.wsol.maps import MapStore
from c2am.wsss.cues import cue_label


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, CueLabelSettings)
    store = MapStore(args.maps)

    def labels_of_split():
        for r in read_split(args):
            if r.image_id not in store.index:
                raise KeyError(f"image {r.image_id} of split {args.split!r} has no map in {args.maps}")
            fg = store.original_map(store.index[r.image_id], s.normalization)
            image = read_rgb(r.path)
            if fg.shape != image.shape[:2]:
                raise ValueError(f"map of {r.image_id} in {args.maps} has size {fg.shape}, image {r.path} "
                                 f"{image.shape[:2]}")
            label = cue_label(fg, image, s)
            yield r.image_id, label, {"background_fraction": float((label / 255).mean())}

    rows = write_image_folder(args.out_dir, "make_cue_labels", {**s.to_dict(), "maps": args.maps}, labels_of_split())
    print(f"{args.out_dir}: {len(rows)} cue labels, mean background fraction "
          f"{np.mean([row['background_fraction'] for row in rows]):.3f}")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--maps", "--out-dir", maps="extract_maps output of the training split")
    add_dataset_args(p)
    add_settings(p, CueLabelSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
