"""predict-cues: background cues of every image of a split from the trained cue model: uint8 PNG at the
original size, 255 = background (the model's background probability x 255), plus manifest.parquet.

Reads:  --model (train_cue_model), the images of --split.   Writes: --out-dir/<image_id>.png, manifest.parquet.

By hand:
    python -m stages.predict_cues --model results/demo_voc_effl0/wsss/cue_model.pt --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split val --out-dir results/demo_voc_effl0/wsss/cues/val
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
import torch

from c2am.cli import add_dataset_args, add_device_arg, read_split, run_main, set_threads
from c2am.cue_model import load_cue_model, predict_background
from c2am.data.images import read_image
from c2am.io import atomic_dir, write_parquet
from c2am.train import pick_device
from c2am.wsss import image_file, write_gray_png


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    model, ck = load_cue_model(args.model)
    dev = pick_device(args.device)
    model.to(dev)
    size = args.test_size or ck["settings"]["test_size"]
    rows = []
    from tqdm import tqdm

    with atomic_dir(args.out_dir) as tmp:
        for r in tqdm(read_split(args), desc="cues", file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 15):
            bg = predict_background(model, read_image(r.path), size, dev)
            cue = np.round(bg * 255).astype(np.uint8)
            name = image_file(r.image_id)
            write_gray_png(tmp / name, cue)
            rows.append({"image_id": r.image_id, "file": name, "background_fraction": float((cue > 127).mean())})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", "predict_cues",
                      {"model": args.model, "test_size": size})
    print(f"{args.out_dir}: {len(rows)} background cues")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    add_dataset_args(p)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--test_size", type=int, default=None, help="default: the model's cue_train.test_size")
    add_device_arg(p)
    return p


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    run_main(run, parser())
