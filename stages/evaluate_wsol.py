"""evaluate-wsol: localisation metrics of one split.

Reported (all fractions in [0, 1]):
  gt_known_loc            boxes of make_boxes (threshold chosen on the training split's calibration part)
  gt_known_loc_class_avg  the same, averaged over classes (PSOL style)
  authors_protocol        best of 19 thresholds chosen ON THIS SPLIT (the authors' optimistic protocol)
  MaxBoxAccV2             Choe et al. 2020: min-max maps, all contours, fine threshold sweep, IoU 0.3/0.5/0.7
  PxAP                    where every image has a mask
  center_box              a centred box whose size is tuned on this split (context only)

Reads:  --maps, --boxes, the split's GT boxes (and masks).   Writes: --out (JSON).

By hand:
    python -m stages.evaluate_wsol --maps results/demo_effl0/maps/test --boxes results/demo_effl0/boxes/test.parquet \
        --dataset-format cub --dataset-root results/data/demo/CUB_200_2011 --split test \
        --out results/demo_effl0/metrics/wsol_test.json
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2am.cli import add_dataset_args, add_settings, read_split, run_main, settings_from
from c2am.io import read_parquet_meta, write_json
from c2am.localize import evaluate_split
from c2am.maps import MapStore

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    settings = settings_from(args, KEYS)
    store = MapStore(args.maps)
    boxes = pd.read_parquet(args.boxes)
    box_settings = read_parquet_meta(args.boxes).get("settings", {})
    result = evaluate_split(store, read_split(args), boxes, settings, box_settings)
    result.update({"split": args.split, "dataset_root": args.dataset_root, "settings": settings,
                   "backbone": store.meta.get("settings", {}).get("backbone"),
                   "maps": args.maps, "boxes": args.boxes})
    write_json(result, args.out)
    print(f"{args.out}: GT-known Loc {100 * result['gt_known_loc']:.2f}% (held-out threshold "
          f"{result['box_threshold']:.2f}), authors' protocol {100 * result['authors_protocol']['gt_known_loc_tuned_on_eval']:.2f}%, "
          f"MaxBoxAccV2 {100 * result['MaxBoxAccV2']:.2f}%")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", required=True)
    p.add_argument("--boxes", required=True)
    add_dataset_args(p)
    p.add_argument("--out", required=True)
    KEYS[:] = add_settings(p, "wsol_eval")
    return p


if __name__ == "__main__":
    run_main(run, parser())
