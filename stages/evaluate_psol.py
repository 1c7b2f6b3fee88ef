"""evaluate-psol: Top-1 / Top-5 / GT-known Loc of a PSOL localizer with a classifier on one split, averaged
per image and per class (PSOL), plus the classifier's accuracy. All values are fractions in [0, 1].

Top-1 Loc: the top-1 class is right AND the box has IoU >= 0.5 with a GT box; Top-5 Loc: the GT class is
among the top 5; GT-known Loc: the box alone.

Reads:  --boxes (predict_psol of a localizer), --classes (predict_psol of a classifier), the split's GT.
Writes: --out (JSON).

By hand:
    python -m stages.evaluate_psol --boxes results/demo_effl0/psol/c2am/effl0/boxes_test.parquet \
        --classes results/classifiers/demo/effl0/pred_test.parquet --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split test --out results/demo_effl0/psol/c2am/effl0/metrics_effl0_test.json
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.io import read_parquet_meta, write_json
from c2am.settings import WsolEvalSettings
from c2am.wsol.metrics import evaluate_psol


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, WsolEvalSettings)
    result = evaluate_psol(read_split(args), pd.read_parquet(args.boxes), pd.read_parquet(args.classes),
                           s.iou_threshold, s.strict)
    result.update({"split": args.split, "boxes": args.boxes, "classes": args.classes,
                   "localizer_backbone": read_parquet_meta(args.boxes)["settings"]["backbone"],
                   "classifier_backbone": read_parquet_meta(args.classes)["settings"]["backbone"]})
    write_json(result, args.out)
    print(f"{args.out}: Top-1 Loc {100 * result['top1_loc']:.2f}%, Top-5 Loc {100 * result['top5_loc']:.2f}%, "
          f"GT-known Loc {100 * result['gt_known_loc']:.2f}%, Top-1 Cls {100 * result['top1_cls']:.2f}%")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--boxes", "--classes", "--out", boxes="predict_psol output of a localizer",
              classes="predict_psol output of a classifier", out="metrics JSON")
    add_dataset_args(p)
    add_settings(p, WsolEvalSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
