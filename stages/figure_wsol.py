"""figure-wsol: the WSOL comparison at a glance. Per experiment, the same test images twice: class-agnostic
boxes (C2AM vs DDT, GT in green), then the PSOL localizer's boxes when trained on each, with the classifier's
top-1 class (green title when right, red when wrong).

Reads:  per experiment (--panel) the dataset split and box tables; per box table a name and a colour.
Writes: --out (PNG).

By hand:
    python -m stages.figure_wsol --panel demo cub results/data/demo/CUB_200_2011 test \
        --row "pseudo boxes" "C2AM=red=results/demo_effl0/boxes/test.parquet" \
        "DDT=blue=results/ddt/demo/effl0_imagenet/boxes/test.parquet" --out results/figure_wsol.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from c2am.cli import add_paths, add_settings, main, stage_parser  # noqa: E402
from c2am.data.decode import read_rgb  # noqa: E402
from c2am.data.readers import load_dataset  # noqa: E402
from c2am.report import save_figure  # noqa: E402
from c2am.settings import FigureSettings  # noqa: E402


def _box_sets(specs: list[str]) -> list[tuple[str, str, pd.DataFrame]]:
    out = []
    for spec in specs:
        name, color, path = spec.split("=", 2)
        out.append((name, color, pd.read_parquet(path)))
    return out


def run(args: argparse.Namespace) -> None:
    if len(args.row) != 2 * len(args.panel):
        raise ValueError("figure_wsol needs exactly two --row groups (pseudo boxes, localizer boxes) per --panel")
    n = args.n_images
    fig, axes = plt.subplots(2 * len(args.panel), n, figsize=(2.2 * n, 4.8 * len(args.panel)), squeeze=False)
    rng = np.random.default_rng(args.seed)
    for p, (label, fmt, root, split, classes_path) in enumerate(args.panel):
        records = {r.image_id: r for r in load_dataset(fmt, root, split=split)}
        rows = [(args.row[2 * p][0], _box_sets(args.row[2 * p][1:])),
                (args.row[2 * p + 1][0], _box_sets(args.row[2 * p + 1][1:]))]
        ids = [i for i in records if all(i in set(t["image_id"]) for _, sets in rows for _, _, t in sets)]
        picked = sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist(), key=ids.index) if ids else []
        classes = pd.read_parquet(classes_path).set_index("image_id") if classes_path != "-" else None
        for r, (row_name, sets) in enumerate(rows):
            for c in range(n):
                ax = axes[2 * p + r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c >= len(picked):
                    ax.axis("off")
                    continue
                rec = records[picked[c]]
                ax.imshow(read_rgb(rec.path))
                for x0, y0, x1, y1 in rec.boxes:
                    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5))
                for _, color, table in sets:
                    for b in table[table["image_id"] == rec.image_id].itertuples():
                        ax.add_patch(plt.Rectangle((b.x0, b.y0), b.x1 - b.x0, b.y1 - b.y0, fill=False, color=color,
                                                   lw=1.5))
                if r == 1 and classes is not None and rec.image_id in classes.index:
                    top1 = int(classes.loc[rec.image_id, "top1"])
                    ax.set_title(f"top-1: {top1} (GT {rec.label})", fontsize=7,
                                 color="green" if top1 == rec.label else "red")
                if c == 0:
                    legend = ", ".join(f"{name} {color}" for name, color, _ in sets)
                    ax.set_ylabel(f"{label}\n{row_name}\n{legend}", fontsize=8)
    save_figure(fig, args.out,
                "WSOL: GT boxes green; class-agnostic pseudo boxes (top) and PSOL localizer boxes (bottom)")
    print(f"{args.out}: {len(args.panel)} panel(s)")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--panel", nargs=5, action="append", required=True,
                   metavar=("LABEL", "FORMAT", "ROOT", "SPLIT", "CLASSES"),
                   help="CLASSES: classifier predictions parquet shown on the second row, or '-'")
    p.add_argument("--row", nargs="+", action="append", required=True, metavar="NAME_OR_SPEC",
                   help="a row name followed by NAME=COLOUR=BOXES_PARQUET specs; two rows per panel")
    add_paths(p, "--out", out="PNG")
    add_settings(p, FigureSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
