"""Running a network on images: the device a stage asks for, the AMP dtype, uint8 images to network input, a
model made ready for inference, and `infer` (one autocast pass on GPU, small float32 chunks on CPU). The training
loop (c2am.training.loop) shares the device, dtype and input helpers."""

from __future__ import annotations

import torch

from .training.checkpoint import TrainingError

# images per forward pass on CPU: at test resolution a large batch's activations spill the caches (EfficientNet-Lite0
# at 448 px on 2 cores: 0.41 s an image in batches of 32, 0.21 in batches of 4, 0.12 with channels_last)
CPU_CHUNK = 4


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for `name` (auto | cpu | cuda | cuda:N); under torchrun, cuda means this process's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("--device cuda asked for, but torch sees no CUDA device")
    if name == "cuda" and local_rank:
        return torch.device("cuda", local_rank)
    return torch.device(name)


def amp_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the GPU has it, else fp16 (with loss scaling)."""
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16


def to_input(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 images [n, 3, h, w] -> float in [0, 1] on `device` (channels_last when asked)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def inference_model(model: torch.nn.Module, device: torch.device, channels_last: bool) -> torch.nn.Module:
    """`model` on `device` in eval mode, in channels_last memory format when asked (GPU and CPU alike)."""
    model = model.to(device).eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model


def infer(fn, images: torch.Tensor, device: torch.device, channels_last: bool, amp: bool) -> torch.Tensor:
    """float32 outputs of `fn` (a network, or one of its methods) on uint8 images [n, 3, h, w] scaled to [0, 1]:
    one pass under autocast on GPU (when `amp`); on CPU in chunks of CPU_CHUNK images, in float32. Call it under
    torch.no_grad()."""
    on_gpu = device.type == "cuda"
    outputs = []
    for chunk in (images,) if on_gpu else images.split(CPU_CHUNK):
        x = to_input(chunk, device, channels_last)
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=on_gpu and amp):
            outputs.append(fn(x).float())
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


__all__ = ["CPU_CHUNK", "amp_dtype", "infer", "inference_model", "pick_device", "to_input"]
