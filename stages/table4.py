"""table4: per-class IoU (21 VOC classes) of the initial CAMs and of the CAMs refined with C2AM's background
cues, per CAM source and split (the paper's Table 4), plus mIoU and the mean FP / FN ratios.

Reads:  refine_cams metrics JSONs.   Writes: --out (CSV, percentages) and Markdown (.md).

By hand:
    python -m stages.table4 --cell "C2AM demo" EffL0-CAM demo_voc val CAMs results/cams/.../val_threshold.json \
        --cell "C2AM demo" EffL0-CAM demo_voc val +C2AM results/demo_voc_effl0/wsss/.../val_c2am.json \
        --out results/table4.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.data.voc import VOC_CLASSES
from c2am.report import CELL, WsssColumn, add_table_args, pct, read_metrics, write_table

TEXT = ["CAM source", "method", "C2AM experiment", "dataset", "split", "images"]
NOTE = ("IoU per class = TP / (TP + FP + FN) from one confusion matrix over the split, 255 pixels ignored. "
        "CAMs: argmax over [t, CAMs] with the constant background t chosen on the train split's masks; +C2AM: "
        "argmax over [C2AM background cue, CAMs]. mIoU averages the classes present in ground truth or "
        "prediction (empty cells: class absent). FP / FN: mean over foreground classes of (P - TP) / union and "
        "(T - TP) / union, as ratios in [0, 1]; IoU and mIoU in percent.")


def run(args: argparse.Namespace) -> None:
    rows = []
    for exp_label, cam_label, dataset, split, column, path in args.cell:
        m = read_metrics(path)
        is_cams = column == WsssColumn.CAMS
        row = {"CAM source": cam_label, "method": f"CAMs (t={m['threshold']:.2f})" if is_cams else column,
               "C2AM experiment": "-" if is_cams else exp_label, "dataset": dataset, "split": split,
               "images": m["images"]}
        row.update({c: pct(m["iou"].get(c)) for c in VOC_CLASSES})
        row.update({"mIoU": pct(m["miou"]), "FP": m["fp_mean"], "FN": m["fn_mean"]})
        rows.append(row)
    columns = TEXT + list(VOC_CLASSES) + ["mIoU", "FP", "FN"]
    rows = list({(r["CAM source"], r["method"], r["C2AM experiment"], r["dataset"], r["split"]): r
                 for r in rows}.values())
    write_table(rows, columns, [c for c in columns if c not in TEXT], args.out,
                "Table 4: per-class IoU, initial CAMs vs CAMs refined with C2AM's background cues", NOTE,
                args.decimals, sort_by=["dataset", "CAM source", "split"])


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--cell", CELL)
    return p


if __name__ == "__main__":
    main(run, parser())
