"""Artifact I/O: every output is written to a temporary sibling and renamed into place, so a stage killed
half-way (or a full disk) never leaves a valid-looking partial file; torch artifacts are read without running
code (weights_only); parquet files carry the producing stage and its settings; per-image file names."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1
LOW_SPACE = 64 * 2 ** 20  # a write that fails with less than this free is reported as a full disk


# ----------------------------------------------------------------------------------------------- disk space
def free_bytes(path: str | Path) -> int:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def no_space(path: str | Path, detail: str = "") -> OSError:
    """The error of a write that did not fit: names the file and the free space."""
    free = free_bytes(path) / 2 ** 20
    return OSError(errno.ENOSPC, f"no space left on device: could not write {path} ({free:.0f} MB free there"
                                 f"{'; ' + detail if detail else ''})")


def require_space(path: str | Path, nbytes: int) -> None:
    """Refuse a write of about `nbytes` before it starts when the disk cannot hold it (with a 10 % margin)."""
    if free_bytes(Path(path).parent) < 1.1 * nbytes + 2 ** 20:
        raise no_space(path, f"it needs about {nbytes / 2 ** 20:.0f} MB")


@contextlib.contextmanager
def write_errors_named(path: str | Path, writes_only: bool = True) -> Iterator[None]:
    """Turn a failed write into an error naming the file: a full disk (ENOSPC, or, for a block that only writes,
    any error with almost no space left, as torch.save's `unexpected pos`) says so. `writes_only`: the block
    does nothing but write `path`, so any OSError / RuntimeError of it is a write error naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC or (writes_only and free_bytes(path) < LOW_SPACE):
            raise no_space(path) from exc
        raise
    except RuntimeError as exc:  # torch's serialisation reports a failed write as a RuntimeError
        if not writes_only:
            raise
        if free_bytes(path) < LOW_SPACE:
            raise no_space(path) from exc
        raise OSError(f"could not write {path}: {exc}") from exc


# ----------------------------------------------------------------------------------------------- locks
class ArtifactBusy(RuntimeError):
    """Another process is producing the same artifact."""


def _take_lock(lock: Path) -> int:
    """An open descriptor of `lock` (created if missing) holding its exclusive fcntl lock, with this process's pid,
    host and start time written into it. Raises ArtifactBusy(holder) when another process holds it; `holder` is
    what that process wrote there."""
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                who = "pid {pid} on {host}, since {since}".format(**json.loads(holder))
            except (ValueError, KeyError):
                who = "another process"
            raise ArtifactBusy(who) from None
        try:  # the holder before us may have removed the file we opened: lock the one that is there
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                              "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
    return fd


@contextlib.contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on artifact `path` (the lock file `.NAME.lock` next to it, fcntl.flock) while the
    block runs; the lock file is removed when the block ends. When another process holds it (an orphaned stage,
    a stage run by hand), raise ArtifactBusy naming that process."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = _take_lock(lock)
    except ArtifactBusy as busy:
        raise ArtifactBusy(f"{path} is being written by {busy} (lock {lock}); wait for it to finish, or stop "
                           f"that process first") from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still holding it, so nobody can lock a file that is going away
        os.close(fd)


WORKFLOW_LOCK = ".c2am-workflow.lock"
_HELD_WORKFLOW_LOCKS: dict[Path, int] = {}


def hold_workflow_lock(results_dir: str | Path) -> Path:
    """Lock `results_dir` for this workflow run until the process ends (RESULTS/.c2am-workflow.lock, fcntl.flock,
    released by the kernel even when the process is killed). A second workflow run on the same results_dir,
    with Snakemake's --nolock too, is refused before it starts any job, so it cannot delete, back up, restore or
    truncate anything of the running one (Snakemake prepares a job's outputs and log before the stage starts).
    Returns the lock file."""
    folder = Path(results_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / WORKFLOW_LOCK
    if lock in _HELD_WORKFLOW_LOCKS:
        return lock
    try:
        _HELD_WORKFLOW_LOCKS[lock] = _take_lock(lock)
    except ArtifactBusy as busy:
        raise ArtifactBusy(f"another workflow is running on {results_dir} ({busy}; lock {lock}): this run is "
                           f"refused before it touches anything; wait for that one to finish, or give this run "
                           f"its own results folder (--config results_dir=OTHER)") from None
    return lock


# ----------------------------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with write_errors_named(path, writes_only=False):
            yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty folder `<path>.part` (held exclusively: a second writer of the same folder is refused);
    when the block succeeds it replaces `path` (one rename), else it is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with exclusive(path):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with write_errors_named(path, writes_only=False):
                yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)


def _tensor_bytes(obj) -> int:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def save_torch(obj: Any, path: str | Path) -> None:
    """torch.save atomically; a disk that cannot hold it is refused before the write, and a failed write names
    the file (torch itself says only `unexpected pos`)."""
    import torch

    require_space(path, _tensor_bytes(obj))
    with atomic_path(path) as tmp, write_errors_named(path):
        torch.save(obj, tmp)


class CodeInCheckpoint(ValueError):
    """A torch file holding Python objects other than tensors and plain values (loading it could run code)."""


def torch_load_plain(path: Path, allowed: list | tuple = ()) -> Any:
    """torch.load with weights_only=True (tensors and plain values; `allowed`: extra plain record types), so a
    crafted file cannot run code. Raises CodeInCheckpoint for a file that holds other objects (naming the first),
    ValueError for a corrupt / truncated / non-torch file; both name the file."""
    import torch

    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.findall(r"GLOBAL ([\w.]+)", str(exc))  # a class or function the file would import and call
        if found:
            raise CodeInCheckpoint(f"{path} holds Python objects beyond tensors and plain values ({found[0]}), "
                                   "which could run code; it is not loaded") from exc
        raise ValueError(f"cannot read {path}: not a torch file, or a corrupt one ({_last_line(exc)})") from exc
    except Exception as exc:  # truncated zip, wrong format
        raise ValueError(f"cannot read {path}: not a torch file, or a corrupt one ({_last_line(exc)})") from exc


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1] if lines else type(exc).__name__


def load_artifact(path: str | Path, what: str, producer: str, required: tuple[str, ...]) -> dict:
    """Load a dict artifact of the pipeline (plain types only, see torch_load_plain), with errors that name the
    file and the stage to re-run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (run the {producer} stage)")
    try:
        obj = torch_load_plain(path)
    except CodeInCheckpoint as exc:
        raise CodeInCheckpoint(f"{exc} (a {what} written by {producer} holds none)") from exc
    except ValueError as exc:
        raise ValueError(f"cannot read {what} {path} ({exc}); re-run the {producer} stage") from exc
    missing = [k for k in required if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise ValueError(f"{path} is not a {what} written by {producer} (no {missing[0]!r})")
    return obj


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(df, path: str | Path, stage: str, settings: dict | None = None) -> None:
    """Parquet with the schema version, producing stage and its settings in the file metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"c2am"] = json.dumps({"schema_version": SCHEMA_VERSION, "stage": stage, "settings": settings or {},
                                "code_version": code_version()}, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet_meta(path: str | Path) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"c2am", b"{}"))


def code_version() -> str:
    """`git describe` of the checkout this code runs from ("unknown" outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def image_file(image_id: str, suffix: str = ".png") -> str:
    """Relative file of an image's per-image output (CAMs, cues, masks): its id plus suffix, so ids with "/"
    (image folders, ILSVRC) keep their sub-folders and two ids never share a file (x/y -> x/y.png, x__y ->
    x__y.png). Ids that would leave the folder are refused."""
    parts = str(image_id).split("/")
    if not image_id or str(image_id).startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"image id {image_id!r} cannot name a file inside an output folder")
    return f"{image_id}{suffix}"


def write_gray_png(path: str | Path, image) -> None:
    """A uint8 map (cue, saliency, pseudo label) as a grayscale PNG; a failed write is an error naming the file."""
    import cv2

    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def write_image_folder(out_dir: str | Path, stage: str, meta: dict, items, writer=write_gray_png,
                       suffix: str = ".png") -> list[dict]:
    """A folder of one file per image plus manifest.parquet (image_id, file, and each item's extra columns),
    written as OUT.part and renamed when complete. `items` yields (image_id, array, extra columns dict);
    `writer(path, array)` writes one file (default: a grayscale PNG)."""
    import pandas as pd

    rows = []
    with atomic_dir(out_dir) as tmp:
        for image_id, array, extra in items:
            name = image_file(image_id, suffix)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            writer(tmp / name, array)
            rows.append({"image_id": image_id, "file": name, **extra})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", stage, meta)
    return rows
