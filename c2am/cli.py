"""Command-line plumbing shared by the stages: flags generated from the config schema, so a stage's
flags are named exactly like its config keys and carry the same defaults and help."""

from __future__ import annotations

import argparse
import os
import sys

from .config import load_schema
from .data.readers import load_dataset


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


def add_settings(parser: argparse.ArgumentParser, section: str) -> list[str]:
    """Add one flag per key of the schema's `<section>_props`; returns the keys."""
    props = load_schema()["$defs"][f"{section}_props"]
    where = {"localizer_train": "localizers.*.settings / localizer_presets", "ddt": "stages.ddt",
             "classifier_train": "classifiers.*.settings / classifier_presets",
             "cam_train": "cams.*.settings / cam_presets", "cam_infer": "stages.cam_infer",
             "refine": "stages.refine"}.get(
        section, f"stages.{section} / experiments.*.{section}")
    group = parser.add_argument_group(f"{section} settings (config.yaml: {where})")
    for key, spec in props.items():
        types = spec.get("type")
        types = types if isinstance(types, list) else [types]
        helptext = spec.get("description", "") + f" [default: {spec.get('default')}]"
        kw: dict = {"default": spec.get("default"), "help": helptext}
        if "boolean" in types:
            group.add_argument(f"--{key}", action=argparse.BooleanOptionalAction, **kw)
            continue
        if "array" in types:
            item = spec.get("items", {}).get("type", "string")
            group.add_argument(f"--{key}", nargs="+", type=float if item == "number" else str, **kw)
            continue
        base = next(t for t in types if t != "null")
        if base == "number" and "string" in types:
            kind = _number_or_string
        else:
            kind = {"integer": int, "number": float, "string": str}[base]
        if "null" in types:
            kind = _none_or(kind)
        if "enum" in spec and base == "string" and "null" not in types:
            kw["choices"] = spec["enum"]
        group.add_argument(f"--{key}", type=kind, **kw)
    return list(props)


def settings_from(args: argparse.Namespace, keys: list[str]) -> dict:
    return {k: getattr(args, k) for k in keys}


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


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: the cores Snakemake gave the job, else all)")


def add_training_args(parser: argparse.ArgumentParser, section: str) -> list[str]:
    """The flags every training stage shares (init, data, outputs, device) plus the `section` settings."""
    parser.add_argument("--init", required=True, help="init artifact from pretrain_init")
    add_dataset_args(parser)
    parser.add_argument("--out-model", required=True)
    parser.add_argument("--checkpoint", required=True, help="rewritten every epoch; a re-run resumes from it")
    parser.add_argument("--train-log", required=True, help="JSONL training log")
    parser.add_argument("--no-progress", action="store_true")
    add_device_arg(parser)
    return add_settings(parser, section)


def set_threads(n: int | None) -> None:
    import torch

    n = n or int(os.environ.get("C2AM_THREADS", "0")) or None
    if n:  # under torchrun the node's threads are shared by its processes
        torch.set_num_threads(max(1, n // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def run_main(run, parser: argparse.ArgumentParser) -> None:
    """Parse, run, and turn known user errors into one clear line and exit status 1."""
    args = parser.parse_args()
    try:
        run(args)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        raise SystemExit(1) from exc


def user_message(exc: BaseException) -> str:
    """One clear line; errors re-raised from DataLoader workers carry the worker's traceback in their text."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        text = text.splitlines()[-1]
    return text
