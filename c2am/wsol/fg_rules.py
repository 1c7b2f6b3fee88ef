"""Table 6's foreground-rule ablation: GT-known Loc of one experiment's maps read from the side each rule gives,
scored as the main result is (the one threshold chooser, then make_boxes' boxes and evaluate_wsol's GT-known Loc)."""

from __future__ import annotations

from ..data.records import ImageRecord
from ..settings import BoxSettings, WsolEvalSettings
from .evaluate import held_out_loc
from .gt_boxes import store_rows
from .localize import boxes_table
from .maps import MapStore
from .threshold import choose_box_threshold


def fg_rule_ablation(train_store: MapStore, test_store: MapStore, train_records: list[ImageRecord],
                     test_records: list[ImageRecord], box: BoxSettings, evaluation: WsolEvalSettings) -> dict:
    """GT-known Loc of the test split under three foreground rules, each with its own held-out threshold
    (chosen on the training split, as for the main result):
    dataset_border (ours: one decision for the data set), raw_P (no rule: P is the foreground), and
    per_image_border (the same border test on every image separately; c2am.wsol.fg_side)."""
    flipped = bool(train_store.meta["settings"]["fg_flip"])
    sides = {"dataset_border": "stored", "raw_P": "opposite" if flipped else "stored", "per_image_border": "per_image"}
    test_records = [r for r in test_records if r.boxes]
    out = {"fg_flip": flipped, "rules": {}}
    for rule, side in sides.items():
        t = choose_box_threshold(train_store.with_side(side), train_records, box, evaluation)["threshold"]
        test_side = test_store.with_side(side)
        store_rows(test_side, test_records)
        boxes = boxes_table(test_side, t, box.normalization, box.all_contours, box.upsample)
        out["rules"][rule] = {"side": side, "threshold": t,
                              "gt_known_loc": held_out_loc(boxes, test_records, evaluation)["gt_known_loc"],
                              "images": len(test_records)}
    return out
