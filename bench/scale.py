"""How the pipeline's cost grows with the data: generated ImageNet-layout data (1,000 class folders of tiny JPEGs
with one box each, the official train/<wnid>/ + <split>_boxes/<wnid>/*.xml layout) through the readers, map
extraction into the map store, boxes, the WSOL evaluation and DDT's per-class grouping, with a random
EfficientNet-Lite0 on CPU. Every step runs as its own process; wall seconds and peak resident memory (the
process and its loader workers) are recorded per step.

    python bench/scale.py --sizes 2000 10000 40000 --out bench/scale_cpu.json

Memory must stay flat as the data grows (maps are streamed from float16 shards, never all held), and time
should grow about linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CLASSES = 1000
SIDE = 48
MEASURE = """
import atexit, resource, runpy, sys
def peak():
    # VmHWM, not RUSAGE_SELF: Linux carries the launching process's peak over fork/exec into ru_maxrss, so under
    # pytest every step would report pytest's own peak; the loader workers (forked here) are this step's memory
    own = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"PEAK_KB {max(own, workers)}", file=sys.stderr)
atexit.register(peak)
if sys.argv[1] == "--code":
    exec(sys.argv[2])
else:
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def generate(root: Path, n: int, seed: int = 0) -> None:
    """n tiny images spread over 1000 class folders of split `val`, a bright square on noise, its box in XML."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        wnid = f"n{i % CLASSES:08d}"
        folder, boxes = root / "val" / wnid, root / "val_boxes" / wnid
        if i < CLASSES:
            folder.mkdir(parents=True, exist_ok=True)
            boxes.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 80, (SIDE, SIDE, 3), dtype=np.uint8)
        w, h = rng.integers(12, 30, 2)
        x0, y0 = rng.integers(0, SIDE - w), rng.integers(0, SIDE - h)
        img[y0:y0 + h, x0:x0 + w] = rng.integers(150, 255, 3, dtype=np.uint8)
        name = f"{wnid}_{i // CLASSES:05d}"
        Image.fromarray(img).save(folder / f"{name}.JPEG", quality=90)
        (boxes / f"{name}.xml").write_text(
            f"<annotation><size><width>{SIDE}</width><height>{SIDE}</height></size><object><name>{wnid}</name>"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x0 + w}</xmax><ymax>{y0 + h}</ymax></bndbox>"
            f"</object></annotation>")


def run_step(name: str, module: str, args: list[str], log: Path) -> dict:
    start = time.time()
    with open(log, "a") as out:
        proc = subprocess.run([sys.executable, "-c", MEASURE, module, *args], cwd=REPO, stdout=out,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    peak_kb = max(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB"))
    return {"step": name, "seconds": round(seconds, 1), "peak_mb": round(peak_kb / 1024, 1)}


def scale_run(n: int, work: Path, threads: int) -> list[dict]:
    data, res = work / f"imagenet_{n}", work / f"results_{n}"
    t0 = time.time()
    generate(data, n)
    steps = [{"step": "generate", "seconds": round(time.time() - t0, 1), "peak_mb": None}]
    res.mkdir(parents=True)
    log = res / "log.txt"
    ds = ["--dataset-format", "imagenet", "--dataset-root", str(data), "--split", "val"]
    common = ["--device", "cpu", "--threads", str(threads), "--no-progress"]
    reader = (f"from c2am.data.readers import read_imagenet; r = read_imagenet({str(data)!r}, 'val'); "
              f"print(len(r), 'images', sum(len(x.boxes) for x in r), 'boxes')")
    steps.append(run_step("read (ILSVRC reader)", "--code", [reader], log))
    steps.append(run_step("pretrain_init (random)", "stages.pretrain_init",
                          ["--backbone", "efficientnet_lite0", "--source", "random", "--out", str(res / "init.pt")],
                          log))
    _random_model(res / "init.pt", res / "model.pt", log)
    steps.append(run_step("extract_maps", "stages.extract_maps",
                          ["--model", str(res / "model.pt"), *ds, "--out-dir", str(res / "maps"), *common,
                           "--resize", "64", "--crop", "none", "--batch-size", "128", "--shard-size", "2048"], log))
    (res / "threshold.json").write_text(json.dumps({"threshold": 0.5, "settings": {"normalization": "minmax"}}))
    steps.append(run_step("make_boxes", "stages.make_boxes",
                          ["--maps", str(res / "maps"), "--threshold-file", str(res / "threshold.json"),
                           "--out", str(res / "boxes.parquet")], log))
    steps.append(run_step("evaluate_wsol", "stages.evaluate_wsol",
                          ["--maps", str(res / "maps"), "--boxes", str(res / "boxes.parquet"), *ds,
                           "--out", str(res / "metrics.json")], log))
    steps.append(run_step("ddt_boxes (1000 class groups)", "stages.ddt_boxes",
                          ["--init", str(res / "init.pt"), *ds, "--out-maps", str(res / "ddt_maps"),
                           "--out-boxes", str(res / "ddt_boxes.parquet"), "--summary", str(res / "ddt.json"),
                           *common, "--resize", "64", "--batch-size", "128"], log))
    metrics = json.loads((res / "metrics.json").read_text())
    assert metrics["images"] == n, metrics["images"]
    return steps


RANDOM_MODEL = """
import sys, torch
from c2am.models.c2am import build_model
from c2am.settings import C2AMTrainSettings
from c2am.training.checkpoint import save_model
init_path, out = sys.argv[1:3]
s = C2AMTrainSettings.defaults()
torch.manual_seed(0)
init = torch.load(init_path, weights_only=True)
save_model(out, build_model(init, s.head_init, s.head_padding, s.feature_stride), init, s.to_dict(), {"note": "random, untrained"})
"""


def _random_model(init_path: Path, out: Path, log: Path) -> None:
    """A C2AM model file from a random init (timing only): what train_c2am writes, without training. In its own
    process, so this one never imports torch (a child would inherit its resident-memory high-water mark)."""
    with open(log, "a") as out_log:
        subprocess.run([sys.executable, "-c", RANDOM_MODEL, str(init_path), str(out)], cwd=REPO, stdout=out_log,
                       stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 40000])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="JSON with every step of every size")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        table = {}
        for n in args.sizes:
            table[n] = scale_run(n, Path(tmp), args.threads)
            for row in table[n]:
                print(f"{n:>6} images  {row['step']:<32} {row['seconds']:>8.1f} s  {row['peak_mb'] or '':>8} MB",
                      flush=True)
    result = {"sizes": table, "device": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
              "command": "python bench/scale.py " + " ".join(sys.argv[1:])}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
