"""The one trainer skeleton (c2am.training.trainer): what task_for fills in from a section's settings, and what
train does around fit (finish and the model file only for a finished run, the checkpoint retired)."""

import json

import pytest
import torch

from c2am.data.readers import read_cub
from c2am.models.pooled import PooledNet
from c2am.settings import LocalizerTrainSettings
from c2am.training.checkpoint import TrainingError, run_fingerprint
from c2am.training.loop import RunFiles
from c2am.training.supervised import PooledViews
from c2am.training.trainer import task_for, train

TINY = {"epochs": 1, "batch_size": 4, "crop": 64, "workers": 0, "lr": 0.01}


@pytest.fixture(scope="module")
def records(demo_root):
    return read_cub(demo_root / "CUB_200_2011", split="train")[:8]


def _net(init) -> PooledNet:
    net = PooledNet(init["backbone"], 4, init["input_mean"], init["input_std"], init["tf_padding"], 0.0, 32)
    net.backbone.net.load_state_dict(init["state_dict"], strict=True)
    return net


def _task(init, records, **settings):
    s = LocalizerTrainSettings.from_dict({**TINY, **settings})
    targets = [r.boxes[0] for r in records]
    views = PooledViews(records, targets, s, "localizer")
    loss = lambda out, target: (torch.nn.functional.mse_loss(out.float(), target), {})  # noqa: E731
    return s, task_for("localizer", _net(init), views, loss, s, init, records, targets, bias_lr_mult=1.0)


def test_task_for_freezes_stages_groups_the_rest_and_fingerprints_what_changes_the_weights(init, records):
    s, task = _task(init, records, frozen_stages=2, bn_mode="frozen", lr=0.02, head_lr_mult=5.0)
    stages = task.model.backbone._stages
    frozen = {id(p) for stage in stages[:2] for m in stage.modules for p in m.parameters()}
    grouped = {id(p) for g in task.param_groups for p in g["params"]}
    assert frozen and not frozen & grouped  # frozen stages are out of the optimizer
    assert all(not p.requires_grad for stage in stages[:2] for m in stage.modules for p in m.parameters())
    lrs = {g["name"]: g["lr"] for g in task.param_groups}
    assert lrs == {"w": 0.02, "b": 0.02, "hw": 0.1, "hb": 0.1}  # head at 5 x lr, biases at 1 x
    assert task.bn_frozen and not task.compile and task.loss_state is None
    targets = [r.boxes[0] for r in records]
    assert task.fingerprint == run_fingerprint("localizer", s.learned(), init, records, targets)
    # workers changes how it runs, not what it learns: same fingerprint; lr changes the weights: another one
    assert _task(init, records, frozen_stages=2, bn_mode="frozen", lr=0.02, head_lr_mult=5.0,
                 workers=1)[1].fingerprint == task.fingerprint
    assert _task(init, records, frozen_stages=2, bn_mode="frozen", lr=0.03,
                 head_lr_mult=5.0)[1].fingerprint != task.fingerprint
    _, auto = _task(init, records)  # bn_mode auto with an unfolded init: batch statistics
    assert not auto.bn_frozen and sum(len(g["params"]) for g in auto.param_groups) > len(grouped)


def test_train_finishes_and_writes_the_model_only_when_the_run_ends(tmp_path, init, records):
    calls = []

    def build(ctx, dev):
        assert not ctx.active and dev.type == "cpu"
        return _task(init, records, checkpoint_every_steps=1)[1]

    def finish(model, dev):
        calls.append(model)
        return {"extra": 7}

    s = LocalizerTrainSettings.from_dict({**TINY, "checkpoint_every_steps": 1})
    files = RunFiles(tmp_path / "ck.pt", tmp_path / "log.jsonl")
    out = tmp_path / "model.pt"
    stopped = train(build, s, init, records, out, files, "cpu", False, stop_after_steps=1, finish=finish,
                    model_entries={"task": "localizer"})
    assert stopped == {"stopped_at_step": 1} and not calls and not out.exists() and files.checkpoint.is_file()
    summary = train(build, s, init, records, out, files, "cpu", False, finish=finish,
                    model_entries={"task": "localizer"})
    assert len(calls) == 1 and summary["extra"] == 7 and summary["steps"] == 2
    assert summary["single_colour_images"] == 0
    saved = torch.load(out, weights_only=True)
    assert saved["task"] == "localizer" and saved["summary"] == summary and saved["settings"] == s.to_dict()
    assert all(torch.equal(saved["model"][k], v) for k, v in calls[0].state_dict().items())
    assert not files.checkpoint.exists() and (tmp_path / "ck.done.pt").is_file()  # a finished run is not resumed
    done = json.loads(files.log.read_text().splitlines()[-1])
    assert done["event"] == "done" and done["extra"] == 7


def test_a_one_process_trainer_started_under_torchrun_is_refused(tmp_path, init, records, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    s = LocalizerTrainSettings.from_dict(TINY)
    with pytest.raises(TrainingError, match=r"runs as 1 process\(es\), but it was started as one of 2"):
        train(lambda ctx, dev: _task(init, records)[1], s, init, records, tmp_path / "m.pt",
              RunFiles(tmp_path / "ck.pt", tmp_path / "log.jsonl"), "cpu", False)
    assert not any(tmp_path.iterdir())  # refused before anything is written
