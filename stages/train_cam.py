"""train-cam: the multi-label classifier whose head gives CAMs (IRN / PuzzleCAM style: backbone at output stride
16, global average pooling, a linear layer, multi-label soft-margin loss on the image-level labels).

Reads:  --init (pretrain_init artifact) and the images of --split with their image-level labels (VOC layout:
        the class ids present in each mask).
Writes: --out-model (with the VOC ids of its outputs), --train-log (JSONL), --checkpoint (per epoch).

By hand:
    python -m stages.train_cam --init results/init/effl0_imagenet.pt --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-model results/cams/demo_voc/effl0/model.pt \
        --checkpoint results/cams/demo_voc/effl0/checkpoint.pt --train-log results/cams/demo_voc/effl0/train_log.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from c2am.cli import add_training_args, main, print_summary, read_split, settings_of, stage_parser
from c2am.models.inits import load_init
from c2am.settings import CamTrainSettings
from c2am.training.supervised import train_pooled
from c2am.wsss.scores import N_CLASSES


def run(args: argparse.Namespace) -> None:
    if args.dataset_format != "voc":
        raise ValueError("train_cam needs a VOC-layout dataset (multi-label image-level labels)")
    records = read_split(args)
    targets = [[1.0 if c in r.labels else 0.0 for c in range(1, N_CLASSES)] for r in records]
    if not any(any(t) for t in targets):
        raise ValueError(f"no image of split {args.split!r} of {args.dataset_root} has an object class label")
    print_summary(train_pooled("cam", records, targets, load_init(args.init), settings_of(args, CamTrainSettings),
                               Path(args.out_model), Path(args.checkpoint), Path(args.train_log), args.device,
                               extra={"class_ids": list(range(1, N_CLASSES))}, progress=not args.no_progress))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_training_args(p, CamTrainSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
