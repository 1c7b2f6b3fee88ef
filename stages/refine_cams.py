"""refine-cams: pseudo masks from CAMs with one background source, and their per-class IoU / mIoU / FP / FN.

Background sources (paper Sec. 3.5 and Table 5):
  threshold    constant background t (from --sweep or --threshold): the unrefined "CAMs" column
  cue          a background-cue folder (uint8 PNG, 255 = background): C2AM's cues (+C2AM)
  saliency     a saliency folder (uint8 PNG, 255 = salient): background = 1 - saliency (+saliency)
  crf_label    the threshold baseline refined by a dense CRF with a label unary (IRN / C2AM code settings)
  crf_softmax  dense CRF with a softmax unary on [(1 - max CAM) ** power, CAMs] (PSA settings)
The threshold, cue and saliency sources share one code path: stack the background channel before the CAMs and
take the argmax per pixel; the two CRF sources refine the CAMs with pydensecrf instead.

Reads:  --cams, masks and images of --split, --cues (cue / saliency).
Writes: --out-dir/<image_id>.png (VOC palette label maps) and --metrics (JSON, confusion matrix included).

By hand:
    python -m stages.refine_cams --cams results/cams/demo_voc/effl0/val --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split val --background cue \
        --cues results/demo_voc_effl0/wsss/cues/val --out-dir /tmp/refined --metrics /tmp/refined.json
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np

from c2am.cli import add_dataset_args, add_paths, add_settings, main, read_split, settings_of, stage_parser
from c2am.data.voc import VOC_CLASSES
from c2am.io import atomic_dir, check_out_paths, image_file, write_json
from c2am.settings import RefineSettings
from c2am.wsss.refine import METHODS
from c2am.wsss.refine_split import refine_split
from c2am.wsss.scores import segmentation_scores


def legacy_refined(folder: Path, args: argparse.Namespace, records: list) -> set[str] | None:
    """The files of a refined folder written before output markers (which had no manifest): this split's
    <image_id>.png, recognised only beside a refine_cams metrics JSON of the same split and background at
    --metrics (the previous run's)."""
    old = json.loads(Path(args.metrics).read_text())
    if not {"confusion", "miou"} <= set(old) or (old.get("split"), old.get("background")) != (args.split,
                                                                                              args.background):
        return None
    return {image_file(r.image_id) for r in records}


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, RefineSettings)
    threshold = args.threshold
    if args.sweep:
        threshold = float(json.loads(Path(args.sweep).read_text())["best_threshold"])
    if args.background in ("threshold", "crf_label") and threshold is None:
        raise ValueError(f"--background {args.background} needs --threshold or --sweep")
    if args.background in ("cue", "saliency") and not args.cues:
        raise ValueError(f"--background {args.background} needs --cues")
    records = read_split(args)
    missing = [r.image_id for r in records if r.mask_path is None]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images of split {args.split!r} have no segmentation mask, "
                                f"e.g. {missing[:5]}")
    # the label maps are named like the split's masks: never write into (or over) the folders they are read from
    folders = sorted({str(Path(p).parent) for r in records for p in (r.path, r.mask_path)})
    check_out_paths({"--out-dir": args.out_dir}, {f"--dataset-root images/masks folder {f}": f for f in folders})
    start = time.time()
    with atomic_dir(args.out_dir, partial(legacy_refined, args=args, records=records), "refine_cams") as tmp:
        conf = refine_split(records, args.background, args.cams, args.cues, s, threshold, tmp, args.threads)
    scores = segmentation_scores(conf)
    result = {"split": args.split, "images": len(records), "background": args.background, "threshold": threshold,
              "cams": args.cams, "cues": args.cues, "miou": scores["miou"], "fp_mean": scores["fp_mean"],
              "fn_mean": scores["fn_mean"], "classes_scored": scores["classes_scored"],
              "iou": {VOC_CLASSES[c]: (None if np.isnan(v) else float(v)) for c, v in enumerate(scores["iou"])},
              "confusion": np.asarray(conf).tolist(), "seconds": time.time() - start}
    write_json(result, args.metrics)
    print(f"{args.background}: mIoU {100 * scores['miou']:.2f} over {scores['classes_scored']} classes, "
          f"FP {scores['fp_mean']:.3f}, FN {scores['fn_mean']:.3f} ({len(records)} images, "
          f"{time.time() - start:.1f} s)")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--cams", "--out-dir", "--metrics", cams="make_cams folder (or CAMs made elsewhere)",
              metrics="metrics JSON")
    add_dataset_args(p)
    p.add_argument("--background", required=True, choices=METHODS)
    p.add_argument("--cues", default=None, help="cue folder (cue) or saliency folder (saliency)")
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--sweep", default=None, help="sweep_cam_threshold JSON: use its best threshold")
    p.add_argument("--threads", type=int, default=1, help="worker processes (the dense CRF is single-threaded)")
    add_settings(p, RefineSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
