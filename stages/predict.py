"""predict: foreground masks, boxes and previews for ANY folder of images with a trained C2AM model (no labels,
no annotations: the paper's "detect the foreground without manual annotations" use).

Reads:  --model (train_c2am output), --images (a folder, searched recursively; mixed sizes, grayscale, RGBA,
        EXIF-rotated files are fine), the box threshold (--threshold-file from choose_threshold, or --threshold).
Writes: --out-dir/masks/REL.png (255 = foreground, original size), boxes.parquet (file, width, height,
        x0, y0, x1, y1 in original pixels: the box of the mask's largest region, threshold, foreground_fraction,
        empty_map), previews/REL.jpg (background dimmed, mask outline, box), index.html (the gallery: every photo
        with its outline, box and mask, sortable by foreground fraction, empty maps flagged) and summary.json
        (counts, the size and scales used and where they came from, warnings; unreadable images are skipped and
        listed). Size, scales and flip default to those of the maps the threshold was chosen on (recorded in
        --threshold-file), else to the model's training resize. A warning is printed (and kept in summary.json)
        when most masks are (nearly) empty, or when a model trained on the synthetic demo meets other photos.
        A blank image (no contrast) gets empty_map true, no box and an empty mask; a file whose name is not UTF-8
        is written under its escaped name (caf\\xe9.jpg -> caf%E9.jpg), listed in summary.json's `renamed`.
        With --masks self_trained --mask-model CUE_MODEL.pt the masks come from C2AM self-trained (the cue model
        trained on C2AM's pseudo labels, run as predict_cues runs it for results/table_fg.csv: the image resized
        to --test-size (predict_cues.test_size), mask level 0.5 as table_fg scores it).
        The folder appears complete or not at all. It must not be, hold or lie inside --images, and an existing
        --out-dir is replaced only when it holds nothing but an earlier predict output (else: an error naming it).

By hand:
    python -m stages.predict --model results/demo_effl0/c2am/model.pt --images results/data/demo/CUB_200_2011/images \
        --threshold-file results/demo_effl0/boxes/threshold.json --out-dir results/predict/demo --device cpu
    python -m stages.predict --model results/demo_voc_effl0/c2am/model.pt --images results/data/demo/VOC2012/JPEGImages \
        --threshold-file results/demo_voc_effl0/boxes/threshold.json --masks self_trained \
        --mask-model results/demo_voc_effl0/wsss/cue_model.pt --test-size 160 --out-dir results/predict/demo_voc \
        --device cpu   # --test-size: the experiment's predict_cues.test_size (the schema's 320 when left out)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c2am.cli import add_device_args, add_paths, add_settings, main, print_summary, settings_of, stage_parser
from c2am.predict import predict_folder
from c2am.settings import PredictCuesSettings, PredictSettings


def read_threshold_file(path: str) -> tuple[float, dict | None]:
    """The box threshold of a choose_threshold output ({"threshold": T, "settings": {"normalization": "minmax",
    ...}, "maps": {"size": S, "scales": [...], "flip": F}}) and its maps recipe (None when the file has no
    "maps"); anything else is an error naming the file, what is wrong and what was expected."""
    expected = ('expected the threshold.json written by choose_threshold: {"threshold": a number in (0, 1), '
                '"settings": {"normalization": "minmax", ...}, ...}')
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"--threshold-file {path} not found (run the choose_threshold stage)") from None
    except UnicodeDecodeError:
        raise ValueError(f"--threshold-file {path}: not a text (JSON) file; {expected}") from None
    try:
        chosen = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--threshold-file {path}: not valid JSON ({exc}); {expected}") from None
    if not isinstance(chosen, dict):
        raise ValueError(f"--threshold-file {path}: a JSON {type(chosen).__name__}, not an object; {expected}")
    settings = chosen.get("settings")
    if not isinstance(settings, dict) or "normalization" not in settings:
        raise ValueError(f"--threshold-file {path}: no settings.normalization (the map scaling its threshold "
                         f"was chosen for); {expected}")
    if settings["normalization"] != "minmax":
        raise ValueError(f"--threshold-file {path}: predict thresholds min-max scaled maps; this threshold was "
                         f"chosen for {settings['normalization']!r} scaling")
    if "threshold" not in chosen:
        raise ValueError(f"--threshold-file {path}: no 'threshold'; {expected}")
    value = chosen["threshold"]
    try:
        if isinstance(value, bool):
            raise TypeError
        threshold = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--threshold-file {path}: its threshold {value!r} is not a number; {expected}") from None
    if not 0 < threshold < 1:
        raise ValueError(f"--threshold-file {path}: its threshold {threshold} is not in (0, 1); {expected}")
    maps = chosen.get("maps")
    if maps is not None and not (isinstance(maps, dict) and {"size", "scales", "flip"} <= set(maps)):
        raise ValueError(f"--threshold-file {path}: its 'maps' is not {{size, scales, flip}}; {expected}")
    return threshold, maps


def run(args: argparse.Namespace) -> None:
    if (args.threshold is None) == (args.threshold_file is None):
        raise ValueError("give exactly one of --threshold and --threshold-file")
    threshold, maps = read_threshold_file(args.threshold_file) if args.threshold_file else (args.threshold, None)
    summary = predict_folder(args.model, args.images, args.out_dir, threshold, settings_of(args, PredictSettings),
                             args.device, progress=not args.no_progress, mask_model_path=args.mask_model,
                             maps_recipe=maps, cues=settings_of(args, PredictCuesSettings))
    print_summary({k: v for k, v in summary.items() if k != "skipped"})


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--model", "--images", "--out-dir", model="C2AM model.pt from train_c2am",
              images="folder of images (recursive)")
    p.add_argument("--threshold", type=float, help="box/mask threshold on min-max scaled maps, in (0, 1)")
    p.add_argument("--threshold-file", help="threshold.json of choose_threshold (the experiment's held-out choice)")
    p.add_argument("--mask-model", help="with --masks self_trained: the cue model (train_cue_model) whose "
                                        "foreground (1 - background) gives the masks")
    add_device_args(p)
    add_settings(p, PredictSettings)
    add_settings(p, PredictCuesSettings)  # the mask model's, with --masks self_trained
    return p


if __name__ == "__main__":
    main(run, parser())
