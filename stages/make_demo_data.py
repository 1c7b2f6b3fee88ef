"""make-demo-data: generate the embedded default dataset (no download, identical bytes on every machine).

Writes: OUT/CUB_200_2011 (official CUB layout + segmentations/) and OUT/VOC2012 (VOC layout), built in a
temporary folder and renamed into place. An existing identical dataset is kept.

By hand:
    python -m stages.make_demo_data --out results/data/demo
"""

from __future__ import annotations

import argparse
import json

from c2am.cli import add_paths, main, stage_parser
from c2am.data.demo import generate_demo


def run(args: argparse.Namespace) -> None:
    given = {k: v for k, v in vars(args).items() if k not in ("out", "size", "overwrite") and v is not None}
    if args.size is not None:
        given["image_size"] = (args.size, args.size)
    summary = generate_demo(args.out, overwrite=args.overwrite, **given)
    print(json.dumps({k: summary[k] for k in ("classes", "sha256") if k in summary}))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--out", out="folder to write CUB_200_2011/ and VOC2012/ into")
    # unset flags keep generate_demo's defaults (4 classes, 24 train / 12 test images each, 160 px, seed 0)
    p.add_argument("--n-classes", type=int)
    p.add_argument("--n-train-per-class", type=int)
    p.add_argument("--n-test-per-class", type=int)
    p.add_argument("--size", type=int, help="image side before the +-20 %% jitter")
    p.add_argument("--seed", type=int)
    p.add_argument("--overwrite", action="store_true")
    return p


if __name__ == "__main__":
    main(run, parser())
