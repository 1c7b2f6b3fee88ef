"""`c2am segment DIR` (`make segment IMAGES=DIR`): your photos to foreground masks, boxes and a gallery, no labels.

It runs the workflow's `segment` target with an overlay that sets `segment.images` (and `segment.name`): C2AM is
trained on every image under DIR with the recipe for real photos (config.yaml's segment.recipe), then the cue model
on C2AM's own pseudo labels, then predict writes results/NAME/predict/NAME: masks/, boxes.parquet, previews/,
summary.json and index.html (the gallery). Every step is a cached Snakemake job: run it again after an interruption
and it goes on from the last finished step (a training from its last checkpoint); after photos are added, removed or
replaced, the same command trains and predicts again.

The overlay is written to results/NAME/segment.yaml (the path is printed) so that the same run can be repeated or
tuned by hand:  snakemake --cores 2 segment --configfile results/NAME/segment.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .config import REPO, ConfigError, load_config
from .names import readable

SNAKEFILE = REPO / "workflow" / "Snakefile"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="c2am segment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", help="folder of photos (searched recursively; jpg, png, bmp, webp, tif)")
    p.add_argument("--name", default=None, help="name of the run: results/NAME/ (default: config's segment.name)")
    p.add_argument("--cores", default="2", help="CPU cores Snakemake may use (a number or 'all') [default: 2]")
    p.add_argument("--configfile", action="append", default=[], metavar="OVERLAY",
                   help="a config overlay merged before the segment overlay, e.g. another results_dir or device "
                        "(repeatable)")
    p.add_argument("-n", "--dry-run", action="store_true", help="only list the jobs that would run")
    return p


def _overlay(images: Path, name: str | None) -> dict:
    return {"segment": {"images": str(images), **({"name": name} if name else {})}}


def _earlier_folder(overlay_file: Path) -> str | None:
    """The photo folder of the segment run already in overlay_file's results folder, if any."""
    try:
        return json.loads(overlay_file.read_text(encoding="utf-8").split("\n", 1)[1])["segment"]["images"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def run(args: argparse.Namespace) -> int:
    if not SNAKEFILE.is_file():
        print(f"error: c2am segment runs the Snakemake workflow, which this installation lacks ({SNAKEFILE}): run it "
              "from a clone of the repository (pip install -e . there)", file=sys.stderr)
        return 1
    images = Path(args.images).expanduser().absolute()
    overlays = [str(Path(f).absolute()) for f in args.configfile]
    os.chdir(REPO)  # where Snakemake runs: results_dir is relative to it
    cfg = load_config(REPO / "config.yaml", *overlays, extra=("c2am segment", _overlay(images, args.name)))
    name = cfg["segment"]["name"]
    results = Path(cfg["results_dir"])
    results = results if results.is_absolute() else REPO / results
    overlay_file = results / name / "segment.yaml"
    earlier = _earlier_folder(overlay_file)
    if earlier is not None and earlier != str(images) and args.name is None:
        raise ConfigError(f"{results / name} holds the segment run of another folder ({readable(earlier)}): give "
                          f"this one its own name (--name NAME, make segment NAME=...), or remove {results / name} "
                          f"to replace that run")
    overlay_file.parent.mkdir(parents=True, exist_ok=True)
    overlay_file.write_text("# written by c2am segment: the photo folder and name of this segment run\n"
                            + json.dumps(_overlay(images, args.name), ensure_ascii=True) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--cores", str(args.cores),
               "segment", "--configfile", *overlays, str(overlay_file), *(["-n"] if args.dry_run else [])]
    by_hand = shlex.join(["snakemake", "--cores", str(args.cores), "segment", "--configfile", *overlays,
                          str(overlay_file)])
    print(f"c2am segment: {readable(cfg['datasets'][name]['root'])} -> {results / name}\n"
          f"  the same by hand (from {REPO}): {by_hand}", flush=True)
    start = time.time()
    status = subprocess.run(command, cwd=REPO).returncode
    if status != 0 or args.dry_run:
        return status
    out = results / name / "predict" / name
    summary = json.loads((out / "summary.json").read_text())
    print(f"\nsegment done in {time.time() - start:.0f} s: {summary['predicted']} of {summary['images']} photos "
          f"({summary['skipped_unreadable']} unreadable, {summary['empty_maps']} without contrast, "
          f"{summary['nearly_empty_masks']} with (nearly) empty masks)\n"
          f"  gallery: {out / 'index.html'}\n  masks:   {out / 'masks'}\n  boxes:   {out / 'boxes.parquet'}")
    for warning in summary.get("warnings", []):
        print(f"  warning: {warning}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to go on where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
