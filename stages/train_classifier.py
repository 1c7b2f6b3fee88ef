"""train-classifier: fine-tune an ImageNet classifier on the image-level labels of a split (the
classification half of PSOL's route; the paper uses EfficientNet-B7).

Reads:  --init (pretrain_init artifact) and the images and class labels of --split.
Writes: --out-model (with the dataset's class ids of the outputs), --train-log (JSONL), --checkpoint (per epoch).

By hand:
    python -m stages.train_classifier --init results/init/effl0_imagenet.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train \
        --out-model results/classifiers/demo/effl0/model.pt --checkpoint results/classifiers/demo/effl0/checkpoint.pt \
        --train-log results/classifiers/demo/effl0/train_log.jsonl --epochs 2 --batch-size 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

from c2am.cli import add_training_args, main, print_summary, read_split, settings_of, stage_parser
from c2am.models.inits import load_init
from c2am.settings import ClassifierTrainSettings
from c2am.training.supervised import train_pooled


def run(args: argparse.Namespace) -> None:
    records = read_split(args)
    unlabeled = [r.image_id for r in records if r.label is None]
    if unlabeled:
        raise ValueError(f"the classifier needs single-label images; {len(unlabeled)} images of {args.dataset_root} "
                         f"split {args.split!r} have no class label, e.g. {unlabeled[:5]}")
    class_ids = sorted({r.label for r in records})
    if len(class_ids) < 2:
        raise ValueError(f"split {args.split!r} of {args.dataset_root} has {len(class_ids)} class; need at least 2")
    index = {c: i for i, c in enumerate(class_ids)}
    print_summary(train_pooled("classifier", records, [index[r.label] for r in records], load_init(args.init),
                               settings_of(args, ClassifierTrainSettings), Path(args.out_model),
                               Path(args.checkpoint), Path(args.train_log), args.device,
                               extra={"class_ids": class_ids}, progress=not args.no_progress))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_training_args(p, ClassifierTrainSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
