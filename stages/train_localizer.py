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
        --train-log results/demo_effl0/psol/c2am/effl0/train_log.jsonl --epochs 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from c2am.cli import add_training_args, read_split, run_main, set_threads, settings_from
from c2am.init_weights import load_init
from c2am.supervised import pseudo_box_per_image, record_size, train_supervised

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    settings = settings_from(args, KEYS)
    boxes = pseudo_box_per_image(pd.read_parquet(args.pseudo_boxes))
    records = read_split(args)
    missing = [r.image_id for r in records if r.image_id not in boxes]
    if missing:
        raise ValueError(f"{args.pseudo_boxes} has no pseudo box for {len(missing)} images of split "
                         f"{args.split!r}, e.g. {missing[:5]}")
    degenerate = [r for r in records if not (boxes[r.image_id][2] > boxes[r.image_id][0]
                                             and boxes[r.image_id][3] > boxes[r.image_id][1])]
    for r in degenerate:  # an empty map gives no box: train on the whole image instead, and say how often
        w, h = record_size(r)
        boxes[r.image_id] = (0.0, 0.0, float(w), float(h))
    if degenerate:
        print(f"warning: {len(degenerate)} of {len(records)} images have an empty pseudo box in "
              f"{args.pseudo_boxes} (e.g. {degenerate[0].image_id}); the whole image is their target",
              file=sys.stderr)
    summary = train_supervised("localizer", records, [boxes[r.image_id] for r in records], load_init(args.init),
                               settings, Path(args.out_model), Path(args.checkpoint), Path(args.train_log), args.device,
                               extra={"pseudo_boxes": args.pseudo_boxes, "empty_pseudo_boxes": len(degenerate)},
                               progress=not args.no_progress)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pseudo-boxes", required=True, help="box parquet of the training split (make_boxes or ddt_boxes)")
    KEYS[:] = add_training_args(p, "localizer_train")
    return p


if __name__ == "__main__":
    run_main(run, parser())
