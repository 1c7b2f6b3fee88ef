"""C2AM training on unlabeled images: the contrastive loss of the paper as a step of the shared loop, DDP with the
global-batch gather under torchrun, and the data-set level decision of which side of P is foreground.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..data.images import eval_view, read_image, sample_generator, train_view
from ..data.records import ImageRecord
from ..data.demo import is_demo_image
from ..losses import MemoryBank, contrastive_loss
from ..models.c2am import C2AM, build_model
from ..settings import C2AMTrainSettings
from ..wsol.fg_side import marks_background, ring_and_inside
from .checkpoint import TrainingError
from .distributed import DistContext, convert_sync_batchnorm, env_world_size, gather_with_grad
from .launch import launch_command
from .loop import RunFiles, Task
from .trainer import task_for, train


class TrainViews(Dataset):
    """Augmented training views (uint8); randomness keyed by (seed, epoch, position in the epoch)."""

    def __init__(self, records: list[ImageRecord], s: C2AMTrainSettings):
        self.records, self.s, self.epoch = records, s, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        index, position = item
        g = sample_generator(self.s.seed, self.epoch, position)
        img = read_image(self.records[index].path)
        return train_view(img, self.s.resize, self.s.crop, self.s.hflip, self.s.scale_min, self.s.color_jitter, g)


def contrastive_step(s: C2AMTrainSettings, memory: MemoryBank | None = None):
    """The loss of one batch: v_f, v_b of every process gathered with gradient (the global batch), then Eqs. 2-9,
    against the memory of earlier batches' vectors when there is one (which then takes this batch's)."""

    def loss(outputs, _target):
        v_fg, v_bg, _ = outputs
        v_fg, v_bg = gather_with_grad(v_fg), gather_with_grad(v_bg)
        mem_fg, mem_bg = memory.contents() if memory is not None else (None, None)
        terms = contrastive_loss(v_fg, v_bg, s.alpha, s.loss_variant, mem_fg, mem_bg)
        if memory is not None:
            memory.push(v_fg, v_bg)
        return terms.total, {k: v for k, v in terms.as_floats().items() if k != "total"}

    return loss


def train_c2am(records: list[ImageRecord], init_artifact: dict, s: C2AMTrainSettings, out_model: Path,
               checkpoint: Path, log_path: Path, device: str = "auto", progress: bool = True,
               stop_after_steps: int | None = None, fg_records: list[ImageRecord] | None = None) -> dict:
    """Train C2AM on unlabeled `records` (c2am.training.trainer.train); write the final model to `out_model`;
    return a summary. The foreground side is decided on `fg_records` (default: `records`; the experiment's own
    images when others are added). Under torchrun (WORLD_SIZE > 1) the loss sees the global batch and
    BatchNorm its statistics (sync_bn)."""
    world = env_world_size()
    if world != s.gpus * s.nodes:
        raise TrainingError(f"gpus x nodes = {s.gpus} x {s.nodes} processes asked for, but this is one of {world}; "
                            f"start it with {launch_command('python', s.gpus, s.nodes)} -m stages.train_c2am ...")
    if len(records) < 2:
        raise TrainingError(f"C2AM needs at least 2 training images (the loss compares the images of a batch), "
                            f"got {len(records)}")

    def build(ctx: DistContext, dev: torch.device) -> Task:
        model = build_model(init_artifact, s.head_init, s.head_padding, s.feature_stride)
        memory = MemoryBank(s.memory_size, model.backbone.out_channels) if s.memory_size else None
        if s.sync_bn and ctx.active:
            convert_sync_batchnorm(model, dev.type)
        return task_for("c2am", model, TrainViews(records, s), contrastive_step(s, memory), s, init_artifact,
                        records, bias_lr_mult=2.0, norm_group=True, compile=s.compile, loss_state=memory)

    def finish(model: C2AM, dev: torch.device) -> dict:
        fg = decide_foreground(model, fg_records or records, s, dev)
        model.fg_flip.fill_(fg["flip"])
        return {"foreground": fg,
                "synthetic_demo": all(is_demo_image(r.path) for r in records)}  # predict warns on photos

    return train(build, s, init_artifact, records, out_model, RunFiles(checkpoint, log_path), device, progress,
                 stop_after_steps, finish, processes=s.gpus * s.nodes)


@torch.no_grad()
def decide_foreground(model: C2AM, records: list[ImageRecord], s: C2AMTrainSettings, dev: torch.device) -> dict:
    """Which side of P is foreground, judged on the data set (not on one batch).

    P is computed on up to `fg_rule_images` training images (whole image resized to crop x crop). If the mean
    activation on the map's outer ring of cells exceeds the mean inside it, P marks the background and the
    foreground map is 1 - P (c2am.wsol.fg_side). Objects rarely fill the border of most photos, so this holds on
    data-set level even where single images disagree.
    """
    model.eval()
    step = max(1, len(records) // s.fg_rule_images)
    chosen = records[::step][: s.fg_rule_images]
    border_sum = inner_sum = 0.0
    votes = 0
    for i in range(0, len(chosen), 32):
        batch = torch.stack([eval_view(read_image(r.path), s.crop, None)[0] for r in chosen[i:i + 32]])
        p = model.head(model.features(batch.to(dev).float() / 255)).float()[:, 0]
        border_cells, inner_cells = ring_and_inside(p)
        border, inner = border_cells.mean(1), inner_cells.mean(1)  # per image
        border_sum += float(border.sum())
        inner_sum += float(inner.sum())
        votes += int(marks_background(border, inner).sum())
    n = len(chosen)
    border_mean, inner_mean = border_sum / n, inner_sum / n
    return {"rule": "dataset_border_vs_inner", "images": n, "border_mean": border_mean,
            "inner_mean": inner_mean, "flip": bool(marks_background(border_mean, inner_mean)),
            "images_with_bright_border": votes}

