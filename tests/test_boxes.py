"""Hand-computed cases for c2am.wsol.boxes (boxes are x0, y0, x1, y1 with exclusive x1/y1)."""

import numpy as np
import pytest

from c2am.wsol.boxes import boxes_from_map, center_box, clip_boxes, normalize_map, scale_boxes


def sorted_rows(a):
    a = np.asarray(a)
    return a[np.lexsort(a.T[::-1])]


# ------------------------------------------------------------------------------ normalize_map
def test_normalize_minmax_single_and_constant():
    out = normalize_map(np.array([[1.0, 3.0], [5.0, 5.0]]), "minmax")
    np.testing.assert_array_equal(out, [[0.0, 0.5], [1.0, 1.0]])
    np.testing.assert_array_equal(normalize_map(np.full((2, 3), 7.0), "minmax"), np.zeros((2, 3)))


def test_normalize_batch_is_per_map():
    batch = np.array([[[1.0, 3.0]], [[10.0, 20.0]], [[4.0, 4.0]]])
    np.testing.assert_array_equal(normalize_map(batch, "minmax"), [[[0, 1]], [[0, 1]], [[0, 0]]])
    np.testing.assert_array_equal(normalize_map(batch, "max"), [[[1 / 3, 1]], [[0.5, 1]], [[1, 1]]])


def test_normalize_max_and_nonpositive_max():
    np.testing.assert_array_equal(normalize_map(np.array([[1.0, 2.0], [4.0, 0.0]]), "max"),
                                  [[0.25, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(normalize_map(np.array([[-1.0, 0.0]]), "max"), [[0.0, 0.0]])
    np.testing.assert_array_equal(normalize_map(np.array([[-1.0, -2.0]]), "max"), [[0.0, 0.0]])


def test_normalize_none_unchanged():
    m = np.array([[-3.0, 0.5], [2.0, 9.0]])
    np.testing.assert_array_equal(normalize_map(m, "none"), m)


@pytest.mark.parametrize("mode", ["minmax", "max", "none"])
def test_normalize_nan_raises(mode):
    with pytest.raises(ValueError, match="empty/invalid activation map"):
        normalize_map(np.array([[0.0, np.nan]]), mode)


def test_normalize_bad_mode_raises():
    with pytest.raises(ValueError, match="unknown normalisation mode"):
        normalize_map(np.zeros((2, 2)), "zscore")


# ------------------------------------------------------------------------------ boxes_from_map
@pytest.fixture
def two_blobs():
    m = np.zeros((6, 8))
    m[1:3, 1:4] = 0.9  # blob A: rows 1-2, cols 1-3 -> (1, 1, 4, 3), contourArea 2
    m[3:6, 5:8] = 0.6  # blob B: rows 3-5, cols 5-7 -> (5, 3, 8, 6), contourArea 4
    return m


def test_boxes_two_blobs_largest_vs_all(two_blobs):
    largest = boxes_from_map(two_blobs, [0.5, 0.8, 0.95])
    np.testing.assert_array_equal(largest[0], [[5, 3, 8, 6]])
    np.testing.assert_array_equal(largest[1], [[1, 1, 4, 3]])
    np.testing.assert_array_equal(largest[2], [[0, 0, 0, 0]])  # empty mask -> zero box
    every = boxes_from_map(two_blobs, [0.5, 0.8, 0.95], all_contours=True)
    np.testing.assert_array_equal(sorted_rows(every[0]), [[1, 1, 4, 3], [5, 3, 8, 6]])
    np.testing.assert_array_equal(every[1], [[1, 1, 4, 3]])
    np.testing.assert_array_equal(every[2], [[0, 0, 0, 0]])
    assert all(b.dtype == np.float64 and b.ndim == 2 for b in largest + every)


def test_boxes_threshold_zero_covers_whole_map(two_blobs):
    (box,) = boxes_from_map(two_blobs, [0.0])
    np.testing.assert_array_equal(box, [[0, 0, 8, 6]])


def test_boxes_threshold_is_inclusive(two_blobs):
    (box,) = boxes_from_map(two_blobs, [0.6])  # map >= t: blob B (value 0.6) is in
    np.testing.assert_array_equal(box, [[5, 3, 8, 6]])


def test_single_pixel_blob():
    m = np.zeros((5, 5))
    m[3, 2] = 1.0
    (box,) = boxes_from_map(m, [0.5])
    np.testing.assert_array_equal(box, [[2, 3, 3, 4]])


def test_zero_area_contours_prefer_larger_rect():
    m = np.zeros((5, 7))
    m[0, 0] = 1.0  # single pixel, contourArea 0
    m[3, 2:6] = 1.0  # 1x4 line, contourArea 0 too
    (box,) = boxes_from_map(m, [0.5])
    np.testing.assert_array_equal(box, [[2, 3, 6, 4]])


def test_boxes_reject_non_2d():
    with pytest.raises(ValueError):
        boxes_from_map(np.zeros((2, 3, 3)), [0.5])


# ------------------------------------------------------------------------------ scale / clip / centre
def test_scale_boxes():
    out = scale_boxes(np.array([[1, 2, 3, 4], [0, 0, 0, 0]]), 2.0, 3.0, 10.0, 20.0)
    np.testing.assert_array_equal(out, [[12, 26, 16, 32], [10, 20, 10, 20]])
    # a 28x28 map covering the whole of a 448x224 image: map pixel 27 ends at the image edge
    np.testing.assert_array_equal(scale_boxes([[0, 0, 28, 28]], 448 / 28, 224 / 28), [[0, 0, 448, 224]])


def test_clip_boxes():
    out = clip_boxes(np.array([[-1.0, 2.0, 15.0, 30.0], [3, 4, 5, 6]]), 10, 20)
    np.testing.assert_array_equal(out, [[0, 2, 10, 20], [3, 4, 5, 6]])


def test_center_box():
    np.testing.assert_array_equal(center_box(10, 20, 0.5), [2.5, 5.0, 7.5, 15.0])
    np.testing.assert_array_equal(center_box(10, 20, 1.0), [0, 0, 10, 20])
    np.testing.assert_array_equal(center_box(np.array([10, 4]), np.array([10, 8]), 0.5),
                                  [[2.5, 2.5, 7.5, 7.5], [1, 2, 3, 6]])
