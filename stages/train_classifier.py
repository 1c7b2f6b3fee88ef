"""train-classifier: fine-tune an ImageNet classifier on the image-level labels of a split (the
classification half of PSOL's route; the paper uses EfficientNet-B7).

Reads:  --init (pretrain_init artifact) and the images and class labels of --split.
Writes: --out-model (with the dataset's class ids of the outputs), --train-log (JSONL), --checkpoint (per epoch).

By hand:
    python -m stages.train_classifier --init results/init/effl0_imagenet.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train \
        --out-model results/classifiers/demo/effl0/model.pt --checkpoint results/classifiers/demo/effl0/checkpoint.pt \
        --train-log results/classifiers/demo/effl0/train_log.jsonl --epochs 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c2am.cli import add_training_args, read_split, run_main, set_threads, settings_from
from c2am.init_weights import load_init
from c2am.supervised import train_supervised

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    settings = settings_from(args, KEYS)
    records = read_split(args)
    unlabeled = [r.image_id for r in records if r.label is None]
    if unlabeled:
        raise ValueError(f"the classifier needs single-label images; {len(unlabeled)} images of {args.dataset_root} "
                         f"split {args.split!r} have no class label, e.g. {unlabeled[:5]}")
    class_ids = sorted({r.label for r in records})
    if len(class_ids) < 2:
        raise ValueError(f"split {args.split!r} of {args.dataset_root} has {len(class_ids)} class; need at least 2")
    index = {c: i for i, c in enumerate(class_ids)}
    summary = train_supervised("classifier", records, [index[r.label] for r in records], load_init(args.init),
                               settings, Path(args.out_model), Path(args.checkpoint), Path(args.train_log), args.device,
                               extra={"class_ids": class_ids}, progress=not args.no_progress)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    KEYS[:] = add_training_args(p, "classifier_train")
    return p


if __name__ == "__main__":
    run_main(run, parser())
