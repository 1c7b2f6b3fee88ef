"""figure-training: training curves from the JSONL logs of the trainers (C2AM: total loss and its three terms;
localizer, classifier, CAM classifier, cue model: their loss), one panel per log, raw steps and a moving average.

Reads:  --manifest, the JSON of the logs that the workflow writes (results/manifests/figure_training.json,
        c2am.tables), one row per panel:
            {"rows": [{"label": "C2AM demo_effl0", "log": "results/demo_effl0/c2am/train_log.jsonl"}, ...]}
        and the JSONL log each row names.
Writes: --out (PNG).

By hand (after `snakemake --cores 1 results/manifests/figure_training.json`, or with a manifest written by hand):
    python -m stages.figure_training --manifest results/manifests/figure_training.json --out results/figure_training.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from c2am.cli import add_paths, main, stage_parser
from c2am.report import save_figure
from c2am.tables import check_outputs, read_manifest


def read_steps(path: str) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {n} is not JSON ({exc})") from exc
        if row.get("event") == "step":
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no training steps logged")
    return rows


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(y)))
    return np.convolve(y, np.ones(window) / window, mode="valid")


def run(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = read_manifest(args.manifest, "figure_training")
    check_outputs(logs, args.manifest, out=args.out)
    if not logs:
        raise ValueError(f"{args.manifest}: no training logs")
    n = len(logs)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, entry in zip(axes.flat, logs):
        label, path = entry["label"], entry["log"]
        steps = read_steps(path)
        x = np.array([r["step"] for r in steps])
        keys = ["loss", *(k for k in ("neg", "pos_fg", "pos_bg") if k in steps[0])]  # C2AM logs its three terms
        for key in keys:
            y = np.array([r[key] for r in steps], dtype=float)
            line, = ax.plot(x, y, alpha=0.25, lw=0.8)
            w = max(1, len(y) // 20)
            ax.plot(x[w - 1:], moving_average(y, w), color=line.get_color(), lw=1.5, label=key)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    save_figure(fig, args.out, "Training curves (JSONL logs; thin: per step, thick: moving average)")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--manifest", required=True, help="JSON of the logs (see above)")
    add_paths(p, "--out", out="PNG")
    return p


if __name__ == "__main__":
    main(run, parser())
