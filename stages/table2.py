"""table2: GT-known Loc of class-agnostic boxes, C2AM vs DDT, per backbone x init x dataset (the paper's
Table 2), with the held-out-threshold number, the authors' test-tuned protocol (labelled), MaxBoxAccV2 and
PxAP, and a centre-box row per dataset for context.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table2.json, c2am.tables):
            {"rows": [{"method": "C2AM", "label": "demo_effl0", "dataset": "demo", "init": "effl0_imagenet",
             "metrics": "results/demo_effl0/metrics/wsol_test.json"},
            {"method": "DDT", "label": null, "dataset": "demo", "init": "effl0_imagenet",
             "metrics": "results/ddt/demo/effl0_imagenet/metrics/wsol_test.json"}, ...]}
        and the evaluate_wsol JSON (a C2AM experiment, or DDT boxes of a dataset from an init) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table2.

By hand (after `snakemake --cores 1 results/manifests/table2.json`, or with a manifest written by hand):
    python -m stages.table2 --manifest results/manifests/table2.json --out results/table2.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table2


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table2")
    check_outputs(rows, args.manifest, out=args.out)
    table2(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
