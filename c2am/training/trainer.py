"""The one trainer skeleton around the one loop: C2AM, the PSOL localizer and classifier, the CAM classifier and the
background-cue model differ only in their model, training views, loss and what they add to the model file.

A trainer writes those as a `build(ctx, device) -> Task` function (using `task_for`, which freezes the backbone's
first stages and fills in the parameter groups, the resume fingerprint and the BatchNorm mode from the section's
settings) and hands it to `train`, which does the rest the same way for all of them:

    check the images -> join torchrun's process group (if any) and pick the device -> seed -> build ->
    fit (resume, epochs, checkpoints, log) -> on rank 0: `finish` (trainer's extra summary) -> model file ->
    retire the checkpoint.

The order of what draws random numbers (seed, then the model and its head) is the same for every trainer, so two
runs with the same settings on one machine give bit-identical weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.images import verify_images
from ..data.records import ImageRecord
from ..settings import LoopSettings
from .checkpoint import TrainingError, finish_run, run_fingerprint, save_model, seed_everything
from .distributed import DistContext, env_world_size
from .loop import RunFiles, Task, bn_is_frozen, distributed_run, fit
from .optim import param_groups


def task_for(name: str, model: nn.Module, views: Dataset, loss, s: LoopSettings, init_artifact: dict,
             records: list[ImageRecord], targets=None, *, bias_lr_mult: float, norm_group: bool = False,
             decay_all: bool = False, compile: bool = False, loss_state: nn.Module | None = None) -> Task:
    """The Task of a model whose backbone starts from `init_artifact`: its first `s.frozen_stages` stages frozen,
    SGD parameter groups from the section's lr / weight decay / head multiplier / BatchNorm-affine policy
    (`bias_lr_mult`, `norm_group`, `decay_all`: c2am.training.optim.param_groups), the resume fingerprint of the
    settings that change the weights, the init, the images and their `targets`, and the BatchNorm mode."""
    model.backbone.freeze(s.frozen_stages)
    groups = param_groups(model, s.lr, s.weight_decay, s.head_lr_mult, bias_lr_mult=bias_lr_mult,
                          train_norm_affine=s.train_bn_affine, norm_group=norm_group, decay_all=decay_all)
    return Task(name, model, views, groups, loss, run_fingerprint(name, s.learned(), init_artifact, records, targets),
                bn_frozen=bn_is_frozen(s.bn_mode, init_artifact), compile=compile,
                loss_state=loss_state)


def train(build: Callable[[DistContext, torch.device], Task], s: LoopSettings, init_artifact: dict,
          records: list[ImageRecord], out_model: Path, files: RunFiles, device: str = "auto", progress: bool = True,
          stop_after_steps: int | None = None, finish: Callable[[nn.Module, torch.device], dict] | None = None,
          model_entries: dict | None = None, processes: int = 1) -> dict:
    """Train the Task `build` makes on `records`; write `out_model`; return the training summary.

    `finish(model, device)`: what the trainer adds to the summary once trained (rank 0 only, before the model is
    written); `model_entries`: trainer-specific entries of the model file. `files.checkpoint` is rewritten every
    epoch (and every `checkpoint_every_steps` steps); a run started again with the same settings, init and images
    resumes from it exactly. `stop_after_steps` simulates a kill (for tests): the summary is then
    {"stopped_at_step": k}. `processes`: how many the trainer runs as (C2AM: gpus x nodes under torchrun, where
    every process trains on its share of each global batch and only rank 0 writes the log, checkpoints and the
    model; the other trainers: one).
    """
    if env_world_size() != processes:
        raise TrainingError(f"this training runs as {processes} process(es), but it was started as one of "
                            f"{env_world_size()} (torchrun): start it with python")
    checked = verify_images([r.path for r in records], s.workers)
    with distributed_run(device) as (ctx, dev):
        seed_everything(s.seed)
        task = build(ctx, dev)
        summary = fit(task, s, dev, files, ctx, progress, stop_after_steps)
        if "stopped_at_step" in summary:
            return summary
        if not ctx.is_main:
            ctx.barrier()  # rank 0 finishes and writes the model
            return {"rank": ctx.rank, "steps": summary["steps"]}
        summary["single_colour_images"] = checked["single_colour"]
        if finish is not None:
            summary.update(finish(task.model, dev))
        save_model(out_model, task.model, init_artifact, s.to_dict(), summary, **(model_entries or {}))
        finish_run(summary, files.checkpoint, files.log)
        ctx.barrier()
        return summary
