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
import json
from pathlib import Path

from c2am.cli import add_training_args, read_split, run_main, set_threads, settings_from
from c2am.init_weights import load_init
from c2am.supervised import train_supervised
from c2am.wsss import N_CLASSES

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    settings = settings_from(args, KEYS)
    records = read_split(args)
    if args.dataset_format != "voc":
        raise ValueError("train_cam needs a VOC-layout dataset (multi-label image-level labels)")
    targets = [[1.0 if c in r.labels else 0.0 for c in range(1, N_CLASSES)] for r in records]
    if not any(any(t) for t in targets):
        raise ValueError(f"no image of split {args.split!r} of {args.dataset_root} has an object class label")
    summary = train_supervised("cam", records, targets, load_init(args.init), settings, Path(args.out_model),
                               Path(args.checkpoint), Path(args.train_log), args.device,
                               extra={"class_ids": list(range(1, N_CLASSES))}, progress=not args.no_progress)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    KEYS[:] = add_training_args(p, "cam_train")
    return p


if __name__ == "__main__":
    run_main(run, parser())
