"""A split's GT boxes against a map store: the store row of every record, and every GT box inside its image."""

from __future__ import annotations

from ..data.records import ImageRecord
from .maps import MapStore

BOX_TOLERANCE = 1.0  # pixels a GT box may extend past the image edge (annotation rounding)


def store_rows(store: MapStore, records: list[ImageRecord]) -> list[int]:
    """The store row of each record (every record needs a map), after checking its GT boxes (check_boxes_inside)."""
    missing = [r.image_id for r in records if r.image_id not in store.index]
    if missing:
        raise ValueError(f"{store.folder}: no map for {len(missing)} images, e.g. {missing[:5]}")
    rows = [store.index[r.image_id] for r in records]
    check_boxes_inside(records, [store.geometry(i) for i in rows])
    return rows


def check_boxes_inside(records: list[ImageRecord], geometries) -> None:
    """A GT box reaching more than BOX_TOLERANCE pixels outside its image is an annotation error: name it."""
    for r, g in zip(records, geometries):
        for box in r.boxes or ():
            x0, y0, x1, y1 = box
            t = BOX_TOLERANCE
            if x0 < -t or y0 < -t or x1 > g.orig_w + t or y1 > g.orig_h + t:
                raise ValueError(f"GT box {tuple(round(float(v), 1) for v in box)} of image {r.image_id} ({r.path}) "
                                 f"lies outside the image ({g.orig_w} x {g.orig_h} pixels): check its annotation")
