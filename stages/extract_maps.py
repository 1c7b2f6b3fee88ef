"""extract-maps: foreground activation maps of one split at the test recipe.

Reads:  --model (train_c2am output) and the images of --split.
Writes: --out-dir/maps-NNNNN.npy (float16 [n, h, w] at feature resolution, foreground side already chosen)
        (with --scales / --flip: the mean over the views resized by each scale and mirrored, on the scale-1 grid)
        and --out-dir/manifest.parquet (image id, shard/row, test geometry to map boxes to original pixels).
        The folder is built as OUT.part and renamed when complete.

By hand:
    python -m stages.extract_maps --model results/demo_effl0/c2am/model.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split test --out-dir results/demo_effl0/maps/test
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_device_args, add_paths, add_settings, main, print_summary, read_split
from c2am.cli import settings_of, stage_parser
from c2am.inference import pick_device
from c2am.models.c2am import load_trained
from c2am.settings import ExtractSettings
from c2am.wsol.extract import extract_maps


def run(args: argparse.Namespace) -> None:
    model, ck = load_trained(args.model)
    meta = {"model": args.model, "backbone": ck["backbone"], "fg_flip": bool(model.fg_flip)}
    print_summary(extract_maps(model, read_split(args), settings_of(args, ExtractSettings), args.out_dir,
                               pick_device(args.device), meta, progress=not args.no_progress))


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--model", "--out-dir", model="train_c2am output", out_dir="map folder to write")
    add_dataset_args(p)
    add_device_args(p)
    add_settings(p, ExtractSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
