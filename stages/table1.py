"""table1: WSOL with PSOL's route (the paper's Table 1): Top-1 / Top-5 / GT-known Loc of a localizer trained on
pseudo boxes (C2AM's or DDT's) combined with a classifier, one row per experiment x pseudo-box source x
localizer x classifier. Image-averaged values are the main columns; class-averaged ones (PSOL) are labelled.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table1.json, c2am.tables):
            {"rows": [{"experiment": "C2AM EfficientNet-Lite0 (demo)", "dataset": "demo", "source": "c2am",
             "localizer": "EfficientNet-Lite0", "classifier": "EfficientNet-Lite0",
             "metrics": "results/demo_effl0/psol/c2am/effl0_demo/metrics_effl0_demo_test.json"}, ...]}
        and the evaluate_psol JSON each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table1.

By hand (after `snakemake --cores 1 results/manifests/table1.json`, or with a manifest written by hand):
    python -m stages.table1 --manifest results/manifests/table1.json --out results/table1.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table1


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table1")
    check_outputs(rows, args.manifest, out=args.out)
    table1(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
