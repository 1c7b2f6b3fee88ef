"""The two supervised networks of PSOL's route: a localizer regressing one class-agnostic box per image from
pseudo boxes, and a classifier trained with image-level labels. Both are a backbone (its classification
strides) + global average pooling + a linear head, trained with SGD (head at `head_lr_mult` x lr), a cosine
or poly schedule, AMP / channels_last on GPU, a checkpoint per epoch and exact resume.

Localizer targets are (x0, y0, x1, y1) normalised to the training view; the head starts from the mean
training box (zero weights, bias = mean target, through the inverse sigmoid when `box_output: sigmoid`), the
loss is the MSE (PSOL), and the first steps are tamed by a warm-up and gradient clipping (without them a
fresh head on large pooled features blew up, and a saturated sigmoid stopped learning, on CUB-10 at lr 0.05).
Predictions are made on the whole image resized to test_size x test_size, clipped to [0, 1], ordered and
mapped back to original pixels.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.box_augment import box_aware_view
from .data.images import eval_view, read_image, sample_generator
from .data.records import ImageRecord
from .io import code_version, load_artifact, save_torch
from .models.backbones import build_backbone
from .train import (EpochOrder, TrainingError, hash_init_and_images, lr_factor, pick_device, prepare_log,
                    seed_everything, set_bn_mode)

TASKS = ("localizer", "classifier", "cam")  # cam: multi-label classifier whose head gives CAMs


class PooledNet(nn.Module):
    """Backbone (output stride 32, or 16 for CAMs as in IRN / PuzzleCAM) -> global average pooling -> dropout ->
    linear; input RGB in [0, 1]. The linear head applied at every location gives the class activation maps."""

    def __init__(self, backbone_name: str, outputs: int, input_mean, input_std, tf_padding: bool = False,
                 dropout: float = 0.0, output_stride: int = 32):
        super().__init__()
        self.backbone = build_backbone(backbone_name, tf_padding, output_stride=output_stride)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.deepest_channels, outputs)
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1))

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The deepest backbone features [n, C, h, w] of images in [0, 1]."""
        x = (images - self.input_mean.to(images.dtype)) / self.input_std.to(images.dtype)
        return self.backbone.deepest(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.feature_map(images).mean(dim=(2, 3))
        return self.head(self.dropout(pooled))


def pseudo_box_per_image(boxes: pd.DataFrame) -> dict[str, tuple[float, float, float, float]]:
    """One training box per image from a box table: the box with the most activation (score, the mean
    activation inside it, times its area), so with several contours per image the object wins over a small
    peak; the first row on ties."""
    need = {"image_id", "x0", "y0", "x1", "y1", "score"}
    if not need <= set(boxes.columns):
        raise ValueError(f"box table lacks columns {sorted(need - set(boxes.columns))}")
    mass = boxes["score"] * (boxes["x1"] - boxes["x0"]).clip(lower=0) * (boxes["y1"] - boxes["y0"]).clip(lower=0)
    ranked = boxes.assign(_mass=mass.fillna(0)).sort_values(["image_id", "_mass"], ascending=[True, False],
                                                            kind="stable")
    best = ranked.drop_duplicates("image_id")
    return {str(r.image_id): (float(r.x0), float(r.y0), float(r.x1), float(r.y1)) for r in best.itertuples()}


class SupervisedViews(Dataset):
    def __init__(self, records: list[ImageRecord], targets: list, settings: dict, task: str):
        self.records, self.targets, self.s, self.task, self.epoch = records, targets, settings, task, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]):
        index, position = item
        g = sample_generator(self.s["seed"], self.epoch, position)
        img = read_image(self.records[index].path)
        box = self.targets[index] if self.task == "localizer" else None
        view, box_norm = box_aware_view(img, box, self.s["crop"], self.s["scale_min"], self.s["hflip"], g,
                                        self.s.get("min_box_keep", 0.7))
        if self.task == "localizer":
            return view, torch.tensor(box_norm, dtype=torch.float32)
        if self.task == "cam":
            return view, torch.tensor(self.targets[index], dtype=torch.float32)
        return view, torch.tensor(self.targets[index], dtype=torch.long)


INFERENCE_ONLY = ("test_size", "test_batch_size")  # used by predict_psol, never by training


def record_size(record: ImageRecord) -> tuple[int, int]:
    """(width, height) of a record's image: from its annotation when stated, else from the file header."""
    from .data.readers import image_size

    return (record.width, record.height) if record.width and record.height else image_size(record.path)


def _normalised(box, record: ImageRecord) -> list[float]:
    """A box in original pixels as fractions of its image's width and height."""
    w, h = record_size(record)
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


def run_fingerprint(task: str, settings: dict, init_artifact: dict, records, targets) -> str:
    """What a checkpoint must match to be resumed: the training settings (not workers, AMP, inference sizes), the
    task, the initial weights, the images and their targets."""
    skip = {"workers", "amp", "channels_last", *INFERENCE_ONLY}
    d = hashlib.sha256(json.dumps({k: v for k, v in settings.items() if k not in skip}, sort_keys=True,
                                  default=str).encode())
    d.update(task.encode())
    hash_init_and_images(d, init_artifact, records, targets)
    return d.hexdigest()[:20]


def _param_groups(model: PooledNet, s: dict) -> list[dict]:
    groups = {"w": [], "b": [], "hw": [], "hb": []}
    for module_name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not s["train_bn_affine"]:
                p.requires_grad_(False)
                continue
            decay = pname == "weight" and not isinstance(module, nn.modules.batchnorm._BatchNorm)
            groups[("h" if module_name.startswith("head") else "") + ("w" if decay else "b")].append(p)
    lr, m, wd = s["lr"], s["head_lr_mult"], s["weight_decay"]
    spec = [("w", lr, wd), ("b", lr, 0.0), ("hw", m * lr, wd), ("hb", m * lr, 0.0)]
    return [{"params": groups[k], "lr": g_lr, "initial_lr": g_lr, "weight_decay": g_wd, "name": k}
            for k, g_lr, g_wd in spec if groups[k]]


def train_supervised(task: str, records: list[ImageRecord], targets: list, init_artifact: dict, settings: dict,
                     out_model: Path, checkpoint: Path, log_path: Path, device: str = "auto",
                     extra: dict | None = None, progress: bool = True) -> dict:
    """Train the localizer (targets: boxes in original pixels), the classifier (targets: class indices) or the
    multi-label CAM classifier (targets: multi-hot vectors; multi-label soft-margin loss)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}")
    if len(records) != len(targets) or not records:
        raise TrainingError(f"need one target per training image, got {len(records)} images, {len(targets)} targets")
    s = dict(settings)
    dev = pick_device(device)
    seed_everything(s["seed"])
    outputs = 4 if task == "localizer" else len(targets[0]) if task == "cam" else int(max(targets)) + 1
    output_stride = s.get("output_stride", 32)
    model = PooledNet(init_artifact["backbone"], outputs, init_artifact["input_mean"], init_artifact["input_std"],
                      init_artifact.get("tf_padding", False), s["dropout"], output_stride)
    model.backbone.net.load_state_dict(init_artifact["state_dict"], strict=True)
    if task == "localizer":  # start from the mean box of the training images
        nn.init.zeros_(model.head.weight)
        with torch.no_grad():
            mean_box = torch.tensor([_normalised(t, r) for t, r in zip(targets, records)]).mean(0)
            if s["box_output"] == "sigmoid":
                mean_box = torch.logit(mean_box.clamp(0.01, 0.99))
            model.head.bias.copy_(mean_box)
    model.backbone.freeze(s["frozen_stages"])
    views = SupervisedViews(records, targets, s, task)

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if task == "localizer":
            return F.mse_loss(torch.sigmoid(out) if s["box_output"] == "sigmoid" else out, target)
        if task == "cam":
            return F.multilabel_soft_margin_loss(out, target)
        return F.cross_entropy(out, target, label_smoothing=s["label_smoothing"])

    summary = {"task": task, **fit(model, _param_groups(model, s), views, loss_fn, s, init_artifact, dev, checkpoint,
                                   log_path, run_fingerprint(task, s, init_artifact, records, targets), task,
                                   f"train_{task}", progress)}
    model_cpu = model.to("cpu").to(memory_format=torch.contiguous_format)
    save_torch({"model": model_cpu.state_dict(), "task": task, "outputs": outputs,
                "backbone": init_artifact["backbone"], "dropout": s["dropout"],
                "output_stride": output_stride,
                "init": {k: init_artifact.get(k) for k in ("source", "origin", "origin_sha256", "input_scaling",
                                                           "input_mean", "input_std", "bn_folded", "tf_padding")},
                "settings": s, "summary": summary, "code_version": code_version(), **(extra or {})}, out_model)
    finish_run(summary, checkpoint, log_path)
    return summary


def fit(model: nn.Module, param_groups: list[dict], views: Dataset, loss_fn, s: dict, init_artifact: dict,
        dev: torch.device, checkpoint: Path, log_path: Path, fingerprint: str, name: str, producer: str,
        progress: bool = True) -> dict:
    """The SGD loop shared by the supervised trainers (localizer, classifier, CAM classifier, cue model).

    `views[(index, position)]` gives (uint8 image, target); `loss_fn(model(x).float(), target)` the loss. Settings
    used: epochs, batch_size, momentum, weight_decay, schedule, seed, workers, amp, channels_last, bn_mode, and
    warmup_epochs / grad_clip when present. Per step the learning rate of every group is its initial_lr x the
    schedule factor (x a linear warm-up). A checkpoint is written every epoch; a run started again with the same
    fingerprint resumes exactly (weights, optimizer, loss scaler, CPU and CUDA random state), any other
    checkpoint is moved aside. Returns the training summary."""
    on_gpu = dev.type == "cuda"
    n = len(views)
    batch_size = min(s["batch_size"], n)
    bn_frozen = s["bn_mode"] == "frozen" or (s["bn_mode"] == "auto" and init_artifact.get("bn_folded", False))
    model.to(dev)
    if on_gpu and s["channels_last"]:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(param_groups, lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"])
    steps_per_epoch = n // batch_size
    total = steps_per_epoch * s["epochs"]
    amp_dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = on_gpu and s["amp"]
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    state = {"epoch": 0, "global_step": 0, "step_in_epoch": 0}
    if checkpoint.is_file():
        ck = load_artifact(checkpoint, f"{name} checkpoint", producer, ("model", "fingerprint"))
        if ck["fingerprint"] == fingerprint:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            if ck["scaler"]:  # empty when the checkpoint was written without fp16 loss scaling
                scaler.load_state_dict(ck["scaler"])
            torch.set_rng_state(ck["rng"])
            if on_gpu and ck.get("cuda_rng"):
                torch.cuda.set_rng_state_all(ck["cuda_rng"])
            state = ck["state"]
            print(f"resuming from {checkpoint}: epoch {state['epoch']}", file=sys.stderr)
        else:
            checkpoint.replace(checkpoint.with_suffix(".stale.pt"))
            print(f"{checkpoint} was written for other settings, init, images or targets; moved aside",
                  file=sys.stderr)
    prepare_log(log_path, state)
    start, seen = time.time(), 0
    from tqdm import tqdm

    with open(log_path, "a") as log:
        while state["epoch"] < s["epochs"]:
            epoch = state["epoch"]
            views.epoch = epoch
            loader = DataLoader(views, batch_size=batch_size, sampler=EpochOrder(n, batch_size, s["seed"], epoch),
                                num_workers=s["workers"], pin_memory=on_gpu, drop_last=True)
            model.train()
            set_bn_mode(model, bn_frozen)
            losses = []
            bar = tqdm(loader, disable=not progress, leave=False, desc=f"{name} epoch {epoch + 1}/{s['epochs']}",
                       file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 15)
            for images, target in bar:
                x = images.to(dev, non_blocking=True).float().div_(255)
                if on_gpu and s["channels_last"]:
                    x = x.contiguous(memory_format=torch.channels_last)
                target = target.to(dev, non_blocking=True)
                warmup = max(1.0, s.get("warmup_epochs", 0.0) * steps_per_epoch)
                factor = lr_factor(s["schedule"], state["global_step"], total)
                factor *= min(1.0, (state["global_step"] + 1) / warmup)
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * factor
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                    out = model(x)
                loss = loss_fn(out.float(), target)
                if not torch.isfinite(loss):
                    raise TrainingError(f"{name} loss became {float(loss)} at epoch {epoch + 1}; lower lr")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if s.get("grad_clip", 0) > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
                state["global_step"] += 1
                seen += len(x)
                losses.append(float(loss.detach()))
                log.write(json.dumps({"event": "step", "epoch": epoch + 1, "step": state["global_step"],
                                      "lr": s["lr"] * factor, "loss": losses[-1]}) + "\n")
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
            state["epoch"] += 1
            log.write(json.dumps({"event": "epoch", "epoch": epoch + 1, "loss_mean": float(np.mean(losses)),
                                  "elapsed_s": time.time() - start}) + "\n")
            log.flush()
            save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                        "rng": torch.get_rng_state(), "cuda_rng": torch.cuda.get_rng_state_all() if on_gpu else None,
                        "state": dict(state), "fingerprint": fingerprint,
                        "code_version": code_version()}, checkpoint)
    return {"epochs": s["epochs"], "steps": state["global_step"], "train_images": n,
            "train_seconds": time.time() - start, "images_per_second": seen / max(time.time() - start, 1e-9),
            "device": str(dev)}


def finish_run(summary: dict, checkpoint: Path, log_path: Path) -> None:
    """Log the summary and retire the checkpoint (a forced re-run then trains afresh)."""
    with open(log_path, "a") as log:
        log.write(json.dumps({"event": "done", **summary}) + "\n")
    if checkpoint.is_file():
        checkpoint.replace(checkpoint.with_name(checkpoint.stem + ".done.pt"))


def load_supervised(path, task: str | None = None) -> tuple[PooledNet, dict]:
    """A trained localizer or classifier (eval mode) and its checkpoint; `task` checks which one it is."""
    what = f"{task} model" if task else "localizer/classifier model"
    producer = f"train_{task}" if task else "train_localizer or train_classifier"
    ck = load_artifact(path, what, producer, ("model", "task", "backbone", "outputs", "init"))
    if task is not None and ck["task"] != task:
        raise ValueError(f"{path} is a {ck['task']} model, not a {task}")
    model = PooledNet(ck["backbone"], ck["outputs"], ck["init"]["input_mean"], ck["init"]["input_std"],
                      ck["init"].get("tf_padding", False), ck.get("dropout", 0.0), ck.get("output_stride", 32))
    model.load_state_dict(ck["model"], strict=True)
    return model.eval(), ck


class TestViews(Dataset):
    def __init__(self, records: list[ImageRecord], size: int):
        self.records, self.size = records, size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        img, geom = eval_view(read_image(self.records[i].path), self.size, None)
        return img, torch.tensor(astuple(geom)[:2], dtype=torch.float64), i


@torch.no_grad()
def predict(model: PooledNet, records: list[ImageRecord], size: int, batch_size: int, workers: int,
            device: str = "auto", amp: bool = True, channels_last: bool = True,
            progress: bool = True) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(image ids, raw outputs [n, k] float32, original sizes [n, 2] (w, h)) on whole images resized to size."""
    from tqdm import tqdm

    dev = pick_device(device)
    on_gpu = dev.type == "cuda"
    model = model.to(dev).eval()
    if on_gpu and channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp_dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
    loader = DataLoader(TestViews(records, size), batch_size=batch_size, num_workers=workers, pin_memory=on_gpu)
    outs, sizes, ids = [], [], []
    for images, wh, idx in tqdm(loader, disable=not progress, desc="predict", file=sys.stderr,
                                mininterval=1 if sys.stderr.isatty() else 15):
        x = images.to(dev, non_blocking=True).float().div_(255)
        if on_gpu and channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=on_gpu and amp):
            outs.append(model(x).float().cpu())
        sizes.append(wh)
        ids += [records[i].image_id for i in idx.tolist()]
    return ids, torch.cat(outs), torch.cat(sizes)


def boxes_from_outputs(ids: list[str], outputs: torch.Tensor, sizes: torch.Tensor,
                       box_output: str = "linear") -> pd.DataFrame:
    """Localizer outputs (normalised x0, y0, x1, y1; through a sigmoid first when box_output is sigmoid) -> box
    table in original pixels (clipped to the image, coordinates ordered)."""
    b = (torch.sigmoid(outputs) if box_output == "sigmoid" else outputs).double().clamp(0, 1)
    x0, x1 = torch.minimum(b[:, 0], b[:, 2]), torch.maximum(b[:, 0], b[:, 2])
    y0, y1 = torch.minimum(b[:, 1], b[:, 3]), torch.maximum(b[:, 1], b[:, 3])
    w, h = sizes[:, 0], sizes[:, 1]
    return pd.DataFrame({"image_id": ids, "box": 0, "x0": (x0 * w).numpy(), "y0": (y0 * h).numpy(),
                         "x1": (x1 * w).numpy(), "y1": (y1 * h).numpy(), "threshold": np.nan, "score": 1.0})


def topk_table(ids: list[str], logits: torch.Tensor, class_ids: list[int], k: int = 5) -> pd.DataFrame:
    """Classifier outputs -> image_id, top1..topk class ids (dataset labels), p1..pk softmax probabilities."""
    k = min(k, logits.shape[1])
    probs = torch.softmax(logits.double(), dim=1)
    p, idx = probs.topk(k, dim=1)
    labels = torch.tensor(class_ids)[idx]
    cols = {"image_id": ids}
    cols.update({f"top{j + 1}": labels[:, j].numpy() for j in range(k)})
    cols.update({f"p{j + 1}": p[:, j].numpy() for j in range(k)})
    return pd.DataFrame(cols)
