"""train-localizer: PSOL's class-agnostic localizer, a backbone + linear head regressing one box per image,
trained on pseudo boxes (C2AM's or DDT's train-split boxes) with box-aware random resized crops and flips.

Reads:  --init (pretrain_init artifact of the localizer's backbone), --pseudo-boxes (box parquet; per image its
        highest-scoring box) and the images of --split (their GT boxes and labels are never read).
Writes: --out-model, --train-log (JSONL per step/epoch), --checkpoint (per epoch; a re-run resumes from it).

By hand:
    python -m stages.train_localizer --init results/init/effl0_imagenet.pt \
        --pseudo-boxes results/demo_effl0/boxes/train.parquet --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train \
        --out-model results/demo_effl0/psol/c2am/effl0/model.pt --checkpoint results/demo_effl0/psol/c2am/effl0/checkpoint.pt \
        --train-log results/demo_effl0/psol/c2am/effl0/train_log.jsonl --epochs 2 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from c2am.cli import add_paths, add_training_args, main, print_summary, read_split, settings_of, stage_parser
from c2am.models.inits import load_init
from c2am.settings import LocalizerTrainSettings
from c2am.training.supervised import train_pooled
from c2am.wsol.psol import localizer_targets


def run(args: argparse.Namespace) -> None:
    records = read_split(args)
    targets, empty = localizer_targets(records, pd.read_parquet(args.pseudo_boxes), args.pseudo_boxes)
    if empty:
        print(f"warning: {len(empty)} of {len(records)} images have an empty pseudo box in {args.pseudo_boxes} "
              f"(e.g. {empty[0]}); the whole image is their target", file=sys.stderr)
    print_summary(train_pooled("localizer", records, targets, load_init(args.init),
                               settings_of(args, LocalizerTrainSettings), Path(args.out_model), Path(args.checkpoint),
                               Path(args.train_log), args.device, progress=not args.no_progress,
                               extra={"pseudo_boxes": args.pseudo_boxes, "empty_pseudo_boxes": len(empty)}))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--pseudo-boxes", pseudo_boxes="box parquet of the training split (make_boxes or ddt_boxes)")
    add_training_args(p, LocalizerTrainSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
