"""ddt-boxes: DDT (Wei et al. 2019) class-agnostic boxes of one split, the baseline of the paper's Table 2 and
PSOL's original pseudo labels. Per class (GT-known setting, as PSOL) the deepest features of the init's
backbone are projected on their first principal component; box = largest positive connected component.

Reads:  --init (pretrain_init artifact; the same backbone and weights a C2AM experiment starts from) and the
        images and class labels of --split (no boxes).
Writes: --out-maps (projection maps in the extract_maps format, so evaluate_wsol computes MaxBoxAccV2 of DDT
        too), --out-boxes (parquet in the make_boxes format; train-split rows are PSOL pseudo labels) and
        --summary (JSON: per class the explained variance and whether the component's sign was flipped).

By hand:
    python -m stages.ddt_boxes --init results/init/effl0_imagenet.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train --out-maps results/ddt/demo/effl0_imagenet/maps/train \
        --out-boxes results/ddt/demo/effl0_imagenet/boxes/train.parquet --summary results/ddt/demo/effl0_imagenet/ddt_train.json
"""

from __future__ import annotations

import argparse

from c2am.cli import add_dataset_args, add_device_args, add_paths, add_settings, main, read_split, settings_of
from c2am.cli import stage_parser
from c2am.inference import pick_device
from c2am.io import write_json, write_parquet
from c2am.models.backbones import build_backbone
from c2am.models.inits import load_init
from c2am.settings import DDTSettings
from c2am.wsol.ddt import DDTFeatures, ddt_boxes_table, run_ddt
from c2am.wsol.maps import MapStore


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, DDTSettings)
    init = load_init(args.init)
    backbone = build_backbone(init["backbone"], init["tf_padding"], s.output_stride)
    backbone.net.load_state_dict(init["state_dict"], strict=True)
    features = DDTFeatures(backbone, init["input_mean"], init["input_std"])
    meta = {"method": "ddt", "init": args.init, "backbone": init["backbone"]}
    summary = run_ddt(features, read_split(args), s, args.out_maps, pick_device(args.device), meta,
                      progress=not args.no_progress)
    table, empty = ddt_boxes_table(MapStore(args.out_maps))
    summary["images_without_positive_region"] = empty
    write_parquet(table, args.out_boxes, "ddt_boxes", {**s.to_dict(), **meta, "normalization": "minmax",
                                                        "upsample": True})
    write_json({**summary, "settings": {**s.to_dict(), **meta}, "split": args.split}, args.summary)
    flipped = sum(g["flipped"] for g in summary["groups"].values())
    print(f"{args.out_boxes}: {len(table)} DDT boxes, {len(summary['groups'])} groups ({flipped} sign flips), "
          f"{empty} images without a positive region, {summary['images_per_second']:.1f} img/s")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--init", "--out-maps", "--out-boxes", "--summary", init="init artifact from pretrain_init")
    add_dataset_args(p)
    add_device_args(p)
    add_settings(p, DDTSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
