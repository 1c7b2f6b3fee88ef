"""evaluate-fg: foreground-mask scores of one map source on one split of a VOC-layout dataset (every object class
is foreground, 255 ignored): fg IoU and pixel accuracy of the mask `predict` would write, the IoU curve over 255
levels, and maxF (beta^2 = 0.3). See c2am.foreground_scores for the definitions.

Sources: --maps (a map folder: C2AM's extract_maps output, or DDT's projection maps) pasted to the original image
size; --cues (a cue folder of PNGs, 255 = background, as predict_cues writes from the cue model trained on C2AM's
pseudo labels: the foreground is 1 - cue / 255, i.e. C2AM self-trained); --saliency (a folder of PNGs, 255 =
salient, as make_saliency writes). Each is min-max scaled; maps and cues can be refined as predict does
(--refine crf).

Reads:  the map / cue / saliency folder, the split's masks (and images for --refine crf).   Writes: --out (JSON).

By hand:
    python -m stages.evaluate_fg --maps results/demo_voc_effl0/maps/val --refine crf --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split val --out results/demo_voc_effl0/fg/val_c2am_crf.json
    python -m stages.evaluate_fg --cues results/demo_voc_effl0/wsss/cues/val --dataset-format voc \
        --dataset-root results/data/demo/VOC2012 --split val --out results/demo_voc_effl0/fg/val_cue.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_settings, main, read_split, settings_of, stage_parser
from c2am.data.decode import read_rgb
from c2am.data.voc import read_mask
from c2am.foreground_scores import ForegroundScores
from c2am.io import write_json
from c2am.predict import REFINES, mask_score
from c2am.progress import progress_bar
from c2am.settings import FgEvalSettings, PredictSettings
from c2am.wsol.boxes import normalize_map
from c2am.wsol.maps import MapStore
from c2am.wsss.cues import read_unit_map


def source_map(store: MapStore | None, cues: str | None, rec, size: tuple[int, int]):
    """The min-max scaled foreground map of an image at its mask's size (h, w): the map store's in the original
    frame, or 1 - cue / 255 of a cue folder."""
    h, w = size
    if store is None:
        return normalize_map(1.0 - read_unit_map(cues, rec.image_id, (w, h), "background cue"), "minmax")
    if rec.image_id not in store.index:
        raise KeyError(f"image {rec.image_id} has no map in {store.folder}")
    scaled = store.original_map(store.index[rec.image_id], "minmax")
    if scaled.shape != (h, w):
        raise ValueError(f"map of size {scaled.shape} does not match its mask {rec.mask_path} ({h}, {w})")
    return scaled


def run(args: argparse.Namespace) -> None:
    if sum(source is not None for source in (args.maps, args.cues, args.saliency)) != 1:
        raise ValueError("give exactly one of --maps, --cues and --saliency")
    if args.saliency and args.refine != "none":
        raise ValueError("--refine applies to --maps and --cues sources only")
    s = settings_of(args, FgEvalSettings)
    max_side = PredictSettings.defaults().refine_max_side if args.refine_max_side is None else args.refine_max_side
    records = [r for r in read_split(args) if r.mask_path is not None]
    if not records:
        raise ValueError(f"split {args.split!r} of {args.dataset_root} has no masks to score against")
    store = MapStore(args.maps) if args.maps else None
    scores = ForegroundScores()
    for rec in progress_bar(records, len(records), f"fg scores {args.split}", not args.no_progress):
        mask = read_mask(rec.mask_path)
        h, w = mask.shape
        try:
            if args.saliency:
                score = normalize_map(read_unit_map(args.saliency, rec.image_id, (w, h), "saliency map"), "minmax")
                level = s.threshold
            else:
                scaled = source_map(store, args.cues, rec, (h, w))
                image = read_rgb(rec.path) if args.refine == "crf" else None
                score, level = mask_score(scaled, image, s.threshold, args.refine, max_side)
            scores.add(score, mask, level)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"image {rec.image_id} ({rec.path}, mask {rec.mask_path}): {exc}") from exc
    result = scores.summary()
    kind = "maps" if args.maps else "cues" if args.cues else "saliency"
    result.update({"split": args.split, "dataset_root": args.dataset_root, "source": getattr(args, kind), "kind": kind,
                   "refine": args.refine, "level": level, "settings": {**s.to_dict(), "refine_max_side": max_side}})
    write_json(result, args.out)
    print({k: v for k, v in result.items() if k != "iou_curve"})


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--maps", help="map folder (extract_maps / ddt_boxes output)")
    p.add_argument("--cues", help="cue folder (predict_cues output: PNG, 255 = background)")
    p.add_argument("--saliency", help="saliency folder (PNG, 255 = salient)")
    p.add_argument("--refine", choices=REFINES, default="none", help="refine the masks as predict does")
    p.add_argument("--refine-max-side", type=int, default=None, help="CRF image size (default: predict's)")
    add_dataset_args(p)
    add_settings(p, FgEvalSettings)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    main(run, parser())
