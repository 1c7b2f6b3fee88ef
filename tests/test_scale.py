"""The scale benchmark (bench/scale.py) at its smallest size: 2,000 generated images in 1,000 ImageNet class
folders through the ILSVRC reader, map extraction, boxes, the WSOL evaluation and DDT's 1,000 class groups, each
step its own process. The larger sizes (10k, 40k) and their table are in bench/RESULTS.md."""

import importlib.util
import json

from conftest import REPO

SMALLEST = 2000
# what one step may hold at this size (torch + a loader worker + one shard of maps); bench/RESULTS.md shows it flat
PEAK_MB_LIMIT = 2500


def _scale_module():
    spec = importlib.util.spec_from_file_location("scale", REPO / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_thousand_images_in_a_thousand_classes_run_every_step_with_bounded_memory(tmp_path):
    scale = _scale_module()
    steps = scale.scale_run(SMALLEST, tmp_path, threads=2)
    names = [row["step"] for row in steps]
    assert names[0] == "generate" and any(n.startswith("ddt_boxes") for n in names) and "evaluate_wsol" in names
    peaks = {row["step"]: row["peak_mb"] for row in steps if row["peak_mb"] is not None}
    assert max(peaks.values()) < PEAK_MB_LIMIT, peaks
    res = tmp_path / f"results_{SMALLEST}"
    ddt = json.loads((res / "ddt.json").read_text())
    assert len(ddt["groups"]) == 1000 and ddt["images"] == SMALLEST
    metrics = json.loads((res / "metrics.json").read_text())
    assert metrics["images"] == SMALLEST
