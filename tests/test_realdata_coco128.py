"""Real data (../shared/data/coco128_voc: COCO photos with VOC-mapped masks, VOC layout): the WSSS readers,
refinement and evaluation on real files, in seconds.

Oracle CAMs built from the ground-truth masks (blurred one-hot maps of each labelled class) must score ~100 %
mIoU through the threshold sweep and refine_cams, with 255 pixels ignored and classes absent from the split
(cow) unscored; a background cue that says "all background" must score exactly the background-only mIoU.
"""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from c2am.data.readers import read_voc
from c2am.data.voc import read_mask
from c2am.wsss.cams import save_cams
from conftest import COCO128, REPO, need

pytestmark = pytest.mark.realdata


def _run(*args):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_oracle_cams_score_100_and_empty_cues_score_background_only(tmp_path):
    root = need(COCO128)
    records = read_voc(root, "val")
    assert len(records) == 78 and all(r.mask_path is not None and r.labels for r in records)
    cams_dir, cue_dir = tmp_path / "cams", tmp_path / "cues"
    cams_dir.mkdir()
    cue_dir.mkdir()
    for r in records:
        gt = read_mask(r.mask_path)
        keys = [c - 1 for c in r.labels]
        maps = np.stack([cv2.GaussianBlur((gt == c).astype(np.float32), (5, 5), 0) * 0.5 + (gt == c) * 0.5
                         for c in r.labels])
        save_cams(cams_dir / f"{r.image_id}.npz", keys, maps / maps.max(axis=(1, 2), keepdims=True))
        cv2.imwrite(str(cue_dir / f"{r.image_id}.png"), np.full(gt.shape, 255, np.uint8))
    flags = ["--dataset-format", "voc", "--dataset-root", str(root), "--split", "val"]
    _run("stages.sweep_cam_threshold", "--cams", str(cams_dir), *flags, "--out", str(tmp_path / "sweep.json"),
         "--thresholds", "0.6", "0.9")
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["best_threshold"] == 0.6 and sweep["best_miou"] > 0.99
    _run("stages.refine_cams", "--cams", str(cams_dir), *flags, "--background", "threshold", "--sweep",
         str(tmp_path / "sweep.json"), "--out-dir", str(tmp_path / "masks"), "--metrics", str(tmp_path / "m.json"))
    m = json.loads((tmp_path / "m.json").read_text())
    present = {c for r in records for c in r.labels} | {0}
    assert m["images"] == 78 and m["classes_scored"] == len(present) and m["miou"] > 0.99
    assert m["iou"]["cow"] is None  # no cow anywhere: not scored
    _run("stages.refine_cams", "--cams", str(cams_dir), *flags, "--background", "cue", "--cues", str(cue_dir),
         "--out-dir", str(tmp_path / "bg"), "--metrics", str(tmp_path / "bg.json"))
    bg = json.loads((tmp_path / "bg.json").read_text())
    conf = np.array(bg["confusion"])
    assert (conf[:, 1:] == 0).all()  # everything predicted background
    assert bg["miou"] == pytest.approx(conf[0, 0] / conf.sum() / len(present))
