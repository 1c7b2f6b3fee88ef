"""The one foreground-side rule (c2am.wsol.fg_side) as C2AM, DDT and the per-image store reading use it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from c2am.data.decode import Geometry
from c2am.wsol.fg_side import border_inner_means, marks_background, ring_and_inside
from c2am.wsol.maps import MapStore, MapWriter


def test_ring_and_inside_cells_numpy_and_torch():
    m = np.arange(12.0).reshape(3, 4)  # inside: cells 5 and 6
    border, inner = ring_and_inside(m)
    assert border.tolist() == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11] and inner.tolist() == [5, 6]
    tb, ti = ring_and_inside(torch.from_numpy(np.stack([m, -m])))  # [n, h, w]: per map
    assert tb.shape == (2, 10) and ti[1].tolist() == [-5, -6]
    assert border_inner_means(torch.from_numpy(m[None])) == (5.5, 5.5)  # ring 55 / 10, inside 11 / 2: a tie keeps P
    assert not marks_background(5.5, 5.5)
    m[1, 1:3] = 0.0
    assert border_inner_means(torch.from_numpy(m[None])) == (5.5, 0.0) and marks_background(5.5, 0.0)


def test_a_map_without_inside_never_marks_the_background():
    m = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])  # 2 rows: every cell is on the ring
    border, inner = ring_and_inside(m)
    assert border.tolist() == inner.tolist() == m.ravel().tolist()
    assert not marks_background(border.mean(), inner.mean())


def test_per_image_side_of_a_store_follows_the_rule(tmp_path):
    bright_ring = np.full((4, 4), 0.9, np.float32)
    bright_ring[1:3, 1:3] = 0.1
    dark_ring = 1 - bright_ring
    g = Geometry(4, 4, 4, 4, 0, 0, 4, 4)
    with MapWriter(tmp_path / "maps", 4, {}) as w:
        w.add("a", bright_ring, g)
        w.add("b", dark_ring, g)
    store = MapStore(tmp_path / "maps", "per_image")
    np.testing.assert_allclose(store.raw(0), 1 - MapStore(tmp_path / "maps").raw(0))  # flipped
    np.testing.assert_array_equal(store.raw(1), MapStore(tmp_path / "maps").raw(1))  # kept


def test_c2am_decides_the_data_set_side_by_the_rule(tmp_path):
    from PIL import Image

    from c2am.data.records import ImageRecord
    from c2am.settings import C2AMTrainSettings
    from c2am.training.c2am import decide_foreground

    records = []
    for i, grey in enumerate((40, 200, 200)):  # P = the mean grey level: one dark and two bright images
        Image.new("RGB", (16, 16), (grey,) * 3).save(tmp_path / f"{i}.png")
        records.append(ImageRecord(str(i), tmp_path / f"{i}.png", "train"))

    def head(x):  # P: 1 on the ring of a 4 x 4 map, the image's mean grey level inside
        p = x.mean(1, keepdim=True)[:, :, ::4, ::4].clone()
        p[:, :, [0, -1], :] = 1.0
        p[:, :, :, [0, -1]] = 1.0
        return p

    model = SimpleNamespace(eval=lambda: None, features=lambda x: x, head=head)
    out = decide_foreground(model, records, C2AMTrainSettings.from_dict({"crop": 16, "fg_rule_images": 3}),
                            torch.device("cpu"))
    inner = (40 + 200 + 200) / 255 / 3
    assert out["flip"] and out["images_with_bright_border"] == 3
    assert out["border_mean"] == 1.0 and out["inner_mean"] == pytest.approx(inner, abs=1e-6)
