"""Output paths never delete what the pipeline did not write: an output folder is replaced only when it is ours
(empty, its marker's files, or an output of the same stage written before markers), never when it is, holds or
lies inside an input folder; foreign siblings named like our temporaries are left alone; clear messages for
`--images FILE`, `--out-dir .`, Ctrl-C and a folder of unreadable images."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import c2am.io as io
from c2am.cli import main
from c2am.data.decode import Geometry
from c2am.predict import predict_folder
from c2am.settings import PredictSettings
from c2am.wsol.maps import MapWriter

PREDICT = PredictSettings.from_dict({"size": 64, "workers": 0})


def _photos(demo_root: Path, folder: Path, n: int = 1) -> list[Path]:
    """`n` demo photos and the user's notes.txt in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    src = sorted((demo_root / "CUB_200_2011" / "images").rglob("*.jpg"))[:n]
    out = [Path(shutil.copy(p, folder / p.name)) for p in src]
    (folder / "notes.txt").write_text("notes")
    return out


def _predict(trained, images, out):
    return predict_folder(trained, images, out, 0.5, PREDICT, device="cpu", progress=False)


def _forget_markers(folder: Path) -> None:
    """Make `folder` look written by the code before output markers."""
    for marker in folder.glob(".*.json"):
        marker.unlink()


def _tiny_maps(out: Path) -> Path:
    g = Geometry(32, 32, 32, 32, 0, 0, 32, 32)
    with MapWriter(out, 4, {"resize": 32}) as w:
        for i in range(2):
            m = np.zeros((4, 4), np.float32)
            m[1:3, 1:3] = 1
            w.add(f"img{i}", m, g)
    return out


def _run_stage(module, argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [module.__name__, *map(str, argv)])
    main(module.run, module.parser())


# ----------------------------------------------------------------------------------------------- predict
def test_predict_refuses_out_dir_equal_to_images_and_keeps_the_photos(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    photos = _photos(demo_root, images)
    with pytest.raises(ValueError, match=r"--out-dir .*p is the --images input .*p"):
        _predict(trained, images, images)
    assert all(p.is_file() for p in photos) and (images / "notes.txt").read_text() == "notes"
    assert sorted(p.name for p in images.iterdir()) == sorted([p.name for p in photos] + ["notes.txt"])


def test_predict_refuses_out_dir_that_contains_the_images_folder(tmp_path, demo_root, trained):
    images = tmp_path / "parent" / "p"
    photos = _photos(demo_root, images)
    with pytest.raises(ValueError, match=r"--out-dir .*parent contains the --images input .*p"):
        _predict(trained, images, tmp_path / "parent")
    assert all(p.is_file() for p in photos) and (images / "notes.txt").is_file()


def test_predict_refuses_out_dir_inside_the_images_folder(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    _photos(demo_root, images)
    with pytest.raises(ValueError, match=r"lies inside the --images folder .*read recursively"):
        _predict(trained, images, images / "pred")
    assert not (images / "pred").exists()


def test_predict_refuses_to_replace_a_folder_holding_the_users_files(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    _photos(demo_root, images)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("chapter 1")
    with pytest.raises(ValueError, match=r"output folder .*mine already holds files the pipeline did not write"
                                         r".*thesis\.tex"):
        _predict(trained, images, out)
    assert (out / "thesis.tex").read_text() == "chapter 1" and sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_predict_leaves_foreign_part_and_old_siblings_alone(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    _photos(demo_root, images)
    out = tmp_path / "pred"
    for sibling in ("pred.part", "pred.old"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "keep.txt").write_text(sibling)
    _predict(trained, images, out)
    _predict(trained, images, out)  # replacing an existing output too
    for sibling in ("pred.part", "pred.old"):
        assert (tmp_path / sibling / "keep.txt").read_text() == sibling
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "pred", "pred.old", "pred.part"]  # no leftovers


def test_predict_replaces_its_own_earlier_output(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    photos = _photos(demo_root, images, n=2)
    out = tmp_path / "pred"
    assert _predict(trained, images, out)["predicted"] == 2
    photos[1].unlink()
    assert _predict(trained, images, out)["predicted"] == 1
    assert sorted(p.name for p in (out / "masks").iterdir()) == [photos[0].name + ".png"]


def test_predict_replaces_its_output_written_before_markers(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    _photos(demo_root, images)
    out = tmp_path / "pred"
    _predict(trained, images, out)
    _forget_markers(out)
    assert _predict(trained, images, out)["predicted"] == 1


def test_predict_refuses_an_output_from_before_markers_holding_a_foreign_file(tmp_path, demo_root, trained):
    images = tmp_path / "p"
    _photos(demo_root, images)
    out = tmp_path / "pred"
    _predict(trained, images, out)
    _forget_markers(out)
    (out / "masks" / "my_edit.png").write_bytes(b"hand-drawn")
    with pytest.raises(ValueError, match=r"not written by predict: masks/my_edit\.png"):
        _predict(trained, images, out)
    assert (out / "masks" / "my_edit.png").read_bytes() == b"hand-drawn"


def test_predict_says_images_is_a_file_not_a_folder(tmp_path, demo_root, trained):
    photo = _photos(demo_root, tmp_path / "p")[0]
    with pytest.raises(NotADirectoryError, match=r"--images .*\.jpg is a file, not a folder"):
        _predict(trained, photo, tmp_path / "pred")


def test_predict_out_dir_dot_names_the_current_folder(tmp_path, demo_root, trained, monkeypatch):
    images = tmp_path / "p"
    _photos(demo_root, images)
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("notes")
    monkeypatch.chdir(work)
    with pytest.raises(ValueError, match=r"output folder '\.' \(.*work\) is the current folder"):
        _predict(trained, images, ".")
    assert (work / "notes.txt").is_file()


def test_predict_fails_when_every_image_is_unreadable_and_lists_them(tmp_path, trained):
    images = tmp_path / "p"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")
    (images / "b.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"none of the 2 images under .*p could be read \(a\.jpg: .*; b\.png: "):
        _predict(trained, images, tmp_path / "pred")
    assert not (tmp_path / "pred").exists()


# ----------------------------------------------------------------------------------------------- map folders
def test_extract_maps_refuses_a_folder_holding_the_users_files(tmp_path):
    out = tmp_path / "maps"
    out.mkdir()
    (out / "notes.txt").write_text("notes")
    with pytest.raises(ValueError, match=r"already holds files the pipeline did not write.*notes\.txt"):
        _tiny_maps(out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_extract_maps_replaces_its_map_folder_written_before_markers(tmp_path):
    out = _tiny_maps(tmp_path / "maps")
    _forget_markers(out)
    _tiny_maps(out)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["manifest.parquet",
                                                                                   "maps-00000.npy"]


def test_extract_maps_refuses_out_dir_inside_a_folder_dataset(tmp_path, demo_root, trained, monkeypatch, capsys):
    from stages import extract_maps

    images = tmp_path / "photos"
    _photos(demo_root, images)
    with pytest.raises(SystemExit) as stop:
        _run_stage(extract_maps, ["--model", trained, "--dataset-format", "folder", "--dataset-root", images,
                                  "--split", "all", "--out-dir", images / "maps", "--device", "cpu", "--no-progress",
                                  "--resize", 64, "--crop", "none", "--workers", 0], monkeypatch)
    assert stop.value.code == 1 and not (images / "maps").exists()
    assert "lies inside the --dataset-root folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- image folders
def _cue_items(n=2):
    for i in range(n):
        yield f"img{i}", np.full((8, 8), 255 * (i % 2), np.uint8), {"width": 8, "height": 8}


def test_image_folder_replaces_its_folder_written_before_markers(tmp_path):
    out = tmp_path / "cues"
    io.write_image_folder(out, "make_cues", {}, _cue_items())
    _forget_markers(out)
    io.write_image_folder(out, "make_cues", {}, _cue_items(1))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["img0.png", "manifest.parquet"]


def test_image_folder_refuses_a_folder_of_another_program_with_a_manifest(tmp_path):
    out = tmp_path / "cues"
    io.write_image_folder(out, "make_cues", {}, _cue_items())
    _forget_markers(out)
    (out / "README.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not written by make_cues: README\.txt"):
        io.write_image_folder(out, "make_cues", {}, _cue_items())
    assert (out / "README.txt").read_text() == "mine" and (out / "img1.png").is_file()


def test_atomic_dir_refuses_an_existing_file_at_the_folder_path(tmp_path):
    target = tmp_path / "out"
    target.write_text("mine")
    with pytest.raises(ValueError, match=r"exists and is not a folder"):
        with io.atomic_dir(target):
            pass
    assert target.read_text() == "mine"


# ----------------------------------------------------------------------------------------------- refine_cams
def test_refine_refuses_out_dir_equal_to_the_masks_folder(tmp_path, demo_root, monkeypatch, capsys):
    from stages import refine_cams

    voc = Path(shutil.copytree(demo_root / "VOC2012", tmp_path / "VOC2012"))
    masks = voc / "SegmentationClass"
    before = sorted(p.name for p in masks.iterdir())
    with pytest.raises(SystemExit) as stop:
        _run_stage(refine_cams, ["--cams", tmp_path / "cams", "--dataset-format", "voc", "--dataset-root", voc,
                                 "--split", "val", "--background", "threshold", "--threshold", 0.5,
                                 "--out-dir", masks, "--metrics", tmp_path / "m.json"], monkeypatch)
    assert stop.value.code == 1 and sorted(p.name for p in masks.iterdir()) == before
    assert "is the --dataset-root images/masks folder" in capsys.readouterr().err


def test_refine_recognises_its_folder_from_before_markers_only_beside_its_metrics(tmp_path):
    from argparse import Namespace

    from c2am.data.records import ImageRecord
    from stages.refine_cams import legacy_refined

    out = tmp_path / "refined"
    out.mkdir()
    (out / "2007_000001.png").write_bytes(b"png")
    records = [ImageRecord(image_id="2007_000001", path=tmp_path / "x.jpg", split="val")]
    args = Namespace(metrics=str(tmp_path / "m.json"), split="val", background="cue")
    recognise = lambda folder: legacy_refined(folder, args, records)  # noqa: E731
    with pytest.raises(ValueError, match="no file of it is recognisably an output of refine_cams"):
        io.check_replaceable(out, recognise, "refine_cams")  # no metrics: not recognised
    (tmp_path / "m.json").write_text(json.dumps({"split": "val", "background": "cue", "miou": 0.5,
                                                 "confusion": []}))
    io.check_replaceable(out, recognise, "refine_cams")


# ----------------------------------------------------------------------------------------------- single files
def test_stage_refuses_writing_its_output_onto_its_input(tmp_path, monkeypatch, capsys):
    from stages import make_boxes

    maps = _tiny_maps(tmp_path / "maps")
    threshold = tmp_path / "threshold.json"
    threshold.write_text(json.dumps({"threshold": 0.5}))
    with pytest.raises(SystemExit) as stop:
        _run_stage(make_boxes, ["--maps", maps, "--threshold-file", threshold, "--out", threshold], monkeypatch)
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "--out" in err and "is the --threshold-file input" in err
    assert json.loads(threshold.read_text()) == {"threshold": 0.5}


def test_stage_refuses_two_outputs_on_one_path(tmp_path):
    from c2am.cli import check_stage_paths
    from stages import train_c2am

    args = train_c2am.parser().parse_args(
        ["--init", str(tmp_path / "init.pt"), "--out-model", str(tmp_path / "m.pt"), "--checkpoint",
         str(tmp_path / "m.pt"), "--train-log", str(tmp_path / "log.jsonl"), "--dataset-format", "cub",
         "--dataset-root", str(tmp_path), "--split", "train"])
    with pytest.raises(ValueError, match="--out-model and --checkpoint are the same path"):
        check_stage_paths(args)


def test_make_demo_data_overwrite_never_replaces_a_foreign_folder(tmp_path):
    from c2am.data.demo import generate_demo

    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not a demo dataset \(x\.txt\)"):
        generate_demo(other, n_classes=1, n_train_per_class=1, n_test_per_class=1, image_size=(32, 32),
                      overwrite=True)
    assert (other / "x.txt").read_text() == "mine"


# ----------------------------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    import argparse

    def run(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["stage"])
    with pytest.raises(SystemExit) as stop:
        try:
            main(run, argparse.ArgumentParser())
        except KeyboardInterrupt:
            pytest.fail("Ctrl-C escaped as a raw KeyboardInterrupt (a traceback)")
    err = capsys.readouterr().err
    assert stop.value.code == 130 and "interrupted" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
