"""table3: MaxBoxAccV2 (Choe et al., CVPR 2020) of the class-agnostic maps per backbone (the paper's Table 3),
C2AM per experiment and DDT's projection maps beside it, with the IoU 0.3 / 0.5 / 0.7 parts.

Reads:  evaluate_wsol JSONs (the same as table2).   Writes: --out (CSV, percentages) and Markdown (.md).

By hand:
    python -m stages.table3 --row C2AM demo_effl0 demo effl0_imagenet results/demo_effl0/metrics/wsol_test.json \
        --out results/table3.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import run_main
from c2am.tables import pct, read_metrics, write_table

COLUMNS = ["method", "backbone", "init", "dataset", "split", "images", "MaxBoxAccV2", "MaxBoxAcc@30",
           "MaxBoxAcc@50", "MaxBoxAcc@70", "best threshold@50", "label"]
TEXT = ("method", "backbone", "init", "dataset", "split", "images", "label")
NOTE = ("MaxBoxAccV2: for each IoU in {0.3, 0.5, 0.7}, the best box accuracy over a fine sweep of thresholds on "
        "min-max normalised maps (all contours, best box per image), averaged over the three IoUs. The sweep "
        "picks the threshold on the evaluated split (as Choe et al. define it). Percentages.")


def run(args: argparse.Namespace) -> None:
    rows = []
    for method, label, dataset, init, path in args.row:
        m = read_metrics(path)
        best = m.get("best_threshold@50", m.get("best_threshold@0.5"))
        rows.append({"method": method, "backbone": m.get("backbone"), "init": init, "dataset": dataset,
                     "split": m["split"], "images": m["images"], "MaxBoxAccV2": pct(m["MaxBoxAccV2"]),
                     "MaxBoxAcc@30": pct(m.get("MaxBoxAcc@30")), "MaxBoxAcc@50": pct(m.get("MaxBoxAcc@50")),
                     "MaxBoxAcc@70": pct(m.get("MaxBoxAcc@70")), "best threshold@50": best,
                     "label": None if label == "-" else label})
    write_table(rows, COLUMNS, [c for c in COLUMNS if c not in TEXT], args.out,
                "Table 3: MaxBoxAccV2 of class-agnostic maps", NOTE, args.decimals,
                sort_by=["dataset", "backbone", "init", "method"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", nargs=5, action="append", required=True,
                   metavar=("METHOD", "LABEL", "DATASET", "INIT", "METRICS_JSON"), help="LABEL '-' for none")
    p.add_argument("--decimals", type=int, default=2)
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    run_main(run, parser())
