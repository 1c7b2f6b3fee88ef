"""The one training loop: SGD groups and schedules by hand, the random state round trip, plain-type checkpoints,
and a kill mid-epoch then resume giving bit-identical weights for every trainer (C2AM, localizer, classifier with
dropout, CAM classifier, cue model)."""

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from c2am.data.readers import read_cub
from c2am.settings import (C2AMTrainSettings, CamTrainSettings, ClassifierTrainSettings, CueTrainSettings,
                           LocalizerTrainSettings)
from c2am.training.c2am import train_c2am
from c2am.training.checkpoint import TrainingError, rng_state, set_rng_state
from c2am.training.optim import lr_factor, param_groups, warmup_factor
from c2am.training.supervised import train_pooled
from c2am.wsss.cue_model import train_cue_model

TINY = {"epochs": 2, "batch_size": 4, "crop": 64, "workers": 0, "checkpoint_every_steps": 1}


class Toy(nn.Module):
    """A backbone conv + BatchNorm and a head conv + bias: one parameter of every kind."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
        self.head = nn.Conv2d(2, 1, 1)


def _lr_wd(groups) -> dict:
    """group name -> (lr, weight decay, number of parameters)."""
    return {g["name"]: (g["lr"], g["weight_decay"], len(g["params"])) for g in groups}


def test_parameter_groups_of_the_three_policies():
    toy = Toy()
    c2am = param_groups(toy, 0.1, 1e-4, 10.0, bias_lr_mult=2.0, train_norm_affine=False)
    assert _lr_wd(c2am) == {"w": (0.1, 1e-4, 1), "b": (0.2, 0.0, 1), "hw": (1.0, 1e-4, 1), "hb": (2.0, 0.0, 1)}
    assert not toy.backbone[1].weight.requires_grad  # BatchNorm frozen, out of the optimizer
    toy = Toy()
    pooled = param_groups(toy, 0.1, 1e-4, 10.0, bias_lr_mult=1.0, train_norm_affine=True)
    # conv bias + BatchNorm weight and bias: 3 "b" parameters at lr, no decay
    assert _lr_wd(pooled) == {"w": (0.1, 1e-4, 1), "b": (0.1, 0.0, 3), "hw": (1.0, 1e-4, 1), "hb": (1.0, 0.0, 1)}
    cue = param_groups(Toy(), 0.1, 1e-4, 10.0, bias_lr_mult=1.0, train_norm_affine=True, decay_all=True)
    assert _lr_wd(cue) == {"w": (0.1, 1e-4, 1), "b": (0.1, 1e-4, 3), "hw": (1.0, 1e-4, 1), "hb": (1.0, 1e-4, 1)}
    frozen = Toy()
    frozen.backbone[0].weight.requires_grad_(False)
    assert "w" not in _lr_wd(param_groups(frozen, 0.1, 0.0, 1.0, 1.0, False))


def test_schedules_and_warmup_by_hand():
    assert lr_factor("poly", 0, 10, 0.9) == 1.0
    assert lr_factor("poly", 5, 10, 2.0) == pytest.approx(0.25)
    assert lr_factor("cosine", 5, 10, 0.9) == pytest.approx(0.5)
    assert lr_factor("constant", 7, 10, 0.9) == 1.0
    assert lr_factor("poly", 12, 10, 0.9) == 0.0
    assert [warmup_factor(s, 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0  # no warm-up
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor("step", 0, 1, 0.9)


def test_random_state_round_trip_covers_python_numpy_and_torch():
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


@pytest.fixture(scope="module")
def cub(demo_root):
    """8 demo training images, 2 of each of the 4 classes."""
    records = read_cub(demo_root / "CUB_200_2011", split="train")[::12][:8]
    assert sorted({r.label for r in records}) == [0, 1, 2, 3]
    return records


@pytest.fixture(scope="module")
def voc(voc_cue_labels):
    return voc_cue_labels


def _trainer(kind, init, cub, voc):
    """train(out_dir, stop_after_steps) for one trainer on 8 demo images (2 steps per epoch, 2 epochs)."""
    if kind == "c2am":
        s = C2AMTrainSettings.from_dict({**TINY, "resize": 72, "fg_rule_images": 8, "lr": 0.01})
        return lambda d, stop: train_c2am(cub, init, s, d / "m.pt", d / "ck.pt", d / "log.jsonl", "cpu", False, stop)
    if kind == "cue":
        records, labels = voc
        s = CueTrainSettings.from_dict({**TINY, "lr": 0.01})
        return lambda d, stop: train_cue_model(records, labels, init, s, d / "m.pt", d / "ck.pt", d / "log.jsonl",
                                               "cpu", False, stop)
    if kind == "localizer":
        s, targets = LocalizerTrainSettings.from_dict({**TINY, "lr": 0.01}), [r.boxes[0] for r in cub]
    elif kind == "classifier":  # dropout draws from the global generator on every step
        s, targets = ClassifierTrainSettings.from_dict({**TINY, "dropout": 0.5}), [r.label for r in cub]
    else:
        s = CamTrainSettings.from_dict({**TINY, "lr": 0.01})
        targets = [[float(r.label == c) for c in range(4)] for r in cub]
    return lambda d, stop: train_pooled(kind, cub, targets, init, s, d / "m.pt", d / "ck.pt", d / "log.jsonl",
                                        "cpu", progress=False, stop_after_steps=stop)


@pytest.mark.parametrize("kind", ["c2am", "localizer", "classifier", "cam", "cue"])
def test_killed_mid_epoch_and_resumed_equals_uninterrupted(tmp_path, kind, init, cub, voc):
    train = _trainer(kind, init, cub, voc)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    train(a, None)
    assert train(b, 3) == {"stopped_at_step": 3}  # the kill: after step 1 of epoch 2
    ck = torch.load(b / "ck.pt", weights_only=True)  # plain types only: no code can run from a checkpoint
    assert ck["state"] == {"epoch": 1, "step_in_epoch": 1, "global_step": 3}
    train(b, None)
    ma, mb = torch.load(a / "m.pt", weights_only=True)["model"], torch.load(b / "m.pt", weights_only=True)["model"]
    assert ma.keys() == mb.keys()
    assert all(torch.equal(ma[k], mb[k]) for k in ma), [k for k in ma if not torch.equal(ma[k], mb[k])]
    la = [json.loads(x) for x in (a / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (b / "log.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in la if x["event"] == "step"]
    assert len(set(losses)) == 4 and min(losses) > 0  # a real training, not a constant
    assert losses == [x["loss"] for x in lb if x["event"] == "step"]
    assert [x["loss_mean"] for x in la if x["event"] == "epoch"] == [x["loss_mean"] for x in lb if x["event"] == "epoch"]


def test_c2am_with_fewer_images_than_the_batch_says_so_and_needs_two(tmp_path, init, cub):
    s = C2AMTrainSettings.from_dict({**TINY, "epochs": 1, "batch_size": 16, "resize": 72, "fg_rule_images": 4})
    summary = train_c2am(cub[:3], init, s, tmp_path / "m.pt", tmp_path / "ck.pt", tmp_path / "log.jsonl", "cpu",
                         progress=False)
    assert summary["steps"] == 1 and summary["train_images"] == 3
    notes = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert notes[0] == {"event": "note", "message": "batch_size 16 is larger than the 3 training images: one batch "
                                                    "of 3 per step"}
    with pytest.raises(TrainingError, match="at least 2 training images"):
        train_c2am(cub[:1], init, s, tmp_path / "m1.pt", tmp_path / "c1.pt", tmp_path / "l1.jsonl", "cpu",
                   progress=False)
