"""PSOL route: evaluation on hand-computed cases, pseudo-box choice, prediction tables, a tiny training run."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from c2am.data.records import ImageRecord
from c2am.wsol.metrics import evaluate_psol
from c2am.wsol.psol import boxes_from_outputs, pseudo_box_per_image, topk_table


def _records():
    # 4 images, classes 0, 0, 1, 2; GT boxes 10x10 at the origin (image 3 has two GT boxes)
    gt = (0, 0, 10, 10)
    return [ImageRecord("a", "a.jpg", "test", label=0, boxes=(gt,)),
            ImageRecord("b", "b.jpg", "test", label=0, boxes=(gt,)),
            ImageRecord("c", "c.jpg", "test", label=1, boxes=(gt,)),
            ImageRecord("d", "d.jpg", "test", label=2, boxes=((50, 50, 60, 60), gt))]


def _boxes(rows):
    return pd.DataFrame([{"image_id": i, "box": 0, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3],
                          "threshold": np.nan, "score": 1.0} for i, b in rows])


def test_top1_top5_gt_known_on_a_hand_computed_case():
    boxes = _boxes([("a", (0, 0, 10, 10)),     # IoU 1
                    ("b", (0, 0, 10, 20)),     # IoU 0.5: counts (>= 0.5)
                    ("c", (5, 5, 15, 15)),     # IoU 25/175 = 0.14: wrong
                    ("d", (50, 50, 60, 61))])  # IoU 100/110 = 0.91 with its first GT box
    classes = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "top1": [0, 1, 1, 0], "top2": [1, 0, 0, 2],
                            "p1": [.9, .6, .7, .5], "p2": [.1, .4, .3, .5]})
    m = evaluate_psol(_records(), boxes, classes, 0.5, False)
    # loc correct: a, b, d.  top-1 right: a, c.  GT class among the 2 predictions: a, b, c, d
    assert m["gt_known_loc"] == 0.75 and m["top1_loc"] == 0.25 and m["top5_loc"] == 0.75
    # per class: class 0 (a, b), class 1 (c), class 2 (d)
    assert m["gt_known_loc_class_avg"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["top1_loc_class_avg"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert m["top5_loc_class_avg"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["top1_cls"] == 0.5 and m["top5_cls"] == 1.0 and m["top5_k"] == 2 and m["classes"] == 3
    strict = evaluate_psol(_records(), boxes, classes, 0.5, strict=True)
    assert strict["gt_known_loc"] == 0.5  # b's IoU of exactly 0.5 fails "> 0.5"


def test_missing_predictions_are_named():
    classes = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "top1": [0, 0, 1, 2], "p1": [1.0] * 4})
    with pytest.raises(ValueError, match="localizer boxes lack 1 images.*'d'"):
        evaluate_psol(_records(), _boxes([(i, (0, 0, 1, 1)) for i in "abc"]), classes, 0.5, False)
    with pytest.raises(ValueError, match="classifier predictions lack 2 images"):
        evaluate_psol(_records(), _boxes([(i, (0, 0, 1, 1)) for i in "abcd"]), classes.iloc[:2], 0.5, False)


def test_pseudo_box_is_the_box_with_the_most_activation():
    # image 1: a 2x2 box at mean 0.9 (mass 3.6) and a 4x4 box at 0.5 (mass 8); image 2: one box
    table = pd.DataFrame({"image_id": ["1", "1", "2"], "box": [0, 1, 0], "x0": [0, 5, 1], "y0": [0, 5, 1],
                          "x1": [2, 9, 3], "y1": [2, 9, 3], "threshold": .5, "score": [0.9, 0.5, 0.1]})
    assert pseudo_box_per_image(table) == {"1": (5, 5, 9, 9), "2": (1, 1, 3, 3)}


def test_localizer_outputs_become_ordered_clipped_boxes_in_original_pixels():
    out = torch.tensor([[0.25, 0.5, 0.75, 0.1], [-0.2, 0.3, 1.4, 0.6]])
    table = boxes_from_outputs(["x", "y"], out, torch.tensor([[200.0, 100.0], [10.0, 10.0]], dtype=torch.float64),
                               "linear")
    np.testing.assert_allclose(table[["x0", "y0", "x1", "y1"]].to_numpy(), [[50, 10, 150, 50], [0, 3, 10, 6]])


def test_topk_table_maps_outputs_to_dataset_class_ids():
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    table = topk_table(["u", "v"], logits, class_ids=[4, 7, 9], k=5)
    assert list(table.columns) == ["image_id", "top1", "top2", "top3", "p1", "p2", "p3"]
    assert table[["top1", "top2", "top3"]].to_numpy().tolist() == [[7, 9, 4], [4, 7, 9]]
    assert table["p1"].iloc[1] == pytest.approx(math.exp(3) / (math.exp(3) + 2))
