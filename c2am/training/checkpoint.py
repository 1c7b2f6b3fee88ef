"""Checkpoints and artifacts of the trainers: run fingerprints, random state, resumable checkpoints, JSONL logs,
and the final model file.

Everything a checkpoint or model file holds is a plain type (tensors, numbers, strings, lists, dicts), so every
loader reads them with `torch.load(weights_only=True)` and a crafted file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

from ..data.records import ImageRecord
from ..io import atomic_path, code_version, load_artifact, save_torch

# what a trained model keeps of its init artifact: how to rebuild the backbone and feed it
INIT_KEYS = ("source", "origin", "origin_sha256", "input_scaling", "input_mean", "input_std", "bn_folded",
             "tf_padding")


class TrainingError(RuntimeError):
    """Training cannot start or go on (bad settings for this data or init, a non-finite loss)."""


# ----------------------------------------------------------------------------------------------- fingerprints
def hash_init_and_images(digest, init_artifact: dict, records: list[ImageRecord], targets=None) -> None:
    """Feed a run's initial weights (source file hash, or the weights of a random init) and its image list
    (with per-image targets when given) into `digest`."""
    for key in ("backbone", "source", "origin_sha256", "input_scaling", "bn_folded", "tf_padding"):
        digest.update(f"{key}={init_artifact.get(key)};".encode())
    if init_artifact["origin_sha256"] is None:  # random init: hash the weights themselves
        for name, tensor in sorted(init_artifact["state_dict"].items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    for i, r in enumerate(records):
        digest.update(f"{r.image_id}:{r.path}".encode() + (f":{targets[i]};" if targets is not None else ";").encode())


def run_fingerprint(kind: str, learned: dict, init_artifact: dict, records: list[ImageRecord],
                    targets=None) -> str:
    """What a checkpoint must match to be resumed: the trainer kind, the settings that change the weights
    (Settings.learned()), the initial weights, the images and their targets."""
    digest = hashlib.sha256(kind.encode())
    digest.update(json.dumps(learned, sort_keys=True, default=str).encode())
    hash_init_and_images(digest, init_artifact, records, targets)
    return digest.hexdigest()[:20]


# ----------------------------------------------------------------------------------------------- random state
def rng_state() -> dict:
    """Every random generator a training step may draw from (python, numpy, torch CPU, and the CUDA generator of
    this process's current GPU), as plain types. (Under DDP the main process's state is saved, so a resumed run
    repeats the other processes' CUDA draws only up to that; C2AM draws none.)"""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}}


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():  # the current GPU, whatever the GPU count now
        torch.cuda.set_rng_state(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------- checkpoints
def new_state() -> dict:
    """Where a run stands: epochs done, steps done in the current epoch, steps done in all."""
    return {"epoch": 0, "step_in_epoch": 0, "global_step": 0}


def save_checkpoint(path: Path, model, optimizer, scaler, state: dict, epoch_losses: list[float],
                    fingerprint: str, settings: dict, loss_state=None) -> None:
    """Everything a resumed run needs to go on exactly: weights, optimizer and loss-scaler state, every random
    generator, where the run stands, the losses of the current epoch so far (for its mean), the loss's own state
    (a module, e.g. C2AM's memory; None when the loss has none), and what it belongs to."""
    save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "loss_state": None if loss_state is None else loss_state.state_dict(),
                "rng": rng_state(), "state": dict(state), "epoch_losses": list(epoch_losses),
                "fingerprint": fingerprint, "settings": settings, "code_version": code_version()}, path)


def read_checkpoint(path: Path, fingerprint: str, what: str, producer: str) -> dict | None:
    """The checkpoint at `path` if there is one and it belongs to this run (same fingerprint), else None."""
    if not path.is_file():
        return None
    ck = load_artifact(path, f"{what} checkpoint", producer, ("model", "optimizer", "rng", "state", "fingerprint"))
    if ck["fingerprint"] != fingerprint:
        return None
    if ck["code_version"] != code_version():
        print(f"warning: {path} was written by code {ck['code_version']}, this is {code_version()}",
              file=sys.stderr)
    return ck


def retire_stale(path: Path) -> None:
    """A checkpoint of another run (other settings, init, images or targets) is moved to `<name>.stale.pt`."""
    if path.is_file():
        stale = path.with_suffix(".stale.pt")
        path.replace(stale)
        print(f"{path} was written for other settings, init, images or targets; moved to {stale}, starting fresh",
              file=sys.stderr)


def prepare_log(log_path: Path, state: dict) -> None:
    """Start the JSONL log afresh, or, when resuming, keep exactly the lines up to the checkpoint. A fresh start
    keeps the log of the last finished run as `<name>.previous.jsonl` (its model is kept until the new one is
    complete, so the two stay together if the new run fails)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not state["global_step"] and log_path.is_file() and _finished(log_path):
        log_path.replace(log_path.with_name(f"{log_path.stem}.previous{log_path.suffix}"))
    kept = []
    if state["global_step"] and log_path.is_file():
        for line in log_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            if (row.get("event") == "step" and row["step"] <= state["global_step"]) or \
                    (row.get("event") == "epoch" and row["epoch"] <= state["epoch"]):
                kept.append(line + "\n")
    with atomic_path(log_path) as tmp:
        tmp.write_text("".join(kept))


def _finished(log_path: Path) -> bool:
    """Whether a JSONL training log ends with its run's summary (a finished run, not a crashed one)."""
    lines = log_path.read_text().strip().splitlines()
    try:
        return bool(lines) and json.loads(lines[-1]).get("event") == "done"
    except json.JSONDecodeError:
        return False


def finish_run(summary: dict, checkpoint: Path, log_path: Path) -> None:
    """Log the summary and retire the checkpoint: a finished run is never resumed, so a forced re-run (e.g. after
    a code change) trains afresh."""
    with open(log_path, "a") as log:
        log.write(json.dumps({"event": "done", **summary}) + "\n")
    if checkpoint.is_file():
        checkpoint.replace(checkpoint.with_name(checkpoint.stem + ".done.pt"))


# ----------------------------------------------------------------------------------------------- model files
def model_file_kind(obj) -> str:
    """Which kind of pipeline file a loaded .pt holds, in words with its stage ("a cue model (train_cue_model)"),
    for errors that say what a file is when another kind was expected."""
    if not isinstance(obj, dict):
        return f"not a file of this pipeline (it holds a {type(obj).__name__}, not a dict)"
    settings = obj.get("settings") if isinstance(obj.get("settings"), dict) else {}
    state = obj.get("model") if isinstance(obj.get("model"), dict) else {}
    if {"optimizer", "state", "fingerprint"} <= obj.keys():
        return "a training checkpoint (the trainers' --checkpoint, not a model file)"
    if "task" in obj:
        return f"a {obj['task']} model (train_{obj['task']})"
    if "fg_flip" in state or "alpha" in settings:
        return "a C2AM model (train_c2am)"
    if "head_width" in settings:
        return "a cue model (train_cue_model)"
    if "state_dict" in obj and "input_mean" in obj:
        return "an init artifact (pretrain_init)"
    return f"not a model file of this pipeline (its entries: {', '.join(sorted(map(str, obj))[:8]) or 'none'})"


def require_model_kind(obj, path, kind: str, what: str) -> None:
    """Refuse a model file of another kind than `kind` (model_file_kind's words, e.g. "a cue model
    (train_cue_model)"), naming the file, what it is and what `what` (the option) expects."""
    found = model_file_kind(obj)
    if found != kind:
        raise ValueError(f"{path} is {found}, but {what} expects {kind}")


def save_model(path: Path, model: torch.nn.Module, init_artifact: dict, settings: dict, summary: dict,
               **extra) -> None:
    """A trained model file: its weights (CPU, contiguous), backbone name, what it keeps of the init, the settings
    it was trained with, the training summary, the code version and trainer-specific entries."""
    cpu = model.to("cpu").to(memory_format=torch.contiguous_format)
    save_torch({"model": cpu.state_dict(), "backbone": init_artifact["backbone"],
                "init": {k: init_artifact[k] for k in INIT_KEYS}, "settings": settings, "summary": summary,
                "code_version": code_version(), **extra}, path)
