"""figure-wsol: the WSOL comparison at a glance. Per experiment, the same test images twice: class-agnostic
boxes (C2AM vs DDT, GT in green), then the PSOL localizer's boxes when trained on each, with the classifier's
top-1 class (green title when right, red when wrong).

Reads:  --manifest, the JSON of the panels that the workflow writes (results/manifests/figure_wsol.json,
        c2am.tables), one row per experiment: its dataset split, the classifier predictions shown on its second
        row (a parquet, or null) and its two rows of box tables (pseudo boxes, localizer boxes), each box table
        with a name and a colour:
            {"rows": [{"label": "demo", "format": "cub", "root": "results/data/demo/CUB_200_2011", "split": "test",
             "classes": "results/classifiers/demo/effl0_demo/pred_test.parquet",
             "box_rows": [{"name": "pseudo boxes", "boxes": [
                              {"name": "C2AM", "color": "red", "path": "results/demo_effl0/boxes/test.parquet"},
                              {"name": "DDT", "color": "blue",
                               "path": "results/ddt/demo/effl0_imagenet/boxes/test.parquet"}]},
                          {"name": "localizer EfficientNet-Lite0", "boxes": [...]}]}, ...]}
        and the dataset split and parquet files each row names.
Writes: --out (PNG).

By hand (after `snakemake --cores 1 results/manifests/figure_wsol.json`, or with a manifest written by hand):
    python -m stages.figure_wsol --manifest results/manifests/figure_wsol.json --out results/figure_wsol.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from c2am.cli import add_paths, add_settings, main, settings_of, stage_parser  # noqa: E402
from c2am.data.decode import read_rgb  # noqa: E402
from c2am.data.readers import load_dataset  # noqa: E402
from c2am.report import save_figure  # noqa: E402
from c2am.settings import FigureSettings  # noqa: E402
from c2am.tables import check_outputs, read_manifest  # noqa: E402


def _box_sets(boxes: list[dict]) -> list[tuple[str, str, pd.DataFrame]]:
    return [(b["name"], b["color"], pd.read_parquet(b["path"])) for b in boxes]


def run(args: argparse.Namespace) -> None:
    panels = read_manifest(args.manifest, "figure_wsol")
    check_outputs(panels, args.manifest, out=args.out)
    if not panels:
        raise ValueError(f"{args.manifest}: no panels")
    if any(len(panel["box_rows"]) != 2 for panel in panels):
        raise ValueError(f"{args.manifest}: figure_wsol needs exactly two box_rows (pseudo boxes, localizer boxes) "
                         "per panel")
    figure = settings_of(args, FigureSettings)
    n = figure.n_images
    fig, axes = plt.subplots(2 * len(panels), n, figsize=(2.2 * n, 4.8 * len(panels)), squeeze=False)
    rng = np.random.default_rng(figure.seed)
    for p, panel in enumerate(panels):
        label, classes_path = panel["label"], panel["classes"]
        records = {r.image_id: r for r in load_dataset(panel["format"], panel["root"], split=panel["split"])}
        rows = [(row["name"], _box_sets(row["boxes"])) for row in panel["box_rows"]]
        ids = [i for i in records if all(i in set(t["image_id"]) for _, sets in rows for _, _, t in sets)]
        picked = sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist(), key=ids.index) if ids else []
        classes = pd.read_parquet(classes_path).set_index("image_id") if classes_path else None
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
    print(f"{args.out}: {len(panels)} panel(s)")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--manifest", required=True, help="JSON of the panels (see above)")
    add_paths(p, "--out", out="PNG")
    add_settings(p, FigureSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
