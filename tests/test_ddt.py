"""DDT: principal direction, projection, sign rule and boxes on hand-made and synthetic cases."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from c2am.data.records import ImageRecord
from c2am.settings import DDTSettings
from c2am.wsol.ddt import DDTFeatures, DescriptorStats, ddt_box, ddt_boxes_table, group_records, project, run_ddt
from c2am.wsol.fg_side import border_inner_means
from c2am.wsol.maps import MapStore


def test_principal_direction_of_two_points_is_their_difference():
    # descriptors (0, 0) and (2, 2): mean (1, 1), covariance [[1, 1], [1, 1]], first component (1, 1)/sqrt(2)
    feats = torch.tensor([[0.0, 2.0], [0.0, 2.0]]).view(1, 2, 1, 2)  # channels x positions
    stats = DescriptorStats(2, torch.device("cpu"))
    stats.add(feats)
    mean, direction, explained = stats.principal_direction()
    assert mean.tolist() == [1.0, 1.0]
    assert abs(abs(float(direction[0])) - 1 / math.sqrt(2)) < 1e-12 and float(direction[0] * direction[1]) > 0
    assert explained == pytest.approx(1.0)
    proj = project(feats, mean, direction).abs()
    assert proj.flatten().tolist() == pytest.approx([math.sqrt(2), math.sqrt(2)])


def test_streaming_statistics_match_a_direct_pca_on_random_data():
    g = torch.Generator().manual_seed(0)
    true_dir = torch.tensor([3.0, -1.0, 0.0, 2.0, 1.0])
    true_dir /= true_dir.norm()
    n_pos = 4 * 6 * 5
    coeff = 5 * torch.randn(n_pos, generator=g)
    x = 0.3 + coeff[:, None] * true_dir + 0.1 * torch.randn(n_pos, 5, generator=g)
    feats = x.view(4, 6, 5, 5).permute(0, 3, 1, 2)  # [n, C, h, w]
    stats = DescriptorStats(5, torch.device("cpu"))
    stats.add(feats[:2])
    stats.add(feats[2:])  # two batches: same result as one
    mean, direction, explained = stats.principal_direction()
    xd = x.double()
    cov = torch.cov(xd.T, correction=0)
    evals, evecs = torch.linalg.eigh(cov)
    assert torch.allclose(mean, xd.mean(0), atol=1e-12)
    assert abs(float(direction @ evecs[:, -1])) == pytest.approx(1.0, abs=1e-9)
    assert abs(float(direction @ true_dir.double())) > 0.999
    assert explained == pytest.approx(float(evals[-1] / evals.sum()), rel=1e-9)


def test_few_descriptors_in_many_channels_give_the_covariance_eigenvector():
    # 3 images x 2 positions = 6 descriptors in 40 channels: the 6 x 6 route must give cov's own top eigenvector
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 40, 1, 2, generator=g)
    few, full = DescriptorStats(40, torch.device("cpu")), DescriptorStats(40, torch.device("cpu"))
    for stats in (few, full):
        stats.add(feats[:2])
        stats.add(feats[2:])
    full.rows = None  # as if the group were large: the 40 x 40 eigendecomposition
    assert few.rows is not None and len(few.rows) == 2
    (m1, d1, e1), (m2, d2, e2) = few.principal_direction(), full.principal_direction()
    assert torch.equal(m1, m2)
    assert abs(float(d1 @ d2)) == pytest.approx(1.0, abs=1e-12) and float(d1.norm()) == pytest.approx(1.0)
    assert e1 == pytest.approx(e2, rel=1e-10)
    big = DescriptorStats(2, torch.device("cpu"))
    big.add(torch.randn(1, 2, 1, 3, generator=g))  # 3 descriptors > 2 channels: nothing kept
    assert big.rows is None


def test_largest_positive_component_gives_the_box():
    proj = -np.ones((10, 12))
    proj[1:3, 1:3] = 1.0  # 4 cells
    proj[4:9, 5:11] = 0.5  # 30 cells: the largest
    proj[9, 0] = 2.0  # 1 cell
    box, found = ddt_box(proj)
    assert found and box.tolist() == [5, 4, 11, 9]
    box, found = ddt_box(-np.ones((4, 5)))
    assert not found and box.tolist() == [0, 0, 5, 4]


def test_diagonal_cells_are_one_component():
    proj = -np.ones((4, 4))
    proj[0, 0] = proj[1, 1] = proj[2, 2] = 1
    proj[3, 0] = 1
    assert ddt_box(proj)[0].tolist() == [0, 0, 3, 3]  # 8-connectivity joins the diagonal


def test_border_and_inner_means():
    m = torch.zeros(2, 4, 4)
    m[:, 1:3, 1:3] = 1.0
    m[1, 0, 0] = 12.0
    border, inner = border_inner_means(m)
    assert inner == 1.0 and border == pytest.approx(12 / 24)


def test_group_records_needs_labels():
    recs = [ImageRecord("a", "a.jpg", "train", label=1), ImageRecord("b", "b.jpg", "train", label=0)]
    assert list(group_records(recs, "class")) == ["0", "1"]
    with pytest.raises(ValueError, match="no class label"):
        group_records([ImageRecord("c", "c.jpg", "train")], "class")
    assert len(group_records([ImageRecord("c", "c.jpg", "train")], "all")["all"]) == 1


class PooledPixels(torch.nn.Module):
    """A stand-in backbone whose descriptors are the 8x8-pooled RGB values."""

    def deepest(self, x):
        return torch.nn.functional.avg_pool2d(x, 8)


@pytest.mark.parametrize("object_dark", [False, True])
def test_run_ddt_finds_the_common_object_whatever_the_component_sign(tmp_path, object_dark):
    rng = np.random.default_rng(0)
    records, truth = [], {}
    for i in range(6):
        w, h = 96 + 16 * (i % 3), 80
        img = np.full((h, w, 3), 30 if not object_dark else 220, np.uint8)
        img += rng.integers(0, 10, img.shape, dtype=np.uint8)
        x0, y0 = 16 + 8 * (i % 2), 16
        img[y0:y0 + 40, x0:x0 + 48] = (200, 60, 40) if not object_dark else (20, 40, 90)
        path = tmp_path / f"{i}.png"
        Image.fromarray(img).save(path)
        records.append(ImageRecord(str(i), path, "train", label=i % 2))
        truth[str(i)] = (x0, y0, x0 + 48, y0 + 40)
    settings = DDTSettings.from_dict({"resize": 64, "batch_size": 4, "workers": 0, "group_by": "class",
                                      "cache_mb": 64, "shard_size": 4, "amp": False, "channels_last": False})
    feats = DDTFeatures(PooledPixels(), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    summary = run_ddt(feats, records, settings, tmp_path / "maps", torch.device("cpu"), {}, progress=False)
    assert set(summary["groups"]) == {"0", "1"}
    table, empty = ddt_boxes_table(MapStore(tmp_path / "maps"))
    assert empty == 0 and len(table) == 6
    for row in table.itertuples():
        tx0, ty0, tx1, ty1 = truth[row.image_id]
        # the object region, up to the 8-pixel descriptor cells (scaled to the original size)
        assert abs(row.x0 - tx0) <= 14 and abs(row.x1 - tx1) <= 14
        assert abs(row.y0 - ty0) <= 12 and abs(row.y1 - ty1) <= 12


def test_low_cache_reads_the_group_twice_with_the_same_boxes(tmp_path):
    records = []
    for i in range(4):
        img = np.full((64, 64, 3), 20, np.uint8)
        img[8 + 4 * i:40, 16:48] = 250
        path = tmp_path / f"{i}.png"
        Image.fromarray(img).save(path)
        records.append(ImageRecord(str(i), path, "train", label=0))
    feats = DDTFeatures(PooledPixels(), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    base = DDTSettings.from_dict({"resize": 64, "batch_size": 2, "workers": 0, "group_by": "class", "shard_size": 8,
                                  "amp": False, "channels_last": False})
    a = run_ddt(feats, records, base.replace(cache_mb=64), tmp_path / "a", torch.device("cpu"), {}, progress=False)
    b = run_ddt(feats, records, base.replace(cache_mb=0), tmp_path / "b", torch.device("cpu"), {}, progress=False)
    assert not a["groups"]["0"]["recomputed"] and b["groups"]["0"]["recomputed"]
    ta, tb = ddt_boxes_table(MapStore(tmp_path / "a"))[0], ddt_boxes_table(MapStore(tmp_path / "b"))[0]
    pd.testing.assert_frame_equal(ta.drop(columns="score"), tb.drop(columns="score"))
