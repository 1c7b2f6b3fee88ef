"""predict-cues: background cues of every image of a split from the trained cue model: uint8 PNG at the
original size, 255 = background (the model's background probability x 255), plus manifest.parquet. Each image
is resized as a whole to --test-size (predict_cues.test_size) for the model (autocast: the model's own amp).

Reads:  --model (train_cue_model), the images of --split.   Writes: --out-dir/<image_id>.png, manifest.parquet.

By hand (--test-size: the experiment's predict_cues.test_size, 160 for demo_voc_effl0; left out, the schema's 320):
    python -m stages.predict_cues --model results/demo_voc_effl0/wsss/cue_model.pt --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split val --test-size 160 --out-dir results/cues/demo_voc_val
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from c2am.cli import add_dataset_args, add_device_args, add_paths, add_settings, main, read_split, settings_of
from c2am.cli import stage_parser
from c2am.data.images import read_image
from c2am.inference import pick_device
from c2am.io import write_image_folder
from c2am.progress import progress_bar
from c2am.settings import PredictCuesSettings
from c2am.wsss.cue_model import load_cue_model, predict_background


def run(args: argparse.Namespace) -> None:
    model, ck = load_cue_model(args.model)
    dev = pick_device(args.device)
    model.to(dev)
    size = settings_of(args, PredictCuesSettings).test_size
    records = read_split(args)

    def cues_of_split():
        for r in progress_bar(records, len(records), "cues", not args.no_progress):
            bg = predict_background(model, read_image(r.path), size, dev, ck["settings"]["amp"])
            cue = np.round(bg * 255).astype(np.uint8)
            yield r.image_id, cue, {"background_fraction": float((cue > 127).mean())}

    rows = write_image_folder(args.out_dir, "predict_cues", {"model": args.model, "test_size": size},
                              cues_of_split())
    print(f"{args.out_dir}: {len(rows)} background cues")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--model", "--out-dir", model="train_cue_model output")
    add_dataset_args(p)
    add_device_args(p)
    add_settings(p, PredictCuesSettings)
    return p


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main(run, parser())
