"""table2: GT-known Loc of class-agnostic boxes, C2AM vs DDT, per backbone x init x dataset (the paper's
Table 2), with the held-out-threshold number, the authors' test-tuned protocol (labelled), MaxBoxAccV2 and
PxAP, and a centre-box row per dataset for context.

Reads:  one evaluate_wsol JSON per C2AM experiment (--row) and per DDT dataset x init (--ddt-row).
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).

By hand:
    python -m stages.table2 --row demo_effl0 demo effl0_imagenet results/demo_effl0/metrics/wsol_test.json \
        --ddt-row demo effl0_imagenet results/ddt/demo/effl0_imagenet/metrics/wsol_test.json --out results/table2.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.report import add_table_args, columns_with, max_box_acc_cells, pct, read_metrics, write_table

COLUMNS = ["method", "backbone", "init", "dataset", "split", "images", "GT-known Loc",
           "box threshold", "GT-known Loc (authors' protocol, tuned on split)", "authors' threshold",
           "MaxBoxAccV2", "PxAP", "label", "note"]  # + MaxBoxAcc@IoU per wsol_eval.maxboxacc_iou
TEXT = ("method", "backbone", "init", "dataset", "split", "images", "label", "note")
NOTE = ("GT-known Loc: IoU >= 0.5 with a GT box. C2AM: box threshold chosen on the GT boxes of the training split "
        "(all of it by default, boxes.calib_fraction), never on the evaluated split. DDT: positive projection on the "
        "first principal component of the class's deep descriptors (threshold 0; GT-known setting: images grouped by "
        "their class). Authors' protocol: best of 19 thresholds chosen on the evaluated split (optimistic). "
        "MaxBoxAccV2: Choe et al. 2020 (min-max maps, all contours, IoU 0.3/0.5/0.7). Centre box: size tuned on the "
        "evaluated split. Percentages.")


def rows_from(method: str, label: str | None, dataset: str, init: str, metrics_path: str) -> list[dict]:
    m = read_metrics(metrics_path)
    row = {"method": method, "backbone": m["backbone"], "init": init, "dataset": dataset,
           "split": m["split"], "images": m["images"], "GT-known Loc": pct(m["gt_known_loc"]),
           "box threshold": m["box_threshold"],
           "GT-known Loc (authors' protocol, tuned on split)": pct(m["authors_protocol"]["gt_known_loc_tuned_on_eval"]),
           "authors' threshold": m["authors_protocol"]["threshold_tuned_on_eval"],
           "MaxBoxAccV2": pct(m["MaxBoxAccV2"]), **max_box_acc_cells(m), "PxAP": pct(m.get("PxAP")),
           "label": label}
    if method == "DDT":
        row["note"] = "threshold 0 on the projection; authors' protocol and MaxBoxAccV2 sweep min-max maps"
    center = {"method": "centre box (tuned on split)", "backbone": None, "init": None, "dataset": dataset,
              "split": m["split"], "images": m["images"],
              "GT-known Loc": pct(m["center_box"]["gt_known_loc_tuned_on_eval"]), "label": None,
              "note": f"centred box covering {m['center_box']['best_frac_tuned_on_eval']:.2f} of each side"}
    return [row, center]


def run(args: argparse.Namespace) -> None:
    rows, seen_center = [], set()
    entries = [("C2AM", label, ds, init, path) for label, ds, init, path in args.row]
    entries += [("DDT", None, ds, init, path) for ds, init, path in args.ddt_row or []]
    for method, label, dataset, init, metrics_path in entries:
        row, center = rows_from(method, label, dataset, init, metrics_path)
        rows.append(row)
        if (dataset, center["split"]) not in seen_center:
            seen_center.add((dataset, center["split"]))
            rows.append(center)
    columns = columns_with(COLUMNS, "PxAP", rows, "MaxBoxAcc@")
    write_table(rows, columns, [c for c in columns if c not in TEXT], args.out,
                "Table 2: class-agnostic boxes, C2AM vs DDT (GT-known Loc)", NOTE, args.decimals,
                sort_by=["dataset", "backbone", "init", "method"])


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--row", ("LABEL", "DATASET", "INIT", "METRICS_JSON"))  # a C2AM experiment
    p.add_argument("--ddt-row", nargs=3, action="append", metavar=("DATASET", "INIT", "METRICS_JSON"),
                   help="DDT boxes of a dataset from an init")
    return p


if __name__ == "__main__":
    main(run, parser())
