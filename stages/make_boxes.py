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

from c2am.cli import add_settings, run_main, settings_from
from c2am.io import write_parquet
from c2am.localize import boxes_table
from c2am.maps import MapStore

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    settings = settings_from(args, KEYS)
    threshold = json.loads(open(args.threshold_file).read())["threshold"]
    table = boxes_table(MapStore(args.maps), threshold, settings["normalization"], settings["all_contours"],
                        settings["upsample"])
    write_parquet(table, args.out, "make_boxes", {**settings, "threshold": threshold})
    print(f"{args.out}: {len(table)} boxes for {table['image_id'].nunique()} images at threshold {threshold:.3f}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", required=True)
    p.add_argument("--threshold-file", required=True, help="choose_threshold output (JSON)")
    p.add_argument("--out", required=True)
    KEYS[:] = add_settings(p, "boxes")
    return p


if __name__ == "__main__":
    run_main(run, parser())
