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
import pandas as pd

from c2am.cli import add_dataset_args, read_split, run_main
from c2am.data.images import read_image
from c2am.io import atomic_dir, write_parquet
from c2am.wsss import SALIENCY_METHODS, image_file, write_gray_png


def run(args: argparse.Namespace) -> None:
    method = SALIENCY_METHODS[args.method]
    rows = []
    with atomic_dir(args.out_dir) as tmp:
        for r in read_split(args):
            image = read_image(r.path).permute(1, 2, 0).numpy()
            sal = np.round(method(image) * 255).astype(np.uint8)
            name = image_file(r.image_id)
            write_gray_png(tmp / name, sal)
            rows.append({"image_id": r.image_id, "file": name, "width": sal.shape[1], "height": sal.shape[0]})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", "make_saliency", {"method": args.method})
    print(f"{args.out_dir}: {len(rows)} {args.method} saliency maps")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=sorted(SALIENCY_METHODS))
    add_dataset_args(p)
    p.add_argument("--out-dir", required=True)
    return p


if __name__ == "__main__":
    run_main(run, parser())
