"""choose-threshold: the box threshold that maximises GT-known Loc on the calibration part of the training
split (a seeded `calib_fraction` of its images). The evaluation split is never used for this.

Reads:  --maps (extract_maps output of the training split) and the training split's GT boxes.
Writes: --out (JSON: threshold, calibration curve, calibration image ids). A fixed --threshold skips the search.

By hand:
    python -m stages.choose_threshold --maps results/demo_effl0/maps/train --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train --out results/demo_effl0/boxes/threshold.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_settings, read_split, run_main, settings_from
from c2am.io import write_json
from c2am.localize import choose_box_threshold
from c2am.maps import MapStore

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    settings = settings_from(args, KEYS)
    if settings["threshold"] == "auto":
        result = choose_box_threshold(MapStore(args.maps), read_split(args), settings)
        print(f"threshold {result['threshold']:.3f}: GT-known Loc {100 * result['calibration_gt_known_loc']:.1f}% "
              f"on {len(result['calibration_images'])} calibration images of split {args.split}")
    else:
        result = {"threshold": float(settings["threshold"]), "fixed": True}
    result["settings"] = settings
    write_json(result, args.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", required=True)
    add_dataset_args(p)
    p.add_argument("--out", required=True)
    KEYS[:] = add_settings(p, "boxes")
    return p


if __name__ == "__main__":
    run_main(run, parser())
