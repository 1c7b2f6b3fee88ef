"""Box-aware random resized crops keep the regression target on the object."""

import numpy as np
import pytest
import torch

from c2am.data.augment import box_aware_view, box_in_crop, box_kept_fraction
from c2am.data.images import sample_generator


def test_box_in_crop_normalises_and_clips():
    crop = (10, 20, 100, 50)  # left, top, w, h
    assert box_in_crop((30, 30, 60, 45), crop).tolist() == [0.2, 0.2, 0.5, 0.5]
    assert box_in_crop((0, 0, 200, 60), crop).tolist() == [0.0, 0.0, 1.0, 0.8]


def test_kept_fraction():
    assert box_kept_fraction((0, 0, 10, 10), (0, 0, 5, 10)) == 0.5
    assert box_kept_fraction((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_kept_fraction((2, 2, 4, 4), (0, 0, 10, 10)) == 1.0


def _white_box_image(w, h, box):
    img = torch.zeros(3, h, w, dtype=torch.uint8)
    x0, y0, x1, y1 = box
    img[:, y0:y1, x0:x1] = 255
    return img


def _white_extent(view):
    on = view[0] > 127
    ys, xs = torch.nonzero(on, as_tuple=True)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_whole_image_view_without_flip_is_the_scaled_box():
    img = _white_box_image(200, 100, (50, 20, 150, 60))
    view, target = box_aware_view(img, (50, 20, 150, 60), 64, scale_min=1.0, hflip=False, g=sample_generator(0, 0, 0),
                                  min_box_keep=0.7)
    assert view.shape == (3, 64, 64)
    assert target.tolist() == [0.25, 0.2, 0.75, 0.6]
    # y edges at 0.2 * 64 = 12.8 and 0.6 * 64 = 38.4: rows 12 and 38 are less than half white
    assert _white_extent(view) == (16, 13, 48, 38)


@pytest.mark.parametrize("box", [(50, 20, 150, 60), (0, 0, 40, 30), (150, 70, 200, 100), (10, 10, 190, 90)])
def test_random_views_put_the_target_where_the_object_is(box):
    img = _white_box_image(200, 100, box)
    for seed in range(40):
        g = sample_generator(seed, 0, 0)
        view, target = box_aware_view(img, box, 96, scale_min=0.2, hflip=True, g=g, min_box_keep=0.6)
        assert ((0 <= target) & (target <= 1)).all() and target[2] > target[0] and target[3] > target[1]
        ex = np.array(_white_extent(view), dtype=float)
        np.testing.assert_allclose(ex, target * 96, atol=2.5, err_msg=f"seed {seed}")


def test_views_keep_most_of_the_box():
    box = (80, 40, 120, 60)
    img = _white_box_image(200, 100, box)
    area = []
    for seed in range(40):
        view, target = box_aware_view(img, box, 64, scale_min=0.1, hflip=False, g=sample_generator(seed, 1, 2),
                                      min_box_keep=0.9)
        area.append(float((view[0] > 127).float().mean()) / max(1e-9, (target[2] - target[0]) * (target[3] - target[1])))
    assert np.median(area) == pytest.approx(1.0, abs=0.15)  # white pixels fill the target box


def test_flip_mirrors_the_box():
    img = _white_box_image(100, 100, (10, 20, 30, 40))
    for seed in range(20):
        view, target = box_aware_view(img, (10, 20, 30, 40), 50, scale_min=1.0, hflip=True, g=sample_generator(seed, 0, 0),
                                      min_box_keep=0.7)
        flipped = bool(view[0, 15, 40] > 127)  # mirrored object: columns 35..44
        np.testing.assert_allclose(target, [0.7, 0.2, 0.9, 0.4] if flipped else [0.1, 0.2, 0.3, 0.4], atol=1e-12)


def test_classifier_views_have_no_box():
    img = torch.zeros(3, 50, 80, dtype=torch.uint8)
    view, target = box_aware_view(img, None, 32, scale_min=0.3, hflip=True, g=sample_generator(0, 0, 0))
    assert view.shape == (3, 32, 32) and target is None
