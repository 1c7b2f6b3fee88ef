"""Shared fixtures: where the real data lives, and a small generated demo dataset."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CUB10 = SHARED / "data" / "cub10" / "CUB_200_2011"
COCO128 = SHARED / "data" / "coco128_voc"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet.pth"


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
    folder = tmp_path_factory.mktemp("cue_labels")
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
