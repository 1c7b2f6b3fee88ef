"""Your photos in, masks out: the segment run (config, workflow target, `c2am segment`), predict's gallery, its
box from the written mask, the recipe it runs at and its warnings."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, snakemake
from c2am.config import ConfigError, load_config, settings_for


def _raw_config(tmp_path, segment: dict):
    overlay = tmp_path / "segment.yaml"
    overlay.write_text(yaml.safe_dump({"segment": segment}))
    return load_config(REPO / "config.yaml", overlay)


def _photos(folder, demo_root, n):
    folder.mkdir(parents=True, exist_ok=True)
    images = sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[:n]
    for i, image in enumerate(images):
        shutil.copy(image, folder / f"photo {i}.jpg")
    return folder


# ------------------------------------------------------------------------------------------------------- config
def test_segment_run_adds_a_folder_dataset_an_experiment_and_a_predict_folder_with_epochs_from_views(
        tmp_path, demo_root):
    folder = _photos(tmp_path / "mine", demo_root, 7)
    cfg = _raw_config(tmp_path, {"images": str(folder), "name": "mine"})
    assert cfg["datasets"]["mine"] == {"format": "folder", "root": str(folder), "train_split": "all",
                                       "eval_split": "all", "generate": None}
    assert cfg["predict_folders"]["mine"] == str(folder)
    # the default views, 3080 and 770, over 7 photos: 440 and 110 epochs
    assert settings_for(cfg, "train_c2am", {"exp": "mine"}).epochs == 440
    assert settings_for(cfg, "train_cue_model", {"exp": "mine"}).epochs == 110
    # the recipe: preset, extraction, fixed box threshold, cue labels at 0.5, self-trained masks
    assert settings_for(cfg, "train_c2am", {"exp": "mine"}).lr == cfg["presets"]["cpu_cub_lr6e4"]["lr"]
    assert settings_for(cfg, "extract_maps", {"exp": "mine"}).scales == [1.0, 1.25, 1.5]
    assert settings_for(cfg, "make_boxes", {"exp": "mine"}).threshold == 0.5
    assert settings_for(cfg, "predict", {"exp": "mine"}).masks == "self_trained"
    many = _raw_config(tmp_path, {"images": str(folder), "views": {"train_c2am": 2, "train_cue_model": 11}})
    assert settings_for(many, "train_c2am", {"exp": "photos"}).epochs == 1  # round(2 / 7) = 0 -> at least 1
    assert settings_for(many, "train_cue_model", {"exp": "photos"}).epochs == 2  # round(11 / 7) = 2
    assert "photos" not in _raw_config(tmp_path, {})["experiments"]  # no folder, no run


@pytest.mark.parametrize("segment, message", [
    ({"images": "/no/such/folder"}, "segment.images: image folder not found: /no/such/folder"),
    ({"name": "demo_effl0"}, "segment.name = 'demo_effl0' is already a key of experiments"),
    ({"recipe": {"dataset": "demo"}}, "segment.recipe.dataset: the segment run's dataset is segment.images"),
    ({"recipe": {"extract_maps": {"resize": "big"}}}, "segment.recipe.extract_maps.resize: 'big' is not of type"),
    ({"name": "../up"}, "does not match"),
    ({"images": str(REPO)}, f"segment.images = {REPO} holds the results folder"),
    ({"images": str(REPO / "README.md")}, "is a file, not a folder"),
])
def test_a_bad_segment_setting_is_named(tmp_path, demo_root, segment, message, monkeypatch):
    monkeypatch.chdir(REPO)  # where results_dir (results) is
    folder = _photos(tmp_path / "mine", demo_root, 2)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _raw_config(tmp_path, {"images": str(folder), **segment})


# ---------------------------------------------------------------------------------------------- gallery, preview
def test_gallery_escapes_names_sorts_by_foreground_and_flags_empty_maps_and_masks():
    from c2am.gallery import gallery_html

    table = pd.DataFrame({"file": ['a<b>&"c.jpg', "sub/big.png", "blank.jpg"], "foreground_fraction": [0.4, 0.9, 0.0],
                          "empty_map": [False, False, True]})
    page = gallery_html(table, {"images": 3, "predicted": 3, "model": "m.pt", "warnings": ["careful"]}, True)
    assert 'a<b>' not in page and "a&lt;b&gt;&amp;&quot;c.jpg" in page
    assert 'src="previews/a%3Cb%3E%26%22c.jpg.jpg"' in page and 'src="masks/sub/big.png.png"' in page
    rows = [line for line in page.split("<tr data-file=")[1:]]
    assert [r.split('"')[1] for r in rows] == ["blank.jpg", 'a&lt;b&gt;&amp;&quot;c.jpg', "sub/big.png"]  # by fg
    assert "empty map (no contrast)" in rows[0] and "flag\"></td>" in rows[1] and '<p class="flag">careful</p>' in page
    nearly = gallery_html(table.assign(foreground_fraction=[0.005, 0.9, 0.0]), {}, False)
    assert "nearly empty mask" in nearly and "previews/" not in nearly


def test_preview_dims_the_background_and_outlines_the_mask_and_box_in_colour_blind_safe_colours():
    from c2am.predict import BOX_RGB, OUTLINE_RGB, overlay

    img = np.full((100, 100, 3), (200, 30, 30), np.uint8)  # a red photo: a red tint would vanish on it
    mask = np.zeros((100, 100), bool)
    mask[30:70, 20:60] = True
    out = overlay(img, mask, (10, 10, 90, 90))
    assert out[50, 40].tolist() == [200, 30, 30]  # inside the mask: the photo itself
    assert out[5, 95].tolist() == [110, 16, 16]  # background: dimmed to 55 %
    colours = {tuple(p) for p in out.reshape(-1, 3).tolist()}
    assert OUTLINE_RGB in colours and BOX_RGB in colours and (0, 0, 0) in colours
    assert out[30, 40].tolist() == list(OUTLINE_RGB) and out[10, 50].tolist() == list(BOX_RGB)


# ------------------------------------------------------------------------------------------- predict's recipe
def test_predict_runs_at_the_thresholds_maps_recipe_unless_given_else_at_the_models_resize():
    from c2am.predict import inference_recipe
    from c2am.settings import PredictSettings

    default = PredictSettings.from_dict({})
    maps = {"size": 320, "scales": [1.0, 1.25], "flip": True}
    assert inference_recipe(default, maps, {"resize": 256}) == {
        **maps, "recipe_from": dict.fromkeys(("size", "scales", "flip"), "the threshold file (the maps it was "
                                                                          "chosen on)")}
    model_only = inference_recipe(default, None, {"resize": 144})
    assert (model_only["size"], model_only["scales"], model_only["flip"]) == (144, [1.0], False)
    given = inference_recipe(default.replace(size=200), maps, {"resize": 256})
    assert (given["size"], given["scales"], given["recipe_from"]["size"]) == (200, [1.0, 1.25], "given")


def test_threshold_file_gives_predict_the_maps_recipe(tmp_path):
    from stages.predict import read_threshold_file

    path = tmp_path / "threshold.json"
    chosen = {"threshold": 0.4, "settings": {"normalization": "minmax"}}
    path.write_text(json.dumps(chosen))
    assert read_threshold_file(str(path)) == (0.4, None)  # a file from before the recipe was recorded
    path.write_text(json.dumps({**chosen, "maps": {"size": 160, "scales": [1.0], "flip": False}}))
    assert read_threshold_file(str(path)) == (0.4, {"size": 160, "scales": [1.0], "flip": False})
    path.write_text(json.dumps({**chosen, "maps": {"size": 160}}))
    with pytest.raises(ValueError, match=f"--threshold-file {path}: its 'maps' is not"):
        read_threshold_file(str(path))


def test_predict_warns_when_a_demo_model_meets_other_photos_and_when_most_masks_are_empty(
        tmp_path, demo_root, trained):
    from c2am.predict import predict_folder
    from c2am.settings import PredictSettings

    settings = PredictSettings.from_dict({"size": 64, "workers": 0, "refine": "none"})
    on_demo = predict_folder(trained, demo_root / "CUB_200_2011" / "images", tmp_path / "demo", 0.5, settings,
                             device="cpu", progress=False)
    assert not any("synthetic demo" in w for w in on_demo["warnings"])  # the demo's own images: no warning
    photos = _photos(tmp_path / "photos", demo_root, 3)  # the same pictures, but no demo dataset above them
    other = predict_folder(trained, photos, tmp_path / "other", 0.5, settings, device="cpu", progress=False)
    assert any("trained on the synthetic demo images only" in w for w in other["warnings"])
    empty = predict_folder(trained, photos, tmp_path / "empty", 0.999999, settings, device="cpu", progress=False)
    assert empty["nearly_empty_masks"] == 3 and any("3 of 3 masks are (nearly) empty" in w for w in empty["warnings"])
    # the warning comes exactly when more than half of the masks are (nearly) empty
    assert any("masks are (nearly) empty" in w for w in other["warnings"]) == (other["nearly_empty_masks"] >= 2)
    assert json.loads((tmp_path / "empty" / "summary.json").read_text())["warnings"] == empty["warnings"]
    assert "3 of 3 masks are (nearly) empty" in (tmp_path / "empty" / "index.html").read_text()


# ----------------------------------------------------------------------------------------- the whole run, tiny
TINY_RECIPE = {"train_c2am": {"batch_size": 4, "resize": 72, "crop": 64, "workers": 1, "fg_rule_images": 8},
               "extract_maps": {"resize": 80, "batch_size": 8, "workers": 1, "scales": [1.0, 1.25]},
               "train_cue_model": {"batch_size": 4, "crop": 64, "workers": 1},
               "predict_cues": {"test_size": 64},
               "predict": {"workers": 1, "refine_max_side": 64}}


def test_snakemake_segment_trains_on_the_folder_and_writes_masks_boxes_and_a_gallery_without_touching_it(
        tmp_path, demo_root):
    photos = _photos(tmp_path / "my photos", demo_root, 8)
    (photos / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"device": "cpu", "active_experiments": [], "segment": {
        "images": str(photos), "name": "mine", "views": {"train_c2am": 16, "train_cue_model": 8}, "recipe": TINY_RECIPE}}))
    work = tmp_path / "work"
    proc = snakemake(work, "segment", configfiles=(overlay,))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before  # the user's folder is untouched
    out = work / "results" / "mine" / "predict" / "mine"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["predicted"], summary["masks"], summary["size"], summary["scales"]) == (
        8, "self_trained", 80, [1.0, 1.25])  # at the extraction's size and scales, from the threshold file
    assert summary["recipe_from"]["scales"].startswith("the threshold file")
    c2am = torch.load(work / "results" / "mine" / "c2am" / "model.pt", weights_only=False)
    cue = torch.load(work / "results" / "mine" / "wsss" / "cue_model.pt", weights_only=False)
    assert (c2am["settings"]["epochs"], cue["settings"]["epochs"]) == (2, 1)  # 16 and 8 views over 8 photos
    assert c2am["summary"]["synthetic_demo"] is False
    table = pd.read_parquet(out / "boxes.parquet").set_index("file")
    assert sorted(table.index) == sorted(f"photo {i}.jpg" for i in range(8))
    page = (out / "index.html").read_text()
    for name in table.index:
        mask = cv2.imread(str(out / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 0
        assert mask.shape == cv2.imread(str(photos / name)).shape[:2]
        assert f"masks/{name.replace(' ', '%20')}.png" in page and (out / "previews" / f"{name}.jpg").is_file()
        box = table.loc[name, ["x0", "y0", "x1", "y1"]].to_numpy(float)
        if mask.any():  # the box is the bounding rectangle of the written mask's largest region
            _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
            x, y, w, h, _ = stats[1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])]
            assert box.tolist() == [x, y, x + w, y + h], name
        else:
            assert np.isnan(box).all(), name
    again = snakemake(work, "-n", "segment", configfiles=(overlay,))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_snakemake_segment_without_a_folder_says_how_to_give_one(tmp_path):
    proc = snakemake(tmp_path, "-n", "segment")
    assert proc.returncode != 0 and "make segment IMAGES=DIR" in proc.stdout + proc.stderr


def test_c2am_segment_plans_the_run_writes_its_overlay_and_names_a_bad_folder(tmp_path, demo_root):
    photos = _photos(tmp_path / "photos", demo_root, 2)
    results = tmp_path / "results"
    where = tmp_path / "where.yaml"
    where.write_text(yaml.safe_dump({"results_dir": str(results)}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "c2am.segment", str(photos), "--name", "mine", "-n",
                           "--configfile", str(where)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = yaml.safe_load((results / "mine" / "segment.yaml").read_text())
    assert written == {"segment": {"images": str(photos), "name": "mine"}}
    assert "train_c2am" in proc.stdout and "predict" in proc.stdout
    assert f"snakemake --cores 2 segment --configfile {where} {results / 'mine' / 'segment.yaml'}" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "c2am.segment", str(tmp_path / "nothing"), "--configfile",
                          str(where)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert bad.returncode == 1 and f"segment.images: image folder not found: {tmp_path / 'nothing'}" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_c2am_segment_refuses_to_replace_another_folders_run_without_a_name(tmp_path, demo_root):
    first, second = _photos(tmp_path / "a", demo_root, 2), _photos(tmp_path / "b", demo_root, 2)
    where = tmp_path / "where.yaml"
    where.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "results")}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def segment(*args):
        return subprocess.run([sys.executable, "-m", "c2am.segment", "--configfile", str(where), "-n", *args],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)

    assert segment(str(first)).returncode == 0
    refused = segment(str(second))
    assert refused.returncode == 1 and f"holds the segment run of another folder ({first})" in refused.stderr
    assert segment(str(first)).returncode == 0  # the same folder again: fine
    assert segment("--name", "b", "--", str(second)).returncode == 0  # its own name: fine


def test_make_segment_passes_folder_and_name_as_given_and_ignores_an_environment_name(tmp_path):
    """make expands neither $ nor quotes in IMAGES / NAME, a leading - stays a folder, and NAME from the
    environment (WSL sets one) is not a run name. A stand-in venv python prints its arguments."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".installed").touch()  # newer than requirements.txt / pyproject.toml: no install

    def make(*args, env_name=None):
        env = {k: v for k, v in os.environ.items() if k not in ("NAME", "IMAGES", "MAKEFLAGS")}
        if env_name:
            env["NAME"] = env_name
        proc = subprocess.run(["make", "-s", "-C", str(REPO), "segment", f"VENV={venv}", *args], capture_output=True,
                              text=True, env=env, timeout=60)
        return proc.returncode, (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else proc.stderr)

    assert make('IMAGES=-my $dir "x" $(y)') == (0, ["-m", "c2am.segment", "--cores", "2", "--", '-my $dir "x" $(y)'])
    assert make("IMAGES=p", env_name="WSLHOST") == (0, ["-m", "c2am.segment", "--cores", "2", "--", "p"])
    assert make("IMAGES=p", "NAME=-odd $n") == (0, ["-m", "c2am.segment", "--cores", "2", "--name=-odd $n", "--", "p"])
    status, err = make()
    assert status == 2 and "usage: make segment IMAGES=path/to/photos" in err
