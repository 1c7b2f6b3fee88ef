"""From stored maps to boxes in original pixels (make_boxes): every map is resized to its crop (bilinear) when
`upsample`, normalised per image (`normalization`: minmax or max), thresholded, and its boxes are mapped to
original-image pixels with the manifest's geometry.

The other WSOL jobs have their own modules: the held-out threshold (threshold), a split's evaluation (evaluate),
the GT boxes against a store (gt_boxes), GT masks (masks) and Table 6's foreground-rule ablation (fg_rules).
"""

from __future__ import annotations

import pandas as pd

from .boxes import boxes_from_map, clip_boxes, scale_boxes
from .maps import MapStore


def boxes_table(store: MapStore, threshold: float, normalization: str, all_contours: bool,
                upsample: bool) -> pd.DataFrame:
    """One row per (image, box) in original pixels, with the threshold and a score (mean normalised
    activation inside the box on the map)."""
    rows = []
    for i in range(len(store)):
        fg_map, transform = store.prepared(i, normalization, upsample)
        geom = store.geometry(i)
        boxes = boxes_from_map(fg_map, [threshold], all_contours=all_contours)[0]
        orig = clip_boxes(scale_boxes(boxes, *transform), geom.orig_w, geom.orig_h)
        image_id = store.manifest["image_id"].iloc[i]
        for k, (b, ob) in enumerate(zip(boxes.astype(int), orig)):
            inside = fg_map[b[1]:b[3], b[0]:b[2]]
            rows.append({"image_id": image_id, "box": k, "x0": ob[0], "y0": ob[1], "x1": ob[2], "y1": ob[3],
                         "threshold": threshold, "score": float(inside.mean()) if inside.size else 0.0})
    return pd.DataFrame(rows, columns=["image_id", "box", "x0", "y0", "x1", "y1", "threshold", "score"])
