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
from typing import Any, Callable, Iterator

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
    if path.is_dir() or not path.name:
        raise UnsafeOutput(f"{path} is a folder: this output is a file; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with write_errors_named(path, writes_only=False):
            yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path, legacy: Callable[[Path], set[str] | None] | None = None,
               what: str = "this stage") -> Iterator[Path]:
    """Yield an empty temporary folder (a hidden, uniquely named sibling of `path`, held exclusively: a second
    writer of the same folder is refused); when the block succeeds it replaces `path` (one rename), else it is
    removed and `path` is left as it was. The folder gets a marker (OUTPUT_MARKER) listing the files written.

    An existing `path` is replaced only when it is ours: empty, holding only the files its marker lists, or, for
    a folder written before markers, holding only what `legacy(path)` recognises (the files `what` writes);
    anything else is refused before the work starts (UnsafeOutput naming the folder and the files that are not
    ours). Nothing but our own uniquely named temporaries is created or removed beside `path`."""
    path = out_dir_path(path)
    with exclusive(path):
        check_replaceable(path, legacy, what)  # before the work: a refusal costs nothing
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder the usual permissions
            with write_errors_named(path, writes_only=False):
                yield tmp
                _write_marker(tmp, what)
            check_replaceable(path, legacy, what)  # again: nothing may have appeared there meanwhile
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


# ----------------------------------------------------------------------------------------------- output safety
OUTPUT_MARKER = ".c2am-output.json"  # in every folder atomic_dir wrote: the producing stage and its files
ENGINE_FILES = {".snakemake_timestamp"}  # what Snakemake itself puts into a directory() output (its mtime carrier)


class UnsafeOutput(ValueError):
    """An output path whose writing would overwrite or delete something the pipeline did not write: an input, a
    folder holding other files, another output."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def out_dir_path(path: str | Path) -> Path:
    """The absolute, symlink-resolved path of an output folder (`.` and `..` included); the file-system root is
    refused."""
    given = path
    path = Path(os.path.realpath(os.path.abspath(path)))
    if not path.name or path == path.parent:
        raise UnsafeOutput(f"cannot write an output folder at {given!r} ({path}): give a folder name")
    cwd = Path(os.path.realpath(os.getcwd()))
    if path == cwd or path in cwd.parents:
        where = "the current folder" if path == cwd else "a folder holding the current folder"
        raise UnsafeOutput(f"output folder {str(given)!r} ({path}) is {where}: an output folder is replaced as a "
                           f"whole; give a folder of its own, e.g. {cwd / 'out'}")
    return path


def _shown(given: str | Path, real: Path) -> str:
    return f"{given}" if str(given) == str(real) else f"{given} (= {real})"


def check_out_paths(outputs: dict, inputs: dict | None = None, listed: tuple | list | set = ()) -> None:
    """Refuse outputs that would overwrite or delete an input, or each other, before any work starts. `outputs`
    and `inputs` map a flag (named in the message, e.g. "--out-dir") to its path (None: not given); `listed` are
    the input folders read recursively (predict's --images, a `folder` dataset's root). Refused: an output that
    is an input; an output that contains an input (an output folder is replaced as a whole); an output inside a
    listed input folder (it would be read back as input next time); two outputs with the same path or one
    inside the other."""
    def real(p) -> Path:
        return Path(os.path.realpath(os.path.abspath(p)))

    outs = [(flag, p, real(p)) for flag, p in outputs.items() if p not in (None, "")]
    ins = [(flag, p, real(p)) for flag, p in (inputs or {}).items() if p not in (None, "")]
    for flag, given, out in outs:
        for in_flag, in_given, inp in ins:
            if out == inp:
                raise UnsafeOutput(f"{flag} {_shown(given, out)} is the {in_flag} input {in_given}: refusing to "
                                   f"write an output onto an input; give {flag} a path of its own")
            if out in inp.parents:
                raise UnsafeOutput(f"{flag} {_shown(given, out)} contains the {in_flag} input {in_given}: writing "
                                   f"{flag} would replace it; give {flag} a folder of its own, not one holding {inp}")
            if in_flag in listed and inp in out.parents:
                raise UnsafeOutput(f"{flag} {_shown(given, out)} lies inside the {in_flag} folder {in_given}, which "
                                   f"is read recursively: the outputs would be read as inputs next time; give "
                                   f"{flag} a path outside {inp}")
    for flag, given, out in outs:
        for other_flag, other_given, other in outs:
            if other_flag == flag:
                continue
            if out == other:
                raise UnsafeOutput(f"{flag} and {other_flag} are the same path {_shown(given, out)}: give each "
                                   "output its own")
            if other in out.parents:
                raise UnsafeOutput(f"{flag} {_shown(given, out)} lies inside {other_flag} {other_given}, which is "
                                   f"written as a whole: give {flag} a path outside it")


def _listing(folder: Path) -> list[str]:
    """Every file, link and other non-folder entry under `folder` (relative POSIX paths; links not followed)."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):  # a linked folder is an entry of its own, not walked
                dirs.remove(d)
                files.append(d)
        found += [(rel / f).as_posix() for f in files]
    return sorted(found)


def _write_marker(folder: Path, what: str) -> None:
    (folder / OUTPUT_MARKER).write_text(json.dumps({"stage": what, "files": _listing(folder)}, indent=0) + "\n")


def _marked_files(folder: Path) -> set[str] | None:
    try:
        files = json.loads((folder / OUTPUT_MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {str(f) for f in files} if isinstance(files, list) else None


def check_replaceable(path: Path, legacy: Callable[[Path], set[str] | None] | None = None,
                      what: str = "this stage") -> None:
    """Raise UnsafeOutput unless output folder `path` may be replaced: absent, an empty folder, a folder holding
    only the files its marker lists, or (written before markers) only the files `legacy(path)` recognises."""
    if not os.path.lexists(path):
        return
    if not path.is_dir():
        raise UnsafeOutput(f"{path} exists and is not a folder: refusing to replace it with the folder {what} "
                           "writes; remove it or give another path")
    present = [f for f in _listing(path) if f not in ENGINE_FILES]
    if not present:
        return
    ours = _marked_files(path)
    if ours is not None:
        ours = ours | {OUTPUT_MARKER}
    elif legacy is not None:
        try:
            ours = legacy(path)
        except Exception:  # noqa: BLE001 - an unreadable old output is not recognised as ours
            ours = None
    if ours is None:
        foreign = present
        why = "no file of it is recognisably an output of " + what
    else:
        foreign = [f for f in present if f not in ours]
        why = f"these files were not written by {what}"
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise UnsafeOutput(f"output folder {path} already holds files the pipeline did not write ({why}: {shown}); "
                           "refusing to replace it: give a new or empty folder, or move those files away")


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished folder src onto dst (checked to be ours, or absent): dst is first renamed into a
    uniquely named hidden holder folder, which is then removed; no other sibling is touched."""
    if not os.path.lexists(dst):
        os.rename(src, dst)
        return
    holder = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
    os.rename(dst, holder / dst.name)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(holder / dst.name, dst)  # put the old folder back
        holder.rmdir()
        raise
    shutil.rmtree(holder, ignore_errors=True)


def legacy_manifest_layout(stage: str, manifest: str = "manifest.parquet", column: str = "file",
                           extra: Callable[[Any], set[str]] | None = None) -> Callable[[Path], set[str] | None]:
    """Recognise a folder written before output markers: `manifest` at its top with our `c2am` metadata naming
    `stage`; its files are the manifest, the files of its `column` (or `extra(table)`)."""
    def recognise(folder: Path) -> set[str] | None:
        import pandas as pd

        if read_parquet_meta(folder / manifest).get("stage") != stage:
            return None
        table = pd.read_parquet(folder / manifest)
        files = extra(table) if extra is not None else {str(f) for f in table[column]}
        return {manifest, *files}

    return recognise


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
    ValueError for a corrupt / truncated / non-torch file; both name the file (`path` may also be a file object,
    e.g. the bytes of a tensor inside another file). torch's own text is never passed on whole: it advises
    re-running with weights_only=False, i.e. letting the file run code, which this pipeline never does."""
    import warnings

    import torch

    name = path if isinstance(path, (str, os.PathLike)) else "embedded torch data"
    try:
        with torch.serialization.safe_globals(list(allowed)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TorchScript archive")  # refused below, with its name
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.findall(r"GLOBAL ([\w.]+)", str(exc))  # a class or function the file would import and call
        if found:
            raise CodeInCheckpoint(f"{name} holds Python objects beyond tensors and plain values ({found[0]}), "
                                   "which could run code; it is not loaded") from None
        raise ValueError(f"cannot read {name}: not a torch file, or a corrupt one ({_last_line(exc)})") from None
    except Exception as exc:  # truncated zip, wrong format
        if "TorchScript" in str(exc):
            raise ValueError(f"cannot read {name}: it is a TorchScript archive (torch.jit.save), not a file of "
                             "tensors; save the model's state_dict() with torch.save instead") from None
        if "legacy .tar format" in str(exc):
            raise ValueError(f"cannot read {name}: it is in the .tar format of PyTorch before 0.4, which cannot be "
                             "read without running the code it holds; use a checkpoint saved by a current "
                             "PyTorch (torch.save of a state_dict)") from None
        raise ValueError(f"cannot read {name}: not a torch file, or a corrupt one ({_last_line(exc)})") from None


def _last_line(exc: BaseException) -> str:
    """The last line of an error from torch.load that says what is wrong with the file, without torch's advice
    (to load it with weights_only=False, or to file an issue) and without terminal colour codes."""
    # torch's advice (PyTorch >= 2.6): re-run with weights_only=False, i.e. let the file run code
    advice = re.compile(r"weights.only|trusted source|arbitrary code|file an issue|documentation|can still be loaded|"
                        r"Alternatively|In PyTorch \d|internal miniz error|If you are seeing this error|"
                        r"This can happen if", re.IGNORECASE)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    kept = []
    for line in text.splitlines():
        sentences = re.split(r"(?<=[.!?])\s+", line.strip())
        line = " ".join(s for s in sentences if s and not advice.search(s)).strip()
        line = re.sub(r"^WeightsUnpickler error:\s*", "", line)
        if line:
            kept.append(line)
    return kept[-1].rstrip(".") if kept else type(exc).__name__


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


def write_image(path: str | Path, image, params=()) -> None:
    """An image file encoded by OpenCV (format from the suffix) and written by Python: OpenCV's own file functions
    cannot take every file name (one that is not UTF-8 crashes them); a failure names the file."""
    import cv2

    from .names import readable

    path = Path(path)
    ok, data = cv2.imencode(path.suffix, image, list(params))
    if not ok:
        raise OSError(f"could not encode {readable(path)} as {path.suffix}")
    path.write_bytes(data.tobytes())


def write_gray_png(path: str | Path, image) -> None:
    """A uint8 map (cue, saliency, pseudo label) as a grayscale PNG; a failed write is an error naming the file."""
    write_image(path, image)


def write_image_folder(out_dir: str | Path, stage: str, meta: dict, items, writer=write_gray_png,
                       suffix: str = ".png") -> list[dict]:
    """A folder of one file per image plus manifest.parquet (image_id, file, and each item's extra columns),
    written as OUT.part and renamed when complete. `items` yields (image_id, array, extra columns dict);
    `writer(path, array)` writes one file (default: a grayscale PNG). An existing OUT is replaced only when it is
    such a folder of `stage` (see atomic_dir)."""
    import pandas as pd

    rows = []
    with atomic_dir(out_dir, legacy_manifest_layout(stage), stage) as tmp:
        for image_id, array, extra in items:
            name = image_file(image_id, suffix)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            writer(tmp / name, array)
            rows.append({"image_id": image_id, "file": name, **extra})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", stage, meta)
    return rows
