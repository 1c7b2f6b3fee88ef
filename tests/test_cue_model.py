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


def test_cue_model_rejects_mismatched_labels(tmp_path, data, init):
    records, labels = data
    with pytest.raises(RuntimeError, match="one pseudo label per image"):
        train_cue_model(records, labels[:3], init, _settings(), tmp_path / "m.pt", tmp_path / "ck.pt",
                        tmp_path / "log.jsonl", "cpu", False)
