"""choose-threshold: the box threshold that maximises GT-known Loc on the training split's GT boxes
(all its images by default; a seeded `calib_fraction` of them otherwise). The evaluation split is never used for this.

Reads:  --maps (extract_maps output of the training split) and the training split's GT boxes.
Writes: --out (JSON: threshold, calibration curve, calibration image ids, and `maps`: the size, scales and flip
        the maps were extracted at, which predict runs at by default). A fixed --threshold skips the search.

By hand:
    python -m stages.choose_threshold --maps results/demo_effl0/maps/train --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train --out results/demo_effl0/boxes/threshold.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.io import write_json
from c2am.settings import BoxSettings, WsolEvalSettings
from c2am.wsol.threshold import choose_box_threshold
from c2am.wsol.maps import MapStore


def run(args: argparse.Namespace) -> None:
    box, evaluation = settings_of(args, BoxSettings), settings_of(args, WsolEvalSettings)
    if box.threshold == "auto":
        result = choose_box_threshold(MapStore(args.maps), read_split(args), box, evaluation)
        print(f"threshold {result['threshold']:.3f}: GT-known Loc {100 * result['calibration_gt_known_loc']:.1f}% "
              f"on {len(result['calibration_images'])} calibration images of split {args.split}")
    else:
        result = {"threshold": float(box.threshold), "fixed": True}
    result["settings"] = box.to_dict()
    extracted = MapStore(args.maps).meta["settings"]  # predict runs as these maps were made (inference_recipe)
    result["maps"] = {"size": extracted["resize"], "scales": extracted["scales"], "flip": extracted["flip"]}
    write_json(result, args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--maps", "--out", maps="extract_maps output of the training split", out="threshold JSON")
    add_dataset_args(p)
    add_settings(p, BoxSettings)
    add_settings(p, WsolEvalSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
