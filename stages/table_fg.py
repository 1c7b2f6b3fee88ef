"""table_fg: foreground masks against the masks of a VOC-layout dataset, C2AM (with and without predict's dense CRF)
and C2AM self-trained (the cue model trained on C2AM's pseudo labels: 1 - its background cue) beside DDT (one group,
no labels) and the saliency sources: fg IoU and pixel accuracy of the masks at the predict threshold, maxF (beta^2 = 0.3), and the fg IoU at the level chosen on the training split's masks.

Reads:  evaluate_fg JSONs, a training-split one and an evaluation-split one per row.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).

By hand:
    python -m stages.table_fg --row "C2AM + CRF" demo_voc_effl0 demo_voc results/demo_voc_effl0/fg/train_crf.json \
        results/demo_voc_effl0/fg/val_crf.json --out results/table_fg.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.foreground_scores import LEVELS, best_level
from c2am.report import add_table_args, pct, read_metrics, write_table

COLUMNS = ["method", "experiment", "dataset", "split", "images", "fg IoU", "pixel acc", "maxF", "mask level",
           "fg IoU (level chosen on train)", "level chosen on train", "train fg IoU"]
TEXT = ("method", "experiment", "dataset", "split", "images")
NOTE = ("Foreground = every object class (255 ignored). fg IoU / pixel acc: mean over images of the mask predict "
        "writes (min-max scaled map >= threshold; + CRF: a dense CRF on the image seeded with that mask, its "
        "foreground marginal >= 0.5). maxF: beta^2 = 0.3, 255 levels, precision and recall averaged over images. "
        "Level chosen on train: the best of the 255 levels on the training split's masks, its fg IoU on this "
        "split. C2AM self-trained: 1 - the background cue of the cue model trained on C2AM's pseudo labels (no "
        "labels, no masks), min-max scaled like the maps. DDT: one group (no labels), the experiment's init with "
        "the stages.ddt settings, min-max scaled projection. "
        "Percentages.")


def row_of(method: str, experiment: str, dataset: str, train_path: str, eval_path: str) -> dict:
    train, ev = read_metrics(train_path), read_metrics(eval_path)
    level, train_best = best_level(train["iou_curve"])
    k = round(level * LEVELS) - 1
    return {"method": method, "experiment": experiment, "dataset": dataset, "split": ev["split"],
            "images": ev["images"], "fg IoU": pct(ev["fg_iou"]), "pixel acc": pct(ev["pixel_acc"]),
            "maxF": pct(ev["max_f"]), "mask level": ev["level"],
            "fg IoU (level chosen on train)": pct(ev["iou_curve"][k]), "level chosen on train": round(level, 4),
            "train fg IoU": pct(train["fg_iou"])}


def run(args: argparse.Namespace) -> None:
    rows = [row_of(*entry) for entry in args.row]
    numeric = [c for c in COLUMNS if c not in TEXT]
    write_table(rows, COLUMNS, numeric, args.out, "Foreground masks: C2AM vs DDT and saliency", NOTE, args.decimals)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--row", ("METHOD", "EXPERIMENT", "DATASET", "TRAIN_JSON", "EVAL_JSON"))
    return p


if __name__ == "__main__":
    main(run, parser())
