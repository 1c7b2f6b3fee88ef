"""make-cams: class activation maps of every image of a split from a trained CAM classifier, with
multi-scale (default 0.5, 1, 1.5, 2) + flip inference and per-class max normalisation, for the classes of the
image's image-level labels (as IRN / PuzzleCAM do). One .npz per image: keys (0-based foreground class
indices, VOC id - 1) and cam (float16 [K, H, W] at the original size); plus manifest.parquet.

Reads:  --model (train_cam), the images and labels of --split.
Writes: --out-dir/<image_id>.npz and manifest.parquet (built in OUT.part, renamed when complete).

By hand:
    python -m stages.make_cams --model results/cams/demo_voc/effl0/model.pt --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out-dir results/cams/demo_voc/effl0/train
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import torch

from c2am.cli import add_dataset_args, add_device_arg, add_settings, read_split, run_main, set_threads, settings_from
from c2am.data.images import read_image
from c2am.io import atomic_dir, write_parquet
from c2am.supervised import load_supervised
from c2am.train import pick_device
from c2am.wsss import image_file, multiscale_cams, save_cams

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    s = settings_from(args, KEYS)
    model, ck = load_supervised(args.model, "cam")
    dev = pick_device(args.device)
    model.to(dev).eval()
    class_ids = list(ck["class_ids"])
    records = read_split(args)
    rows, start = [], time.time()
    from tqdm import tqdm

    with atomic_dir(args.out_dir) as tmp:
        for r in tqdm(records, desc="CAMs", file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 15):
            missing = [c for c in r.labels if c not in class_ids]
            if missing:
                raise ValueError(f"image {r.image_id}: classes {missing} are not outputs of {args.model}")
            image = read_image(r.path)
            index = [class_ids.index(c) for c in r.labels]
            cams = multiscale_cams(model, image, index, s["scales"], s["flip"], dev, s["amp"])
            name = image_file(r.image_id, ".npz")
            save_cams(tmp / name, [c - 1 for c in r.labels], cams.numpy())
            rows.append({"image_id": r.image_id, "file": name, "keys": [c - 1 for c in r.labels],
                         "width": image.shape[-1], "height": image.shape[-2]})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", "make_cams", {**s, "model": args.model})
    print(f"{args.out_dir}: CAMs of {len(rows)} images in {time.time() - start:.1f} s on {dev}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    add_dataset_args(p)
    p.add_argument("--out-dir", required=True)
    add_device_arg(p)
    KEYS[:] = add_settings(p, "cam_infer")
    return p


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    run_main(run, parser())
