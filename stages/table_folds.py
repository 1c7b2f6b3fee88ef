"""table_folds: a recipe's scores on held-out folds of a training split, fold by fold and pooled, to choose
recipes without the test split (docs/configuration.md, "Choosing a recipe on held-out folds").

Each row is one fold experiment: C2AM trained without labels on split BASE-without-foldIofK, its box threshold
chosen on those images, its boxes scored on the held-out BASE-foldIofK (evaluate_wsol). The pooled row of a
dataset root and base split counts every held-out image once: GT-known Loc = correct boxes / images over the
folds; MaxBoxAccV2 and MaxBoxAcc@IoU = the mean over folds (each fold's best threshold is its own).

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table_folds.json, c2am.tables):
            {"rows": [{"label": "fold 0", "root": "../shared/data/cub10/CUB_200_2011", "split": "train-fold0of3",
             "metrics": "results/cub10_fold0/metrics/wsol_train-fold0of3.json"}, ...]}
        and the evaluate_wsol JSON of a fold experiment (split BASE-foldIofK) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table_folds.

By hand (after `snakemake --cores 1 results/manifests/table_folds.json`, or with a manifest written by hand):
    python -m stages.table_folds --manifest results/manifests/table_folds.json --out results/table_folds.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table_folds


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table_folds")
    check_outputs(rows, args.manifest, out=args.out)
    table_folds(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
