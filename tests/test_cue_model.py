"""The background-cue model: exact resume through the shared supervised loop, checkpoint retirement, and the
predicted cue's size and range."""

import json

import cv2
import numpy as np
import pytest
import torch

from c2am.config import global_settings
from c2am.cue_model import load_cue_model, predict_background, train_cue_model
from c2am.data.images import read_image
from c2am.data.readers import read_mask, read_voc
from c2am.init_weights import build_init


@pytest.fixture(scope="module")
def data(demo_root, tmp_path_factory):
    """8 demo VOC training images and pseudo labels made from their masks (255 = background)."""
    records = read_voc(demo_root / "VOC2012", "train")[:8]
    folder = tmp_path_factory.mktemp("labels")
    labels = []
    for r in records:
        path = folder / f"{r.image_id}.png"
        cv2.imwrite(str(path), np.where(read_mask(r.mask_path) == 0, 255, 0).astype(np.uint8))
        labels.append(path)
    return records, labels


@pytest.fixture(scope="module")
def init():
    return build_init("efficientnet_lite0", "efficientnet_lite0_package")


def _settings(**kw):
    s = global_settings({}, "cue_train")  # the schema defaults
    return {**s, "epochs": 2, "batch_size": 4, "crop": 64, "workers": 0, "lr": 0.01, "schedule": "constant", **kw}


def test_cue_model_resumes_exactly_and_predicts_a_cue(tmp_path, data, init):
    records, labels = data
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    train_cue_model(records, labels, init, _settings(), a / "m.pt", a / "ck.pt", a / "log.jsonl", "cpu", False)
    # b: one epoch (a constant schedule, so the same steps as a's first epoch), its checkpoint put back as if the
    # run had been interrupted there, then resumed to two epochs
    train_cue_model(records, labels, init, _settings(epochs=1), b / "m.pt", b / "ck.pt", b / "log.jsonl", "cpu", False)
    ck = torch.load(b / "ck.done.pt", weights_only=False)
    assert ck["state"]["epoch"] == 1
    ck["fingerprint"] = torch.load(a / "ck.done.pt", weights_only=False)["fingerprint"]  # same run, epochs aside
    torch.save(ck, b / "ck.pt")
    train_cue_model(records, labels, init, _settings(), b / "m.pt", b / "ck.pt", b / "log.jsonl", "cpu", False)
    ma, mb = torch.load(a / "m.pt", weights_only=False)["model"], torch.load(b / "m.pt", weights_only=False)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    events = [json.loads(x)["event"] for x in (a / "log.jsonl").read_text().splitlines()]
    assert events == ["step"] * 2 + ["epoch"] + ["step"] * 2 + ["epoch", "done"]
    assert not (a / "ck.pt").exists() and (a / "ck.done.pt").exists()
    model, _ = load_cue_model(a / "m.pt")
    image = read_image(records[0].path)
    bg = predict_background(model, image, 64, torch.device("cpu"))
    assert bg.shape == tuple(image.shape[-2:]) and bg.dtype == np.float32 and 0 <= bg.min() <= bg.max() <= 1


def test_cue_model_rejects_mismatched_labels(tmp_path, data, init):
    records, labels = data
    with pytest.raises(RuntimeError, match="one pseudo label per image"):
        train_cue_model(records, labels[:3], init, _settings(), tmp_path / "m.pt", tmp_path / "ck.pt",
                        tmp_path / "log.jsonl", "cpu", False)
