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
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from c2am.cli import add_dataset_args, add_settings, read_split, run_main, settings_from
from c2am.data.images import read_image
from c2am.data.readers import VOC_CLASSES, read_mask
from c2am.io import atomic_dir, write_json
from c2am.wsss import (cam_file, confusion, crf_refine_labels, crf_refine_scores, cue_to_background, image_file,
                       load_cams, refine_with_background, refine_with_threshold, segmentation_scores,
                       write_mask)

KEYS: list[str] = []
SOURCES = ("threshold", "cue", "saliency", "crf_label", "crf_softmax")


def _background(cue_dir: str, image_id: str, size: tuple[int, int], saliency: bool) -> np.ndarray:
    path = Path(cue_dir) / image_file(image_id)
    cue = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if cue is None:
        raise FileNotFoundError(f"no readable {'saliency map' if saliency else 'background cue'} {path}")
    if cue.shape != (size[1], size[0]):
        cue = cv2.resize(cue, size, interpolation=cv2.INTER_LINEAR)
    bg = cue_to_background(cue)
    return 1.0 - bg if saliency else bg


def refine_one(job: tuple, args: argparse.Namespace, s: dict, threshold: float | None, tmp: Path) -> np.ndarray:
    try:
        return _refine_one(job, args, s, threshold, tmp)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"image {job[0]} ({job[1]}, mask {job[2]}): {exc}") from exc


def _refine_one(job: tuple, args: argparse.Namespace, s: dict, threshold: float | None, tmp: Path) -> np.ndarray:
    image_id, path, mask_path = job
    image = read_image(path).permute(1, 2, 0).numpy()
    size = (image.shape[1], image.shape[0])
    keys, cams = load_cams(cam_file(args.cams, image_id), size=size)
    crf = {"iterations": s["crf_iterations"], "gaussian_sxy": s["crf_gaussian_sxy"],
           "gaussian_compat": s["crf_gaussian_compat"], "bilateral_compat": s["crf_bilateral_compat"]}
    if args.background == "threshold":
        labels = refine_with_threshold(cams, keys, threshold)
    elif args.background in ("cue", "saliency"):
        labels = refine_with_background(cams, keys, _background(args.cues, image_id, size,
                                                                args.background == "saliency"))
    elif args.background == "crf_label":
        labels = crf_refine_labels(image, cams, keys, threshold, gt_prob=s["crf_gt_prob"],
                                   bilateral_sxy=s["crf_bilateral_sxy"], bilateral_srgb=s["crf_bilateral_srgb"], **crf)
    else:  # PSA's softmax-unary CRF settings
        labels = crf_refine_scores(image, cams, keys, s["crf_softmax_bg_power"], bilateral_sxy=80, bilateral_srgb=13,
                                   **crf)  # PSA's bilateral settings
    write_mask(tmp / image_file(image_id), labels)
    return confusion(read_mask(mask_path), labels)


def run(args: argparse.Namespace) -> None:
    s = settings_from(args, KEYS)
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
    jobs = [(r.image_id, r.path, r.mask_path) for r in records]
    start = time.time()
    from tqdm import tqdm

    with atomic_dir(args.out_dir) as tmp:
        work = partial(refine_one, args=args, s=s, threshold=threshold, tmp=tmp)
        bar = partial(tqdm, total=len(jobs), desc=args.background, file=sys.stderr,
                      mininterval=1 if sys.stderr.isatty() else 15)
        if args.threads > 1:
            with ProcessPoolExecutor(args.threads) as pool:
                conf = sum(bar(pool.map(work, jobs, chunksize=4)))
        else:
            conf = sum(bar(map(work, jobs)))
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cams", required=True)
    add_dataset_args(p)
    p.add_argument("--background", required=True, choices=SOURCES)
    p.add_argument("--cues", default=None, help="cue folder (cue) or saliency folder (saliency)")
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--sweep", default=None, help="sweep_cam_threshold JSON: use its best threshold")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--threads", type=int, default=1, help="worker processes (the dense CRF is single-threaded)")
    KEYS[:] = add_settings(p, "refine")
    return p


if __name__ == "__main__":
    run_main(run, parser())
