"""table3: MaxBoxAccV2 (Choe et al., CVPR 2020) of the class-agnostic maps per backbone (the paper's Table 3),
C2AM per experiment and DDT's projection maps beside it, with the IoU 0.3 / 0.5 / 0.7 parts.

Reads:  evaluate_wsol JSONs (the same as table2).   Writes: --out (CSV, percentages) and Markdown (.md).

By hand:
    python -m stages.table3 --row C2AM demo_effl0 demo effl0_imagenet results/demo_effl0/metrics/wsol_test.json \
        --out results/table3.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.report import add_table_args, columns_with, max_box_acc_cells, pct, read_metrics, write_table

COLUMNS = ["method", "backbone", "init", "dataset", "split", "images", "MaxBoxAccV2", "label"]  # + MaxBoxAcc@IoU
TEXT = ("method", "backbone", "init", "dataset", "split", "images", "label")
NOTE = ("MaxBoxAccV2: for each IoU in {0.3, 0.5, 0.7}, the best box accuracy over a fine sweep of thresholds on "
        "min-max normalised maps (all contours, best box per image), averaged over the three IoUs. The sweep "
        "picks the threshold on the evaluated split (as Choe et al. define it). Percentages.")


def run(args: argparse.Namespace) -> None:
    rows = []
    for method, label, dataset, init, path in args.row:
        m = read_metrics(path)
        rows.append({"method": method, "backbone": m["backbone"], "init": init, "dataset": dataset,
                     "split": m["split"], "images": m["images"], "MaxBoxAccV2": pct(m["MaxBoxAccV2"]),
                     **max_box_acc_cells(m, with_thresholds=True), "label": None if label == "-" else label})
    columns = columns_with(COLUMNS, "label", rows, "MaxBoxAcc@")
    columns = columns_with(columns, "label", rows, "best threshold@")
    write_table(rows, columns, [c for c in columns if c not in TEXT], args.out,
                "Table 3: MaxBoxAccV2 of class-agnostic maps", NOTE, args.decimals,
                sort_by=["dataset", "backbone", "init", "method"])


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--row", ("METHOD", "LABEL", "DATASET", "INIT", "METRICS_JSON"))  # LABEL '-' for none
    return p


if __name__ == "__main__":
    main(run, parser())
