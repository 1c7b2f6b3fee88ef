"""sweep-cam-threshold: mIoU of the constant-background baseline (argmax over [t, CAMs]) for every threshold t
of refine_cams.thresholds on a split with masks; the best t is what the CAMs / +dCRF columns use on every split
(the usual protocol of CAM papers: the threshold is chosen on the train split's masks).

Reads:  --cams (make_cams folder, or a folder of IRN / PuzzleCAM .npy files), masks of --split.
Writes: --out (JSON: thresholds, mIoU / FP / FN per threshold, best_threshold, best_miou).

By hand:
    python -m stages.sweep_cam_threshold --cams results/cams/demo_voc/effl0/train --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split train --out results/cams/demo_voc/effl0/sweep.json
"""

from __future__ import annotations

import argparse

import numpy as np

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.data.readers import image_size
from c2am.data.voc import read_mask
from c2am.io import write_json
from c2am.settings import RefineSettings
from c2am.wsss.cams import cam_file, load_cams
from c2am.wsss.refine import sweep_confusions
from c2am.wsss.scores import N_CLASSES, segmentation_scores


def run(args: argparse.Namespace) -> None:
    thresholds = sorted(float(t) for t in settings_of(args, RefineSettings).thresholds)
    records = read_split(args)
    total = np.zeros((len(thresholds), N_CLASSES, N_CLASSES), np.int64)
    for r in records:
        if r.mask_path is None:
            raise FileNotFoundError(f"image {r.image_id} of split {args.split!r} has no segmentation mask")
        gt = read_mask(r.mask_path)
        keys, cams = load_cams(cam_file(args.cams, r.image_id), size=image_size(r.path))
        if cams.shape[1:] != gt.shape:
            raise ValueError(f"CAMs of {r.image_id} have size {cams.shape[1:]}, its mask {r.mask_path} {gt.shape}")
        total += sweep_confusions(cams, keys, gt, thresholds)
    scores = [segmentation_scores(c) for c in total]
    miou = [s["miou"] for s in scores]
    best = int(np.nanargmax(miou))
    result = {"split": args.split, "images": len(records), "cams": args.cams, "thresholds": thresholds,
              "miou": miou, "fp_mean": [s["fp_mean"] for s in scores], "fn_mean": [s["fn_mean"] for s in scores],
              "best_threshold": thresholds[best], "best_miou": miou[best]}
    write_json(result, args.out)
    for t, m, s in zip(thresholds, miou, scores):
        print(f"t={t:.2f}  mIoU={100 * m:6.2f}  FP={s['fp_mean']:.3f}  FN={s['fn_mean']:.3f}")
    print(f"best t={thresholds[best]:.2f}: mIoU {100 * miou[best]:.2f}")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--cams", "--out", cams="make_cams folder (or IRN / PuzzleCAM .npy files)", out="sweep JSON")
    add_dataset_args(p)
    add_settings(p, RefineSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
