"""Foreground-mask scores (c2am.foreground_scores), predict's CRF refinement and the fg table, on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c2am.foreground_scores import ForegroundScores, best_level, foreground_truth
from c2am.predict import mask_score
from c2am.settings import CrfSettings
from c2am.wsss.crf import crf_foreground

CRF = CrfSettings.defaults()  # predict's CRF


def two_images() -> ForegroundScores:
    """Image 1 (2 x 3): classes 1 and 2 are foreground, 255 ignored; scores given as q / 255.
        mask  [[0,   1,   255], [2,   0,   0 ]]
        q     [[50,  230, 200], [150, 128, 20]]
    Image 2: no foreground, a constant zero map."""
    scores = ForegroundScores()
    mask = np.array([[0, 1, 255], [2, 0, 0]], np.uint8)
    q = np.array([[50, 230, 200], [150, 128, 20]], np.float64)
    assert scores.add(q / 255, mask, 0.5) == pytest.approx(2 / 3)
    assert scores.add(np.zeros((2, 2)), np.zeros((2, 2), np.uint8), 0.5) == 1.0
    return scores


def test_foreground_truth_counts_every_object_class_and_ignores_255():
    fg, valid = foreground_truth(np.array([[0, 1, 20, 254, 255]], np.uint8))
    assert fg.tolist() == [[False, True, True, True, False]]
    assert valid.tolist() == [[True, True, True, True, False]]


def test_scores_of_a_hand_computed_pair_of_images():
    """Image 1 at level 0.5 predicts q = 230, 150, 128 (the ignored 200 does not count): 2 of them are foreground,
    union 3 -> IoU 2/3; 4 of 5 valid pixels right. Image 2: nothing predicted, nothing true -> IoU 1, accuracy 1.
    Curve of image 1: tp = 2 (k <= 150), 1 (k <= 230), 0; fp = 3 (k <= 20), 2 (k <= 50), 1 (k <= 128), 0, so its
    IoU is 2/5, 2/4, 2/3, then 1 for k = 129..150, 1/2 up to 230, then 0; image 2 scores 1 at every level.
    maxF (image 1 only: image 2 holds no foreground): P = R = 1 at k = 129 -> 1; at k = 151: P 1, R 1/2 ->
    1.3 x 0.5 / (0.3 + 0.5) = 0.8125."""
    s = two_images().summary()
    assert s["images"] == 2 and s["images_with_foreground"] == 1
    assert s["fg_iou"] == pytest.approx((2 / 3 + 1) / 2)
    assert s["pixel_acc"] == pytest.approx((4 / 5 + 1) / 2)
    curve = np.array(s["iou_curve"])
    assert curve.shape == (255,)
    expected = np.empty(255)
    k = np.arange(1, 256)
    image1 = np.select([k <= 20, k <= 50, k <= 128, k <= 150, k <= 230], [2 / 5, 2 / 4, 2 / 3, 1.0, 1 / 2], 0.0)
    expected[:] = (image1 + 1) / 2
    np.testing.assert_allclose(curve, expected, atol=1e-6)
    assert s["max_f"] == pytest.approx(1.0) and s["max_f_level"] == pytest.approx(129 / 255)
    assert best_level(s["iou_curve"]) == (pytest.approx(129 / 255), pytest.approx(1.0))


def test_max_f_when_precision_and_recall_differ():
    """One image, fg = 2 pixels with q 200 and 100, bg 1 pixel with q 150. k <= 100: P 2/3, R 1 -> F = 1.3 x (2/3)
    / (0.3 x 2/3 + 1) = 0.7222; k in 101..150: P 1/2, R 1/2 -> 0.5; k in 151..200: P 1, R 1/2 -> 0.8125 (max)."""
    scores = ForegroundScores()
    scores.add(np.array([[200, 100, 150]]) / 255, np.array([[1, 1, 0]], np.uint8), 0.5)
    f, level = scores.max_f()
    assert f == pytest.approx(0.8125) and level == pytest.approx(151 / 255)


def test_bad_score_maps_are_refused():
    scores = ForegroundScores()
    with pytest.raises(ValueError, match="does not match"):
        scores.add(np.zeros((2, 2)), np.zeros((3, 2), np.uint8), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scores.add(np.full((2, 2), 2.0), np.zeros((2, 2), np.uint8), 0.5)
    with pytest.raises(ValueError, match="no image"):
        ForegroundScores().summary()


def test_the_unrefined_mask_score():
    scaled = np.array([[0.1, 0.9]])
    score, level = mask_score(scaled, None, 0.4, "none", 512)
    assert score is scaled and level == 0.4
    with pytest.raises(ValueError, match="unknown refine"):
        mask_score(scaled, None, 0.4, "bilateral", 512)


def square_scene(size: int = 96):
    """A bright square (rows / cols 30..69) on a dark textured background, and a blurry map of it that bleeds
    8 pixels past its edges (what stride-16 maps upsampled look like)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
    image[30:70, 30:70] = 220
    truth = np.zeros((size, size), np.uint8)
    truth[30:70, 30:70] = 1
    yy, xx = np.mgrid[:size, :size]
    dist = np.maximum(np.abs(yy - 49.5), np.abs(xx - 49.5))
    blurry = np.clip(1 - (dist - 20) / 16, 0, 1)  # 0.5 at 28 pixels from the centre: 8 past the square
    return image, truth, blurry


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_crf_refinement_snaps_a_blurry_mask_to_the_object_edges():
    image, truth, blurry = square_scene()
    seed = blurry >= 0.5
    refined = crf_foreground(image, blurry, 0.5, 512, CRF) >= 0.5
    assert iou(seed, truth > 0) < 0.72  # (56 x 56 vs 40 x 40: 0.51)
    assert iou(refined, truth > 0) > 0.9
    # on a downscaled copy of the image (max_side 48) the marginal comes back at the original size
    small = crf_foreground(image, blurry, 0.5, 48, CRF)
    assert small.shape == truth.shape and iou(small >= 0.5, truth > 0) > 0.8
    # the same through predict's helper
    score, level = mask_score(blurry, image, 0.5, "crf", 512)
    assert level == 0.5 and np.array_equal(score >= level, refined)


def test_crf_refinement_of_a_map_without_contrast_changes_nothing():
    image, _, _ = square_scene()
    assert not crf_foreground(image, np.zeros((96, 96)), 0.5, 512, CRF).any()


def test_table_row_reports_the_level_chosen_on_train(tmp_path):
    """The fg table picks the best level on the train split's curve and reads the eval split's curve there."""
    from c2am.tables import fg_row as row_of

    curve_train = [0.1] * 255
    curve_train[99] = 0.8  # level 100 / 255
    curve_eval = [0.2] * 255
    curve_eval[99] = 0.6
    common = {"images": 3, "pixel_acc": 0.9, "max_f": 0.7, "level": 0.5}
    (tmp_path / "train.json").write_text(json.dumps({**common, "split": "train", "fg_iou": 0.5,
                                                     "iou_curve": curve_train}))
    (tmp_path / "val.json").write_text(json.dumps({**common, "split": "val", "fg_iou": 0.4, "iou_curve": curve_eval}))
    row = row_of("C2AM", "exp", "ds", str(tmp_path / "train.json"), str(tmp_path / "val.json"))
    assert row["fg IoU"] == pytest.approx(40.0) and row["train fg IoU"] == pytest.approx(50.0)
    assert row["fg IoU (level chosen on train)"] == pytest.approx(60.0)
    assert row["level chosen on train"] == pytest.approx(round(100 / 255, 4))
