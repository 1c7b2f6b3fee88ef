"""Turning activation maps into boxes.

Box convention (same as ``c2am.data.records``): a box is ``(x0, y0, x1, y1)`` in continuous pixel
coordinates with x1/y1 EXCLUSIVE edges. A box covering pixel columns 2..5 has x0=2, x1=6; its area is
``(x1 - x0) * (y1 - y0)``; CUB's ``x y w h`` becomes ``x, y, x + w, y + h``. No "+1" anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

ZERO_BOX = np.zeros((1, 4), dtype=np.float64)  # returned for an empty mask: IoU 0 with every box

# A map without contrast (no foreground to find; docs/operations.md, "Blank images"). A uniform input (all black, all white,
# one grey or colour) still gives a map with contrast, made by the zero padding at the image border (max - min of P
# 0.07 - 0.89 on blank images, as high as on real photos: 0.04 - 1.0), so no level of the map's own contrast tells
# them apart; the network's input view does: the largest per-channel standard deviation of its pixels is 0 on a
# uniform image and <= 2.1 grey levels with noise of standard deviation <= 2, >= 10.4 on all 698 CUB-10 and COCO
# photos (median 52).
FLAT_MAP_SPAN = 1e-6  # max - min of the raw map below this: constant, no contrast
FLAT_VIEW_SPREAD = 3.0  # grey levels: an input view whose pixel spread (view_spread) is below this is blank


def view_spread(views) -> np.ndarray:
    """[n] largest per-channel standard deviation (grey levels) of each network input view [n, 3, h, w] (uint8)."""
    import torch

    v = torch.as_tensor(views)
    return v.flatten(2).float().std(-1, correction=0).amax(-1).numpy().astype(np.float64)


def flat_maps(maps: np.ndarray | None, views=None) -> np.ndarray:
    """[n] bool: which raw foreground maps [n, h, w] have no foreground / background contrast to threshold (no box,
    an empty mask): max - min below FLAT_MAP_SPAN, or (given the uint8 input views [n, 3, H, W] they were computed
    from) an input view whose pixel spread (`view_spread`) is below FLAT_VIEW_SPREAD. Either may be None (the
    other decides). The one rule of predict, extract_maps and DDT; boxes made from stored maps read its flag
    (MapStore.is_flat)."""
    flat = None
    if maps is not None:
        m = np.asarray(maps, dtype=np.float64)
        m = m.reshape(len(m), -1)
        flat = m.max(axis=1) - m.min(axis=1) < FLAT_MAP_SPAN
    if views is not None:
        blank = view_spread(views) < FLAT_VIEW_SPREAD
        flat = blank if flat is None else flat | blank
    if flat is None:
        raise ValueError("flat_maps needs the maps, the input views or both")
    return flat


def normalize_map(m: np.ndarray, mode: str = "minmax") -> np.ndarray:
    """Normalise one HxW map or a batch NxHxW of maps, each map on its own.

    mode "minmax": (m - min) / (max - min); a constant map becomes zeros.
    mode "max":    m / max (thresholding at t * max, the C2AM authors' rule); max <= 0 gives zeros.
    mode "none":   m unchanged (as float).
    Raises ValueError for an empty map or one containing NaN/inf.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.ndim not in (2, 3):
        raise ValueError(f"activation map must be HxW or NxHxW, got shape {m.shape}")
    if m.size == 0 or not np.isfinite(m).all():
        raise ValueError("empty/invalid activation map: it is empty or contains NaN/inf values")
    if mode == "none":
        return m.copy()
    batch = m if m.ndim == 3 else m[None]
    hi = batch.max(axis=(1, 2), keepdims=True)
    if mode == "minmax":
        lo = batch.min(axis=(1, 2), keepdims=True)
        span = hi - lo
        ok = span > 0
        out = np.where(ok, (batch - lo) / np.where(ok, span, 1.0), 0.0)
    elif mode == "max":
        ok = hi > 0
        out = np.where(ok, batch / np.where(ok, hi, 1.0), 0.0)
    else:
        raise ValueError(f"unknown normalisation mode {mode!r}; use 'minmax', 'max' or 'none'")
    return out if m.ndim == 3 else out[0]


def _contour_key(contour: np.ndarray) -> tuple[float, int]:
    """Size of a contour: cv2.contourArea, then bounding-rect area (single pixels / lines have area 0)."""
    _, _, w, h = cv2.boundingRect(contour)
    return float(cv2.contourArea(contour)), w * h


def boxes_from_map(
    map2d: np.ndarray, thresholds: Sequence[float] | np.ndarray, all_contours: bool = False
) -> list[np.ndarray]:
    """Boxes of ``map2d >= t`` for every threshold t, in map pixel coordinates (exclusive edges).

    map2d is already normalised (usually to [0, 1]). For each t the binary mask's external contours
    (cv2.RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) are found; the result holds the bounding rectangle
    (x, y, x + w, y + h) of the largest contour (by cv2.contourArea, ties broken by bounding-rect
    area, then first found) or, with all_contours, of every contour. An empty mask yields the zero box
    [[0, 0, 0, 0]]. Returns a list (one entry per threshold) of float64 arrays [k, 4].
    """
    m = np.asarray(map2d, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"map2d must be HxW, got shape {m.shape}")
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    masks = (m[None, :, :] >= thr[:, None, None]).astype(np.uint8)  # [T, H, W], one broadcast
    nonempty = masks.any(axis=(1, 2))
    out: list[np.ndarray] = []
    for i in range(len(thr)):
        if not nonempty[i]:
            out.append(ZERO_BOX.copy())
            continue
        contours, _ = cv2.findContours(masks[i], cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not all_contours:
            contours = [max(contours, key=_contour_key)]  # max() keeps the first of equal keys
        rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.float64)
        rects[:, 2:] += rects[:, :2]  # (x, y, w, h) -> (x0, y0, x1, y1)
        out.append(rects)
    return out


def scale_boxes(
    boxes: np.ndarray, sx: float, sy: float, ox: float = 0.0, oy: float = 0.0
) -> np.ndarray:
    """Map boxes [..., 4] from map/crop coordinates to original pixels: x' = x*sx + ox, y' = y*sy + oy.

    For a map of size (h, w) covering an original-image region of size (W, H) starting at (ox, oy):
    sx = W / w, sy = H / h. Edges stay exclusive, so no +/-1 correction is needed.
    """
    b = np.asarray(boxes, dtype=np.float64)
    return b * np.array([sx, sy, sx, sy]) + np.array([ox, oy, ox, oy])


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip boxes [..., 4] to an image of the given size: x in [0, width], y in [0, height]."""
    b = np.asarray(boxes, dtype=np.float64)
    hi = np.array([width, height, width, height], dtype=np.float64)
    return np.clip(b, 0.0, hi)


def center_box(width: float, height: float, frac: float) -> np.ndarray:
    """Centred box of an image covering ``frac`` of each side: shape (4,), float, exclusive edges.

    width/height may also be arrays [n]; the result is then [n, 4].
    """
    width, height = np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64)
    w, h = frac * width, frac * height
    x0, y0 = (width - w) / 2.0, (height - h) / 2.0
    return np.stack([x0, y0, x0 + w, y0 + h], axis=-1)
