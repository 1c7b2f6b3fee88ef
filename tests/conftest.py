"""Shared fixtures: where the real data lives, and a small generated demo dataset."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CUB10 = SHARED / "data" / "cub10" / "CUB_200_2011"
COCO128 = SHARED / "data" / "coco128_voc"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet.pth"


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
