"""Map store round trip, geometry back to original pixels, threshold calibration, image decoding errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from c2am.data.decode import Geometry, ImageDecodeError
from c2am.data.images import eval_view, read_image
from c2am.data.records import ImageRecord
from c2am.settings import BoxSettings, WsolEvalSettings
from c2am.wsol.evaluate import evaluate_split
from c2am.wsol.localize import boxes_table
from c2am.wsol.maps import MapStore, MapWriter
from c2am.wsol.threshold import calibration_subset, choose_box_threshold


def test_geometry_maps_crop_coordinates_to_original_pixels():
    # 200 x 100 image resized to 64 x 64, centre crop 48 (offset 8); a 12 x 12 map covers the crop
    g = Geometry(orig_w=200, orig_h=100, resize_w=64, resize_h=64, crop_x0=8, crop_y0=8, crop_w=48, crop_h=48)
    sx, sy, ox, oy = g.to_original(12, 12)
    assert (sx, sy, ox, oy) == (4 * 200 / 64, 4 * 100 / 64, 8 * 200 / 64, 8 * 100 / 64)
    img = torch.zeros(3, 100, 200, dtype=torch.uint8)
    view, geom = eval_view(img, 64, 48)
    assert view.shape == (3, 48, 48) and geom == g


def _store(tmp_path, maps, geoms, ids):
    w = MapWriter(tmp_path / "maps", shard_size=2, meta={"resize": 64})
    for i, m, g in zip(ids, maps, geoms):
        w.add(i, m, g)
    w.close()
    return MapStore(tmp_path / "maps")


def test_writer_shards_and_store_round_trip(tmp_path):
    g = Geometry(64, 64, 64, 64, 0, 0, 64, 64)
    maps = [np.full((4, 4), v, np.float32) for v in (0.1, 0.2, 0.3)]
    store = _store(tmp_path, maps, [g] * 3, ["a", "b", "c"])
    assert sorted(p.name for p in (tmp_path / "maps").glob("*.npy")) == ["maps-00000.npy", "maps-00001.npy"]
    assert store.raw(2) == pytest.approx(np.full((4, 4), 0.3), abs=1e-3)  # float16 storage
    assert store.geometry(1) == g and store.meta["settings"] == {"resize": 64}
    assert not (tmp_path / "maps.part").exists()


def test_writer_rejects_nan_maps(tmp_path):
    w = MapWriter(tmp_path / "maps", 4, {})
    with pytest.raises(ValueError, match="image x has NaN"):
        w.add("x", np.full((2, 2), np.nan, np.float32), Geometry(2, 2, 2, 2, 0, 0, 2, 2))


def test_boxes_are_exact_in_original_pixels(tmp_path):
    # map 8 x 8 over a 64 x 64 crop of a 128 x 64 image (no crop): blob in cells x 2..3, y 4..5
    m = np.zeros((8, 8), np.float32)
    m[4:6, 2:4] = 1.0
    g = Geometry(orig_w=128, orig_h=64, resize_w=64, resize_h=64, crop_x0=0, crop_y0=0, crop_w=64, crop_h=64)
    store = _store(tmp_path, [m], [g], ["img"])
    table = boxes_table(store, 0.5, "minmax", all_contours=False, upsample=False)
    # feature cells are 8 px of the 64 px input, i.e. 16 x 8 original pixels
    assert table[["x0", "y0", "x1", "y1"]].iloc[0].tolist() == [32.0, 32.0, 64.0, 48.0]
    assert table["threshold"].iloc[0] == 0.5 and table["score"].iloc[0] == pytest.approx(1.0)


def test_threshold_is_chosen_on_the_calibration_part_of_train_only(tmp_path):
    g = Geometry(8, 8, 8, 8, 0, 0, 8, 8)
    ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))  # column j has value j / 7
    records = [ImageRecord(f"t{i}", tmp_path / f"{i}.jpg", "train", boxes=((6.0, 0.0, 8.0, 8.0),))
               for i in range(30)]
    store = _store(tmp_path, [ramp] * 30, [g] * 30, [r.image_id for r in records])
    calib = calibration_subset(records, 0.2, seed=0)
    assert len(calib) == 10 and calib == calibration_subset(records, 0.2, seed=0)
    assert calib != calibration_subset(records, 0.2, seed=1)
    box = BoxSettings.from_dict({"calib_fraction": 0.2, "calib_seed": 0, "threshold_grid_step": 0.05,
                                 "normalization": "minmax", "all_contours": False, "upsample": False})
    result = choose_box_threshold(store, records, box, WsolEvalSettings.defaults())
    # at threshold t the box spans columns ceil(7t)..7, so IoU with the GT (columns 6..7) is 2 / (8 - ceil(7t)),
    # >= 0.5 from t > 3/7 on: the first such grid value is 0.45
    assert result["threshold"] == pytest.approx(0.45) and result["calibration_gt_known_loc"] == 1.0
    with pytest.raises(ValueError, match="no GT boxes"):
        calibration_subset([ImageRecord("u", tmp_path / "u.jpg", "train")], 0.1, 0)


def test_threshold_choice_counts_a_box_as_the_evaluation_does(tmp_path):
    """The calibration threshold honours evaluate_wsol.iou_threshold and .strict (it hard-coded IoU >= 0.5)."""
    g = Geometry(8, 8, 8, 8, 0, 0, 8, 8)
    ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))
    records = [ImageRecord(f"t{i}", tmp_path / f"{i}.jpg", "train", boxes=((6.0, 0.0, 8.0, 8.0),)) for i in range(10)]
    store = _store(tmp_path, [ramp] * 10, [g] * 10, [r.image_id for r in records])
    box = BoxSettings.from_dict({"calib_fraction": 1.0, "upsample": False})

    def chosen(**evaluation):
        return choose_box_threshold(store, records, box, WsolEvalSettings.from_dict(evaluation))["threshold"]

    # IoU = 2 / (8 - ceil(7t)): exactly 0.5 on (3/7, 4/7], 2/3 on (4/7, 5/7], 1 above 5/7
    assert chosen(iou_threshold=0.5) == pytest.approx(0.45)
    assert chosen(iou_threshold=0.5, strict=True) == pytest.approx(0.6)  # IoU > 0.5 first at t = 0.6
    assert chosen(iou_threshold=0.7) == pytest.approx(0.75)


def test_a_store_read_from_the_other_side_flips_every_accessor(tmp_path):
    """raw, prepared and original_map all read through the side (PxAP reads original_map)."""
    m = np.zeros((4, 4), np.float32)
    m[1:3, 1:3] = 0.8
    g = Geometry(orig_w=16, orig_h=8, resize_w=8, resize_h=8, crop_x0=0, crop_y0=0, crop_w=8, crop_h=8)
    store = _store(tmp_path, [m], [g], ["a"])
    flipped = store.with_side("opposite")
    np.testing.assert_allclose(flipped.raw(0), 1 - store.raw(0))
    np.testing.assert_allclose(flipped.original_map(0, "none"), 1 - store.original_map(0, "none"), atol=1e-6)
    np.testing.assert_allclose(flipped.prepared(0, "none")[0], 1 - store.prepared(0, "none")[0], atol=1e-6)
    border_bright = store.with_side("per_image")  # ring 0 < inside 0.8: kept as it is
    np.testing.assert_allclose(border_bright.original_map(0, "none"), store.original_map(0, "none"))
    with pytest.raises(ValueError, match="unknown map side"):
        store.with_side("left")


def test_evaluate_split_reports_every_metric(tmp_path):
    g = Geometry(8, 8, 8, 8, 0, 0, 8, 8)
    ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))
    records = [ImageRecord(f"e{i}", tmp_path / f"{i}.jpg", "test", label=i % 2, boxes=((4.0, 0.0, 8.0, 8.0),))
               for i in range(4)]
    store = _store(tmp_path, [ramp] * 4, [g] * 4, [r.image_id for r in records])
    boxes = boxes_table(store, 0.5, "minmax", False, upsample=False)
    out = evaluate_split(store, records, boxes, WsolEvalSettings.defaults(), "minmax", upsample=False)
    assert out["gt_known_loc"] == 1.0 and out["gt_known_loc_class_avg"] == 1.0
    assert out["MaxBoxAccV2"] == 1.0 and out["authors_protocol"]["gt_known_loc_tuned_on_eval"] == 1.0
    # a centred box of side fraction f has IoU f^2 / (f^2 + 1) with the right half: 0.5 only at f = 1
    assert out["center_box"] == {"gt_known_loc_tuned_on_eval": 1.0, "best_frac_tuned_on_eval": 1.0}


def test_read_image_handles_modes_exif_and_bad_files(tmp_path):
    Image.new("L", (5, 3), 100).save(tmp_path / "gray.png")
    Image.new("RGBA", (5, 3), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    img = Image.new("RGB", (5, 3), (1, 2, 3))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert read_image(tmp_path / "gray.png").shape == (3, 3, 5)
    assert read_image(tmp_path / "rgba.png")[:, 0, 0].tolist() == [10, 20, 30]
    assert read_image(tmp_path / "rot.jpg").shape == (3, 5, 3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.jpg: empty file"):
        read_image(tmp_path / "empty.jpg")
    good = (tmp_path / "rot.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageDecodeError, match="cut.jpg: cannot decode"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(ImageDecodeError, match="text.jpg: cannot decode"):
        read_image(tmp_path / "text.jpg")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")


def test_atomic_writes_get_normal_permissions_and_leave_nothing_on_failure(tmp_path):
    import os

    from c2am.io import atomic_path, write_json

    write_json({"a": 1}, tmp_path / "x.json")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert (tmp_path / "x.json").read_text().startswith("{") and len(list(tmp_path.iterdir())) == 1


def test_worker_errors_become_one_line():
    from c2am.cli import user_message

    exc = RuntimeError("Caught ImageDecodeError in DataLoader worker process 0.\nOriginal Traceback (most recent "
                       "call last):\n  File x\nc2am.data.images.ImageDecodeError: a.jpg: cannot decode image")
    assert user_message(exc) == "c2am.data.images.ImageDecodeError: a.jpg: cannot decode image"


def _ramp_model():
    """A stand-in for C2AM whose map samples channel 0 at every other pixel from the top-left: not mirror-symmetric,
    so the flip's mirroring back shows."""
    from types import SimpleNamespace

    from c2am.models.c2am import C2AM

    fake = SimpleNamespace(foreground_map=lambda x: x[:, 0, ::2, ::2].float())
    return lambda images, scales, flip: C2AM.averaged_foreground_map(fake, images, scales, flip)


def test_test_time_flip_and_scales_average_maps_on_the_scale_one_grid():
    ramp = torch.arange(4.0).repeat(1, 3, 4, 1)  # [1, 3, 4, 4], value = column index 0..3
    averaged = _ramp_model()
    assert torch.equal(averaged(ramp, (1.0,), False)[0, 0], torch.tensor([0.0, 2.0]))
    # mirrored: columns 3, 2, 1, 0 -> samples 3, 1 -> mirrored back 1, 3; mean with 0, 2
    assert torch.equal(averaged(ramp, (1.0,), True)[0, 0], torch.tensor([0.5, 2.5]))
    # scale 2: bilinear to 8 columns at (k + 0.5) / 2 - 0.5 -> samples at k = 0, 2, 4, 6 are 0, 0.75, 1.75, 2.75;
    # back to 2 columns at 0.5 and 2.5: 0.375 and 2.25; mean with the scale-1 map 0, 2
    out = averaged(ramp, (1.0, 2.0), False)
    assert out.shape == (1, 2, 2) and torch.allclose(out[0, 0], torch.tensor([0.1875, 2.125]))
    with pytest.raises(ValueError, match="must include 1.0"):
        averaged(ramp, (0.5, 2.0), False)
