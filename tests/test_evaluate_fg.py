"""stages.evaluate_fg on a hand-made VOC layout: a cue folder (255 = background) is scored as 1 - cue / 255."""

import json

import cv2
import numpy as np
import pytest

from c2am.data.voc import write_mask
from stages.evaluate_fg import parser, run


@pytest.fixture
def voc(tmp_path):
    """Two 4 x 4 images; image a: object in the left half, image b: object in the top-left quarter, one ignored pixel."""
    root = tmp_path / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("a\nb\n")
    masks = {"a": np.zeros((4, 4), np.uint8), "b": np.zeros((4, 4), np.uint8)}
    masks["a"][:, :2] = 15
    masks["b"][:2, :2] = 8
    masks["b"][3, 3] = 255
    for name, mask in masks.items():
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), np.full((4, 4, 3), 128, np.uint8))
        (root / "SegmentationClass").mkdir(exist_ok=True)
        write_mask(root / "SegmentationClass" / f"{name}.png", mask)
    return root


def test_cue_folder_is_scored_as_one_minus_the_background(voc, tmp_path):
    cues = tmp_path / "cues"
    cues.mkdir()
    a = np.full((4, 4), 255, np.uint8)
    a[:, :3] = 0  # foreground predicted on 3 columns: IoU 8 / 12
    b = np.full((4, 4), 255, np.uint8)
    b[:2, :2] = 51  # foreground 1 - 0.2 = 0.8 on the object, 0 elsewhere
    b[3, 3] = 0  # foreground 1 on the ignored pixel (so min-max keeps 0.8): it does not count, IoU 1
    cv2.imwrite(str(cues / "a.png"), a)
    cv2.imwrite(str(cues / "b.png"), b)
    out = tmp_path / "fg.json"
    run(parser().parse_args(["--cues", str(cues), "--dataset-format", "voc", "--dataset-root", str(voc),
                             "--split", "val", "--no-progress", "--out", str(out)]))
    result = json.loads(out.read_text())
    assert result["kind"] == "cues" and result["images"] == 2
    assert result["fg_iou"] == pytest.approx((8 / 12 + 1) / 2)
    assert result["pixel_acc"] == pytest.approx((12 / 16 + 1) / 2)


def test_exactly_one_source_is_required(voc, tmp_path):
    with pytest.raises(ValueError, match="exactly one of --maps, --cues and --saliency"):
        run(parser().parse_args(["--cues", "x", "--saliency", "y", "--dataset-format", "voc", "--dataset-root",
                                 str(voc), "--split", "val", "--out", str(tmp_path / "o.json")]))


def test_map_folder_is_scored_in_the_original_frame(voc, tmp_path):
    from c2am.data.decode import Geometry
    from c2am.wsol.maps import MapWriter

    # 2 x 2 maps over the whole 4 x 4 image; bilinear to 4 x 4 (then min-max scaled): a [[1, 0], [1, 0]] gives the
    # columns 1, .75, .25, 0 (>= 0.5: the left half); b [[1, 0], [0, 0]] gives >= 0.5 on the top-left quarter
    g = Geometry(4, 4, 4, 4, 0, 0, 4, 4)
    with MapWriter(tmp_path / "maps", 2, {}) as w:
        w.add("a", np.array([[1, 0], [1, 0]], np.float32), g)
        w.add("b", np.array([[1, 0], [0, 0]], np.float32), g)
    out = tmp_path / "fg.json"
    run(parser().parse_args(["--maps", str(tmp_path / "maps"), "--threshold", "0.5", "--dataset-format", "voc",
                             "--dataset-root", str(voc), "--split", "val", "--no-progress", "--out", str(out)]))
    result = json.loads(out.read_text())
    assert result["kind"] == "maps" and result["fg_iou"] == 1.0 and result["pixel_acc"] == 1.0
