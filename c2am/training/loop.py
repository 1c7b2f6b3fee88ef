"""The one training loop of the pipeline, used by every trainer: C2AM, the PSOL localizer and classifier, the
CAM classifier and the background-cue model.

A trainer builds a `Task` (the model, its training views, its parameter groups and its loss); the trainer
skeleton (c2am.training.trainer.train) hands it to `fit`. The loop does the rest the same way for all of them:
SGD with momentum, the schedule (poly / cosine / constant) with an optional linear warm-up, gradient clipping,
AMP on GPU (bf16, fp16 with loss scaling where bf16 is missing), channels_last (GPU and CPU: on 2 CPU cores a
C2AM step of 16 @ 224 takes 1.67 s instead of 2.65 s),
DistributedDataParallel under torchrun, a JSONL log (one line per step and per epoch),
and checkpoints at every epoch end (and every `checkpoint_every_steps` steps) from which a re-run resumes
exactly: same batches, same random state, bit-identical weights on CPU.

Determinism: the batches of epoch e are a seeded permutation (EpochOrder) and every augmentation draws from a
generator keyed by (seed, epoch, position in the epoch), so neither the number of loader workers nor a resume
changes what the model sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..inference import amp_dtype, pick_device, to_input
from ..io import exclusive
from ..progress import progress_bar
from ..settings import LoopSettings
from .checkpoint import (TrainingError, finish_run, new_state, prepare_log, read_checkpoint, retire_stale,
                         save_checkpoint, set_rng_state)
from .distributed import DistContext
from .optim import lr_factor, warmup_factor


class EpochOrder(Sampler):
    """A seeded permutation per epoch, cut to whole batches, yielding (index, position) from `start_step`.

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


def set_bn_frozen(model: torch.nn.Module, frozen: bool) -> None:
    """Frozen: BatchNorm layers use their stored statistics (eval mode) while training."""
    if frozen:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def bn_is_frozen(bn_mode: str, init_artifact: dict) -> bool:
    """Whether the backbone's BatchNorm statistics stay fixed: always for `frozen`, and for `auto` when the init's
    BatchNorm is folded (its statistics are 0 / 1; batch statistics would destroy the weights)."""
    if bn_mode == "train" and init_artifact["bn_folded"]:
        raise TrainingError("bn_mode 'train' with an init whose BatchNorm is folded (running stats 0/1) would "
                            "replace the folded statistics by batch statistics; use 'auto' or 'frozen'")
    return bn_mode == "frozen" or (bn_mode == "auto" and init_artifact["bn_folded"])


@dataclass
class Task:
    """What a trainer plugs into the loop.

    views[(index, position)] -> (uint8 image [3, h, w], target) or a uint8 image alone; `views.epoch` is set
    before each epoch. The network's forward runs under autocast; loss(outputs, target) runs in float32 and
    returns (loss, extra log terms). `model` (with a `.backbone`) is what checkpoints hold; the step calls it
    wrapped in DistributedDataParallel under torchrun, then torch.compile'd when `compile` (GPU only).
    `bn_frozen`: the backbone's BatchNorm layers keep their stored statistics. `loss_state`: a module holding
    state the loss carries from step to step (C2AM's memory of earlier batches); its buffers are checkpointed.
    """

    name: str
    model: torch.nn.Module
    views: Dataset
    param_groups: list[dict]
    loss: Callable[[Any, Any], tuple[torch.Tensor, dict[str, float]]]
    fingerprint: str
    bn_frozen: bool = False
    compile: bool = False
    loss_state: torch.nn.Module | None = None


@dataclass(frozen=True)
class RunFiles:
    checkpoint: Path
    log: Path


def fit(task: Task, s: LoopSettings, device: torch.device, files: RunFiles, ctx: DistContext = DistContext(),
        progress: bool = True, stop_after_steps: int | None = None) -> dict:
    """Train `task.model` for s.epochs epochs (resuming from files.checkpoint when it belongs to this run).

    Returns the training summary (steps, images, seconds, images per second, device, processes), or
    {"stopped_at_step": k} when `stop_after_steps` (a simulated kill, for tests) ends the run early."""
    # one writer per checkpoint: a second workflow on the same results_dir, or a stage orphaned by a killed
    # Snakemake, is refused instead of training on the same checkpoint
    with exclusive(files.checkpoint) if ctx.is_main else contextlib.nullcontext():
        return _Loop(task, s, device, files, ctx, progress).run(stop_after_steps)


def workflow_gone() -> int | None:
    """The pid of the Snakemake process that started this stage (C2AM_PARENT_PID, set by the workflow) when it
    is no longer running, else None (also when the stage was started by hand)."""
    pid = int(os.environ.get("C2AM_PARENT_PID", "0") or 0)
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    except PermissionError:  # alive, owned by someone else
        return None
    return None


class _Loop:
    """fit's state: the model and its wrappers, optimizer, loss scaler, where the run stands, the log."""

    def __init__(self, task: Task, s: LoopSettings, device: torch.device, files: RunFiles, ctx: DistContext,
                 progress: bool):
        self.task, self.s, self.device, self.files, self.ctx, self.progress = task, s, device, files, ctx, progress
        self.n = len(task.views)
        self.batch_size = min(s.batch_size, self.n)
        if self.batch_size % ctx.world_size:
            raise TrainingError(f"the global batch ({self.batch_size}) must split evenly over {ctx.world_size} "
                                f"processes")
        self.steps_per_epoch = self.n // self.batch_size
        self.on_gpu = device.type == "cuda"

        # --- model, wrappers, optimizer, loss scaling
        self.model = task.model.to(device)
        if task.loss_state is not None:
            task.loss_state.to(device)
        if s.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if ctx.active:
            self.net = torch.nn.parallel.DistributedDataParallel(self.net,
                                                                 device_ids=[device.index] if self.on_gpu else None)
        if self.on_gpu and task.compile:
            self.net = torch.compile(self.net)
        self.optimizer = torch.optim.SGD(task.param_groups, lr=s.lr, momentum=s.momentum,
                                         weight_decay=s.weight_decay)
        self.dtype, self.use_amp = amp_dtype(device), self.on_gpu and s.amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.dtype == torch.float16)
        self.state, self.resumed_rng, self.losses = new_state(), None, []
        self._resume()

    def _resume(self) -> None:
        """Same fingerprint: restore weights, optimizer, scaler, random state and position; another run's
        checkpoint is moved aside."""
        files, ctx = self.files, self.ctx
        ck = read_checkpoint(files.checkpoint, self.task.fingerprint, self.task.name, f"train_{self.task.name}")
        ctx.barrier()  # every process has read the checkpoint before the main one may move it away
        if ck is None and ctx.is_main:
            retire_stale(files.checkpoint)
        if ck is None:
            return
        self.model.load_state_dict(ck["model"])
        if self.task.loss_state is not None:
            self.task.loss_state.load_state_dict(ck["loss_state"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if ck["scaler"]:  # empty when the checkpoint was written without fp16 loss scaling
            self.scaler.load_state_dict(ck["scaler"])
        self.state, self.resumed_rng, self.losses = ck["state"], ck["rng"], list(ck["epoch_losses"])
        print(f"resuming from {files.checkpoint}: epoch {self.state['epoch']}, step {self.state['step_in_epoch']}",
              file=sys.stderr)

    def checkpoint(self) -> None:
        if self.ctx.is_main:
            save_checkpoint(self.files.checkpoint, self.model, self.optimizer, self.scaler, self.state, self.losses,
                            self.task.fingerprint, self.s.to_dict(), self.task.loss_state)

    def run(self, stop_after_steps: int | None) -> dict:
        s, ctx = self.s, self.ctx
        if ctx.is_main:
            prepare_log(self.files.log, self.state)
        self.log = open(self.files.log, "a") if ctx.is_main else open(os.devnull, "w")
        if ctx.is_main and s.batch_size > self.n:
            self._write({"event": "note", "message": f"batch_size {s.batch_size} is larger than the {self.n} "
                                                     f"training images: one batch of {self.n} per step"})
        self.start, self.seen = time.time(), 0
        with self.log:
            while self.state["epoch"] < s.epochs:
                if self._epoch(stop_after_steps):
                    return {"stopped_at_step": self.state["global_step"]}
        seconds = time.time() - self.start
        return {"epochs": s.epochs, "steps": self.state["global_step"], "train_images": self.n,
                "train_seconds": seconds, "images_per_second": self.seen / max(seconds, 1e-9),
                "device": str(self.device), "processes": ctx.world_size}

    def _epoch(self, stop_after_steps: int | None) -> bool:
        """One epoch from where the run stands; True when stopped early (a simulated kill)."""
        s, ctx, state = self.s, self.ctx, self.state
        epoch = state["epoch"]
        self.task.views.epoch = epoch
        sampler = EpochOrder(self.n, self.batch_size, s.seed, epoch, state["step_in_epoch"], ctx.world_size,
                             ctx.rank)
        loader = DataLoader(self.task.views, batch_size=self.batch_size // ctx.world_size, sampler=sampler,
                            num_workers=s.workers, pin_memory=self.on_gpu, drop_last=True)
        # Starting a loader draws its seed from the global generator. An uninterrupted run did that at the start of
        # this epoch, before the checkpointed steps: restore the saved state before the loader at an epoch
        # boundary, after it mid-epoch, so dropout and the like go on exactly as without the kill.
        mid_epoch = state["step_in_epoch"] > 0
        if self.resumed_rng is not None and not mid_epoch:
            set_rng_state(self.resumed_rng)
        batches = iter(loader)
        if self.resumed_rng is not None and mid_epoch:
            set_rng_state(self.resumed_rng)
        self.resumed_rng = None
        self.model.train()
        set_bn_frozen(self.model.backbone, self.task.bn_frozen)
        bar = progress_bar(batches, len(loader), f"{self.task.name} epoch {epoch + 1}/{s.epochs}",
                           self.progress and ctx.is_main)
        for batch in bar:
            self._step(batch, epoch)
            bar.set_postfix(loss=f"{self.losses[-1]:.4f}", refresh=False)
            gone = workflow_gone()
            if gone is not None:  # Snakemake was killed: do not train on as an orphan
                self.checkpoint()
                raise TrainingError(f"the workflow that started this training (Snakemake, pid {gone}) is gone: "
                                    f"stopped after step {state['global_step']} with a checkpoint at "
                                    f"{self.files.checkpoint}; re-run it to resume")
            # --- mid-epoch checkpoint, simulated kill
            if s.checkpoint_every_steps and state["global_step"] % s.checkpoint_every_steps == 0:
                self.checkpoint()
            if stop_after_steps is not None and state["global_step"] >= stop_after_steps:
                self.log.flush()
                return True

        # --- end of epoch: log line and checkpoint
        state["epoch"] += 1
        state["step_in_epoch"] = 0
        self._write({"event": "epoch", "epoch": epoch + 1,
                     "loss_mean": float(np.mean(self.losses)) if self.losses else None,
                     "elapsed_s": time.time() - self.start})
        self.log.flush()
        self.losses = []
        self.checkpoint()
        return False

    def _step(self, batch, epoch: int) -> None:
        """One step: learning rate, forward (autocast), loss (float32), backward, clipping, update, log line."""
        s, state, task = self.s, self.state, self.task
        t0 = time.time()
        images, target = batch if isinstance(batch, (list, tuple)) else (batch, None)
        x = to_input(images, self.device, s.channels_last)
        if target is not None:
            target = target.to(self.device, non_blocking=True)
        factor = lr_factor(s.schedule, state["global_step"], self.steps_per_epoch * s.epochs, s.poly_power)
        factor *= warmup_factor(state["global_step"], s.warmup_epochs * self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.use_amp):
            outputs = self.net(x)
        loss, terms = task.loss(outputs, target)
        if not torch.isfinite(loss):
            last = (f"the last good checkpoint is {self.files.checkpoint}" if self.files.checkpoint.is_file()
                    else "no checkpoint was written yet")
            raise TrainingError(f"{task.name} loss became {float(loss.detach())} at epoch {epoch + 1}, step "
                                f"{state['step_in_epoch'] + 1}; {last} (lower lr or check the images)")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if s.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        state["step_in_epoch"] += 1
        state["global_step"] += 1
        self.seen += len(x) * self.ctx.world_size
        self.losses.append(float(loss.detach()))
        self._write({"event": "step", "epoch": epoch + 1, "step": state["global_step"], "lr": s.lr * factor,
                     "loss": self.losses[-1], **terms, "img_per_s": len(x) / max(time.time() - t0, 1e-9)})

    def _write(self, row: dict) -> None:
        self.log.write(json.dumps(row) + "\n")


@contextlib.contextmanager
def distributed_run(device_name: str):
    """Join torchrun's process group (if any) for the duration of a training; yields (context, device)."""
    from .distributed import init_from_env, shutdown

    ctx = init_from_env(pick_device(device_name).type)
    try:
        yield ctx, pick_device(device_name, ctx.local_rank)
    finally:
        shutdown(ctx)


__all__ = ["EpochOrder", "RunFiles", "Task", "TrainingError", "bn_is_frozen", "distributed_run", "finish_run", "fit",
           "set_bn_frozen"]
