"""C2AM training: exact resume after an interruption, checkpoints, logs, foreground rule, bad settings."""

import json

import pytest
import torch

from c2am.data.readers import read_cub
from c2am.settings import C2AMTrainSettings
from c2am.training.c2am import decide_foreground, train_c2am
from c2am.training.checkpoint import TrainingError

SMALL = dict(epochs=2, batch_size=4, resize=72, crop=64, workers=0, fg_rule_images=8, lr=0.01)


@pytest.fixture(scope="module")
def records(demo_root):
    return read_cub(demo_root / "CUB_200_2011", split="train")[:16]


def _run(tmp, records, init, **kw):
    stop = kw.pop("stop_after_steps", None)
    s = C2AMTrainSettings.from_dict({**SMALL, **kw})
    return train_c2am(records, init, s, tmp / "model.pt", tmp / "checkpoint.pt", tmp / "log.jsonl", "cpu",
                      progress=False, stop_after_steps=stop)


@pytest.mark.parametrize("memory_size", [0, 6])
def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, records, init, memory_size):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, records, init, memory_size=memory_size)
    # 16 images / batch 4 = 4 steps per epoch; stop after step 6 (mid epoch 2), checkpoints every 3 steps
    assert _run(b, records, init, checkpoint_every_steps=3, stop_after_steps=6,
                memory_size=memory_size) == {"stopped_at_step": 6}
    assert not (b / "model.pt").exists()
    ck = torch.load(b / "checkpoint.pt", weights_only=False)
    assert ck["state"] == {"epoch": 1, "step_in_epoch": 2, "global_step": 6}
    if memory_size:  # the memory (of 6 vectors, wrapped by the 24 pushed) is part of what resumes
        assert int(ck["loss_state"]["pushed"]) == 24
        assert ck["loss_state"]["fg"].abs().sum() > 0
    else:
        assert ck["loss_state"] is None
    _run(b, records, init, checkpoint_every_steps=3, memory_size=memory_size)
    ma = torch.load(a / "model.pt", weights_only=False)["model"]
    mb = torch.load(b / "model.pt", weights_only=False)["model"]
    assert ma.keys() == mb.keys()
    for k in ma:
        assert torch.equal(ma[k], mb[k]), f"{k} differs after resume"


def test_log_checkpoint_and_model_contents(tmp_path, records, init):
    summary = _run(tmp_path, records, init, epochs=1)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["step"] * 4 + ["epoch", "done"]
    assert all(x["loss"] == pytest.approx(x["neg"] + x["pos_fg"] + x["pos_bg"], rel=1e-5) for x in lines[:4])
    assert lines[0]["lr"] == pytest.approx(0.01)  # poly schedule starts at the base lr
    ck = torch.load(tmp_path / "model.pt", weights_only=False)
    assert ck["backbone"] == "efficientnet_lite0" and ck["settings"]["epochs"] == 1
    assert ck["model"]["fg_flip"].item() == summary["foreground"]["flip"]
    assert set(summary["foreground"]) >= {"border_mean", "inner_mean", "flip", "images"}


def test_stride8_model_trains_and_loads_back_with_maps_on_the_stride8_grid(tmp_path, records, init):
    from c2am.models.c2am import load_trained

    _run(tmp_path, records, init, epochs=1, feature_stride=8)
    model, ck = load_trained(tmp_path / "model.pt")
    assert ck["settings"]["feature_stride"] == 8 and model.backbone.stride == 8
    assert model.head.conv.in_channels == 1392 + 40  # EfficientNet-Lite0: stride 32 + 16 + 8 taps
    assert model.foreground_map(torch.rand(2, 3, 64, 64)).shape == (2, 8, 8)


def test_finished_run_is_not_resumed_and_stale_checkpoints_are_set_aside(tmp_path, records, init):
    def fingerprint(name="checkpoint.pt"):
        return torch.load(tmp_path / name, weights_only=False)["fingerprint"]

    _run(tmp_path, records, init, epochs=1)
    assert not (tmp_path / "checkpoint.pt").exists()  # a finished run is never resumed
    first = fingerprint("checkpoint.done.pt")
    # an interrupted run leaves its checkpoint; other settings, initial weights or images do not resume it
    _run(tmp_path, records, init, epochs=1, alpha=0.5, stop_after_steps=2, checkpoint_every_steps=1)
    second = fingerprint()
    _run(tmp_path, records, dict(init, tf_padding=True), epochs=1, alpha=0.5, stop_after_steps=2,
         checkpoint_every_steps=1)
    assert (tmp_path / "checkpoint.stale.pt").exists()
    third = fingerprint()
    _run(tmp_path, records[:12], dict(init, tf_padding=True), epochs=1, alpha=0.5, stop_after_steps=2,
         checkpoint_every_steps=1)
    assert len({first, second, third, fingerprint()}) == 4


def test_resumed_log_keeps_exactly_the_lines_up_to_the_checkpoint(tmp_path, records, init):
    _run(tmp_path, records, init, checkpoint_every_steps=3, stop_after_steps=5)  # checkpoint at step 3
    with open(tmp_path / "log.jsonl", "a") as fh:
        fh.write('{"event": "step", "epo')  # a line cut by the kill
    _run(tmp_path, records, init, checkpoint_every_steps=3)
    events = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 9))
    assert [e["event"] for e in events].count("epoch") == 2 and events[-1]["event"] == "done"


class RingHead(torch.nn.Module):
    """A stand-in activation head: `ring` on the outer ring of cells, `inside` elsewhere."""

    def __init__(self, ring: float, inside: float):
        super().__init__()
        self.ring, self.inside = ring, inside

    def forward(self, z):
        p = torch.full((z.shape[0], 1, *z.shape[-2:]), self.inside)
        p[..., 0, :] = p[..., -1, :] = p[..., :, 0] = p[..., :, -1] = self.ring
        return p


@pytest.mark.parametrize("ring,inside,flip", [(0.9, 0.2, True), (0.1, 0.7, False)])
def test_foreground_rule_is_decided_on_the_data_set(records, init, ring, inside, flip):
    from c2am.models.c2am import build_model

    model = build_model(init, "kaiming_normal", "replicate", 16)
    model.head = RingHead(ring, inside)
    fg = decide_foreground(model, records, C2AMTrainSettings.from_dict(SMALL), torch.device("cpu"))
    # crop 64 -> 4 x 4 cells: 12 ring cells, 4 inner cells; fg_rule_images = 8
    assert fg["flip"] is flip and fg["images"] == 8
    assert fg["border_mean"] == pytest.approx(ring) and fg["inner_mean"] == pytest.approx(inside)
    assert fg["images_with_bright_border"] == (8 if flip else 0)


def test_unknown_setting_and_folded_bn_with_batch_statistics(tmp_path, records, init):
    with pytest.raises(KeyError, match="unknown train_c2am settings \\['epoch'\\]"):
        C2AMTrainSettings.from_dict({"epoch": 3})
    folded = dict(init, bn_folded=True)
    with pytest.raises(TrainingError, match="folded"):
        _run(tmp_path, records, folded, bn_mode="train")


def test_train_c2am_stage_adds_the_extra_data_images(demo_root):
    from stages.train_c2am import parser, training_images

    root = str(demo_root / "CUB_200_2011")
    own = ["--dataset-format", "cub", "--dataset-root", root, "--split", "train"]
    paths = ["--init", "i", "--out-model", "m", "--checkpoint", "c", "--train-log", "l"]
    _, alone = training_images(parser().parse_args(paths + own))
    fg_side, both = training_images(parser().parse_args(paths + own + ["--extra-data", "cub", root, "test"]))
    _, test = training_images(parser().parse_args(paths + own[:-1] + ["test"]))
    assert len(alone) > 0 and [r.path for r in both] == [r.path for r in alone] + [r.path for r in test]
    assert [r.path for r in fg_side] == [r.path for r in alone]  # the foreground side: own images only
