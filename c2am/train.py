"""C2AM training: SGD with the authors' parameter groups, poly schedule, AMP/channels_last on GPU,
checkpoints every epoch (and every k steps) with exact resume, a JSONL log, and the foreground-side rule.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .data.images import read_image, sample_generator, eval_view, train_view
from .distributed import (DistContext, convert_sync_batchnorm, env_world_size, gather_with_grad, init_from_env,
                          launch_command, shutdown)
from .data.records import ImageRecord
from .io import atomic_path, code_version, save_torch
from .losses import contrastive_loss
from .models.c2am import C2AM, build_model


@dataclass
class TrainSettings:
    """Every knob of C2AM training (names match config.yaml's `c2am_train` section)."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    head_lr_mult: float = 10.0
    schedule: str = "poly"  # poly | cosine | constant
    poly_power: float = 0.9
    alpha: float = 0.05
    loss_variant: str = "paper"  # paper | authors
    resize: int = 256
    crop: int = 224
    hflip: bool = True
    scale_min: float = 1.0  # < 1: random-scale crops (area fraction >= scale_min)
    color_jitter: float = 0.0
    head_init: str = "kaiming_normal"
    head_padding: str = "replicate"
    frozen_stages: int = 0
    bn_mode: str = "auto"  # auto (frozen when the init's BatchNorm is folded) | train | frozen
    train_bn_affine: bool = False  # the authors optimise conv weights/biases only
    fg_rule_images: int = 512
    seed: int = 0
    workers: int = 2
    checkpoint_every_steps: int = 0
    amp: bool = True  # GPU only
    channels_last: bool = True  # GPU only
    compile: bool = False  # GPU only: torch.compile
    gpus: int = 1  # processes per node under torchrun (GPUs; on CPU, processes); the rule launches torchrun
    nodes: int = 1
    sync_bn: bool = False  # BatchNorm statistics over the global batch of all processes

    @classmethod
    def from_dict(cls, values: dict) -> "TrainSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"unknown c2am_train settings {unknown}; known: {sorted(known)}")
        return cls(**values)

    def fingerprint(self) -> str:
        """Hash of the settings that change the trained weights (not workers, checkpoint cadence, the number
        of images used for the foreground decision, which is taken after training, or the process count: the
        state is global, so a run may resume on another number of GPUs)."""
        d = asdict(self)
        for k in ("workers", "checkpoint_every_steps", "fg_rule_images", "gpus", "nodes", "compile"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def hash_init_and_images(digest, init_artifact: dict, records: list[ImageRecord], targets=None) -> None:
    """Feed a run's initial weights (source file hash, or the weights of a random init) and its image list
    (with per-image targets when given) into `digest`."""
    for key in ("backbone", "source", "origin_sha256", "input_scaling", "bn_folded", "tf_padding"):
        digest.update(f"{key}={init_artifact.get(key)};".encode())
    if init_artifact.get("origin_sha256") is None:  # random init: hash the weights themselves
        for name, tensor in sorted(init_artifact["state_dict"].items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    for i, r in enumerate(records):
        digest.update(f"{r.image_id}:{r.path}".encode() + (f":{targets[i]};" if targets is not None else ";").encode())


def run_fingerprint(s: TrainSettings, init_artifact: dict, records: list[ImageRecord]) -> str:
    """What a checkpoint must match to be resumed: the settings, the initial weights and the image list."""
    digest = hashlib.sha256(s.fingerprint().encode())
    hash_init_and_images(digest, init_artifact, records)
    return digest.hexdigest()[:20]


class TrainingError(RuntimeError):
    pass


class TrainViews(Dataset):
    """Augmented training views; randomness keyed by (seed, epoch, position in the epoch)."""

    def __init__(self, records: list[ImageRecord], s: TrainSettings):
        self.records, self.s, self.epoch = records, s, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        index, position = item
        g = sample_generator(self.s.seed, self.epoch, position)
        img = read_image(self.records[index].path)
        return train_view(img, self.s.resize, self.s.crop, self.s.hflip, self.s.scale_min, self.s.color_jitter, g)


class EpochOrder(Sampler):
    """A seeded permutation per epoch, cut to whole batches, yielding (index, position) from `start`.

    With `world_size` > 1 each process yields its own contiguous share of every global batch (rows
    rank * b / world .. (rank + 1) * b / world), so the processes together see exactly the single-process batches.
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start_step: int = 0,
                 world_size: int = 1, rank: int = 0):
        g = torch.Generator()
        g.manual_seed(seed * 7919 + epoch)
        self.order = torch.randperm(n, generator=g)[: (n // batch_size) * batch_size].tolist()
        share = batch_size // world_size
        self.positions = [p for p in range(start_step * batch_size, len(self.order))
                          if (p % batch_size) // share == rank]

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self):
        return ((self.order[p], p) for p in self.positions)


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for `name` (auto | cpu | cuda | cuda:N); under torchrun, cuda means this process's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("--device cuda asked for, but torch sees no CUDA device")
    if name == "cuda" and local_rank:
        return torch.device("cuda", local_rank)
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_groups(model: C2AM, s: TrainSettings) -> list[dict]:
    """The authors' groups: backbone conv weights (lr, wd), biases (2 lr, no wd), head weights (mult x lr),
    head biases (2 mult x lr); BatchNorm affine parameters only when train_bn_affine."""
    groups = {k: [] for k in ("w", "b", "hw", "hb", "bn")}
    for module_name, module in model.named_modules():
        is_head = module_name.startswith("head")
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)):
                if s.train_bn_affine:
                    groups["bn"].append(p)
                continue
            key = ("h" if is_head else "") + ("w" if pname == "weight" else "b")
            groups[key].append(p)
    lr, wd, m = s.lr, s.weight_decay, s.head_lr_mult
    spec = [("w", lr, wd), ("b", 2 * lr, 0.0), ("hw", m * lr, wd), ("hb", 2 * m * lr, 0.0), ("bn", lr, 0.0)]
    return [{"params": groups[k], "lr": g_lr, "initial_lr": g_lr, "weight_decay": g_wd, "name": k}
            for k, g_lr, g_wd in spec if groups[k]]


def lr_factor(schedule: str, step: int, total: int, poly_power: float = 0.9) -> float:
    t = min(step / max(total, 1), 1.0)
    if schedule == "poly":
        return (1 - t) ** poly_power
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {schedule!r}")


def set_bn_mode(model: C2AM, frozen: bool) -> None:
    """Frozen: backbone BatchNorm layers use their stored statistics (eval mode) while training."""
    if frozen:
        for module in model.backbone.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def train_c2am(records: list[ImageRecord], init_artifact: dict, s: TrainSettings, out_model: Path,
               checkpoint: Path, log_path: Path, device: str = "auto", progress: bool = True,
               stop_after_steps: int | None = None) -> dict:
    """Train C2AM on unlabeled `records`; write the final model to `out_model`; return a summary.

    `checkpoint` is rewritten every epoch (and every `checkpoint_every_steps` steps); a run started again
    with the same settings resumes from it exactly (same batches, same RNG state). `stop_after_steps`
    simulates a kill (for tests): training stops after that many global steps without writing the model.

    Under torchrun (WORLD_SIZE > 1) every process trains on its share of each global batch with DDP; the
    fg/bg vectors are all-gathered with gradient so the loss is the global batch's (see distributed.py).
    Only rank 0 writes the log, checkpoints and the model.
    """
    world = env_world_size()
    if world != s.gpus * s.nodes:
        raise TrainingError(f"gpus x nodes = {s.gpus} x {s.nodes} processes asked for, but this is one of {world}; "
                            f"start it with {launch_command('python', s.gpus, s.nodes)} -m stages.train_c2am ...")
    dev_type = pick_device(device).type
    ctx = init_from_env(dev_type)
    try:
        return _train(records, init_artifact, s, out_model, checkpoint, log_path, pick_device(device, ctx.local_rank),
                      ctx, progress, stop_after_steps)
    finally:
        shutdown(ctx)


def _train(records: list[ImageRecord], init_artifact: dict, s: TrainSettings, out_model: Path, checkpoint: Path,
           log_path: Path, dev: torch.device, ctx: DistContext, progress: bool, stop_after_steps: int | None) -> dict:
    on_gpu = dev.type == "cuda"
    if len(records) < 2 * s.batch_size and len(records) < 4:
        raise TrainingError(f"too few training images ({len(records)})")
    batch_size = min(s.batch_size, len(records))
    if batch_size % ctx.world_size:
        raise TrainingError(f"the global batch ({batch_size}) must split evenly over {ctx.world_size} processes")
    seed_everything(s.seed)
    model = build_model(init_artifact, s.head_init, s.head_padding)
    model.backbone.freeze(s.frozen_stages)
    bn_frozen = s.bn_mode == "frozen" or (s.bn_mode == "auto" and init_artifact.get("bn_folded", False))
    if s.bn_mode == "train" and init_artifact.get("bn_folded", False):
        raise TrainingError("bn_mode 'train' with an init whose BatchNorm is folded (running stats 0/1) would "
                            "replace the folded statistics by batch statistics; use 'auto' or 'frozen'")
    if s.sync_bn and ctx.active:
        convert_sync_batchnorm(model, dev.type)
    model.to(dev)
    if on_gpu and s.channels_last:
        model.to(memory_format=torch.channels_last)
    net = model
    if ctx.active:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if on_gpu else None)
    if on_gpu and s.compile:
        net = torch.compile(net)
    optimizer = torch.optim.SGD(param_groups(model, s), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    steps_per_epoch = len(records) // batch_size
    total_steps = steps_per_epoch * s.epochs
    views = TrainViews(records, s)

    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0}
    fingerprint = run_fingerprint(s, init_artifact, records)
    amp_dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = on_gpu and s.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    if checkpoint.is_file():
        try:
            ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise TrainingError(f"cannot read checkpoint {checkpoint} ({exc}); delete it to start afresh") from exc
        ctx.barrier()  # every process has read it before rank 0 may move it away
        if ck.get("fingerprint") == fingerprint:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            if ck["scaler"]:  # empty when the checkpoint was written without fp16 loss scaling
                scaler.load_state_dict(ck["scaler"])
            _set_rng_state(ck["rng"])
            state = ck["state"]
            if ck.get("code_version") != code_version():
                print(f"warning: {checkpoint} was written by code {ck.get('code_version')}, this is "
                      f"{code_version()}", file=sys.stderr)
            print(f"resuming from {checkpoint}: epoch {state['epoch']}, step {state['step_in_epoch']}",
                  file=sys.stderr)
        elif ctx.is_main:
            stale = checkpoint.with_suffix(".stale.pt")
            checkpoint.replace(stale)
            print(f"{checkpoint} was written with other settings, init or images; moved to {stale}, starting fresh",
                  file=sys.stderr)

    def save_checkpoint() -> None:
        if not ctx.is_main:
            return
        save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": _rng_state(),
                    "scaler": scaler.state_dict(), "state": dict(state), "fingerprint": fingerprint,
                    "n_images": len(records), "settings": asdict(s), "code_version": code_version()}, checkpoint)

    if ctx.is_main:
        prepare_log(log_path, state)
    log = open(log_path, "a") if ctx.is_main else open(os.devnull, "w")
    start_time = time.time()
    images_seen = 0
    try:
        from tqdm import tqdm

        while state["epoch"] < s.epochs:
            epoch = state["epoch"]
            views.epoch = epoch
            sampler = EpochOrder(len(records), batch_size, s.seed, epoch, state["step_in_epoch"],
                                 ctx.world_size, ctx.rank)
            loader = DataLoader(views, batch_size=batch_size // ctx.world_size, sampler=sampler, num_workers=s.workers,
                                pin_memory=on_gpu, drop_last=True, persistent_workers=False)
            model.train()
            set_bn_mode(model, bn_frozen)
            bar = tqdm(loader, total=len(loader), disable=not (progress and ctx.is_main), leave=False,
                       desc=f"c2am epoch {epoch + 1}/{s.epochs}", file=sys.stderr,
                       mininterval=1 if sys.stderr.isatty() else 15)
            epoch_losses = []
            for batch in bar:
                t0 = time.time()
                images = batch.to(dev, non_blocking=True).float().div_(255)
                if on_gpu and s.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                factor = lr_factor(s.schedule, state["global_step"], total_steps, s.poly_power)
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * factor
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                    v_fg, v_bg, _ = net(images)
                v_fg, v_bg = gather_with_grad(v_fg), gather_with_grad(v_bg)  # the global batch (no-op alone)
                terms = contrastive_loss(v_fg, v_bg, s.alpha, s.loss_variant)
                if not torch.isfinite(terms.total):
                    raise TrainingError(
                        f"loss became {float(terms.total.detach())} at epoch {epoch + 1}, step {state['step_in_epoch']}; "
                        f"the last good checkpoint is {checkpoint} (lower lr or check the input images)")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(terms.total).backward()
                scaler.step(optimizer)
                scaler.update()
                state["step_in_epoch"] += 1
                state["global_step"] += 1
                images_seen += len(images) * ctx.world_size
                losses = terms.as_floats()
                epoch_losses.append(losses["total"])
                log.write(json.dumps({"event": "step", "epoch": epoch + 1, "step": state["global_step"],
                                      "lr": s.lr * factor, **losses,
                                      "img_per_s": len(images) / max(time.time() - t0, 1e-9)}) + "\n")
                bar.set_postfix(loss=f"{losses['total']:.4f}", refresh=False)
                if s.checkpoint_every_steps and state["global_step"] % s.checkpoint_every_steps == 0:
                    save_checkpoint()
                if stop_after_steps is not None and state["global_step"] >= stop_after_steps:
                    log.flush()
                    return {"stopped_at_step": state["global_step"]}
            state["epoch"] += 1
            state["step_in_epoch"] = 0
            log.write(json.dumps({"event": "epoch", "epoch": epoch + 1,
                                  "loss_mean": float(np.mean(epoch_losses)) if epoch_losses else None,
                                  "elapsed_s": time.time() - start_time}) + "\n")
            log.flush()
            save_checkpoint()
    finally:
        log.close()

    if not ctx.is_main:
        ctx.barrier()  # rank 0 decides the foreground side and writes the model
        return {"rank": ctx.rank, "steps": state["global_step"]}
    fg = decide_foreground(model, records, s, dev)
    model.fg_flip.fill_(fg["flip"])
    summary = {"epochs": s.epochs, "steps": state["global_step"], "train_images": len(records),
               "train_seconds": time.time() - start_time, "images_per_second": images_seen / max(
                   time.time() - start_time, 1e-9), "foreground": fg, "device": str(dev),
               "processes": ctx.world_size}
    model_cpu = model.to("cpu").to(memory_format=torch.contiguous_format)
    save_torch({"model": model_cpu.state_dict(), "backbone": init_artifact["backbone"],
                "init": {k: init_artifact.get(k) for k in ("source", "origin", "origin_sha256", "input_scaling",
                                                           "input_mean", "input_std", "bn_folded", "tf_padding")},
                "settings": asdict(s), "summary": summary, "code_version": code_version()}, out_model)
    with open(log_path, "a") as log:
        log.write(json.dumps({"event": "done", **summary}) + "\n")
    # A finished run is never resumed: a forced re-run (e.g. after a code change) trains afresh.
    if checkpoint.is_file():
        checkpoint.replace(checkpoint.with_name(checkpoint.stem + ".done.pt"))
    ctx.barrier()
    return summary


def prepare_log(log_path: Path, state: dict) -> None:
    """Start the JSONL log afresh, or, when resuming, keep exactly the lines up to the checkpoint."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if state["global_step"] and log_path.is_file():
        for line in log_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            if (row.get("event") == "step" and row["step"] <= state["global_step"]) or \
                    (row.get("event") == "epoch" and row["epoch"] <= state["epoch"]):
                kept.append(line + "\n")
    with atomic_path(log_path) as tmp:
        tmp.write_text("".join(kept))


@torch.no_grad()
def decide_foreground(model: C2AM, records: list[ImageRecord], s: TrainSettings, dev: torch.device) -> dict:
    """Which side of P is foreground, judged on the data set (not on one batch).

    P is computed on up to `fg_rule_images` training images (whole image resized to crop x crop). If the mean
    activation on the map's outer ring of cells exceeds the mean inside it, P marks the background and the
    foreground map is 1 - P. Objects rarely fill the border of most photos, so this holds on data-set level
    even where single images disagree.
    """
    model.eval()
    step = max(1, len(records) // s.fg_rule_images)
    chosen = records[::step][: s.fg_rule_images]
    border_sum = inner_sum = 0.0
    votes = 0
    for i in range(0, len(chosen), 32):
        batch = torch.stack([eval_view(read_image(r.path), s.crop, None)[0] for r in chosen[i:i + 32]])
        p = model.head(model.features(batch.to(dev).float() / 255)).float()[:, 0]
        ring = torch.ones_like(p[0], dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        border = p[:, ring].mean(1)
        inner = p[:, ~ring].mean(1)
        border_sum += float(border.sum())
        inner_sum += float(inner.sum())
        votes += int((border > inner).sum())
    n = len(chosen)
    border_mean, inner_mean = border_sum / n, inner_sum / n
    return {"rule": "dataset_border_vs_inner", "images": n, "border_mean": border_mean,
            "inner_mean": inner_mean, "flip": bool(border_mean > inner_mean),
            "images_with_bright_border": votes}
