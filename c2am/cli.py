"""Command-line plumbing shared by the stages.

Settings flags are generated from the config schema, hyphenated (`--batch-size` for the key `batch_size`), with
the schema's descriptions and defaults in their help; a flag left out keeps the schema's default, merged in by
`settings_of(args, C2AMTrainSettings)`, which turns the flags back into typed settings. A stage is `parser()` + `run(args)` + `main(run, parser())`: no module-level state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .config import flag
from .schema import section_props
from .data.readers import load_dataset
from .io import check_out_paths

WHERE = {"train_localizer": "localizers.*.settings / localizer_presets", "ddt_boxes": "stages.ddt_boxes",
         "train_classifier": "classifiers.*.settings / classifier_presets", "predict_psol": "stages.predict_psol",
         "train_cam": "cams.*.settings / cam_presets", "make_cams": "stages.make_cams", "refine_cams": "stages.refine_cams",
         "figure": "stages.figure", "tables": "stages.tables", "init": "inits.NAME"}


def _none_or(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _number_or_string(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help is the stage's docstring (what it reads and writes, and the command to run it)."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_paths(parser: argparse.ArgumentParser, *flags: str, **helps: str) -> None:
    """Required path arguments, e.g. add_paths(p, "--maps", "--out", out="JSON file"). Help keys use underscores."""
    for name in flags:
        parser.add_argument(name, required=True, help=helps.get(name.lstrip("-").replace("-", "_")))


def add_settings(parser: argparse.ArgumentParser, settings_cls) -> None:
    """One flag per key of the settings class's schema section, e.g. `--batch-size` (dest batch_size)."""
    section = settings_cls.SECTION
    where = WHERE.get(section, f"stages.{section} / experiments.*.{section}")
    group = parser.add_argument_group(f"{section} settings (config.yaml: {where})")
    for key, spec in section_props(section).items():
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        kw: dict = {"dest": key, "help": spec.get("description", "").replace("%", "%%")}  # argparse formats help
        if "default" in spec:  # left out of the namespace when not given: Settings.from_dict merges the default
            kw.update(default=argparse.SUPPRESS, help=f"{kw['help']} [default: {spec['default']}]".strip())
        else:
            kw["required"] = True
        if "boolean" in types:
            group.add_argument(flag(key), action=argparse.BooleanOptionalAction, **kw)
            continue
        if "array" in types:
            item = spec["items"]["type"]
            group.add_argument(flag(key), nargs="+", type=float if item == "number" else str, **kw)
            continue
        base = next(t for t in types if t != "null")
        kind = _number_or_string if base == "number" and "string" in types else \
            {"integer": int, "number": float, "string": str}[base]
        if "null" in types:
            kind = _none_or(kind)
        if "enum" in spec and base == "string" and "null" not in types:
            kw["choices"] = spec["enum"]
        group.add_argument(flag(key), type=kind, **kw)


def settings_of(args: argparse.Namespace, settings_cls):
    """The typed settings given on the command line, the schema's defaults for the flags left out (add_settings)."""
    given = vars(args)
    return settings_cls.from_dict({k: given[k] for k in section_props(settings_cls.SECTION) if k in given})


def add_dataset_args(parser: argparse.ArgumentParser, split: bool = True) -> None:
    parser.add_argument("--dataset-format", required=True, choices=["cub", "imagenet", "voc", "folder"])
    parser.add_argument("--dataset-root", required=True, help="dataset root in its official layout")
    if split:
        parser.add_argument("--split", required=True, help="split name (train, test, val, all)")


def read_split(args: argparse.Namespace, split: str | None = None):
    records = load_dataset(args.dataset_format, args.dataset_root, split=split or args.split)
    if not records:
        raise SystemExit(f"error: split {split or args.split!r} of {args.dataset_root} has no images")
    return records


def add_device_args(parser: argparse.ArgumentParser, progress: bool = True) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: the cores Snakemake gave the job, else all)")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_training_args(parser: argparse.ArgumentParser, settings_cls) -> None:
    """The flags every training stage shares (init, data, outputs, device) plus its settings."""
    add_paths(parser, "--init", "--out-model", "--checkpoint", "--train-log", init="init artifact from pretrain_init",
              checkpoint="rewritten every epoch; a re-run resumes from it", train_log="JSONL training log")
    add_dataset_args(parser)
    add_device_args(parser)
    add_settings(parser, settings_cls)


def set_threads(n: int | None) -> None:
    import torch

    n = n or int(os.environ.get("C2AM_THREADS", "0")) or None
    if n:  # under torchrun the node's threads are shared by its processes
        torch.set_num_threads(max(1, n // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def print_summary(summary: dict) -> None:
    """One JSON line of a stage's summary (floats rounded to 2 decimals)."""
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()}, default=str))


# flags naming what a stage writes; every other flag naming an existing path is one of its inputs
OUTPUT_FLAGS = {"out", "out_dir", "out_model", "out_maps", "out_boxes", "metrics", "summary", "train_log",
                "checkpoint", "figure"}
NOT_PATHS = {"device", "split", "train_split", "eval_split", "dataset_format", "background", "method", "title"}


def check_stage_paths(args: argparse.Namespace) -> None:
    """Refuse, before a stage starts, outputs that are, contain or lie inside (a recursively listed folder:
    --images, a `folder` dataset) one of its inputs, or each other (c2am.io.check_out_paths)."""
    values = vars(args)
    outputs = {flag(k): v for k, v in values.items() if k in OUTPUT_FLAGS and isinstance(v, str)}
    inputs, listed = {}, set()

    def add(name: str, value) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add(f"{name}[{i}]" if not isinstance(item, (list, tuple)) else name, item)
        elif isinstance(value, str) and value and os.path.exists(value):
            inputs[name if name not in inputs else f"{name} ({value})"] = value

    for k, v in values.items():
        if k not in OUTPUT_FLAGS and k not in NOT_PATHS:
            add(flag(k), v)
    if values.get("images"):
        listed.add("--images")
    if values.get("dataset_format") == "folder":
        listed.add("--dataset-root")
    for fmt, root, _ in values.get("extra_data") or ():
        if fmt == "folder" and os.path.exists(root):
            inputs[f"--extra-data folder {root}"] = root
            listed.add(f"--extra-data folder {root}")
    check_out_paths(outputs, inputs, listed)


def main(run, parser: argparse.ArgumentParser) -> None:
    """Parse, check the output paths against the inputs, run, and turn known user errors into one clear line and
    exit status 1 (Ctrl-C: one line, exit status 130)."""
    args = parser.parse_args()
    if "device" in vars(args):  # stages with add_device_args: --threads are torch's threads
        set_threads(args.threads)
    try:
        check_stage_paths(args)
        run(args)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): stopped before the end; nothing of this run was kept, earlier outputs are "
              "unchanged", file=sys.stderr)
        raise SystemExit(130) from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        raise SystemExit(1) from exc


def user_message(exc: BaseException) -> str:
    """One clear line; errors re-raised from DataLoader workers carry the worker's traceback in their text."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        text = text.splitlines()[-1]
    return text
