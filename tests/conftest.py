"""Shared fixtures: where the real data lives, and a small generated demo dataset."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CUB10 = SHARED / "data" / "cub10" / "CUB_200_2011"
COCO128 = SHARED / "data" / "coco128_voc"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet.pth"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TINY = REPO / "tests" / "data" / "tiny_demo.yaml"  # the demo experiment, shortened


# a C2AM training small enough for a unit test (8 demo images, one epoch)
SMALL = dict(epochs=1, batch_size=4, resize=72, crop=64, workers=0, fg_rule_images=8, lr=0.01)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (the shared data folder sits beside the repo)")
    return path


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The default demo dataset, generated once per test session."""
    from c2am.data.demo import generate_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(out)
    return out


@pytest.fixture(scope="session")
def voc_cue_labels(demo_root, tmp_path_factory):
    """8 demo VOC training records and cue pseudo labels made from their masks (255 = background)."""
    import cv2
    import numpy as np

    from c2am.data.readers import read_voc
    from c2am.data.voc import read_mask

    records = read_voc(demo_root / "VOC2012", "train")[:8]
    folder = tmp_path_factory.mktemp("make_cue_labels")
    labels = []
    for r in records:
        labels.append(folder / f"{r.image_id}.png")
        cv2.imwrite(str(labels[-1]), np.where(read_mask(r.mask_path) == 0, 255, 0).astype(np.uint8))
    return records, labels


@pytest.fixture(scope="session")
def init():
    """The real EfficientNet-Lite0 ImageNet init (from its PyPI package)."""
    from c2am.models.inits import build_init

    return build_init("efficientnet_lite0", "efficientnet_lite0_package")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_root, init) -> Path:
    """model.pt of a SMALL C2AM training on 8 demo CUB images."""
    from c2am.data.readers import read_cub
    from c2am.settings import C2AMTrainSettings
    from c2am.training.c2am import train_c2am

    out = tmp_path_factory.mktemp("model")
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), out / "model.pt", out / "ck.pt", out / "log.jsonl",
               "cpu", progress=False)
    return out / "model.pt"


def snakemake(workdir: Path, *args: str, configfiles=(TINY,)) -> subprocess.CompletedProcess:
    """The workflow run in `workdir` with `args` (targets, -n ...), the config overlays last."""
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    if configfiles:  # last: --configfile takes every following word
        cmd += ["--configfile", *map(str, configfiles)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def edited_config(tmp_path: Path, edit: dict) -> Path:
    """tiny_demo.yaml with `edit` ({"dotted.key": value}) applied, written to tmp_path/edited.yaml."""
    cfg = yaml.safe_load(TINY.read_text())
    for dotted, value in edit.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory) -> Path:
    """A working directory where `snakemake` (all, tiny_demo.yaml) has run once; tests that change what is in it
    work on a copy (see copy_of_demo_pipeline)."""
    work = tmp_path_factory.mktemp("wf")
    proc = snakemake(work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.fixture
def copy_of_demo_pipeline(demo_pipeline, tmp_path) -> Path:
    """A copy of demo_pipeline (file times kept, Snakemake's metadata included: nothing is out of date)."""
    import shutil

    copy = tmp_path / "wf"
    shutil.copytree(demo_pipeline, copy, symlinks=True)
    return copy
