"""make-cues: background cues (1 - foreground map) as one uint8 PNG per image at its original size
(255 = background, 0 = foreground), plus manifest.parquet. Used by the WSSS refinement.

Reads:  --maps (extract_maps output).
Writes: --out-dir/<image_id>.png and --out-dir/manifest.parquet (built as OUT.part, renamed when complete).

By hand:
    python -m stages.make_cues --maps results/demo_effl0/maps/train --out-dir results/demo_effl0/raw_cues/train
"""

from __future__ import annotations

import argparse

from c2am.cli import add_paths, main, stage_parser
from c2am.io import write_image_folder
from c2am.wsol.maps import MapStore
from c2am.wsss.cues import one_minus_p_cue


def run(args: argparse.Namespace) -> None:
    store = MapStore(args.maps)

    def cues_of_store():
        for i, image_id in enumerate(store.manifest["image_id"]):
            cue = one_minus_p_cue(store.original_map(i, "minmax"))
            yield image_id, cue, {"width": cue.shape[1], "height": cue.shape[0]}

    rows = write_image_folder(args.out_dir, "make_cues", {"maps": args.maps}, cues_of_store())
    print(f"{args.out_dir}: {len(rows)} background cues")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--maps", "--out-dir", maps="extract_maps output")
    return p


if __name__ == "__main__":
    main(run, parser())
