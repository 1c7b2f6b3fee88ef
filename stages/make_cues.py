"""make-cues: background cues (1 - foreground map) as one uint8 PNG per image at its original size
(255 = background, 0 = foreground), plus manifest.parquet. Used by the WSSS refinement.

Reads:  --maps (extract_maps output).
Writes: --out-dir/<image_id>.png and --out-dir/manifest.parquet (built as OUT.part, renamed when complete).

By hand:
    python -m stages.make_cues --maps results/demo_effl0/maps/train --out-dir results/demo_effl0/cues/train
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from c2am.boxes import normalize_map
from c2am.cli import run_main
from c2am.io import atomic_dir, write_parquet
from c2am.maps import MapStore
from c2am.wsss import image_file, write_gray_png


def run(args: argparse.Namespace) -> None:
    store = MapStore(args.maps)
    rows = []
    with atomic_dir(args.out_dir) as tmp:
        for i, image_id in enumerate(store.manifest["image_id"]):
            fg = normalize_map(store.original_size_map(i), "minmax")
            cue = np.round((1 - fg) * 255).astype(np.uint8)
            name = image_file(image_id)
            write_gray_png(tmp / name, cue)
            rows.append({"image_id": image_id, "file": name, "width": cue.shape[1], "height": cue.shape[0]})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", "make_cues", {"maps": args.maps})
    print(f"{args.out_dir}: {len(rows)} background cues")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", required=True)
    p.add_argument("--out-dir", required=True)
    return p


if __name__ == "__main__":
    run_main(run, parser())
