"""The foreground-side rule: a map whose outer ring of cells is brighter than its inside marks the background, so
its foreground is the other side (1 - map). Objects rarely fill the border of most photos.

One rule for C2AM's data-set decision (c2am.training.c2am.decide_foreground), DDT's sign of each group
(c2am.wsol.ddt) and the per-image reading of a map store (MapStore side "per_image", Table 6's ablation).
"""

from __future__ import annotations

import numpy as np


def ring_and_inside(maps):
    """(cells of the outer ring [..., k], cells inside it [..., m]) of maps [..., h, w], numpy or torch. A map with no
    inside (a side of at most 2 cells) gives its ring for both, so it never marks the background."""
    h, w = maps.shape[-2:]
    if isinstance(maps, np.ndarray):
        ring = np.ones((h, w), bool)
    else:  # a torch tensor (torch is not imported here: the map store's stages start without it)
        ring = maps.new_ones((h, w), dtype=bool)
    ring[1:-1, 1:-1] = False
    inside = ~ring
    return maps[..., ring], maps[..., inside if inside.any() else ring]


def border_inner_means(maps) -> tuple[float, float]:
    """Mean of the outer ring of cells and of the cells inside it over a group of maps [n, h, w] (all cells pooled)."""
    border, inner = ring_and_inside(maps)
    return float(border.mean()), float(inner.mean())


def marks_background(border_mean, inner_mean):
    """Whether maps with these ring / inside means mark the background (the ring is brighter): their foreground is
    1 - map. Elementwise for arrays of per-map means."""
    return border_mean > inner_mean
