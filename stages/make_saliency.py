"""make-saliency: a classical saliency map per image (the +saliency baseline's cue source), uint8 PNG at the
original size with 255 = salient, plus manifest.parquet. Methods: spectral_residual (Hou & Zhang 2007) or
frequency_tuned (Achanta et al. 2009); neither needs training or labels.

Reads:  the images of --split.   Writes: --out-dir/<image_id>.png and manifest.parquet.

By hand:
    python -m stages.make_saliency --method spectral_residual --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-dir results/saliency/demo_voc/sr/train
"""

from __future__ import annotations

import argparse

import numpy as np

from c2am.cli import add_dataset_args, add_paths, main, read_split, stage_parser
from c2am.data.decode import read_rgb
from c2am.io import write_image_folder
from c2am.wsss.saliency import SALIENCY_METHODS


def run(args: argparse.Namespace) -> None:
    method = SALIENCY_METHODS[args.method]

    def maps_of_split():
        for r in read_split(args):
            sal = np.round(method(read_rgb(r.path)) * 255).astype(np.uint8)
            yield r.image_id, sal, {"width": sal.shape[1], "height": sal.shape[0]}

    rows = write_image_folder(args.out_dir, "make_saliency", {"method": args.method}, maps_of_split())
    print(f"{args.out_dir}: {len(rows)} {args.method} saliency maps")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--method", required=True, choices=sorted(SALIENCY_METHODS))
    add_paths(p, "--out-dir")
    add_dataset_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
