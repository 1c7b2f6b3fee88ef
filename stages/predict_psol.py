"""predict-psol: run a trained localizer or classifier on every image of a split (whole image resized to
--test-size, predict_psol.test_size: by default the model's training crop).

Reads:  --model (train_localizer or train_classifier output) and the images of --split.
Writes: --out parquet. Localizer: one box per image in the make_boxes format (original pixels).
        Classifier: image_id, top1..top5 (dataset class ids, best first), p1..p5 (softmax probabilities).

By hand:
    python -m stages.predict_psol --model results/demo_effl0/psol/c2am/effl0/model.pt --dataset-format cub \
        --dataset-root results/data/demo/CUB_200_2011 --split test --out results/demo_effl0/psol/c2am/effl0/boxes_test.parquet
"""

from __future__ import annotations

import argparse

import torch

from c2am.cli import (add_dataset_args, add_device_args, add_paths, add_settings, main, read_split, settings_of,
                      stage_parser)
from c2am.io import write_parquet
from c2am.models.pooled import load_pooled
from c2am.settings import PredictPsolSettings
from c2am.wsol.psol import boxes_from_outputs, pooled_outputs, topk_table


def run(args: argparse.Namespace) -> None:
    model, ck = load_pooled(args.model)
    task, trained, s = ck["task"], ck["settings"], settings_of(args, PredictPsolSettings)
    size = s.test_size or trained["crop"]
    records = read_split(args)
    ids, outputs, sizes = pooled_outputs(model, records, size, s.batch_size, s.workers, args.device, trained["amp"],
                                         trained["channels_last"], progress=not args.no_progress)
    if task == "localizer":
        table = boxes_from_outputs(ids, outputs, sizes, trained["box_output"])
    else:
        table = topk_table(ids, outputs, ck["class_ids"], k=5)
        top1 = torch.tensor(table["top1"].to_numpy())
        labels = torch.tensor([r.label if r.label is not None else -1 for r in records])
        print(f"top-1 accuracy on {args.split}: {100 * float((top1 == labels).float().mean()):.2f}%")
    write_parquet(table, args.out, f"predict_{task}", {"model": args.model, "task": task, "test_size": size,
                                                       "backbone": ck["backbone"]})
    print(f"{args.out}: {len(table)} rows ({task})")


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_paths(p, "--model", "--out", model="train_localizer or train_classifier output", out="parquet to write")
    add_dataset_args(p)
    add_device_args(p)
    add_settings(p, PredictPsolSettings)
    return p


if __name__ == "__main__":
    main(run, parser())
