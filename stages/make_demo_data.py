"""make-demo-data: generate the embedded default dataset (no download, identical bytes on every machine).

Writes: OUT/CUB_200_2011 (official CUB layout + segmentations/) and OUT/VOC2012 (VOC layout), built in a
temporary folder and renamed into place. An existing identical dataset is kept.

By hand:
    python -m stages.make_demo_data --out results/data/demo
"""

from __future__ import annotations

import argparse
import json

from c2am.cli import run_main
from c2am.data.synthetic import generate_demo


def run(args: argparse.Namespace) -> None:
    summary = generate_demo(args.out, n_classes=args.n_classes, n_train_per_class=args.n_train_per_class,
                            n_test_per_class=args.n_test_per_class, image_size=(args.size, args.size),
                            seed=args.seed, overwrite=args.overwrite)
    print(json.dumps({k: summary[k] for k in ("classes", "sha256") if k in summary}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--n_classes", type=int, default=4)
    p.add_argument("--n_train_per_class", type=int, default=24)
    p.add_argument("--n_test_per_class", type=int, default=12)
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    return p


if __name__ == "__main__":
    run_main(run, parser())
