"""Blank images, file names that are not UTF-8, and model / threshold files of the wrong kind: one test per case
(each fails on the code before its fix)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from c2am.data.readers import listing_fingerprint, read_folder
from c2am.predict import predict_folder
from c2am.models.c2am import load_trained
from c2am.settings import CueTrainSettings, ExtractSettings, PredictSettings
from c2am.training.checkpoint import save_model
from c2am.wsol.extract import extract_maps
from c2am.wsol.localize import boxes_table
from c2am.wsol.maps import MapStore
from conftest import REPO

PREDICT = PredictSettings.from_dict({"size": 64, "workers": 0})
BLANKS = ("black.png", "white.png", "grey.jpg", "noise.png")


def _photos(demo_root, folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for f in sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[:n]:
        shutil.copy(f, folder / f.name)
        names.append(f.name)
    return names


def _blanks(folder: Path) -> None:
    """All black, all white, one flat grey (JPEG) and a grey with tiny noise (standard deviation 1 grey level)."""
    cv2.imwrite(str(folder / "black.png"), np.zeros((60, 80, 3), np.uint8))
    cv2.imwrite(str(folder / "white.png"), np.full((60, 80, 3), 255, np.uint8))
    cv2.imwrite(str(folder / "grey.jpg"), np.full((90, 70, 3), 128, np.uint8))
    noise = np.random.default_rng(0).normal(128, 1, (64, 64, 3))
    cv2.imwrite(str(folder / "noise.png"), np.clip(noise, 0, 255).round().astype(np.uint8))


# ----------------------------------------------------------------------------------------------- blank images
def test_predict_flags_blank_images_as_empty_maps_without_a_box(tmp_path, demo_root, trained):
    images = tmp_path / "images"
    photos = _photos(demo_root, images, 2)
    _blanks(images)
    summary = predict_folder(trained, images, tmp_path / "pred", 0.5, PREDICT, device="cpu", progress=False)
    table = pd.read_parquet(tmp_path / "pred" / "boxes.parquet").set_index("file")
    assert summary["empty_maps"] == len(BLANKS) == json.loads((tmp_path / "pred" / "summary.json").read_text())[
        "empty_maps"]
    for name in BLANKS:
        row = table.loc[name]
        assert row["empty_map"] and row[["x0", "y0", "x1", "y1"]].isna().all() and row["foreground_fraction"] == 0
        mask = np.array(Image.open(tmp_path / "pred" / "masks" / f"{name}.png"))
        assert mask.shape == (row["height"], row["width"]) and not mask.any()
    for name in photos:  # real photos keep their boxes
        row = table.loc[name]
        assert not row["empty_map"] and row["x1"] > row["x0"] and row["y1"] > row["y0"]


def test_extract_maps_counts_blank_images_as_flat_and_makes_no_box_from_them(tmp_path, demo_root, trained):
    images = tmp_path / "images"
    photos = _photos(demo_root, images, 3)
    _blanks(images)
    model, _ = load_trained(trained)
    s = ExtractSettings.from_dict({"resize": 64, "crop": None, "workers": 0})
    summary = extract_maps(model, read_folder(images), s, tmp_path / "maps", torch.device("cpu"), {}, progress=False)
    assert summary["flat_maps"] == len(BLANKS)
    store = MapStore(tmp_path / "maps")
    flat = {image_id for i, image_id in enumerate(store.manifest["image_id"]) if store.is_flat(i)}
    assert flat == {Path(n).stem for n in BLANKS}
    boxes = boxes_table(store, 0.5, "minmax", False, True).set_index("image_id")
    area = (boxes["x1"] - boxes["x0"]).clip(lower=0) * (boxes["y1"] - boxes["y0"]).clip(lower=0)
    assert (area[sorted(flat)] == 0).all()  # no box: a miss in the WSOL metrics, the whole image for PSOL
    assert (area[[Path(n).stem for n in photos]] > 0).all()
    # the same decision as predict's at the same input size
    predict_folder(trained, images, tmp_path / "pred", 0.5, PREDICT, device="cpu", progress=False)
    table = pd.read_parquet(tmp_path / "pred" / "boxes.parquet")
    assert {Path(f).stem for f in table.loc[table["empty_map"], "file"]} == flat


def test_ddt_makes_no_box_from_blank_images(tmp_path):
    """DDT's maps carry the same flag (its input views through flat_maps): a blank image gets the empty box."""
    from c2am.data.records import ImageRecord
    from c2am.settings import DDTSettings
    from c2am.wsol.ddt import DDTFeatures, ddt_boxes_table, run_ddt

    class PooledPixels(torch.nn.Module):
        def deepest(self, x):
            return torch.nn.functional.avg_pool2d(x, 8)

    records = []
    for i in range(4):
        img = np.full((64, 64, 3), 20, np.uint8)
        if i < 3:
            img[8 + 4 * i:40, 16:48] = 250
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
        records.append(ImageRecord(str(i), tmp_path / f"{i}.png", "train", label=0))
    s = DDTSettings.from_dict({"resize": 64, "batch_size": 2, "workers": 0, "group_by": "class", "amp": False,
                               "channels_last": False})
    run_ddt(DDTFeatures(PooledPixels(), (0.0,) * 3, (1.0,) * 3), records, s, tmp_path / "maps", torch.device("cpu"),
            {}, progress=False)
    table = ddt_boxes_table(MapStore(tmp_path / "maps"))[0].set_index("image_id")
    area = (table["x1"] - table["x0"]) * (table["y1"] - table["y0"])
    assert area["3"] == 0 and (area[["0", "1", "2"]] > 0).all()


# ----------------------------------------------------------------------------------------------- names not UTF-8
def _odd_folder(demo_root, folder: Path) -> None:
    """plain.jpg, caf\\xe9.jpg (Latin-1 bytes: not UTF-8) and an unreadable br\\xfbken.jpg."""
    photo = sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[0]
    folder.mkdir()
    shutil.copy(photo, folder / "plain.jpg")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"), "wb") as f:
        f.write(photo.read_bytes())
    with open(os.path.join(os.fsencode(folder), b"br\xfbken.jpg"), "wb") as f:
        f.write(b"not an image")


def test_predict_handles_a_non_utf8_file_name(tmp_path, demo_root, trained):
    images, out = tmp_path / "images", tmp_path / "pred"
    _odd_folder(demo_root, images)
    run = subprocess.run([sys.executable, "-m", "stages.predict", "--model", str(trained), "--images", str(images),
                          "--threshold", "0.5", "--out-dir", str(out), "--size", "64", "--workers", "0",
                          "--device", "cpu", "--no-progress"], cwd=REPO, capture_output=True, text=True,
                         errors="backslashreplace")
    assert run.returncode == 0, run.stderr[-2000:]  # not 139 (a segfault in cv2.imwrite)
    assert len(listing_fingerprint(images)) == 16  # the workflow's fingerprint of the folder
    table = pd.read_parquet(out / "boxes.parquet").set_index("file")
    assert sorted(table.index) == ["caf%E9.jpg", "plain.jpg"]  # written under its escaped name
    pd.testing.assert_series_equal(table.loc["caf%E9.jpg"], table.loc["plain.jpg"], check_names=False)
    assert (out / "masks" / "caf%E9.jpg.png").is_file() and (out / "previews" / "caf%E9.jpg.jpg").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["renamed"] == [{"file": "br%FBken.jpg", "name": "br\\xfbken.jpg"},
                                  {"file": "caf%E9.jpg", "name": "caf\\xe9.jpg"}]
    assert [s["file"] for s in summary["skipped"]] == ["br%FBken.jpg"]
    assert "caf\\xe9.jpg" in run.stderr and "br%FBken.jpg" in run.stderr  # the log names both


def test_extract_maps_handles_a_non_utf8_file_name(tmp_path, demo_root, trained):
    images = tmp_path / "images"
    _odd_folder(demo_root, images)
    os.remove(os.path.join(os.fsencode(images), b"br\xfbken.jpg"))
    shutil.copy(images / "plain.jpg", images / "caf%E9.jpg")  # a real file named like the escaped one
    records = read_folder(images)
    ids = sorted(r.image_id for r in records)
    assert ids[0] == "caf%E9" and ids[1].startswith("caf%E9~") and ids[2] == "plain"  # unique, valid UTF-8
    model, _ = load_trained(trained)
    s = ExtractSettings.from_dict({"resize": 64, "crop": None, "workers": 0})
    extract_maps(model, records, s, tmp_path / "maps", torch.device("cpu"), {}, progress=False)
    assert sorted(MapStore(tmp_path / "maps").index) == ids


# ----------------------------------------------------------------------------------------------- wrong files
def _cue_model_file(path: Path, init: dict, backbone: str | None = None) -> Path:
    """An (untrained) cue model file as train_cue_model writes it, on the init's backbone or another."""
    from c2am.wsss.cue_model import CueNet

    init = dict(init, backbone=backbone or init["backbone"])
    s = CueTrainSettings.from_dict({"epochs": 1})
    net = CueNet(init["backbone"], init["input_mean"], init["input_std"], init["tf_padding"], s.head_width)
    save_model(path, net, init, s.to_dict(), {})
    return path


def test_predict_says_which_kind_of_model_file_it_got(tmp_path, demo_root, trained, init):
    images = tmp_path / "images"
    _photos(demo_root, images, 1)
    cue = _cue_model_file(tmp_path / "cue.pt", init)
    st = PREDICT.replace(masks="self_trained")
    expect = r"{} is a cue model \(train_cue_model\), but --model expects a C2AM model \(train_c2am\)"
    with pytest.raises(ValueError, match=expect.format(re.escape(str(cue)))):
        predict_folder(cue, images, tmp_path / "a", 0.5, PREDICT, device="cpu", progress=False)
    expect = r"{} is a C2AM model \(train_c2am\), but --mask-model expects a cue model \(train_cue_model\)"
    with pytest.raises(ValueError, match=expect.format(re.escape(str(trained)))):
        predict_folder(trained, images, tmp_path / "b", 0.5, st, device="cpu", progress=False,
                       mask_model_path=trained)
    other = _cue_model_file(tmp_path / "other.pt", init, "mobilenet_v2")
    expect = r"--mask-model {} does not fit the C2AM model: .*backbone 'mobilenet_v2'"
    with pytest.raises(ValueError, match=expect.format(re.escape(str(other)))):
        predict_folder(trained, images, tmp_path / "c", 0.5, st, device="cpu", progress=False, mask_model_path=other)
    predict_folder(trained, images, tmp_path / "d", 0.5, st, device="cpu", progress=False, mask_model_path=cue)


@pytest.mark.parametrize("content, says", [
    ('{"threshold": 0.4}', "no settings.normalization"),
    ('{"settings": {"normalization": "minmax"}}', "no 'threshold'"),
    ("", "not valid JSON"),
    ('{"threshold": "abc", "settings": {"normalization": "minmax"}}', "its threshold 'abc' is not a number"),
    ("[0.4]", "a JSON list, not an object"),
])
def test_predict_names_a_malformed_threshold_file(tmp_path, content, says):
    from stages.predict import parser, run

    bad = tmp_path / "threshold.json"
    bad.write_text(content)
    args = parser().parse_args(["--model", "m.pt", "--images", str(tmp_path), "--out-dir", str(tmp_path / "out"),
                                "--threshold-file", str(bad)])
    expect = rf"--threshold-file {re.escape(str(bad))}: {says}.*expected the threshold.json written by choose_threshold"
    with pytest.raises(ValueError, match=expect):
        run(args)
