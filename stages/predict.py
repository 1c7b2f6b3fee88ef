"""predict: foreground masks, boxes and previews for ANY folder of images with a trained C2AM model (no labels,
no annotations: the paper's "detect the foreground without manual annotations" use).

Reads:  --model (train_c2am output), --images (a folder, searched recursively; mixed sizes, grayscale, RGBA,
        EXIF-rotated files are fine), the box threshold (--threshold-file from choose_threshold, or --threshold).
Writes: --out-dir/masks/REL.png (255 = foreground, original size), boxes.parquet (file, width, height,
        x0, y0, x1, y1 in original pixels, threshold, foreground_fraction, empty_map), previews/REL.jpg
        (foreground tinted, box drawn) and summary.json (counts; unreadable images are skipped and listed).
        The folder appears complete or not at all.

By hand:
    python -m stages.predict --model results/demo_effl0/c2am/model.pt --images results/data/demo/CUB_200_2011/images \
        --threshold-file results/demo_effl0/boxes/threshold.json --out-dir results/predict/demo --device cpu
"""

from __future__ import annotations

import argparse
import json

from c2am.cli import add_device_arg, run_main, set_threads
from c2am.predict import predict_folder


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    if (args.threshold is None) == (args.threshold_file is None):
        raise ValueError("give exactly one of --threshold and --threshold-file")
    threshold = args.threshold
    if args.threshold_file:
        chosen = json.loads(open(args.threshold_file).read())
        if chosen.get("settings", {}).get("normalization", "minmax") != "minmax":
            raise ValueError(f"{args.threshold_file}: predict thresholds min-max scaled maps; this threshold was "
                             f"chosen for {chosen['settings']['normalization']!r} scaling")
        threshold = float(chosen["threshold"])
    summary = predict_folder(args.model, args.images, args.out_dir, threshold, args.size, args.batch_size,
                             args.workers, args.device, not args.no_previews, progress=not args.no_progress)
    print(json.dumps({k: v for k, v in summary.items() if k != "skipped"}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="C2AM model.pt from train_c2am")
    p.add_argument("--images", required=True, help="folder of images (recursive)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threshold", type=float, help="box/mask threshold on min-max scaled maps, in (0, 1)")
    p.add_argument("--threshold-file", help="threshold.json of choose_threshold (the experiment's held-out choice)")
    p.add_argument("--size", type=int, default=448, help="images are resized to size x size (whole image)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-previews", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    add_device_arg(p)
    return p


if __name__ == "__main__":
    run_main(run, parser())
