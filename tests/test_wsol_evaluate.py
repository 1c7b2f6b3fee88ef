"""One pass over a split's maps: every map read once (MapStore.raw), every metric from that read; the prepared map
of the original frame."""

from collections import Counter

import cv2
import numpy as np
import pytest

from c2am.data.decode import Geometry
from c2am.data.records import ImageRecord
from c2am.settings import WsolEvalSettings
from c2am.wsol.evaluate import evaluate_split
from c2am.wsol.localize import boxes_table
from c2am.wsol.maps import MapStore, MapWriter

RAMP = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))  # column j has value j / 7


def _split(tmp_path, n=4):
    """n images of 8 x 8 pixels with the ramp map; GT box and mask: columns 2..5."""
    g = Geometry(8, 8, 8, 8, 0, 0, 8, 8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 2:6] = 255
    records = []
    with MapWriter(tmp_path / "maps", 3, {}) as w:
        for i in range(n):
            cv2.imwrite(str(tmp_path / f"m{i}.png"), mask)
            records.append(ImageRecord(f"e{i}", tmp_path / f"{i}.jpg", "test", label=0, boxes=((2.0, 0.0, 6.0, 8.0),),
                                       mask_path=tmp_path / f"m{i}.png", mask_kind="foreground"))
            w.add(records[-1].image_id, RAMP, g)
    return MapStore(tmp_path / "maps"), records


@pytest.mark.parametrize("normalization", ["minmax", "max"])
def test_each_map_is_read_once_per_evaluation(tmp_path, monkeypatch, normalization):
    store, records = _split(tmp_path)
    boxes = boxes_table(store, 0.5, normalization, False, upsample=False)
    reads = Counter()
    read = MapStore.raw

    def counted(self, i):
        reads[self.manifest["image_id"].iloc[i]] += 1
        return read(self, i)

    monkeypatch.setattr(MapStore, "raw", counted)
    out = evaluate_split(store, records, boxes, WsolEvalSettings.defaults(), normalization, upsample=False)
    assert reads == Counter({r.image_id: 1 for r in records})
    # fg columns 2..5 (values 2/7..5/7), bg columns 0, 1, 6, 7: recall drops by 1/4 after the levels 0.28, 0.42,
    # 0.57 and 0.71, where precision is 4/6, 3/5, 2/4 and 1/3
    assert out["PxAP"] == pytest.approx((4 / 6 + 3 / 5 + 2 / 4 + 1 / 3) / 4, abs=1e-12)
    # the box at t spans columns ceil(7t)..7; against the GT columns 2..5 its IoU is 4/8, 4/7, 4/6 for
    # ceil(7t) = 0, 1, 2, then 3/6, 2/6, 1/6, 0: IoU >= 0.5 first at the authors' 0.05, never 0.7
    assert out["authors_protocol"]["gt_known_loc_tuned_on_eval"] == 1.0
    assert out["authors_protocol"]["threshold_tuned_on_eval"] == 0.05
    assert out["MaxBoxAcc@30"] == 1.0 and out["MaxBoxAcc@70"] == 0.0
    assert out["gt_known_loc"] == 0.0  # boxes_table at 0.5: columns 4..7, IoU 2/6


def test_original_map_is_the_map_in_the_original_frame_normalised(tmp_path):
    m = np.array([[1.0, 3.0], [1.0, 3.0]], np.float32)  # bilinear to 4 columns: 1, 1.5, 2.5, 3
    with MapWriter(tmp_path / "maps", 1, {}) as w:
        w.add("a", m, Geometry(4, 2, 4, 2, 0, 0, 4, 2))
    store = MapStore(tmp_path / "maps")
    np.testing.assert_array_equal(store.original_map(0, "none"), [[1, 1.5, 2.5, 3]] * 2)
    np.testing.assert_array_equal(store.original_map(0, "minmax"), [[0, 0.25, 0.75, 1]] * 2)
    np.testing.assert_allclose(store.original_map(0, "max"), [[1 / 3, 0.5, 2.5 / 3, 1]] * 2, rtol=0, atol=1e-15)
    stored = store.read(0)
    np.testing.assert_array_equal(stored.original("minmax"), store.original_map(0, "minmax"))
    np.testing.assert_array_equal(stored.prepared("minmax", upsample=False)[0], [[0, 1], [0, 1]])
