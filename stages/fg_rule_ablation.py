"""fg-rule-ablation: GT-known Loc of one experiment's maps under three foreground-side rules (Table 6's ablation):
dataset_border (ours: P or 1 - P for the whole data set, from its border statistics), raw_P (no rule: P is the
foreground) and per_image_border (the border test on each image alone). Each rule gets its own held-out box
threshold from the calibration part of the training split, as the main result does.

Reads:  the train and evaluation maps of the experiment, GT boxes of both splits.   Writes: --out (JSON).

By hand:
    python -m stages.fg_rule_ablation --train-maps results/demo_effl0/maps/train \
        --eval-maps results/demo_effl0/maps/test --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --train-split train --eval-split test \
        --out results/demo_effl0/metrics/fg_rule_test.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_settings, read_split, run_main, settings_from
from c2am.io import write_json
from c2am.localize import fg_rule_ablation
from c2am.maps import MapStore

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    settings = settings_from(args, KEYS)
    if settings["threshold"] != "auto":
        raise ValueError("the foreground-rule ablation chooses one threshold per rule: boxes.threshold must be auto")
    result = fg_rule_ablation(MapStore(args.train_maps), MapStore(args.eval_maps), read_split(args, args.train_split),
                              read_split(args, args.eval_split), settings)
    result.update({"split": args.eval_split, "settings": settings})
    write_json(result, args.out)
    for rule, r in result["rules"].items():
        print(f"{rule}: GT-known Loc {100 * r['gt_known_loc']:.2f}% (threshold {r['threshold']:.2f})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-maps", required=True)
    p.add_argument("--eval-maps", required=True)
    add_dataset_args(p, split=False)
    p.add_argument("--train-split", required=True)
    p.add_argument("--eval-split", required=True)
    p.add_argument("--out", required=True)
    KEYS[:] = add_settings(p, "boxes")
    return p


if __name__ == "__main__":
    run_main(run, parser())
