"""fg-rule-ablation: GT-known Loc of one experiment's maps under three foreground-side rules (Table 6's ablation):
dataset_border (ours: P or 1 - P for the whole data set, from its border statistics), raw_P (no rule: P is the
foreground) and per_image_border (the border test on each image alone). Each rule gets its own held-out box
threshold chosen on the training split and is scored as the main result is (the library's threshold chooser,
boxes and GT-known Loc: c2am.wsol.fg_rules).

Reads:  the train and evaluation maps of the experiment, GT boxes of both splits.   Writes: --out (JSON).

By hand:
    python -m stages.fg_rule_ablation --train-maps results/demo_effl0/maps/train \
        --eval-maps results/demo_effl0/maps/test --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --train-split train --eval-split test \
        --out results/demo_effl0/metrics/fg_rule_test.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.io import write_json
from c2am.settings import BoxSettings, WsolEvalSettings
from c2am.wsol.fg_rules import fg_rule_ablation
from c2am.wsol.maps import MapStore


def run(args: argparse.Namespace) -> None:
    box, evaluation = settings_of(args, BoxSettings), settings_of(args, WsolEvalSettings)
    if box.threshold != "auto":
        raise ValueError("the foreground-rule ablation chooses one threshold per rule: make_boxes.threshold must be auto")
    result = fg_rule_ablation(MapStore(args.train_maps), MapStore(args.eval_maps), read_split(args, args.train_split),
                              read_split(args, args.eval_split), box, evaluation)
    result.update({"split": args.eval_split, "settings": {**box.to_dict(), **evaluation.to_dict()}})
    write_json(result, args.out)
    for rule, r in result["rules"].items():
        print(f"{rule}: GT-known Loc {100 * r['gt_known_loc']:.2f}% (threshold {r['threshold']:.2f})")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--train-maps", "--eval-maps", "--train-split", "--eval-split", "--out")
    add_dataset_args(p, split=False)
    add_settings(p, BoxSettings)
    add_settings(p, WsolEvalSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
