"""make-boxes: class-agnostic boxes of one split at the chosen threshold (the PSOL pseudo labels on train).

Reads:  --maps (extract_maps output) and --threshold-file (choose_threshold output).
Writes: --out parquet, one row per (image, box): image_id, box, x0, y0, x1, y1 (original pixels, exclusive
        edges), threshold, score (mean normalised activation inside the box).

By hand:
    python -m stages.make_boxes --maps results/demo_effl0/maps/test \
        --threshold-file results/demo_effl0/boxes/threshold.json --out results/demo_effl0/boxes/test.parquet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c2am.cli import add_paths, add_settings, main, settings_of, stage_parser
from c2am.io import write_parquet
from c2am.settings import BoxSettings
from c2am.wsol.localize import boxes_table
from c2am.wsol.maps import MapStore


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, BoxSettings)
    threshold = json.loads(Path(args.threshold_file).read_text())["threshold"]
    table = boxes_table(MapStore(args.maps), threshold, s.normalization, s.all_contours, s.upsample)
    write_parquet(table, args.out, "make_boxes", {**s.to_dict(), "threshold": threshold})
    print(f"{args.out}: {len(table)} boxes for {table['image_id'].nunique()} images at threshold {threshold:.3f}")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--maps", "--threshold-file", "--out", threshold_file="choose_threshold output (JSON)",
              out="box parquet")
    add_settings(p, BoxSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
