"""table3: MaxBoxAccV2 (Choe et al., CVPR 2020) of the class-agnostic maps per backbone (the paper's Table 3),
C2AM per experiment and DDT's projection maps beside it, with the IoU 0.3 / 0.5 / 0.7 parts.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table3.json, c2am.tables):
            {"rows": [{"method": "C2AM", "label": "demo_effl0", "dataset": "demo", "init": "effl0_imagenet",
             "metrics": "results/demo_effl0/metrics/wsol_test.json"}, ...]}
        and the evaluate_wsol JSON (the rows of table2: C2AM experiments and DDT) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table3.

By hand (after `snakemake --cores 1 results/manifests/table3.json`, or with a manifest written by hand):
    python -m stages.table3 --manifest results/manifests/table3.json --out results/table3.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table3


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table3")
    check_outputs(rows, args.manifest, out=args.out)
    table3(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
