"""Multi-process training with torch.distributed (DDP), launched by torchrun.

- `init_from_env` joins the process group that torchrun describes in the environment (WORLD_SIZE, RANK,
  LOCAL_RANK, MASTER_ADDR/PORT): NCCL on GPUs, gloo on CPUs. Without torchrun it returns a single-process
  context and nothing else changes.
- `gather_with_grad` concatenates a [n, C] tensor of every process (rank order) so that the contrastive loss sees
  the global batch; its backward is the adjoint of the all-gather (sum over processes, then this process's rows),
  so with DDP's gradient averaging the update equals single-process training on the same global batch.
- `GlobalBatchNorm2d` / `convert_sync_batchnorm`: BatchNorm statistics over the global batch. On CUDA this is
  torch's SyncBatchNorm; torch's version refuses CPU tensors, so on CPU (gloo) the same statistics are
  all-reduced here with BatchNorm's own backward formulas.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_type: str) -> DistContext:
    """Join torchrun's process group (if any). `device_type` picks the backend: cuda -> nccl, else gloo."""
    world = env_world_size()
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    ctx = DistContext(world, dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    return ctx


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every process's gradient w.r.t. the gathered rows, summed: all-gather's adjoint
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """[world * n, C]: the rows of every process in rank order (every process must pass the same n)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


class _GlobalBatchNormFn(torch.autograd.Function):
    """Training-mode BatchNorm over the global batch with BatchNorm's own fused backward (the same formulas as
    torch's SyncBatchNorm): per-channel sums are all-reduced, so every process normalises with the global mean
    and variance and back-propagates through them. Returns (y, mean, biased variance)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps: float, count: float):
        shape = (1, -1, 1, 1)
        x32 = x.float()
        total = x32.sum((0, 2, 3))
        dist.all_reduce(total)
        mean = total / count
        xmu = x32 - mean.view(shape)
        sq = (xmu * xmu).sum((0, 2, 3))  # two passes, as BatchNorm computes the variance
        dist.all_reduce(sq)
        var = sq / count
        invstd = torch.rsqrt(var + eps)
        xhat = xmu * invstd.view(shape)
        y = xhat if weight is None else xhat * weight.float().view(shape) + bias.float().view(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.count, ctx.dtype = count, x.dtype
        ctx.mark_non_differentiable(mean, var)
        return y.to(x.dtype), mean, var

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        xhat, invstd, weight = ctx.saved_tensors
        shape = (1, -1, 1, 1)
        gy = grad_y.float()
        sum_dy = gy.sum((0, 2, 3))
        sum_dy_xhat = (gy * xhat).sum((0, 2, 3))
        grad_weight = sum_dy_xhat if weight is not None else None  # this process's share; DDP sums the rest
        grad_bias = sum_dy if weight is not None else None
        both = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(both)
        g_sum, g_sum_xhat = both.split(len(sum_dy))
        scale = invstd if weight is None else invstd * weight.float()
        grad_x = (gy - (g_sum / ctx.count).view(shape) - xhat * (g_sum_xhat / ctx.count).view(shape)) * scale.view(shape)
        return grad_x.to(ctx.dtype), grad_weight, grad_bias, None, None


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics (and running-stat updates) cover the batches of all processes.

    Any backend, CPU included. Outside a multi-process run, or in eval mode, it is exactly BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        count = float(dist.get_world_size()) * x.shape[0] * x.shape[2] * x.shape[3]  # elements per channel
        y, mean, var = _GlobalBatchNormFn.apply(x, self.weight, self.bias, self.eps, count)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                unbiased = var * (count / max(count - 1, 1))
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        return y


def convert_sync_batchnorm(model: nn.Module, device_type: str) -> nn.Module:
    """Every BatchNorm2d computes global-batch statistics: torch's SyncBatchNorm on CUDA, GlobalBatchNorm2d
    elsewhere. Parameters, buffers, requires_grad and train/eval modes are kept; state-dict keys do not change.
    Backbones that run their modules from their own stage lists (StagedBackbone) are pointed at the new ones."""
    kind = nn.SyncBatchNorm if device_type == "cuda" else GlobalBatchNorm2d
    swapped: dict[int, nn.Module] = {}

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                new = kind(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
                new.load_state_dict(child.state_dict())
                new.to(next(child.buffers()).device).train(child.training)
                for p_new, p_old in zip(new.parameters(), child.parameters()):
                    p_new.requires_grad_(p_old.requires_grad)
                setattr(parent, name, new)
                swapped[id(child)] = new
            else:
                swap(child)

    swap(model)
    for module in model.modules():
        stages = getattr(module, "_stages", [])
        for i, stage in enumerate(stages):
            stages[i] = dataclasses.replace(stage, modules=tuple(swapped.get(id(m), m) for m in stage.modules))
    return model
