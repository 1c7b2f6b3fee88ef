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
    from c2am.data.synthetic import generate_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(out)
    return out
