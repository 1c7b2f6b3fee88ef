"""table5: mIoU of the CAMs and of each refinement (paper Table 5): +dCRF (label and softmax unaries),
+saliency cues (one column per saliency source), +C2AM (the raw 1 - P maps and the cue model's cues), per CAM
source, C2AM experiment and split; the gain of +C2AM over the CAMs in points.

Reads:  refine_cams metrics JSONs.   Writes: --out (CSV, percentages) and Markdown (.md).

By hand:
    python -m stages.table5 --cell "C2AM demo" EffL0-CAM demo_voc val CAMs results/cams/.../val_threshold.json \
        --out results/table5.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.report import CELL, WsssColumn, add_table_args, pct, read_metrics, write_table

TEXT = ["CAM source", "C2AM experiment", "dataset", "split", "images", "threshold"]
NOTE = ("mIoU over the VOC classes present (255 ignored), one confusion matrix per split. CAMs: constant "
        "background t (chosen on the train split's masks, used on every split); +dCRF: dense CRF on the CAMs "
        "(label unary from the t baseline, IRN / C2AM settings; softmax unary on [(1 - max CAM)^p, CAMs], PSA "
        "settings); +saliency: background = 1 - saliency map; +C2AM (raw 1-P): background = 1 - C2AM map; +C2AM: "
        "background = the cue model trained on C2AM's pseudo labels. Every cue goes through the same argmax. "
        "Percentages; gain = +C2AM - CAMs in points.")


def run(args: argparse.Namespace) -> None:
    rows: dict[tuple, dict] = {}
    columns: list[str] = []
    for exp_label, cam_label, dataset, split, column, path in args.cell:
        m = read_metrics(path)
        row = rows.setdefault((cam_label, exp_label, dataset, split),
                              {"CAM source": cam_label, "C2AM experiment": exp_label, "dataset": dataset,
                               "split": split, "images": m["images"]})
        if column == WsssColumn.CAMS:
            row["threshold"] = m["threshold"]
        row[column] = pct(m["miou"])
        if column not in columns:
            columns.append(column)
    for row in rows.values():
        c2am, cams = WsssColumn.C2AM, WsssColumn.CAMS
        row["gain"] = row[c2am] - row[cams] if c2am in row and cams in row else None
    write_table(list(rows.values()), TEXT + columns + ["gain"], columns + ["gain"], args.out,
                "Table 5: mIoU of CAMs and their refinements", NOTE, args.decimals,
                sort_by=["dataset", "CAM source", "split"])


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--cell", CELL)
    return p


if __name__ == "__main__":
    main(run, parser())
