"""table5: mIoU of the CAMs and of each refinement (paper Table 5): +dCRF (label and softmax unaries),
+saliency cues (one column per saliency source), +C2AM (the raw 1 - P maps and the cue model's cues), per CAM
source, C2AM experiment and split; the gain of +C2AM over the CAMs in points.

Reads:  --manifest, the JSON of the rows that the workflow writes (results/manifests/table5.json, c2am.tables):
            {"rows": [{"experiment": "C2AM demo", "cam": "EffL0-CAM", "dataset": "demo_voc", "split": "val",
             "column": "+C2AM",
             "metrics": "results/demo_voc_effl0/wsss/effl0_cam_demo/metrics/val_c2am.json"}, ...]}
        and the refine_cams metrics JSON (one cell: a CAM source x experiment x split x column) each row names.
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).
        The table is built by c2am.tables.table5.

By hand (after `snakemake --cores 1 results/manifests/table5.json`, or with a manifest written by hand):
    python -m stages.table5 --manifest results/manifests/table5.json --out results/table5.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, settings_of, stage_parser
from c2am.report import add_manifest_args
from c2am.settings import TableSettings
from c2am.tables import check_outputs, read_manifest, table5


def run(args: argparse.Namespace) -> None:
    rows = read_manifest(args.manifest, "table5")
    check_outputs(rows, args.manifest, out=args.out)
    table5(rows, settings_of(args, TableSettings).decimals).write(args.out)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_manifest_args(p)
    return p


if __name__ == "__main__":
    main(run, parser())
