"""Hand-computed cases for c2am.metrics (boxes are x0, y0, x1, y1 with exclusive x1/y1)."""

import warnings

import numpy as np
import pytest

from c2am.wsol.metrics import (
    AUTHORS_THRESHOLDS,
    PixelAP,
    authors_protocol_from_curve,
    best_iou_curve,
    best_iou_per_image,
    box_iou,
    center_box_baseline,
    choose_threshold,
    gt_known_loc,
    gt_known_loc_class_averaged,
    max_box_acc_v2_from_curve,
    top_k_loc,
)


# ------------------------------------------------------------------------------------------ IoU
def test_box_iou_hand_values():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4]])
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [1, 0, 2, 1]])
    expected = [[1 / 7, 1.0, 1 / 4], [4 / 16, 4 / 16, 1 / 16]]
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=0, atol=1e-15)


def test_box_iou_touching_edges_is_zero():
    # exclusive edges: [0,1) and [1,2) share no pixel (the old "+1" convention would say 1/3)
    assert box_iou([[0, 0, 1, 1]], [[1, 0, 2, 1]])[0, 0] == 0.0


def test_box_iou_zero_area_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = box_iou([[1, 1, 1, 3], [0, 0, 0, 0]], [[1, 1, 1, 3], [0, 0, 2, 2], [0, 0, 0, 0]])
    np.testing.assert_array_equal(out, np.zeros((2, 3)))
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_best_iou_per_image_several_boxes():
    preds = [[[0, 0, 2, 2], [5, 5, 9, 9]], [[0, 0, 2, 2]], np.zeros((0, 4)), [0, 0, 4, 4]]
    gts = [[[4, 4, 8, 8]], [[1, 1, 3, 3], [0, 0, 2, 4]], [[0, 0, 1, 1]], [[10, 10, 11, 11], [0, 0, 2, 2]]]
    # image 0: [5,5,9,9] vs [4,4,8,8]: inter 9, union 23; image 1: max(1/7, 4/8); image 2: no prediction
    np.testing.assert_allclose(best_iou_per_image(preds, gts), [9 / 23, 0.5, 0.0, 0.25], atol=1e-15)


def test_best_iou_needs_gt_boxes():
    with pytest.raises(ValueError, match="without GT boxes"):
        best_iou_per_image([[0, 0, 1, 1]], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match="entries"):
        best_iou_per_image([[0, 0, 1, 1]], [[[0, 0, 1, 1]], [[0, 0, 1, 1]]])


# --------------------------------------------------------------------------- GT-known / Top-k Loc
PREDS = [[0, 0, 2, 2], [0, 0, 2, 2], [[5, 5, 6, 6], [0, 0, 4, 4]]]
GTS = [
    [[10, 10, 12, 12], [0, 0, 2, 4]],  # second GT: IoU exactly 4/8 = 0.5
    [[1, 1, 3, 3]],  # IoU 1/7
    [[0, 0, 4, 4]],  # second prediction: IoU 1
]


def test_gt_known_loc_boundary_and_any_gt():
    assert gt_known_loc(PREDS, GTS) == pytest.approx(2 / 3, abs=1e-15)
    assert gt_known_loc(PREDS, GTS, strict=True) == pytest.approx(1 / 3, abs=1e-15)
    assert gt_known_loc(PREDS, GTS, iou_threshold=0.1) == 1.0
    assert gt_known_loc(np.array([[0, 0, 2, 2]]), [[[0, 0, 2, 4]]]) == 1.0  # [n, 4] input form


def test_class_averaged_vs_image_averaged():
    preds = np.array([[0, 0, 2, 2]] * 4)
    gts = [[[0, 0, 2, 2]]] * 3 + [[[5, 5, 6, 6]]]  # correct, correct, correct, wrong
    labels = [0, 0, 0, 1]
    assert gt_known_loc(preds, gts) == 0.75
    assert gt_known_loc_class_averaged(preds, gts, labels) == 0.5  # (3/3 + 0/1) / 2


def test_top_k_loc():
    preds = np.array([[0, 0, 2, 2]] * 3)
    gts = [[[0, 0, 2, 2]], [[0, 0, 2, 2]], [[5, 5, 6, 6]]]  # loc: T, T, F
    labels = np.array([2, 5, 1])
    topk = np.array([[2, 0, 1], [0, 5, 3], [1, 2, 3]])  # top-1 hit: T, F, T; top-2: T, T, T
    assert top_k_loc(preds, gts, topk, labels, k=1) == pytest.approx(1 / 3, abs=1e-15)
    assert top_k_loc(preds, gts, topk, labels, k=2) == pytest.approx(2 / 3, abs=1e-15)
    assert top_k_loc(preds, gts, topk, labels, k=3) == pytest.approx(2 / 3, abs=1e-15)
    # class-averaged: labels 2 (1/1), 5 (0/1), 1 (0/1) at k=1
    assert top_k_loc(preds, gts, topk, labels, k=1, class_averaged=True) == pytest.approx(1 / 3, abs=1e-15)
    with pytest.raises(ValueError, match="columns"):
        top_k_loc(preds, gts, topk, labels, k=5)


def test_top_k_class_averaged_unbalanced():
    preds = np.array([[0, 0, 2, 2]] * 4)
    gts = [[[0, 0, 2, 2]]] * 4
    labels = np.array([0, 0, 0, 1])
    topk = np.array([[0], [0], [1], [1]])  # correct: T, T, F, T
    assert top_k_loc(preds, gts, topk, labels, k=1) == 0.75
    assert top_k_loc(preds, gts, topk, labels, k=1, class_averaged=True) == pytest.approx(5 / 6, abs=1e-15)


# ------------------------------------------------------------------------------------ MaxBoxAccV2
def _max_box_acc_v2(maps, gts, thresholds, all_contours=True, transforms=None):
    """MaxBoxAccV2 as the evaluation (c2am.wsol.evaluate.MapEvaluator) computes it: best-IoU curve, then the max."""
    best = best_iou_curve(maps, gts, thresholds, all_contours=all_contours, transforms=transforms)
    return max_box_acc_v2_from_curve(best, thresholds)


def _three_maps():
    m1 = np.zeros((4, 4))
    m1[:3, :] = 0.4
    m1[:2, :2] = 1.0
    m2 = np.full((3, 3), 0.6)
    m2[2, 2] = 0.2
    m3 = np.zeros((2, 6))
    m3[:, :3] = 0.9  # larger blob, wrong place
    m3[:, 4:] = 0.9  # smaller blob, on the GT
    gts = [[[0, 0, 2, 2]], [[0, 0, 3, 2]], [[4, 0, 6, 2]]]
    return [m1, m2, m3], gts


def test_max_box_acc_v2_all_contours():
    # best IoU per image at t = .25/.5/.75: img1 [1/3, 1, 1]; img2 [2/3, 2/3, 0] (t=.75 empty);
    # img3 [1, 1, 1] (the small blob's own box)
    maps, gts = _three_maps()
    out = _max_box_acc_v2(maps, gts, thresholds=[0.25, 0.5, 0.75])
    np.testing.assert_allclose(out["box_acc"], [[1, 1, 2 / 3], [2 / 3, 1, 2 / 3], [1 / 3, 2 / 3, 2 / 3]],
                               atol=1e-15)
    assert out["MaxBoxAcc@30"] == 1.0 and out["best_threshold@30"] == 0.25
    assert out["MaxBoxAcc@50"] == 1.0 and out["best_threshold@50"] == 0.5
    assert out["MaxBoxAcc@70"] == pytest.approx(2 / 3) and out["best_threshold@70"] == 0.5
    assert out["MaxBoxAccV2"] == pytest.approx(8 / 9, abs=1e-15)


def test_max_box_acc_v2_largest_contour():
    # img3 now gets the large blob's box (IoU 0): @30 [2/3,2/3,1/3], @50 [1/3,2/3,1/3], @70 [0,1/3,1/3]
    maps, gts = _three_maps()
    out = _max_box_acc_v2(maps, gts, thresholds=[0.25, 0.5, 0.75], all_contours=False)
    assert out["MaxBoxAcc@30"] == pytest.approx(2 / 3)
    assert out["MaxBoxAcc@70"] == pytest.approx(1 / 3) and out["best_threshold@70"] == 0.5
    assert out["MaxBoxAccV2"] == pytest.approx(5 / 9, abs=1e-15)


def test_max_box_acc_v2_with_transforms():
    # same maps, GT boxes given in original pixels: map pixel = 2x2 image pixels, crop offset (8, 4)
    maps, gts = _three_maps()
    gts_orig = [[[2 * x0 + 8, 2 * y0 + 4, 2 * x1 + 8, 2 * y1 + 4] for x0, y0, x1, y1 in g] for g in gts]
    out = _max_box_acc_v2(maps, gts_orig, thresholds=[0.25, 0.5, 0.75], transforms=[(2, 2, 8, 4)] * 3)
    assert out["MaxBoxAccV2"] == pytest.approx(8 / 9, abs=1e-15)
    wrong = _max_box_acc_v2(maps, gts_orig, thresholds=[0.25, 0.5, 0.75])  # frames mixed up
    assert wrong["MaxBoxAccV2"] < 0.5


# ------------------------------------------------------------------------- authors / calibration
def _authors_protocol(maps, gts, strict=False):
    """The authors' protocol as the evaluation computes it: the largest contour's curve, then the best threshold."""
    return authors_protocol_from_curve(best_iou_curve(maps, gts, AUTHORS_THRESHOLDS), AUTHORS_THRESHOLDS,
                                       strict=strict)


def _ramp_maps():
    ramp = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]])
    # box at t is (x0, 0, 10, 1) with x0 = first index whose value >= t
    # img1 GT (6,0,10,1): correct for x0 in 2..8 -> t in [0.25, 0.90]
    # img2 GT (8,0,10,1): correct for x0 in 6..9 -> t in [0.65, 0.95]
    return [ramp, ramp.copy()], [[[6, 0, 10, 1]], [[8, 0, 10, 1]]]


def test_authors_protocol_picks_threshold():
    maps, gts = _ramp_maps()
    out = _authors_protocol(maps, gts)
    assert len(AUTHORS_THRESHOLDS) == 19 and AUTHORS_THRESHOLDS[0] == 0.05 and AUTHORS_THRESHOLDS[-1] == 0.95
    assert out["threshold_tuned_on_eval"] == 0.65
    assert out["gt_known_loc_tuned_on_eval"] == 1.0
    expected = np.array([0, 0, 0, 0] + [0.5] * 8 + [1.0] * 6 + [0.5])
    np.testing.assert_array_equal(out["curve"], expected)
    # strict (authors' code, IoU > 0.5): exactly-0.5 IoUs now fail: img1 x0=2 or 8 (t .25/.30, .85/.90),
    # img2 x0=6 or 9 (t .65/.70, .95) -> img1 ok for t in [.35, .80], img2 for t in [.75, .90]
    strict = _authors_protocol(maps, gts, strict=True)
    np.testing.assert_array_equal(strict["curve"], [0] * 6 + [0.5] * 8 + [1.0] * 2 + [0.5] * 2 + [0])
    assert strict["threshold_tuned_on_eval"] == 0.75


def test_choose_threshold_on_calibration_set():
    maps, gts = _ramp_maps()
    best = best_iou_curve(maps[:1], gts[:1], [0.1, 0.3, 0.95])
    thr, curve = choose_threshold(best, [0.1, 0.3, 0.95], iou_threshold=0.5, strict=False)
    assert thr == 0.3
    np.testing.assert_array_equal(curve, [0, 1, 0])
    # the same chooser is the authors' protocol on the evaluated set
    maps, gts = _ramp_maps()
    best = best_iou_curve(maps, gts, AUTHORS_THRESHOLDS)
    assert choose_threshold(best, AUTHORS_THRESHOLDS, 0.5, True)[0] == _authors_protocol(maps, gts, strict=True)[
        "threshold_tuned_on_eval"] == 0.75


# ------------------------------------------------------------------------------------ centre box
def test_center_box_baseline():
    sizes = [(10, 10), (20, 10), (10, 10)]
    gts = [[[2, 2, 8, 8]], [[0, 0, 20, 10]], [[3, 3, 7, 7]]]
    # IoU at frac .5/.6/1: img1 25/36, 1, .36; img2 .25, .36, 1; img3 16/25, 16/36, .16
    out = center_box_baseline(sizes, gts, fracs=[0.5, 0.6, 1.0])
    np.testing.assert_allclose(out["gt_known_loc"], [2 / 3, 1 / 3, 1 / 3], atol=1e-15)
    assert out["best_frac_tuned_on_eval"] == 0.5
    assert out["gt_known_loc_tuned_on_eval"] == pytest.approx(2 / 3, abs=1e-15)


# ------------------------------------------------------------------------------------------ PxAP
def _pxap(maps, masks, thresholds=np.arange(0, 1, 0.01), ignore=None):
    """PxAP as the evaluation accumulates it: one image at a time into PixelAP."""
    acc = PixelAP(thresholds)
    for m, g, skip in zip(maps, masks, ignore or [None] * len(maps)):
        acc.accumulate(m, g, skip)
    return acc.compute()


def test_pxap_hand_case():
    # fg values 1.0, .9, .7, .3; bg .6, .1 (plus ignored pixels); levels 0, .5, .8, 1.0:
    #   >=0: P 4/6 R 1; >=.5: P 3/4 R 3/4; >=.8: P 1 R 1/2; >=1: P 1 R 1/4
    # AP = 4/6*1/4 + 3/4*1/4 + 1*1/4 + 1*1/4 = 41/48
    map1 = np.array([[1.0, 0.6], [0.1, 0.9]])
    mask1 = np.array([[1, 0], [0, 255]])  # nonzero = foreground
    map2 = np.array([[0.7, 0.3, 0.95, 0.0]])
    mask2 = np.array([[1, 1, 0, 0]])
    ign2 = np.array([[False, False, True, True]])
    out = _pxap([map1, map2], [mask1, mask2], thresholds=[0.0, 0.5, 0.8], ignore=[None, ign2])
    assert out["PxAP"] == pytest.approx(41 / 48, abs=1e-12)
    np.testing.assert_allclose(out["precision"], [4 / 6, 3 / 4, 1, 1], atol=1e-15)
    np.testing.assert_allclose(out["recall"], [1, 3 / 4, 1 / 2, 1 / 4], atol=1e-15)
    np.testing.assert_array_equal(out["thresholds"], [0.0, 0.5, 0.8, 1.0])
    # without the ignore mask the bg pixels .95 and 0 count: >=0 P 4/8, >=.5 P 3/5, >=.8 P 2/3
    out2 = _pxap([map1, map2], [mask1, mask2], thresholds=[0.0, 0.5, 0.8])
    assert out2["PxAP"] == pytest.approx((4 / 8 + 3 / 5 + 2 / 3 + 1) / 4, abs=1e-12)


def test_pxap_perfect_and_errors():
    m = np.array([[0.9, 0.2], [0.8, 0.1]])
    g = np.array([[1, 0], [1, 0]])
    assert _pxap([m], [g])["PxAP"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="no foreground"):
        _pxap([m], [np.zeros_like(g)])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _pxap([m * 3], [g])
    with pytest.raises(ValueError, match="shape"):
        _pxap([m], [g[:1]])
    with pytest.raises(ValueError, match="strictly increasing"):
        PixelAP([0.5, 0.2])
