"""figure-wsss: the paper's Fig. 7 as a file: per image, the initial CAM mask (constant background), C2AM's
background cue (255 = background, shown white), the CAMs refined with it, and the ground truth; each mask over
the image, with the mean IoU over the classes of the image in the titles.

Reads:  the images and masks of --split, --initial / --refined (refine_cams mask folders), --cues.
Writes: --out (PNG).

By hand:
    python -m stages.figure_wsss --dataset-format voc --dataset-root results/data/demo/VOC2012 --split val \
        --initial results/cams/demo_voc/effl0_cam_demo/refined/val/threshold \
        --cues results/demo_voc_effl0/wsss/cues/val \
        --refined results/demo_voc_effl0/wsss/effl0_cam_demo/refined/val/c2am --out results/figure7.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from c2am.settings import FigureSettings
from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.data.decode import read_rgb
from c2am.data.voc import colorize, read_mask
from c2am.io import image_file
from c2am.report import save_figure
from c2am.wsss.scores import confusion, segmentation_scores

def _overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    color = colorize(np.where(labels == 255, 0, labels))
    fg = (labels > 0) & (labels < 255)
    out = image.astype(np.float32)
    out[fg] = 0.45 * out[fg] + 0.55 * color[fg]
    return out.astype(np.uint8)


def _image_miou(gt: np.ndarray, pred: np.ndarray) -> float:
    return segmentation_scores(confusion(gt, pred))["miou"]


def run(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = settings_of(args, FigureSettings)
    records = [r for r in read_split(args) if r.labels]
    rng = np.random.default_rng(s.seed)
    chosen = sorted(rng.choice(len(records), size=min(s.n_images, len(records)), replace=False))
    fig, axes = plt.subplots(len(chosen), 4, figsize=(10, 2.4 * len(chosen)), squeeze=False)
    for row, i in zip(axes, chosen):
        r = records[i]
        name = image_file(r.image_id)
        image = read_rgb(r.path)
        gt = read_mask(r.mask_path)
        initial, refined = read_mask(Path(args.initial) / name), read_mask(Path(args.refined) / name)
        cue = cv2.imread(str(Path(args.cues) / name), cv2.IMREAD_GRAYSCALE)
        if cue is None:
            raise FileNotFoundError(f"no background cue {Path(args.cues) / name}")
        panels = [(_overlay(image, initial), f"initial CAM, mIoU {100 * _image_miou(gt, initial):.0f}"),
                  (cue, "C2AM background cue"),
                  (_overlay(image, refined), f"refined, mIoU {100 * _image_miou(gt, refined):.0f}"),
                  (_overlay(image, gt), f"ground truth {r.image_id}")]
        for ax, (img, title) in zip(row, panels):
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    save_figure(fig, args.out, f"Fig. 7: CAM refinement with C2AM background cues ({args.title}, {args.split})")
    print(f"{args.out}: {len(chosen)} images")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_dataset_args(p)
    add_paths(p, "--initial", "--cues", "--refined", "--out", initial="refined masks of the CAMs baseline",
              cues="C2AM's cue folder", refined="masks refined with the cues", out="PNG")
    p.add_argument("--title", default="")
    add_settings(p, FigureSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
