"""The embedded demo dataset: determinism, exact ground truth, layouts the readers accept, atomic writing."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from c2am.data import demo as demo_module
from c2am.data.readers import VOC_CLASSES, parse_voc_xml, read_cub, read_voc
from c2am.data.demo import CLASSES, generate_demo, tight_box, tree_sha256
from c2am.data.voc import voc_palette

PINNED_BOXES = ['1 27.0 36.0 40.0 27.0', '2 26.0 49.0 13.0 22.0', '3 5.0 11.0 22.0 22.0']
SMALL = dict(n_classes=3, n_train_per_class=3, n_test_per_class=2, image_size=(72, 64), seed=5)


def names_of(rec) -> list[str]:
    return [name for name, _ in parse_voc_xml(rec.path.parents[1] / "Annotations" / f"{rec.image_id}.xml")[1]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default demo dataset, generated once for the module (and timed)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    t0 = time.perf_counter()
    summary = generate_demo(out)
    summary["seconds"] = time.perf_counter() - t0
    return summary


def test_default_summary_and_speed(demo):
    assert demo["cub"] == {"train": 96, "test": 48} and demo["voc"] == {"train": 96, "val": 48}
    assert demo["classes"] == [f"{k + 1:03d}.{c.name}" for k, c in enumerate(CLASSES[:4])]
    assert demo["voc_class_ids"] == [1, 2, 3, 4]
    assert demo["seconds"] < 30  # about 5 s on one core; generous for loaded machines
    assert Path(demo["cub_root"], "images.txt").is_file() and Path(demo["voc_root"], "JPEGImages").is_dir()


def test_cub_layout_reads_back_with_exact_boxes(demo):
    recs = read_cub(demo["cub_root"])
    assert len(recs) == 144 and [r.image_id for r in recs] == [str(i) for i in range(1, 145)]
    assert Counter((r.label, r.split) for r in recs) == {(c, s): n for c in range(4)
                                                         for s, n in (("train", 24), ("test", 12))}
    sizes = set()
    for r in recs:
        mask = np.asarray(Image.open(r.mask_path))
        img = Image.open(r.path)
        assert img.size == mask.shape[::-1] and img.mode == "RGB"
        assert set(np.unique(mask)) <= {0, 255}
        assert r.boxes == (tuple(float(v) for v in tight_box(mask > 0)),)
        x0, y0, x1, y1 = r.boxes[0]
        side = max(x1 - x0, y1 - y0) / min(img.size)
        assert 0.15 <= side <= 0.75 and 0 <= x0 and x1 <= img.size[0] and y1 <= img.size[1]
        sizes.add(img.size)
    assert len(sizes) > 50 and all(128 <= s <= 192 for wh in sizes for s in wh)


def test_objects_and_backgrounds_differ_in_saturation(demo):
    """The learnability premise: a fixed saturation threshold separates object from background pixels."""
    accs = []
    for r in read_cub(demo["cub_root"], "test"):
        img = np.asarray(Image.open(r.path).convert("RGB"))
        sat = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1]
        accs.append(np.mean((sat > 100) == (np.asarray(Image.open(r.mask_path)) > 0)))
    assert min(accs) > 0.95 and np.mean(accs) > 0.99


def test_voc_layout_reads_back(demo):
    train, val = read_voc(demo["voc_root"], "train"), read_voc(demo["voc_root"], "val")
    assert (len(train), len(val)) == (96, 48)
    recs = train + val
    assert {c for r in recs for c in r.labels} == {1, 2, 3, 4}
    n_multi = sum(len(r.labels) > 1 for r in recs)
    assert 20 <= n_multi <= 80  # about 40% hold a second object (of a possibly different class)
    assert Counter(r.labels[0] for r in recs if len(r.labels) == 1).keys() == {1, 2, 3, 4}
    for r in recs:
        with Image.open(r.mask_path) as im:
            assert im.mode == "P" and (r.width, r.height) == im.size == Image.open(r.path).size
            assert np.array_equal(np.asarray(im.getpalette(), np.uint8).reshape(-1, 3)[:256], voc_palette())
            mask = np.asarray(im)
        assert set(np.unique(mask)) <= {0, 1, 2, 3, 4, 255} and (mask == 255).any()
        assert len(r.boxes) >= len(r.labels) >= 1
        assert (mask == 255).mean() < 0.2  # a thin band
        for c in r.labels:  # class pixels lie inside that class's boxes
            inside = np.zeros(mask.shape, bool)
            for (x0, y0, x1, y1), name in zip(r.boxes, names_of(r)):
                if name == VOC_CLASSES[c]:
                    inside[int(y0):int(y1), int(x0):int(x1)] = True
            assert not ((mask == c) & ~inside).any()
        if len(r.boxes) == 1:  # single object: the ignore band is the mask dilated/eroded by one pixel
            x0, y0, x1, y1 = r.boxes[0]
            expect = (max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, r.width), min(y1 + 1, r.height))
            assert tuple(float(v) for v in tight_box(mask > 0)) == expect


def test_voc_palette_is_standard():
    pal = voc_palette()
    assert pal[0].tolist() == [0, 0, 0] and pal[1].tolist() == [128, 0, 0] and pal[15].tolist() == [192, 128, 128]
    assert pal[255].tolist() == [224, 224, 192]


def test_deterministic_bytes(tmp_path):
    a = generate_demo(tmp_path / "a", **SMALL)
    b = generate_demo(tmp_path / "b", **SMALL)
    assert a["sha256"] == b["sha256"] == tree_sha256(tmp_path / "a") == tree_sha256(tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + (5 + 2 * 15) + (2 + 3 * 15)  # manifest, CUB texts + images + masks, VOC
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    c = generate_demo(tmp_path / "c", **{**SMALL, "seed": 6})
    assert c["sha256"] != a["sha256"]
    assert (tmp_path / "c" / "CUB_200_2011" / "images.txt").read_text() == \
        (tmp_path / "a" / "CUB_200_2011" / "images.txt").read_text()
    assert (tmp_path / "c" / "CUB_200_2011" / "bounding_boxes.txt").read_text() != \
        (tmp_path / "a" / "CUB_200_2011" / "bounding_boxes.txt").read_text()


def test_ground_truth_is_pinned(tmp_path):
    """Annotations depend only on numpy's Generator streams, OpenCV's integer polygon fill and this code.

    If this fails after a library upgrade, the demo's ground truth (and every demo result) has changed.
    """
    generate_demo(tmp_path / "d", **SMALL)
    boxes = (tmp_path / "d" / "CUB_200_2011" / "bounding_boxes.txt").read_text().splitlines()
    assert boxes[:3] == PINNED_BOXES


def test_cub_text_files_exact_format(tmp_path):
    generate_demo(tmp_path / "d", **SMALL)
    root = tmp_path / "d" / "CUB_200_2011"
    assert (root / "classes.txt").read_text() == \
        "1 001.Red_Striped_Ellipse\n2 002.Blue_Dotted_Star\n3 003.Green_Checkered_Square\n"
    assert (root / "images.txt").read_text().splitlines()[0] == "1 001.Red_Striped_Ellipse/Red_Striped_Ellipse_0001.jpg"
    assert (root / "image_class_labels.txt").read_text().splitlines()[-1] == "15 3"
    split = [line.split()[1] for line in (root / "train_test_split.txt").read_text().splitlines()]
    assert [split[5 * c:5 * c + 5].count("1") for c in range(3)] == [3, 3, 3]
    for line in (root / "bounding_boxes.txt").read_text().splitlines():
        _, x, y, w, h = line.split()
        assert all(v.endswith(".0") for v in (x, y, w, h)) and float(w) > 0 and float(h) > 0


def test_idempotent_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "demo"
    first = generate_demo(out, **SMALL)
    stamp = (out / "demo.json").stat().st_mtime_ns
    assert generate_demo(out, **SMALL) == first and (out / "demo.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="different settings; pass overwrite=True"):
        generate_demo(out, **{**SMALL, "seed": 1})
    second = generate_demo(out, **{**SMALL, "seed": 1}, overwrite=True)
    assert second["params"]["seed"] == 1 and tree_sha256(out) == second["sha256"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a demo dataset"):
        generate_demo(tmp_path / "other", **SMALL)
    (tmp_path / "empty").mkdir()
    assert generate_demo(tmp_path / "empty", **SMALL)["sha256"] == first["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "empty", "other"]  # no temp leftovers


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_module, "_write_voc", boom)
    with pytest.raises(KeyboardInterrupt):
        generate_demo(tmp_path / "demo", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_classes"):
        generate_demo(tmp_path / "x", n_classes=len(CLASSES) + 1)
    with pytest.raises(ValueError, match="seed >= 0"):
        generate_demo(tmp_path / "x", seed=-1)
    with pytest.raises(ValueError, match="empty mask"):
        tight_box(np.zeros((3, 3), bool))
    m = np.zeros((5, 7), bool)
    m[1:3, 2:6] = True
    assert tight_box(m) == (2, 1, 6, 3)
