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
import time

import torch

from c2am.cli import add_dataset_args, add_device_args, add_paths, add_settings, main, read_split, settings_of
from c2am.cli import stage_parser
from c2am.data.images import read_image
from c2am.inference import pick_device
from c2am.io import write_image_folder
from c2am.models.pooled import load_pooled
from c2am.settings import CamInferSettings
from c2am.progress import progress_bar
from c2am.wsss.cams import multiscale_cams, save_cams


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, CamInferSettings)
    model, ck = load_pooled(args.model, "cam")
    dev = pick_device(args.device)
    model.to(dev).eval()
    class_ids = list(ck["class_ids"])
    records = read_split(args)
    start = time.time()

    def cams_of_split():
        for r in progress_bar(records, len(records), "CAMs", not args.no_progress):
            missing = [c for c in r.labels if c not in class_ids]
            if missing:
                raise ValueError(f"image {r.image_id}: classes {missing} are not outputs of {args.model}")
            image = read_image(r.path)
            cams = multiscale_cams(model, image, [class_ids.index(c) for c in r.labels], s.scales, s.flip, dev, s.amp)
            keys = [c - 1 for c in r.labels]
            yield r.image_id, (keys, cams.numpy()), {"keys": keys, "width": image.shape[-1], "height": image.shape[-2]}

    rows = write_image_folder(args.out_dir, "make_cams", {**s.to_dict(), "model": args.model}, cams_of_split(),
                              writer=lambda path, cams: save_cams(path, *cams), suffix=".npz")
    print(f"{args.out_dir}: CAMs of {len(rows)} images in {time.time() - start:.1f} s on {dev}")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--model", "--out-dir", model="train_cam output")
    add_dataset_args(p)
    add_device_args(p)
    add_settings(p, CamInferSettings)
    return p


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main(run, parser())
