"""extract-maps: foreground activation maps of one split at the test recipe.

Reads:  --model (train_c2am output) and the images of --split.
Writes: --out-dir/maps-NNNNN.npy (float16 [n, h, w] at feature resolution, foreground side already chosen)
        and --out-dir/manifest.parquet (image id, shard/row, test geometry to map boxes to original pixels).
        The folder is built as OUT.part and renamed when complete.

By hand:
    python -m stages.extract_maps --model results/demo_effl0/c2am/model.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split test --out-dir results/demo_effl0/maps/test
"""

from __future__ import annotations

import argparse
import json

from c2am.cli import add_dataset_args, add_device_arg, add_settings, read_split, run_main, set_threads, settings_from
from c2am.extract import extract_maps
from c2am.models.c2am import load_trained
from c2am.train import pick_device

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    settings = settings_from(args, KEYS)
    model, ck = load_trained(args.model)
    settings["model"] = args.model
    settings["backbone"] = ck["backbone"]
    settings["fg_flip"] = bool(model.fg_flip)
    stats = extract_maps(model, read_split(args), settings, args.out_dir, pick_device(args.device),
                         progress=not args.no_progress)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in stats.items()}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    add_dataset_args(p)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--no-progress", action="store_true")
    add_device_arg(p)
    KEYS[:] = add_settings(p, "extract")
    return p


if __name__ == "__main__":
    run_main(run, parser())
