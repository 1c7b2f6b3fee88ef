"""Activation-map store: float16 shards (`maps-00000.npy`, [n, h, w]) plus `manifest.parquet`.

The manifest has one row per image: image_id, shard, row, the test geometry (original size, resize,
crop) and the map size, so a box found on a map maps back to original-image pixels. Maps are stored
foreground-oriented (1 - P already applied when the model says P marks the background), not normalised.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..data.decode import Geometry
from ..io import atomic_dir, legacy_manifest_layout, read_parquet_meta, require_space, write_errors_named, write_parquet
from .boxes import normalize_map
from .fg_side import marks_background, ring_and_inside

GEOMETRY_COLUMNS = ["orig_w", "orig_h", "resize_w", "resize_h", "crop_x0", "crop_y0", "crop_w", "crop_h"]


class MapWriter:
    """Accumulates maps and writes shards into a temporary folder that replaces `out_dir` on `close()`; `meta`
    (the producing settings, model, backbone, foreground side) goes into the manifest's metadata. The folder is
    held exclusively from creation to close (a second writer of it is refused), and an existing `out_dir` is
    replaced only when it is a map folder (c2am.io.atomic_dir: anything else there is refused before any work).
    Use as a context manager, or call close()."""

    def __init__(self, out_dir: str | Path, shard_size: int, meta: dict):
        self.out_dir = Path(out_dir)
        self._dir = atomic_dir(self.out_dir, legacy_map_folder, "extract_maps")
        self.tmp = self._dir.__enter__()
        self.shard_size, self.meta = shard_size, meta
        self.rows: list[dict] = []
        self.buffer: list[np.ndarray] = []
        self.shard = 0

    def add(self, image_id: str, fg_map: np.ndarray, geometry: Geometry, flat: bool | None = None) -> None:
        """One map; `flat` (extract_maps: c2am.wsol.boxes.flat_maps) marks a map without contrast, read back as a
        constant map (MapStore.raw) so that no box is made from it."""
        if not np.isfinite(fg_map).all():
            raise ValueError(f"activation map of image {image_id} has NaN/inf values")
        self.rows.append({"image_id": image_id, "shard": self.shard, "row": len(self.buffer),
                          "map_h": fg_map.shape[0], "map_w": fg_map.shape[1], **asdict(geometry),
                          **({} if flat is None else {"flat": bool(flat)})})
        self.buffer.append(fg_map.astype(np.float16))
        if len(self.buffer) == self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            shard = np.stack(self.buffer)
            path = self.tmp / f"maps-{self.shard:05d}.npy"
            require_space(path, shard.nbytes)
            with write_errors_named(path):
                np.save(path, shard)
            self.buffer, self.shard = [], self.shard + 1

    def close(self) -> None:
        try:
            self._flush()
            if not self.rows:
                raise ValueError("no maps were written (empty split?)")
            write_parquet(pd.DataFrame(self.rows), self.tmp / "manifest.parquet", "extract_maps", self.meta)
        except BaseException:
            self._dir.__exit__(*sys.exc_info())
            raise
        self._dir.__exit__(None, None, None)

    def __enter__(self) -> "MapWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:  # a failed extraction leaves no folder and keeps the previous one
            self._dir.__exit__(kind, error, traceback)


# the files of a map folder written before output markers: manifest.parquet of extract_maps and its shards
legacy_map_folder = legacy_manifest_layout(
    "extract_maps", extra=lambda table: {f"maps-{int(k):05d}.npy" for k in set(table["shard"])})


SIDES = ("stored", "opposite", "per_image")


class MapStore:
    """Read access to an extracted map folder.

    `side` says which side of the stored maps is read as foreground: "stored" (as written: the data-set
    decision of train_c2am), "opposite" (1 - map), or "per_image" (per image the side whose outer ring of cells is
    darker than the inside: the foreground rule of c2am.wsol.fg_side applied to every image on its own). Every
    accessor (read, prepared, original_map) reads through `raw`, the one read of a map from its shard.
    """

    def __init__(self, folder: str | Path, side: str = "stored"):
        if side not in SIDES:
            raise ValueError(f"unknown map side {side!r}; use one of {SIDES}")
        self.folder, self.side = Path(folder), side
        manifest = self.folder / "manifest.parquet"
        if not manifest.is_file():
            raise FileNotFoundError(f"no manifest.parquet in {self.folder} (run the extract_maps stage)")
        self.manifest = pd.read_parquet(manifest)
        self.meta = read_parquet_meta(manifest)
        self._shards: dict[int, np.ndarray] = {}
        self.index = {image_id: i for i, image_id in enumerate(self.manifest["image_id"])}

    def with_side(self, side: str) -> "MapStore":
        """The same maps read from another side."""
        return MapStore(self.folder, side)

    def __len__(self) -> int:
        return len(self.manifest)

    def raw(self, i: int) -> np.ndarray:
        """Map i at feature resolution (float32), from this store's side."""
        row = self.manifest.iloc[i]
        shard = int(row["shard"])
        if shard not in self._shards:
            self._shards[shard] = np.load(self.folder / f"maps-{shard:05d}.npy", mmap_mode="r")
        m = np.asarray(self._shards[shard][int(row["row"])], dtype=np.float32)
        if self.is_flat(i):  # no contrast at extraction (a blank image): constant, so no box and no foreground
            return np.full_like(m, float(m.mean()))
        if self.side == "opposite":
            return 1 - m
        if self.side == "per_image":
            border, inner = ring_and_inside(m)
            return 1 - m if marks_background(border.mean(), inner.mean()) else m
        return m

    def is_flat(self, i: int) -> bool:
        """Whether map i was found without contrast when it was extracted (manifest column `flat`; maps of older
        folders and DDT's have none: they are read as stored)."""
        return "flat" in self.manifest.columns and bool(self.manifest["flat"].iloc[i])

    def geometry(self, i: int) -> Geometry:
        row = self.manifest.iloc[i]
        return Geometry(*(int(row[c]) for c in GEOMETRY_COLUMNS))

    def read(self, i: int) -> "StoredMap":
        """Map i read once, with its geometry: every frame of it is made from this read."""
        return StoredMap(self.raw(i), self.geometry(i))

    def prepared(self, i: int, normalization: str, upsample: bool = True) -> tuple[np.ndarray, tuple]:
        """Map i in the box frame (StoredMap.prepared) and its transform to original pixels."""
        return self.read(i).prepared(normalization, upsample)

    def original_map(self, i: int, normalization: str) -> np.ndarray:
        """Map i in the original image frame, normalised per image (StoredMap.original): the map of cues, cue
        labels, figures, foreground scores and PxAP."""
        return self.read(i).original(normalization)


@dataclass(frozen=True)
class StoredMap:
    """One map as read from a store (`raw`: feature resolution, float32, from the store's side) and its geometry."""

    raw: np.ndarray
    geometry: Geometry

    def prepared(self, normalization: str, upsample: bool = True) -> tuple[np.ndarray, tuple]:
        """The box frame: the map resized to its crop (bilinear) when `upsample`, normalised to [0, 1] (float32),
        and its (sx, sy, ox, oy) transform to original pixels."""
        fg_map, geom = self.raw, self.geometry
        if upsample:
            fg_map = cv2.resize(fg_map, (geom.crop_w, geom.crop_h), interpolation=cv2.INTER_LINEAR)
        fg_map = normalize_map(fg_map, normalization).astype(np.float32)
        return fg_map, geom.to_original(fg_map.shape[1], fg_map.shape[0])

    def original(self, normalization: str) -> np.ndarray:
        """The map pasted into the original image frame (outside the crop: the map's edge values), then normalised
        per image (normalize_map: "minmax", "max", or "none" for the values as they are)."""
        geom = self.geometry
        resized_full = np.empty((geom.resize_h, geom.resize_w), np.float32)
        crop = cv2.resize(self.raw, (geom.crop_w, geom.crop_h), interpolation=cv2.INTER_LINEAR)
        resized_full[...] = np.nan
        resized_full[geom.crop_y0:geom.crop_y0 + geom.crop_h, geom.crop_x0:geom.crop_x0 + geom.crop_w] = crop
        if geom.crop_w != geom.resize_w or geom.crop_h != geom.resize_h:
            resized_full = _fill_nan_edges(resized_full)
        full = cv2.resize(resized_full, (geom.orig_w, geom.orig_h), interpolation=cv2.INTER_LINEAR)
        return normalize_map(full, normalization)


def _fill_nan_edges(a: np.ndarray) -> np.ndarray:
    """Replace the NaN frame around a centred crop by the nearest crop values (edge replication)."""
    rows = np.flatnonzero(~np.isnan(a).all(1))
    cols = np.flatnonzero(~np.isnan(a).all(0))
    inner = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.pad(inner, ((rows[0], a.shape[0] - rows[-1] - 1), (cols[0], a.shape[1] - cols[-1] - 1)), mode="edge")
