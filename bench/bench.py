"""Throughput of C2AM training and map extraction: this implementation's fast path against a plain fp32-eager
variant of the same network (how the authors run it), in one run on one device, plus end-to-end training with the
real data loader on real JPEGs.

    python bench/bench.py --device cuda                      # GPU: ResNet-50 (the paper's encoder)
    python bench/bench.py --device cpu --quick               # CPU: under 5 minutes, same table
    python bench/bench.py --device cuda --compile            # adds torch.compile to the fast path

Rows (the authors' recipes): train CUB (batch 16 @ 224), train ImageNet (batch 128 @ 224), train VOC
(batch 32 @ 448), extraction (batch 64 @ 448), and end-to-end training on ../shared/data/cub10 JPEGs with the
pipeline's loader (TrainViews + DataLoader, pinned memory, non-blocking copies) at the CUB recipe, compared with
the same step on synthetic input. Weights are random (timing only; the arithmetic does not depend on them).

fp32 eager: float32, NCHW, no autocast, no compile. Fast path (what train_c2am / extract_maps do on a GPU):
bf16 autocast (fp16 where bf16 is missing), channels_last, optional torch.compile. On a CPU both columns run
float32 NCHW here (autocast is GPU-only), so the ratio is ~1 by design; the pipeline's CPU channels_last and
inference chunks are measured separately (bench/RESULTS.md, "CPU inference").
Output: a Markdown table on stdout and --out (JSON) with device, versions, date and the command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from c2am.losses import contrastive_loss  # noqa: E402
from c2am.models.backbones import IMAGENET_MEAN, IMAGENET_STD, build_backbone  # noqa: E402
from c2am.models.c2am import C2AM  # noqa: E402
from c2am.settings import C2AMTrainSettings  # noqa: E402

TRAIN_ROWS = [("train CUB", 16, 224), ("train ImageNet", 128, 224), ("train VOC", 32, 448)]
EXTRACT_ROW = ("extraction", 64, 448)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_mb(dev: torch.device) -> float | None:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    return None


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def make_model(backbone: str, dev: torch.device, fast: bool, compile_: bool) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(0)
    s = C2AMTrainSettings.defaults()
    model = C2AM(build_backbone(backbone), s.head_init, s.head_padding, IMAGENET_MEAN, IMAGENET_STD).to(dev)
    if fast and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    runner = torch.compile(model) if (fast and compile_) else model
    return model, runner


def amp_dtype(dev: torch.device) -> torch.dtype:
    return torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16


def train_step_fn(model, runner, dev, fast: bool):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    use_amp = fast and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype(dev) == torch.float16)

    def step(x: torch.Tensor) -> float:
        if fast and dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=amp_dtype(dev), enabled=use_amp):
            v_fg, v_bg, _ = runner(x)
        loss = contrastive_loss(v_fg, v_bg, 0.05).total
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    return step


def timed(fn, batches, dev, warmup: int, steps: int) -> float:
    """Seconds per call over `steps` calls after `warmup` calls (device synchronised)."""
    for i in range(warmup):
        fn(batches[i % len(batches)])
    sync(dev)
    start = time.perf_counter()
    for i in range(steps):
        fn(batches[i % len(batches)])
    sync(dev)
    return (time.perf_counter() - start) / steps


def synthetic(batch: int, size: int, dev: torch.device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.rand(batch, 3, size, size, generator=g).to(dev) for _ in range(2)]


def bench_train(backbone, dev, batch, size, fast, compile_, warmup, steps) -> dict:
    reset_peak(dev)
    model, runner = make_model(backbone, dev, fast, compile_)
    model.train()
    step = train_step_fn(model, runner, dev, fast)
    sec = timed(step, synthetic(batch, size, dev), dev, warmup, steps)
    return {"img_per_s": batch / sec, "peak_mb": peak_mb(dev)}


def bench_extract(backbone, dev, batch, size, fast, compile_, warmup, steps) -> dict:
    reset_peak(dev)
    model, _ = make_model(backbone, dev, fast, False)
    model.eval()
    fmap = torch.compile(model.foreground_map) if (fast and compile_) else model.foreground_map
    use_amp = fast and dev.type == "cuda"

    @torch.no_grad()
    def run(x):
        if use_amp:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=amp_dtype(dev), enabled=use_amp):
            return fmap(x).float().cpu()  # the maps leave the device, as extract_maps writes them

    sec = timed(run, synthetic(batch, size, dev), dev, warmup, steps)
    return {"img_per_s": batch / sec, "peak_mb": peak_mb(dev)}


def bench_loader(backbone, dev, batch, size, compile_, steps, workers, data_root: Path) -> dict | None:
    """End-to-end training img/s with the pipeline's loader on real JPEGs (fast path), and the loader alone."""
    from torch.utils.data import DataLoader

    from c2am.data.readers import read_cub
    from c2am.training.c2am import TrainViews
    from c2am.training.loop import EpochOrder

    if not data_root.is_dir():
        return None
    records = read_cub(data_root, split="train")
    s = C2AMTrainSettings.from_dict({"batch_size": batch, "resize": round(size * 256 / 224), "crop": size})
    views = TrainViews(records, s)
    model, runner = make_model(backbone, dev, True, compile_)
    model.train()
    step = train_step_fn(model, runner, dev, True)

    def batches():
        epoch = 0
        while True:
            views.epoch = epoch
            loader = DataLoader(views, batch_size=batch, sampler=EpochOrder(len(records), batch, 0, epoch),
                                num_workers=workers, pin_memory=dev.type == "cuda", drop_last=True,
                                persistent_workers=False, prefetch_factor=4 if workers else None)
            for b in loader:
                yield b
            epoch += 1

    it = batches()  # the loader alone: decode + resize + crop + flip + collate, nothing consumes the batches
    next(it)
    start = time.perf_counter()
    n = sum(len(next(it)) for _ in range(steps))
    loader_only = n / (time.perf_counter() - start)
    it = batches()
    for _ in range(2):  # warm-up (workers start, cudnn picks kernels)
        step(next(it).to(dev, non_blocking=True).float().div_(255))
    sync(dev)
    start = time.perf_counter()
    for _ in range(steps):
        step(next(it).to(dev, non_blocking=True).float().div_(255))
    sync(dev)
    e2e = batch * steps / (time.perf_counter() - start)
    return {"img_per_s": e2e, "loader_img_per_s": loader_only, "images": len(records), "workers": workers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default=None, help="default: resnet50 on GPU, efficientnet_lite0 on CPU")
    p.add_argument("--quick", action="store_true", help="few steps (CPU: the whole run in under 5 minutes)")
    p.add_argument("--compile", action="store_true", help="torch.compile in the fast path")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "cub10" / "CUB_200_2011"))
    p.add_argument("--rows", nargs="+", default=None, help="subset of: cub imagenet voc extract loader")
    p.add_argument("--out", default=None, help="JSON results (default bench/results_<device>.json)")
    args = p.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    backbone = args.backbone or ("resnet50" if dev.type == "cuda" else "efficientnet_lite0")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # quick: one timed step per row, after one warm-up step on a GPU (CPU steps need no warm-up to be fair)
    warmup, steps = ((0 if dev.type == "cpu" else 1), 1) if args.quick else (5, 20)
    wanted = set(args.rows or ["cub", "imagenet", "voc", "extract", "loader"])
    keys = {"train CUB": "cub", "train ImageNet": "imagenet", "train VOC": "voc"}
    rows = []
    for name, batch, size in TRAIN_ROWS + [EXTRACT_ROW]:
        if (keys.get(name) or "extract") not in wanted:
            continue
        fn = bench_extract if name == "extraction" else bench_train
        base = fn(backbone, dev, batch, size, False, False, warmup, steps)
        fast = fn(backbone, dev, batch, size, True, args.compile, warmup, steps)
        rows.append({"row": name, "batch": batch, "size": size, "fp32_eager": base, "fast": fast,
                     "ratio": fast["img_per_s"] / base["img_per_s"]})
        print(f"{name}: fp32 eager {base['img_per_s']:.1f} img/s, fast {fast['img_per_s']:.1f} img/s "
              f"({rows[-1]['ratio']:.2f}x)", file=sys.stderr, flush=True)
    loader = None
    if "loader" in wanted:
        loader = bench_loader(backbone, dev, 16, 224, args.compile, 4 if args.quick else 40, args.workers,
                              Path(args.data))
        if loader is not None:
            cub_fast = next((r["fast"]["img_per_s"] for r in rows if r["row"] == "train CUB"), None)
            loader["synthetic_img_per_s"] = cub_fast
            loader["fraction_of_synthetic"] = loader["img_per_s"] / cub_fast if cub_fast else None
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device_name(dev),
            "backbone": backbone, "torch": torch.__version__, "python": platform.python_version(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "quick": args.quick, "compile": args.compile,
            "warmup": warmup, "steps": steps, "cpu_threads": torch.get_num_threads(),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    result = {**info, "rows": rows, "loader": loader}
    out = Path(args.out or REPO / "bench" / f"results_{dev.type}.json")
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result))


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    model = "unknown CPU"
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def markdown(r: dict) -> str:
    def mb(v):
        return "n/a" if v is None else f"{v:.0f}"

    lines = [f"{r['device']} · {r['backbone']} · torch {r['torch']} · {r['date']} · `{r['command']}`", "",
             "| row | batch @ size | fp32 eager img/s | fast img/s | ratio | peak MB fp32 / fast |",
             "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['row']} | {row['batch']} @ {row['size']} | {row['fp32_eager']['img_per_s']:.1f} | "
                     f"{row['fast']['img_per_s']:.1f} | {row['ratio']:.2f}x | {mb(row['fp32_eager']['peak_mb'])} / "
                     f"{mb(row['fast']['peak_mb'])} |")
    if r.get("loader"):
        lo = r["loader"]
        frac = lo["fraction_of_synthetic"]
        lines.append(f"| train CUB, real JPEGs + loader ({lo['workers']} workers) | 16 @ 224 | | {lo['img_per_s']:.1f} | "
                     f"{'' if frac is None else f'{100 * frac:.0f} % of synthetic'} | loader alone "
                     f"{lo['loader_img_per_s']:.0f} img/s |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
