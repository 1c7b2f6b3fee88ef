"""table1: WSOL with PSOL's route (the paper's Table 1): Top-1 / Top-5 / GT-known Loc of a localizer trained on
pseudo boxes (C2AM's or DDT's) combined with a classifier, one row per experiment x pseudo-box source x
localizer x classifier. Image-averaged values are the main columns; class-averaged ones (PSOL) are labelled.

Reads:  evaluate_psol JSONs.   Writes: --out (CSV, percentages) and Markdown next to it (.md).

By hand:
    python -m stages.table1 --row "C2AM EfficientNet-Lite0 (demo)" demo c2am EfficientNet-Lite0 EfficientNet-Lite0 \
        results/demo_effl0/psol/c2am/effl0/metrics_effl0_test.json --out results/table1.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.report import add_table_args, pct, read_metrics, write_table

COLUMNS = ["method", "pseudo boxes", "Loc Back.", "Cls Back.", "dataset", "split", "images", "Top-1 Loc",
           "Top-5 Loc", "GT-known Loc", "Top-1 Loc (class avg)", "Top-5 Loc (class avg)",
           "GT-known Loc (class avg)", "Top-1 Cls", "Top-5 Cls", "top-5 k", "experiment"]
TEXT = ("method", "pseudo boxes", "Loc Back.", "Cls Back.", "dataset", "split", "images", "top-5 k", "experiment")
METHOD = {"c2am": "C2AM", "ddt": "PSOL (DDT boxes)"}
NOTE = ("Localizer: PSOL regression network trained on the training split's pseudo boxes (C2AM: this project's "
        "C2AM boxes; PSOL: DDT boxes from the same backbone and init). Top-1 Loc: top-1 class right and IoU >= 0.5 "
        "with a GT box; Top-5 Loc: GT class among the top 5 (top-5 k = classes used when there are fewer than 5); "
        "GT-known Loc: box only. Image-averaged; 'class avg' columns average per class first (PSOL). Percentages.")


def run(args: argparse.Namespace) -> None:
    rows = []
    for experiment, dataset, source, loc_label, cls_label, path in args.row:
        m = read_metrics(path)
        rows.append({"method": METHOD.get(source, source), "pseudo boxes": source, "Loc Back.": loc_label,
                     "Cls Back.": cls_label, "dataset": dataset, "split": m["split"], "images": m["images"],
                     "Top-1 Loc": pct(m["top1_loc"]), "Top-5 Loc": pct(m["top5_loc"]),
                     "GT-known Loc": pct(m["gt_known_loc"]), "Top-1 Loc (class avg)": pct(m["top1_loc_class_avg"]),
                     "Top-5 Loc (class avg)": pct(m["top5_loc_class_avg"]),
                     "GT-known Loc (class avg)": pct(m["gt_known_loc_class_avg"]), "Top-1 Cls": pct(m["top1_cls"]),
                     "Top-5 Cls": pct(m["top5_cls"]), "top-5 k": m["top5_k"], "experiment": experiment})
    write_table(rows, COLUMNS, [c for c in COLUMNS if c not in TEXT], args.out,
                "Table 1: WSOL through PSOL's route (localizer + classifier)", NOTE, args.decimals,
                sort_by=["dataset", "experiment", "Loc Back.", "Cls Back.", "method"])


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--row",
                   ("EXPERIMENT", "DATASET", "PSEUDO_BOXES", "LOC_BACKBONE", "CLS_BACKBONE", "METRICS_JSON"))
    return p


if __name__ == "__main__":
    main(run, parser())
