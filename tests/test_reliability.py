"""Reliability and safety: one test per defect found by probing the pipeline as a new user would (failed re-runs,
silent wrong outputs of predict, code in checkpoints, PxAP on VOC masks, full disks, concurrent runs, config edges,
degenerate data). Each test fails on the code before its fix."""

import errno
import os
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

import c2am.io as io
from c2am.config import ConfigError, load_config, read_config_file, validate_config
from c2am.data.decode import Geometry, ImageDecodeError
from c2am.data.images import read_image, verify_images
from c2am.data.readers import read_cub
from c2am.data.records import ImageRecord
from c2am.data.voc import write_mask
from c2am.data.readers import listing_fingerprint
from c2am.predict import predict_folder
from c2am.models.inits import InitError, build_init
from c2am.settings import C2AMTrainSettings, PredictSettings, WsolEvalSettings
from c2am.training.c2am import train_c2am
from c2am.training.checkpoint import TrainingError
from c2am.wsol.evaluate import evaluate_split
from c2am.wsol.maps import MapStore, MapWriter
from c2am.wsss.cams import load_cams
from conftest import REPO, SMALL, edited_config, snakemake



# ----------------------------------------------------------------------------------------------- 1. failed re-runs
def test_failed_rerun_keeps_the_previous_model_maps_and_log(copy_of_demo_pipeline, tmp_path):
    """Snakemake deletes a job's outputs before it runs; expensive outputs are update() outputs, restored when
    the new run fails, and the finished run's JSONL log is kept as train_log.previous.jsonl."""
    work, target = copy_of_demo_pipeline, "results/demo_effl0/maps/train"
    c2am = work / "results" / "demo_effl0" / "c2am"
    model = (c2am / "model.pt").read_bytes()
    log = (c2am / "train_log.jsonl").read_text()
    maps = sorted(p.name for p in (work / "results" / "demo_effl0" / "maps" / "train").iterdir())
    broken = edited_config(tmp_path, {"experiments.demo_effl0.train_c2am.frozen_stages": 9})  # fails at once
    proc = snakemake(work, target, configfiles=(broken,))
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "frozen_stages must be in 0..5" in out  # the stage's own error, on Snakemake's console
    assert (c2am / "model.pt").read_bytes() == model
    assert (c2am / "train_log.jsonl").read_text() == log  # this run failed before its first step
    assert sorted(p.name for p in (work / "results" / "demo_effl0" / "maps" / "train").iterdir()) == maps


def test_a_fresh_training_keeps_the_finished_runs_log_as_previous(tmp_path):
    from c2am.training.checkpoint import new_state, prepare_log

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"event": "step", "step": 1}\n{"event": "done"}\n')
    prepare_log(log, new_state())
    assert (tmp_path / "train_log.previous.jsonl").read_text().endswith('{"event": "done"}\n')
    assert log.read_text() == ""
    log.write_text('{"event": "step", "step": 1}\n')  # a crashed run without a checkpoint: not worth keeping
    prepare_log(log, new_state())
    assert (tmp_path / "train_log.previous.jsonl").read_text().endswith('{"event": "done"}\n')


# ----------------------------------------------------------------------------------------------- 2. predict
def _demo_image(demo_root) -> Path:
    return sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[0]


PREDICT = PredictSettings.from_dict({"size": 64, "workers": 0})


def test_predict_gives_every_input_file_its_own_outputs(tmp_path, demo_root, trained):
    folder = tmp_path / "images"
    folder.mkdir()
    img = Image.open(_demo_image(demo_root))
    for suffix in (".bmp", ".tif", ".webp", ".png"):
        img.save(folder / f"image{suffix}")
    summary = predict_folder(trained, folder, tmp_path / "pred", 0.5, PREDICT, device="cpu", progress=False)
    assert summary["predicted"] == 4
    masks = sorted(p.name for p in (tmp_path / "pred" / "masks").iterdir())
    assert masks == ["image.bmp.png", "image.png.png", "image.tif.png", "image.webp.png"]
    assert len(list((tmp_path / "pred" / "previews").iterdir())) == 4


def test_predict_with_flip_averaging_gives_a_mirrored_image_the_mirrored_mask(tmp_path, demo_root, trained):
    """flip: the map is the mean of the image's map and its mirror's map mirrored back, so a mirrored photo gets
    exactly the mirrored mask (without the flip a network's map is not mirror-symmetric)."""
    folder = tmp_path / "images"
    folder.mkdir()
    img = Image.open(_demo_image(demo_root)).convert("RGB")
    img.save(folder / "a.png")
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.png")
    settings = PREDICT.replace(refine="none", scales=[0.75, 1.0], flip=True)
    summary = predict_folder(trained, folder, tmp_path / "pred", 0.5, settings, device="cpu", progress=False)
    assert summary["scales"] == [0.75, 1.0] and summary["flip"] is True
    a, b = (np.array(Image.open(tmp_path / "pred" / "masks" / f"{n}.png.png")) for n in "ab")
    assert 0 < (a > 0).mean() < 1 and np.array_equal(a, b[:, ::-1])


def test_predict_with_crf_refinement_writes_the_refined_mask_and_the_box_of_that_mask(tmp_path, demo_root, trained):
    """refine crf: the mask is the CRF's foreground (>= 0.5) and the refinement is recorded; each run's box is the
    bounding rectangle of the largest region of the mask it wrote (so the two boxes differ with the masks)."""
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(_demo_image(demo_root), folder / "a.jpg")
    plain = predict_folder(trained, folder, tmp_path / "plain", 0.5, PREDICT.replace(refine="none"), device="cpu",
                           progress=False)
    refined = predict_folder(trained, folder, tmp_path / "crf", 0.5, PREDICT.replace(refine="crf"), device="cpu",
                             progress=False)
    assert plain["refine"] == "none" and refined["refine"] == "crf" and refined["predicted"] == 1
    crf_mask = cv2.imread(str(tmp_path / "crf" / "masks" / "a.jpg.png"), cv2.IMREAD_GRAYSCALE)
    plain_mask = cv2.imread(str(tmp_path / "plain" / "masks" / "a.jpg.png"), cv2.IMREAD_GRAYSCALE)
    assert set(np.unique(crf_mask)) <= {0, 255} and (crf_mask > 0).any() and not np.array_equal(crf_mask, plain_mask)
    boxes = {run: _written_box(tmp_path / run) for run in ("plain", "crf")}
    assert boxes["plain"] == _largest_region_box(plain_mask) and boxes["crf"] == _largest_region_box(crf_mask)


def _written_box(folder) -> list[float]:
    return pd.read_parquet(folder / "boxes.parquet")[["x0", "y0", "x1", "y1"]].to_numpy()[0].tolist()


def _largest_region_box(mask: np.ndarray) -> list[float]:
    """[x0, y0, x1, y1] (exclusive) of the mask's largest 8-connected region."""
    _, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
    x, y, w, h, _ = stats[1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])]
    return [float(x), float(y), float(x + w), float(y + h)]


def test_predict_with_self_trained_masks_takes_the_cue_models_foreground_and_its_box(
        tmp_path, demo_root, trained, voc_cue_labels, init):
    """masks self_trained: the mask is 1 - the cue model's background probability at predict_cues.test_size (as
    predict_cues runs it for table_fg), min-max scaled, >= 0.5 whatever the box threshold; the box is that of the
    written mask; the setting and the mask model must come together."""
    from c2am.settings import CueTrainSettings, PredictCuesSettings
    from c2am.inference import pick_device
    from c2am.wsol.boxes import normalize_map
    from c2am.wsss.cue_model import load_cue_model, predict_background, train_cue_model

    records, labels = voc_cue_labels
    cue = tmp_path / "cue.pt"
    train_cue_model(records, labels, init, CueTrainSettings.from_dict(
        {"epochs": 1, "batch_size": 4, "crop": 64, "workers": 0}), cue, tmp_path / "ck.pt",
        tmp_path / "log.jsonl", "cpu", False)
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(_demo_image(demo_root), folder / "a.jpg")
    plain = PREDICT.replace(refine="none")
    own = predict_folder(trained, folder, tmp_path / "c2am", 0.3, plain, device="cpu", progress=False)
    self_trained = predict_folder(trained, folder, tmp_path / "st", 0.3, plain.replace(masks="self_trained"),
                                  device="cpu", progress=False, mask_model_path=cue,
                                  cues=PredictCuesSettings.from_dict({"test_size": 48}))
    assert own["masks"] == "c2am" and self_trained["masks"] == "self_trained" and self_trained["mask_model"] == str(cue)
    assert own["mask_model_size"] is None and self_trained["mask_model_size"] == 48
    model, _ = load_cue_model(cue)

    def foreground_at(size):
        return normalize_map(1 - predict_background(model, read_image(folder / "a.jpg"), size, pick_device("cpu"),
                                                    False), "minmax")

    at_cue_size = foreground_at(48)
    expected = at_cue_size >= 0.5
    mask = cv2.imread(str(tmp_path / "st" / "masks" / "a.jpg.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(mask > 0, expected) and expected.any() and not expected.all()
    assert not np.array_equal(mask > 0, foreground_at(64) >= 0.5)  # the size matters, so the test can tell
    assert not np.array_equal(mask > 0, at_cue_size >= 0.3)  # and the level
    assert _written_box(tmp_path / "st") == _largest_region_box(mask)
    with pytest.raises(ValueError, match="needs the cue model"):
        predict_folder(trained, folder, tmp_path / "x", 0.5, plain.replace(masks="self_trained"), device="cpu")
    with pytest.raises(ValueError, match="takes no mask model"):
        predict_folder(trained, folder, tmp_path / "y", 0.5, plain, device="cpu", mask_model_path=cue)


def test_16_bit_and_float_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    cv2.imwrite(str(tmp_path / "g16.png"), ramp)
    cv2.imwrite(str(tmp_path / "f32.tiff"), (ramp / 65535.0).astype(np.float32))
    expected = np.round(ramp / 65535 * 255).astype(np.uint8)
    for name in ("g16.png", "f32.tiff"):
        img = read_image(tmp_path / name)
        assert img.shape == (3, 64, 64) and img.dtype == torch.uint8
        assert np.abs(img[0].numpy().astype(int) - expected).max() <= 1, name  # was all 255 / all 0


def test_image_ids_with_slashes_get_distinct_files(tmp_path):
    assert io.image_file("x/y") != io.image_file("x__y")
    rows = io.write_image_folder(tmp_path / "cues", "test", {}, [(i, np.full((2, 2), k, np.uint8), {})
                                                                 for k, i in enumerate(["x/y", "x__y"])])
    assert [r["file"] for r in rows] == ["x/y.png", "x__y.png"]
    assert cv2.imread(str(tmp_path / "cues" / "x" / "y.png"), cv2.IMREAD_GRAYSCALE)[0, 0] == 0
    assert cv2.imread(str(tmp_path / "cues" / "x__y.png"), cv2.IMREAD_GRAYSCALE)[0, 0] == 1
    with pytest.raises(ValueError, match="cannot name a file inside"):
        io.image_file("../escape")


def test_dangling_symlink_is_counted_as_unreadable(tmp_path, demo_root, trained):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(_demo_image(demo_root), folder / "ok.jpg")
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    summary = predict_folder(trained, folder, tmp_path / "pred", 0.5, PREDICT, device="cpu", progress=False)
    assert summary["images"] == 2 and summary["predicted"] == 1 and summary["skipped_unreadable"] == 1
    assert summary["skipped"][0]["file"] == "gone.jpg" and "dangling" in summary["skipped"][0]["error"]


def test_adding_an_image_to_a_predict_folder_changes_its_rule_params(tmp_path, demo_root):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(_demo_image(demo_root), folder / "a.jpg")
    before = listing_fingerprint(folder)
    shutil.copy(_demo_image(demo_root), folder / "b.jpg")
    assert listing_fingerprint(folder) != before
    assert "listing_fingerprint" in (REPO / "workflow" / "rules" / "predict.smk").read_text()


# ----------------------------------------------------------------------------------------------- 3. no code from files
class _Payload:
    def __init__(self, flag: Path):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_crafted_model_init_and_cam_files_run_no_code(tmp_path):
    flag = tmp_path / "ran"
    torch.save({"model": _Payload(flag), "backbone": "x", "init": {}, "settings": {}}, tmp_path / "model.pt")
    from c2am.models.c2am import load_trained

    with pytest.raises(ValueError, match=r"holds Python objects beyond tensors and plain values \(posix.system\), which "
                       r"could run code; it is not loaded"):
        load_trained(tmp_path / "model.pt")
    torch.save({"state_dict": {"w": _Payload(flag)}}, tmp_path / "init.pth")
    with pytest.raises(InitError, match="could run code; it is not loaded"):
        build_init("efficientnet_lite0", "file", str(tmp_path / "init.pth"))
    np.save(tmp_path / "cam.npy", {"keys": np.array([0]), "high_res": _Payload(flag)}, allow_pickle=True)
    with pytest.raises(ValueError, match="refusing to load posix.system"):
        load_cams(tmp_path / "cam.npy")
    assert not flag.exists()
    # what IRN writes (torch tensors inside the dict) is still read
    np.save(tmp_path / "irn.npy", {"keys": torch.tensor([2]), "high_res": torch.ones(1, 3, 4)}, allow_pickle=True)
    keys, cams = load_cams(tmp_path / "irn.npy")
    assert keys.tolist() == [2] and cams.shape == (1, 3, 4)


# ----------------------------------------------------------------------------------------------- 4. PxAP on VOC masks
def test_pxap_reads_class_ids_of_palette_masks(tmp_path):
    """Foreground = any object class id (1..254), 255 ignored; the grayscale value of a palette PNG (class 1 is
    gray 38, the 255 ring gray 220) was read instead, so a perfect map scored ~10 %."""
    ids = np.zeros((32, 32), np.uint8)
    ids[8:24, 8:24] = 1
    ids[7, 7:25] = ids[24, 7:25] = ids[7:25, 7] = ids[7:25, 24] = 255  # VOC's boundary ring
    write_mask(tmp_path / "m.png", ids)
    perfect = np.where((ids > 0) & (ids < 255), 1.0, 0.0).astype(np.float32)
    g = Geometry(32, 32, 32, 32, 0, 0, 32, 32)
    with MapWriter(tmp_path / "maps", 4, {}) as w:
        w.add("a", perfect, g)
    rec = ImageRecord("a", tmp_path / "a.jpg", "val", boxes=((8.0, 8.0, 24.0, 24.0),), mask_path=tmp_path / "m.png",
                      mask_kind="class_ids")
    boxes = pd.DataFrame([{"image_id": "a", "box": 0, "x0": 8.0, "y0": 8.0, "x1": 24.0,
                                             "y1": 24.0, "threshold": 0.5, "score": 1.0}])
    out = evaluate_split(MapStore(tmp_path / "maps"), [rec], boxes, WsolEvalSettings.defaults(), "minmax", False)
    assert out["PxAP"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------- 5. full disk
def test_a_full_disk_names_the_file_and_says_so(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    monkeypatch.setattr(io, "free_bytes", lambda path: 10 * 2 ** 20)  # 10 MB left
    with pytest.raises(OSError, match=r"no space left on device: could not write .*model\.pt \(10 MB free there; it "
                                      r"needs about 32 MB\)"):
        io.save_torch({"w": torch.zeros(8 * 2 ** 20)}, target)  # 32 MB: refused before writing
    assert not target.exists() and list(tmp_path.iterdir()) == []

    def torch_full(obj, f):  # what torch.save says when the disk fills during the write
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(io, "free_bytes", lambda path: 100 * 2 ** 10)
    monkeypatch.setattr(torch, "save", torch_full)
    with pytest.raises(OSError, match=r"no space left on device: could not write .*model\.pt"):
        io.save_torch({"w": torch.zeros(4)}, target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a small tmpfs")
def test_a_really_full_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(OSError, match=r"no space left on device: could not write .*big\.pt"):
            io.save_torch({"w": torch.zeros(2 ** 20)}, disk / "big.pt")
        (disk / "filler").write_bytes(b"x" * (1024 * 1024 - 8192))
        with pytest.raises(OSError, match=r"no space left on device: could not write .*small\.json"):
            io.write_json({"a": "x" * 20000}, disk / "small.json")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", str(disk)])


# ----------------------------------------------------------------------------------------------- 6. one writer
def test_a_second_training_on_the_same_checkpoint_is_refused(tmp_path, demo_root, init):
    checkpoint = tmp_path / "ck.pt"
    holder = subprocess.Popen([sys.executable, "-c", f"from c2am.io import exclusive\nimport time\n"
                               f"with exclusive({str(checkpoint)!r}):\n    print('held', flush=True); time.sleep(60)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
        with pytest.raises(io.ArtifactBusy, match=rf"ck\.pt is being written by pid {holder.pid} on "):
            train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), tmp_path / "m.pt", checkpoint,
                       tmp_path / "l.jsonl", "cpu", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "m.pt").exists()


def test_a_training_whose_snakemake_is_gone_stops_with_a_checkpoint(tmp_path, demo_root, init, monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setenv("C2AM_PARENT_PID", str(dead.pid))
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    with pytest.raises(TrainingError, match=rf"Snakemake, pid {dead.pid}\) is gone: stopped after step 1"):
        train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), tmp_path / "m.pt", tmp_path / "ck.pt",
                   tmp_path / "l.jsonl", "cpu", progress=False)
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["state"]["global_step"] == 1


# ----------------------------------------------------------------------------------------------- 7. config edges
def test_config_errors_name_the_overlay_that_set_the_key(tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("experiments:\n  demo_effl0:\n    train_c2am: {epoch: 3}\n")
    with pytest.raises(ConfigError, match=r"^.*mine\.yaml: unknown key 'epoch'"):
        load_config(REPO / "config.yaml", overlay)
    overlay.write_text("experiments:\n  demo_effl0:\n    dataset: nope\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: experiments\.demo_effl0\.dataset = 'nope'"):
        load_config(REPO / "config.yaml", overlay)
    raw = read_config_file(REPO / "config.yaml")
    raw["results_dir"] = "out"
    with pytest.raises(ConfigError, match="^--config: results_dir"):
        validate_config({**raw, "results_dir": ""}, "config.yaml", [("config.yaml", raw),
                                                                    ("--config", {"results_dir": ""})])


def test_empty_malformed_and_repeated_key_config_files_name_file_and_line(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"empty\.yaml: the file is empty"):
        read_config_file(tmp_path / "empty.yaml")
    (tmp_path / "bad.yaml").write_text("stages:\n  boxes: {calib_fraction: 0.3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3: not valid YAML"):
        read_config_file(tmp_path / "bad.yaml")
    (tmp_path / "twice.yaml").write_text("stages:\n  make_boxes: {calib_fraction: 0.3}\n  make_boxes: {calib_fraction: 0.2}\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml:3: not valid YAML \(key 'make_boxes' is given twice \(first on "
                                          r"line 2\)\)"):
        read_config_file(tmp_path / "twice.yaml")
    proc = subprocess.run([sys.executable, "-m", "c2am.config", str(tmp_path / "empty.yaml")], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1 and "empty.yaml: the file is empty" in proc.stderr


def test_out_of_range_cue_threshold_and_a_root_results_dir_are_rejected():
    raw = read_config_file(REPO / "config.yaml")
    raw["stages"]["make_cue_labels"]["threshold"] = 7
    with pytest.raises(ConfigError, match="stages.make_cue_labels.threshold: 7 is greater than or equal to the maximum"):
        validate_config(raw)
    raw = read_config_file(REPO / "config.yaml")
    for bad in ("", "/", "  "):
        raw["results_dir"] = bad
        with pytest.raises(ConfigError, match="results_dir"):
            validate_config(raw)


# ----------------------------------------------------------------------------------------------- 8. degenerate data
def test_an_all_black_training_set_is_refused_before_training(tmp_path):
    paths = []
    for i in range(4):
        Image.new("RGB", (40, 30), (0, 0, 0)).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="every one of the 4 training images is a single colour"):
        verify_images(paths, workers=0)


def test_flat_maps_everywhere_fail_extraction(tmp_path, demo_root, trained, monkeypatch):
    from c2am.models.c2am import C2AM, load_trained
    from c2am.settings import ExtractSettings
    from c2am.wsol.extract import extract_maps

    monkeypatch.setattr(C2AM, "foreground_map", lambda self, x: torch.full((len(x), 4, 4), 0.3))
    model, _ = load_trained(trained)
    records = read_cub(demo_root / "CUB_200_2011", split="test")[:4]
    s = ExtractSettings.from_dict({"resize": 64, "crop": None, "workers": 0})
    with pytest.raises(ValueError, match="all 4 maps are flat"):
        extract_maps(model, records, s, tmp_path / "maps", torch.device("cpu"), {}, progress=False)
    assert not (tmp_path / "maps").exists() and not (tmp_path / "maps.part").exists()


def test_a_bad_image_stops_training_before_the_first_step(tmp_path, demo_root, init):
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(records[7].path.read_bytes()[:200])
    records[7] = ImageRecord("cut", bad, "train")
    with pytest.raises(ImageDecodeError, match=r"1 of 8 training images cannot be read: .*cut\.jpg"):
        train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), tmp_path / "m.pt", tmp_path / "ck.pt",
                   tmp_path / "log.jsonl", "cpu", progress=False)
    assert not (tmp_path / "log.jsonl").exists()  # found before any step


def test_the_nan_loss_message_names_only_a_checkpoint_that_exists(tmp_path, demo_root, init, monkeypatch):
    import c2am.training.c2am as trainer

    monkeypatch.setattr(trainer, "contrastive_loss", lambda *a: type("T", (), {
        "total": torch.tensor(float("nan"), requires_grad=True), "as_floats": lambda self: {}})())
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:8]
    with pytest.raises(TrainingError, match="step 1; no checkpoint was written yet"):
        train_c2am(records, init, C2AMTrainSettings.from_dict(SMALL), tmp_path / "m.pt", tmp_path / "ck.pt",
                   tmp_path / "log.jsonl", "cpu", progress=False)


def test_write_errors_other_than_a_full_disk_keep_their_message(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "free_bytes", lambda path: 50 * 2 ** 30)

    def denied(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "save", denied)
    with pytest.raises(OSError, match="Permission denied"):
        io.save_torch({"w": torch.zeros(2)}, tmp_path / "m.pt")
