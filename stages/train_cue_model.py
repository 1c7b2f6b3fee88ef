"""train-cue-model: the background-cue network, trained on C2AM's background pseudo labels only (no class
labels, no masks): see c2am/wsss/cue_model.py for the network and recipe.

Reads:  --init (pretrain_init artifact), --labels (make_cue_labels folder), the images of --split.
Writes: --out-model, --train-log (JSONL), --checkpoint (per epoch; a re-run resumes from it).

By hand:
    python -m stages.train_cue_model --init results/init/effl0_imagenet.pt \
        --labels results/demo_voc_effl0/wsss/make_cue_labels --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-model results/demo_voc_effl0/wsss/cue_model.pt \
        --checkpoint results/demo_voc_effl0/wsss/cue_checkpoint.pt --train-log results/demo_voc_effl0/wsss/cue_log.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from c2am.cli import add_paths, add_training_args, main, print_summary, read_split, settings_of, stage_parser
from c2am.models.inits import load_init
from c2am.settings import CueTrainSettings
from c2am.wsss.cue_model import train_cue_model


def run(args: argparse.Namespace) -> None:
    records = read_split(args)
    folder = Path(args.labels)
    manifest = pd.read_parquet(folder / "manifest.parquet")
    files = dict(zip(manifest["image_id"].astype(str), manifest["file"]))
    missing = [r.image_id for r in records if str(r.image_id) not in files]
    if missing:
        raise KeyError(f"{folder}: no cue label for {len(missing)} images of split {args.split!r}, e.g. {missing[:5]}")
    labels = [folder / files[str(r.image_id)] for r in records]
    print_summary(train_cue_model(records, labels, load_init(args.init), settings_of(args, CueTrainSettings),
                                  Path(args.out_model), Path(args.checkpoint), Path(args.train_log), args.device,
                                  progress=not args.no_progress))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--labels", labels="make_cue_labels output folder")
    add_training_args(p, CueTrainSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
