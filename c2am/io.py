"""Artifact I/O: every output is written to a temporary sibling and renamed into place, so a stage killed
half-way (or a full disk) never leaves a valid-looking partial file; torch artifacts are read without running
code (weights_only); parquet files carry the producing stage and its settings; per-image file names."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1


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
    """Yield an empty folder `<path>.part`; when the block succeeds it replaces `path` (one rename), else it is
    removed and `path` is left as it was."""
    import shutil

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
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


def save_torch(obj: Any, path: str | Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_artifact(path: str | Path, what: str, producer: str, required: tuple[str, ...]) -> dict:
    """torch.load a dict artifact of the pipeline, with errors that name the file and the stage to re-run."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (run the {producer} stage)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated, corrupt or not a torch file
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
    """File name of an image's per-image output (CAMs, cues, masks): its id with "/" as "__", plus suffix."""
    return str(image_id).replace("/", "__") + suffix


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
            writer(tmp / name, array)
            rows.append({"image_id": image_id, "file": name, **extra})
        write_parquet(pd.DataFrame(rows), tmp / "manifest.parquet", stage, meta)
    return rows
