"""table4: per-class IoU (21 VOC classes) of the initial CAMs and of the CAMs refined with C2AM's background
cues, per CAM source and split (the paper's Table 4), plus mIoU and the mean FP / FN ratios.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table4.json, c2am.tables):
            {"rows": [{"experiment": "C2AM demo", "cam": "EffL0-CAM", "dataset": "demo_voc", "split": "val",
             "column": "CAMs",
             "metrics": "results/cams/demo_voc/effl0_cam_demo/metrics/val_threshold.json"}, ...]}
        and the refine_cams metrics JSON (one cell: a CAM source x experiment x split x column) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table4.

By hand (after `snakemake --cores 1 results/manifests/table4.json`, or with a manifest written by hand):
    python -m stages.table4 --manifest results/manifests/table4.json --out results/table4.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table4


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table4")
    check_outputs(rows, args.manifest, out=args.out)
    table4(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
