"""evaluate-wsol: localisation metrics of one split.

Reported (all fractions in [0, 1]):
  gt_known_loc            boxes of make_boxes (threshold chosen on the training split)
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

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.io import read_parquet_meta, write_json
from c2am.settings import WsolEvalSettings
from c2am.wsol.evaluate import evaluate_split
from c2am.wsol.maps import MapStore


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, WsolEvalSettings)
    store = MapStore(args.maps)
    made_with = read_parquet_meta(args.boxes)["settings"]  # the map scaling the boxes were found on
    result = evaluate_split(store, read_split(args), pd.read_parquet(args.boxes), s, made_with["normalization"],
                            made_with["upsample"])
    result.update({"split": args.split, "dataset_root": args.dataset_root, "settings": s.to_dict(),
                   "backbone": store.meta["settings"]["backbone"], "maps": args.maps, "boxes": args.boxes})
    write_json(result, args.out)
    print(f"{args.out}: GT-known Loc {100 * result['gt_known_loc']:.2f}% (held-out threshold "
          f"{result['box_threshold']:.2f}), authors' protocol "
          f"{100 * result['authors_protocol']['gt_known_loc_tuned_on_eval']:.2f}%, "
          f"MaxBoxAccV2 {100 * result['MaxBoxAccV2']:.2f}%")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--maps", "--boxes", "--out", boxes="make_boxes or ddt_boxes parquet", out="metrics JSON")
    add_dataset_args(p)
    add_settings(p, WsolEvalSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
