"""Bad input: every case gets a clear error naming the file or key, or (unreadable images in `predict`) a
documented skip-and-count; nothing produced earlier is left half-written or overwritten.

Cases covered elsewhere, by the test named: unknown config key and wrong type (test_config.py:
test_unknown_key_names_key_place_and_suggestion, test_wrong_type_names_key_and_expected_type), missing annotation
line (test_readers.py: test_read_cub_errors), missing or corrupt weights file (test_init.py:
test_missing_and_corrupt_files_are_clear_errors), corrupt / truncated / zero-byte image at the reader
(test_maps_localize.py: test_read_image_handles_modes_exif_and_bad_files), NaN maps (test_maps_localize.py:
test_writer_rejects_nan_maps, test_boxes.py: test_normalize_nan_raises).
"""

import errno
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import c2am.io as io
from c2am.data.decode import ImageDecodeError
from c2am.data.readers import read_cub
from c2am.data.records import ImageRecord
from c2am.wsol.gt_boxes import check_boxes_inside
from c2am.predict import predict_folder
from c2am.settings import C2AMTrainSettings, PredictSettings
from c2am.training.c2am import train_c2am
from c2am.training.checkpoint import TrainingError
from conftest import SMALL

PREDICT = PredictSettings.from_dict({"size": 64, "workers": 0})


def _copy_images(demo_root, folder, n=3):
    folder.mkdir()
    files = sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[:n]
    for f in files:
        shutil.copy(f, folder / f.name)
    return files


def test_corrupt_image_in_training_names_the_file(tmp_path, demo_root, init):
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    bad = tmp_path / "truncated.jpg"
    data = records[3].path.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    records[3] = ImageRecord(image_id="bad", path=bad, split="train")
    with pytest.raises(ImageDecodeError, match="truncated.jpg: cannot decode image"):
        train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), tmp_path / "m.pt", tmp_path / "c.pt",
                   tmp_path / "l.jsonl", "cpu", progress=False)
    assert not (tmp_path / "m.pt").exists()


def test_predict_skips_and_counts_unreadable_images_and_handles_odd_formats(tmp_path, demo_root, trained):
    images = tmp_path / "images"
    files = _copy_images(demo_root, images)
    (images / "zero.jpg").write_bytes(b"")
    data = files[0].read_bytes()
    (images / "cut.jpg").write_bytes(data[: len(data) // 2])
    (images / "sub").mkdir()
    Image.open(files[1]).convert("L").save(images / "sub" / "gray.png")
    Image.open(files[1]).convert("RGBA").resize((50, 30)).save(images / "sub" / "rgba.png")
    exif_img = Image.open(files[2]).transpose(Image.Transpose.ROTATE_90)
    exif = exif_img.getexif()
    exif[0x0112] = 6  # stored rotated: shown (and read) upright
    exif_img.save(images / "rotated.jpg", exif=exif)
    out = tmp_path / "pred"
    summary = predict_folder(trained, images, out, 0.5, PREDICT, device="cpu", progress=False)
    assert summary["images"] == 8 and summary["predicted"] == 6 and summary["skipped_unreadable"] == 2
    assert sorted(s["file"] for s in summary["skipped"]) == ["cut.jpg", "zero.jpg"]
    assert json.loads((out / "summary.json").read_text())["skipped_unreadable"] == 2
    table = pd.read_parquet(out / "boxes.parquet").set_index("file")
    upright = Image.open(files[2]).size
    assert tuple(table.loc["rotated.jpg", ["width", "height"]]) == upright  # EXIF applied
    assert tuple(table.loc["sub/rgba.png", ["width", "height"]]) == (50, 30)
    mask = np.array(Image.open(out / "masks" / "sub" / "rgba.png.png"))
    assert mask.shape == (30, 50) and set(np.unique(mask)) <= {0, 255}
    assert (out / "previews" / "sub" / "gray.png.jpg").is_file()
    row = table.loc["sub/rgba.png"]
    assert 0 <= row["x0"] < row["x1"] <= 50 and 0 <= row["y0"] < row["y1"] <= 30


def test_predict_flags_a_constant_activation_map(tmp_path, demo_root, trained, monkeypatch):
    images = tmp_path / "images"
    _copy_images(demo_root, images, n=2)
    from c2am.models.c2am import C2AM

    monkeypatch.setattr(C2AM, "foreground_map", lambda self, x: torch.full((len(x), 4, 4), 0.3))
    summary = predict_folder(trained, images, tmp_path / "pred", 0.5, PREDICT, device="cpu", progress=False)
    table = pd.read_parquet(tmp_path / "pred" / "boxes.parquet")
    assert summary["empty_maps"] == 2 and table["empty_map"].all() and table["x0"].isna().all()
    assert (table["foreground_fraction"] == 0).all()


def test_predict_refuses_an_empty_folder_and_bad_threshold(tmp_path, trained):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no image files"):
        predict_folder(trained, tmp_path / "empty", tmp_path / "out", 0.5, PREDICT, device="cpu")
    with pytest.raises(FileNotFoundError, match="image folder not found: .*nowhere"):
        predict_folder(trained, tmp_path / "nowhere", tmp_path / "out", 0.5, PREDICT, device="cpu")
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        predict_folder(trained, tmp_path, tmp_path / "out", 1.5, PREDICT, device="cpu")


def test_box_outside_the_image_is_named():
    from c2am.data.decode import Geometry

    rec = ImageRecord(image_id="img7", path="/data/img7.jpg", split="test", boxes=((10.0, 5.0, 130.0, 40.0),))
    geom = Geometry(100, 50, 64, 64, 0, 0, 64, 64)
    with pytest.raises(ValueError, match=r"GT box \(10.0, 5.0, 130.0, 40.0\) of image img7 .*100 x 50"):
        check_boxes_inside([rec], [geom])
    ok = ImageRecord(image_id="ok", path="/data/ok.jpg", split="test", boxes=((0.0, 0.0, 100.5, 50.0),))
    check_boxes_inside([ok], [geom])  # within the 1-pixel tolerance


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path, demo_root, init, monkeypatch):
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    settings = C2AMTrainSettings.from_dict({**SMALL, "epochs": 2})
    import c2am.training.c2am as train
    from c2am.losses import contrastive_loss

    calls = {"n": 0}

    def nan_in_epoch_two(v_fg, v_bg, alpha, variant, *memory):
        calls["n"] += 1
        terms = contrastive_loss(v_fg, v_bg, alpha, variant, *memory)
        if calls["n"] == 3:  # 2 steps per epoch: the first step of epoch 2
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(train, "contrastive_loss", nan_in_epoch_two)
    with pytest.raises(TrainingError, match=r"c2am loss became nan at epoch 2, step 1; the last good checkpoint is .*c\.pt"):
        train_c2am(records, init, settings, tmp_path / "m.pt", tmp_path / "c.pt", tmp_path / "l.jsonl", "cpu",
                   progress=False)
    assert not (tmp_path / "m.pt").exists()
    ck = torch.load(tmp_path / "c.pt", weights_only=False)
    assert ck["state"] == {"epoch": 1, "step_in_epoch": 0, "global_step": 2}
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_disk_full_leaves_the_previous_artifact_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "boxes.parquet"
    io.write_parquet(pd.DataFrame({"a": [1, 2]}), target, "make_boxes")
    before = target.read_bytes()
    import pyarrow.parquet as pq

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OSError, match=r"(?i)no space left on device: could not write .*boxes\.parquet"):
        io.write_parquet(pd.DataFrame({"a": [3]}), target, "make_boxes")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.parquet"]

    folder = tmp_path / "masks"
    with io.atomic_dir(folder) as tmp:  # an earlier output (atomic_dir replaces only its own folders)
        (tmp / "old.png").write_bytes(b"old")
    with pytest.raises(OSError, match="(?i)no space left"):
        with io.atomic_dir(folder) as tmp:
            (tmp / "new.png").write_bytes(b"new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert [p.name for p in folder.iterdir() if p.name != io.OUTPUT_MARKER] == ["old.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.parquet", "masks"]  # no temporary left

    model = tmp_path / "model.pt"
    io.save_torch({"w": torch.ones(2)}, model)
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match="(?i)no space left"):
        io.save_torch({"w": torch.zeros(2)}, model)
    assert torch.equal(torch.load(model)["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.parquet", "masks", "model.pt"]
