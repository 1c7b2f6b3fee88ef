"""table6: sensitivity of C2AM (paper Sec. 5.4): GT-known Loc and MaxBoxAccV2 per value of alpha (Eq. 5), per
activation-head initialisation (the paper's Table 6), per loss variant (paper's equations vs the authors' code),
and per foreground-side rule; Fig. 8 (GT-known Loc vs alpha) drawn from the same rows.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table6.json, c2am.tables):
            {"rows": [{"study": "alpha", "value": "0", "experiment": "demo_effl0__alpha-0",
             "metrics": "results/demo_effl0__alpha-0/metrics/wsol_test.json"}, ...]}
        and the evaluate_wsol JSON (one per study x value) each row names and --fg-rules (a fg_rule_ablation JSON).
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md); --figure (PNG, Fig. 8).
        The table is built by c2am.tables.table6.

By hand (after `snakemake --cores 1 results/manifests/table6.json`, or with a manifest written by hand):
    python -m stages.table6 --manifest results/manifests/table6.json \
        --fg-rules results/demo_effl0/metrics/fg_rule_test.json --figure results/figure8.png --out results/table6.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args, save_figure
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table6


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table6")
    check_outputs(rows, args.manifest, out=args.out, figure=args.figure)
    table = table6(rows, settings_of(args, TableSettings).decimals, args.fg_rules).write(args.out)
    if args.figure:
        figure8(table, args.figure)


def figure8(table, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alpha = table[table["study"] == "alpha"].assign(a=lambda t: t["value"].astype(float)).sort_values("a")
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(alpha):
        ax.plot(alpha["a"], alpha["GT-known Loc"], "o-", label="GT-known Loc (this run)")
        ax.plot(alpha["a"], alpha["MaxBoxAccV2"], "s--", alpha=0.7, label="MaxBoxAccV2 (this run)")
    ax.set_xlabel("alpha (Eq. 5: w = exp(-alpha * rank))")
    ax.set_ylabel("% (test split)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("paper (ImageNet, Fig. 8): lowest at alpha = 0, stable for alpha in 0.1 .. 0.9 (context only)",
                 fontsize=7, color="0.35")
    save_figure(fig, out, "Fig. 8: sensitivity to alpha")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    p.add_argument("--fg-rules", help="fg_rule_ablation JSON of the base experiment")
    p.add_argument("--figure", help="Fig. 8 (PNG)")
    return p


if __name__ == "__main__":
    main(run, parser())
