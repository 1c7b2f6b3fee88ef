"""A supervised ceiling for foreground masks on a VOC-layout dataset: what the same backbone reaches when it is
trained WITH the training split's masks. A diagnostic, never a method of the pipeline (C2AM reads no mask).

It trains the WSSS cue network (c2am.wsss.cue_model: the init's backbone at stride 16 + conv-BN-ReLU + 1x1 conv,
BCE) on background labels made from the training masks (255 ignored -> a soft 0.5 target), predicts the
evaluation split (whole image at predict_cues.test_size, averaged with its flip) and scores the foreground
(1 - background): the mask where its probability is >= 0.5 (the masks supervise it, so it needs no min-max scaling;
table_fg.csv min-max scales the label-free maps first), and refined by predict's dense CRF as table_fg.csv does
(min-max scaled, level 0.5). Settings are the train_cue_model / predict_cues defaults of the schema unless given. With
--frozen-stages 5 only the head learns (a probe of the frozen ImageNet features); with 2 the stages 3-5 are
fine-tuned too (the README's rows).

    python bench/fg_ceiling.py --init results/init/effl0_imagenet.pt \
        --root ../shared/data/coco128_voc --out results/fg_ceiling/effl0.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from c2am.data.decode import read_rgb  # noqa: E402
from c2am.data.images import read_image  # noqa: E402
from c2am.data.readers import load_dataset  # noqa: E402
from c2am.data.voc import VOC_IGNORE, read_mask  # noqa: E402
from c2am.foreground_scores import ForegroundScores  # noqa: E402
from c2am.io import image_file  # noqa: E402
from c2am.predict import mask_score  # noqa: E402
from c2am.settings import CueTrainSettings, PredictCuesSettings, PredictSettings  # noqa: E402
from c2am.inference import pick_device  # noqa: E402
from c2am.wsol.boxes import normalize_map  # noqa: E402
from c2am.wsss.cue_model import load_cue_model, predict_background, train_cue_model  # noqa: E402


def background_label(mask: np.ndarray) -> np.ndarray:
    """A cue-style target of a VOC class-id mask: 255 background, 0 object, 128 (a 0.5 target) where ignored."""
    return np.where(mask == VOC_IGNORE, 128, np.where(mask > 0, 0, 255)).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init", required=True, help="pretrain_init artifact (.pt)")
    p.add_argument("--root", required=True, help="VOC-layout dataset root")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-split", default="val")
    p.add_argument("--epochs", type=int, help="default: train_cue_model.epochs")
    p.add_argument("--size", type=int, help="training crop and prediction size (default: train_cue_model.crop / "
                                            "predict_cues.test_size)")
    p.add_argument("--frozen-stages", type=int, help="default: train_cue_model.frozen_stages")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="JSON with the scores")
    args = p.parse_args()
    train = [r for r in load_dataset("voc", args.root, args.train_split) if r.mask_path is not None]
    evals = [r for r in load_dataset("voc", args.root, args.eval_split) if r.mask_path is not None]
    init = torch.load(args.init, map_location="cpu", weights_only=False)
    given = {"epochs": args.epochs, "crop": args.size, "frozen_stages": args.frozen_stages}
    s = CueTrainSettings.from_dict({k: v for k, v in given.items() if v is not None})
    cues = PredictCuesSettings.from_dict({} if args.size is None else {"test_size": args.size})
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        labels = []
        for r in train:
            labels.append(tmp / image_file(r.image_id))
            cv2.imwrite(str(labels[-1]), background_label(read_mask(r.mask_path)))
        train_cue_model(train, labels, init, s, tmp / "model.pt", tmp / "ck.pt", tmp / "log.jsonl", args.device,
                        progress=False)
        model, _ = load_cue_model(tmp / "model.pt")
    dev = pick_device(args.device)
    model = model.to(dev)
    max_side = PredictSettings.defaults().refine_max_side
    out = {"init": args.init, "root": args.root, "train_split": args.train_split, "eval_split": args.eval_split,
           "train_images": len(train), "settings": s.to_dict(), "predict_cues": cues.to_dict(), "uses_masks": True}
    for split, records in ((args.train_split, train), (args.eval_split, evals)):
        plain, crf = ForegroundScores(), ForegroundScores()
        for r in records:
            mask = read_mask(r.mask_path)
            fg = 1 - predict_background(model, read_image(r.path), cues.test_size, dev, amp=True)
            plain.add(np.clip(fg, 0, 1), mask, 0.5)
            score, level = mask_score(normalize_map(fg, "minmax"), read_rgb(r.path), 0.5, "crf", max_side)
            crf.add(score, mask, level)
        out[split] = {"images": len(records), "fg_iou": plain.summary()["fg_iou"],
                      "fg_iou_crf": crf.summary()["fg_iou"], "max_f": plain.summary()["max_f"]}
        print(split, {k: round(v, 4) if isinstance(v, float) else v for k, v in out[split].items()}, flush=True)
    out["seconds"] = round(time.time() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
