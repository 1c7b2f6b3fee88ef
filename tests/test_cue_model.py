"""The background-cue model: exact resume through the shared loop, checkpoint retirement, and the predicted cue's
size and range."""

import json

import numpy as np
import pytest
import torch

from c2am.wsss.cue_model import load_cue_model, predict_background, train_cue_model
from c2am.data.images import read_image
from c2am.settings import CueTrainSettings


@pytest.fixture(scope="module")
def data(voc_cue_labels):
    return voc_cue_labels


def _settings(**kw):
    return CueTrainSettings.from_dict({"epochs": 2, "batch_size": 4, "crop": 64, "workers": 0, "lr": 0.01,
                                       "schedule": "constant", **kw})


def test_cue_model_resumes_exactly_and_predicts_a_cue(tmp_path, data, init):
    records, labels = data
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    train_cue_model(records, labels, init, _settings(), a / "m.pt", a / "ck.pt", a / "log.jsonl", "cpu", False)
    # b: killed at the end of the first epoch, then resumed to two epochs
    assert train_cue_model(records, labels, init, _settings(), b / "m.pt", b / "ck.pt", b / "log.jsonl", "cpu",
                           False, stop_after_steps=2) == {"stopped_at_step": 2}
    train_cue_model(records, labels, init, _settings(), b / "m.pt", b / "ck.pt", b / "log.jsonl", "cpu", False)
    ma, mb = torch.load(a / "m.pt", weights_only=False)["model"], torch.load(b / "m.pt", weights_only=False)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    events = [json.loads(x)["event"] for x in (a / "log.jsonl").read_text().splitlines()]
    assert events == ["step"] * 2 + ["epoch"] + ["step"] * 2 + ["epoch", "done"]
    assert not (a / "ck.pt").exists() and (a / "ck.done.pt").exists()
    model, _ = load_cue_model(a / "m.pt")
    image = read_image(records[0].path)
    bg = predict_background(model, image, 64, torch.device("cpu"), amp=False)
    assert bg.shape == tuple(image.shape[-2:]) and bg.dtype == np.float32 and 0 <= bg.min() <= bg.max() <= 1


def test_predict_cues_runs_the_model_at_predict_cues_test_size(tmp_path, data, init, demo_root):
    """The stage's --test-size (predict_cues.test_size, the schema's default when left out) is the size each image
    is resized to for the model; the model file has no say in it."""
    import cv2
    import pandas as pd

    from c2am.cli import settings_of
    from c2am.io import read_parquet_meta
    from c2am.settings import PredictCuesSettings
    from stages.predict_cues import parser, run

    records, labels = data
    train_cue_model(records, labels, init, _settings(epochs=1), tmp_path / "m.pt", tmp_path / "ck.pt",
                    tmp_path / "log.jsonl", "cpu", False)
    given = ["--model", str(tmp_path / "m.pt"), "--dataset-format", "voc", "--dataset-root",
             str(demo_root / "VOC2012"), "--split", "val", "--out-dir", str(tmp_path / "cues"), "--device", "cpu",
             "--no-progress"]
    assert settings_of(parser().parse_args(given), PredictCuesSettings) == PredictCuesSettings.defaults()
    run(parser().parse_args([*given, "--test-size", "48"]))
    assert read_parquet_meta(tmp_path / "cues" / "manifest.parquet")["settings"]["test_size"] == 48
    row = pd.read_parquet(tmp_path / "cues" / "manifest.parquet").iloc[0]
    image = read_image(demo_root / "VOC2012" / "JPEGImages" / f"{row['image_id']}.jpg")
    written = cv2.imread(str(tmp_path / "cues" / row["file"]), cv2.IMREAD_GRAYSCALE)
    model, _ = load_cue_model(tmp_path / "m.pt")

    def cue_at(size):
        return np.round(predict_background(model, image, size, torch.device("cpu"), amp=True) * 255).astype(np.uint8)

    assert np.array_equal(written, cue_at(48)) and not np.array_equal(written, cue_at(64))


def test_cue_model_rejects_mismatched_labels(tmp_path, data, init):
    records, labels = data
    with pytest.raises(RuntimeError, match="one pseudo label per image"):
        train_cue_model(records, labels[:3], init, _settings(), tmp_path / "m.pt", tmp_path / "ck.pt",
                        tmp_path / "log.jsonl", "cpu", False)
