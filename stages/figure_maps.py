"""figure-maps: images of the evaluation split with their foreground maps, GT boxes (green) and C2AM boxes
(red), one row per experiment (like the paper's Fig. 6).

Reads:  --manifest, the JSON of the panels that the workflow writes (results/manifests/figure_maps.json,
        c2am.tables), one row per panel:
            {"rows": [{"label": "demo_effl0", "format": "cub", "root": "results/data/demo/CUB_200_2011",
             "split": "test", "maps": "results/demo_effl0/maps/test",
             "boxes": "results/demo_effl0/boxes/test.parquet"}, ...]}
        and per panel the dataset split, its maps folder and its boxes parquet.
Writes: --out (PNG).

By hand (after `snakemake --cores 1 results/manifests/figure_maps.json`, or with a manifest written by hand):
    python -m stages.figure_maps --manifest results/manifests/figure_maps.json --out results/figure_maps.png
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
from c2am.wsol.maps import MapStore  # noqa: E402


def _pick(ids: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist(), key=ids.index)


def run(args: argparse.Namespace) -> None:
    panels, figure = read_manifest(args.manifest, "figure_maps"), settings_of(args, FigureSettings)
    check_outputs(panels, args.manifest, out=args.out)
    if not panels:
        raise ValueError(f"{args.manifest}: no panels")
    fig, axes = plt.subplots(2 * len(panels), figure.n_images, figsize=(2.2 * figure.n_images, 4.4 * len(panels)),
                             squeeze=False)
    for p, panel in enumerate(panels):
        label, fmt, root, split = panel["label"], panel["format"], panel["root"], panel["split"]
        maps_dir, boxes_path = panel["maps"], panel["boxes"]
        records = {r.image_id: r for r in load_dataset(fmt, root, split=split)}
        store = MapStore(maps_dir)
        boxes = pd.read_parquet(boxes_path)
        ids = [i for i in store.manifest["image_id"] if i in records]
        for c, image_id in enumerate(_pick(ids, figure.n_images, figure.seed)):
            img = read_rgb(records[image_id].path)
            fg = store.original_map(store.index[image_id], "minmax")
            top, bottom = axes[2 * p, c], axes[2 * p + 1, c]
            top.imshow(img)
            bottom.imshow(img)
            bottom.imshow(fg, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            for ax in (top, bottom):
                for x0, y0, x1, y1 in records[image_id].boxes:
                    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5))
                for b in boxes[boxes["image_id"] == image_id].itertuples():
                    ax.add_patch(plt.Rectangle((b.x0, b.y0), b.x1 - b.x0, b.y1 - b.y0, fill=False, color="red",
                                               lw=1.5))
                ax.set_xticks([])
                ax.set_yticks([])
            if c == 0:
                top.set_ylabel(f"{label}\nimage", fontsize=9)
                bottom.set_ylabel("foreground map", fontsize=9)
        for c in range(len(ids), figure.n_images):
            axes[2 * p, c].axis("off")
            axes[2 * p + 1, c].axis("off")
    save_figure(fig, args.out, "C2AM class-agnostic activation maps: GT boxes green, C2AM boxes red")
    print(f"{args.out}: {len(panels)} panel(s)")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    p.add_argument("--manifest", required=True, help="JSON of the panels (see above)")
    add_paths(p, "--out", out="PNG")
    add_settings(p, FigureSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
