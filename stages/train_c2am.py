"""c2am-train: train the encoder + activation head with the contrastive loss, on unlabeled images.

Reads:  the init artifact (pretrain-init) and the images of one split, plus those of each --extra-data FORMAT ROOT
        SPLIT (labels are never read).
Writes: --out-model (model + which side of P is foreground + settings), --train-log (JSONL: one line per step,
        per epoch, and a final summary), --checkpoint (rewritten every epoch; a re-run resumes from it).

By hand (demo):
    python -m stages.train_c2am --init results/init/effl0_imagenet.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train \
        --out-model results/demo_effl0/c2am/model.pt --checkpoint results/demo_effl0/c2am/checkpoint.pt \
        --train-log results/demo_effl0/c2am/train_log.jsonl --epochs 4 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c2am.cli import add_training_args, main, read_split, settings_of, stage_parser
from c2am.models.inits import load_init
from c2am.settings import C2AMTrainSettings
from c2am.training.c2am import train_c2am


def training_images(args: argparse.Namespace) -> tuple[list, list]:
    """(the records of --split, those of every --extra-data split after them): C2AM trains on the second list, whose
    start is the first; the foreground side is decided on the first alone."""
    own = read_split(args)
    records = list(own)
    for fmt, root, split in args.extra_data:
        records += read_split(argparse.Namespace(dataset_format=fmt, dataset_root=root, split=split))
    return own, records


def run(args: argparse.Namespace) -> None:
    own, records = training_images(args)
    summary = train_c2am(records, load_init(args.init), settings_of(args, C2AMTrainSettings),
                         Path(args.out_model), Path(args.checkpoint), Path(args.train_log), device=args.device,
                         progress=not args.no_progress, fg_records=own)
    if "foreground" not in summary:  # a torchrun worker other than rank 0: rank 0 reports
        return
    fg = summary["foreground"]
    print(json.dumps({"train_seconds": round(summary["train_seconds"], 1), "images": summary["train_images"],
                      "foreground_is": "1 - P" if fg["flip"] else "P", "border_mean": round(fg["border_mean"], 4),
                      "inner_mean": round(fg["inner_mean"], 4)}))  # the decision's margin is often < 0.01


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_training_args(p, C2AMTrainSettings)
    p.add_argument("--extra-data", nargs=3, action="append", default=[], metavar=("FORMAT", "ROOT", "SPLIT"),
                   help="another dataset split whose images are added to the training images (repeatable)")
    return p


if __name__ == "__main__":
    main(run, parser())
