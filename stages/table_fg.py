"""table_fg: foreground masks against the masks of a VOC-layout dataset, C2AM (with and without predict's dense CRF)
and C2AM self-trained (the cue model trained on C2AM's pseudo labels: 1 - its background cue) beside DDT (one group,
no labels) and the saliency sources: fg IoU and pixel accuracy of the masks at the predict threshold, maxF (beta^2 = 0.3), and the fg IoU at the level chosen on the training split's masks.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table_fg.json, c2am.tables):
            {"rows": [{"method": "C2AM + CRF", "experiment": "demo_voc_effl0", "dataset": "demo_voc",
             "train": "results/demo_voc_effl0/fg/train_c2am_crf.json",
             "eval": "results/demo_voc_effl0/fg/val_c2am_crf.json"}, ...]}
        and the two evaluate_fg JSONs (train: the training split's, eval: the evaluation split's) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table_fg.

By hand (after `snakemake --cores 1 results/manifests/table_fg.json`, or with a manifest written by hand):
    python -m stages.table_fg --manifest results/manifests/table_fg.json --out results/table_fg.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table_fg


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table_fg")
    check_outputs(rows, args.manifest, out=args.out)
    table_fg(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
