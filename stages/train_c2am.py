"""c2am-train: train the encoder + activation head with the contrastive loss, on unlabeled images.

Reads:  the init artifact (pretrain-init) and the images of one split (labels are never read).
Writes: --out-model (model + which side of P is foreground + settings), --train-log (JSONL: one line per step,
        per epoch, and a final summary), --checkpoint (rewritten every epoch; a re-run resumes from it).

By hand (demo):
    python -m stages.train_c2am --init results/init/effl0_imagenet.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split train \
        --out-model results/demo_effl0/c2am/model.pt --checkpoint results/demo_effl0/c2am/checkpoint.pt \
        --train-log results/demo_effl0/c2am/train_log.jsonl --epochs 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c2am.cli import add_training_args, read_split, run_main, set_threads, settings_from
from c2am.init_weights import load_init
from c2am.train import TrainSettings, train_c2am

KEYS: list[str] = []


def run(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    settings = TrainSettings.from_dict(settings_from(args, KEYS))
    records = read_split(args)
    summary = train_c2am(records, load_init(args.init), settings, Path(args.out_model), Path(args.checkpoint),
                         Path(args.train_log), device=args.device, progress=not args.no_progress)
    if "foreground" not in summary:  # a torchrun worker other than rank 0: rank 0 reports
        return
    fg = summary["foreground"]
    print(json.dumps({"train_seconds": round(summary["train_seconds"], 1), "images": summary["train_images"],
                      "foreground_is": "1 - P" if fg["flip"] else "P", "border_mean": round(fg["border_mean"], 4),
                      "inner_mean": round(fg["inner_mean"], 4)}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    KEYS[:] = add_training_args(p, "c2am_train")
    return p


if __name__ == "__main__":
    run_main(run, parser())
