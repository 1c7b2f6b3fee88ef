"""table_folds: a recipe's scores on held-out folds of a training split, fold by fold and pooled, to choose
recipes without the test split (docs/configuration.md, "Choosing a recipe on held-out folds").

Each row is one fold experiment: C2AM trained without labels on split BASE-without-foldIofK, its box threshold
chosen on those images, its boxes scored on the held-out BASE-foldIofK (evaluate_wsol). The pooled row of a
dataset root and base split counts every held-out image once: GT-known Loc = correct boxes / images over the
folds; MaxBoxAccV2 and MaxBoxAcc@IoU = the mean over folds (each fold's best threshold is its own).

Reads:  one evaluate_wsol JSON per fold experiment (--row LABEL DATASET_ROOT SPLIT METRICS_JSON).
Writes: --out (CSV, percentages) and the same table as Markdown next to it (.md).

By hand:
    python -m stages.table_folds \
        --row "fold 0" ../shared/data/cub10/CUB_200_2011 train-fold0of3 results/cub10_fold0/metrics/wsol_train-fold0of3.json \
        --row "fold 1" ../shared/data/cub10/CUB_200_2011 train-fold1of3 results/cub10_fold1/metrics/wsol_train-fold1of3.json \
        --row "fold 2" ../shared/data/cub10/CUB_200_2011 train-fold2of3 results/cub10_fold2/metrics/wsol_train-fold2of3.json \
        --out results/table_folds.csv
"""

from __future__ import annotations

import argparse

from c2am.cli import main, stage_parser
from c2am.data.readers import FOLD_SPLIT
from c2am.report import add_table_args, columns_with, max_box_acc_cells, pct, read_metrics, write_table

COLUMNS = ["dataset root", "base split", "fold", "of", "label", "images", "GT-known Loc", "correct boxes",
           "box threshold", "MaxBoxAccV2"]  # + MaxBoxAcc@IoU per wsol_eval.maxboxacc_iou
TEXT = ("dataset root", "base split", "fold", "of", "label", "images", "correct boxes", "box threshold")
NOTE = ("Held-out folds of a training split: each fold's C2AM trained without labels on the other folds, its box "
        "threshold chosen there, its boxes scored on the held-out fold. Pooled: GT-known Loc over all held-out "
        "images (each counted once); MaxBoxAccV2 and MaxBoxAcc@IoU averaged over the folds. Percentages.")


def fold_rows(entries: list[tuple[str, str, str, str]]) -> list[dict]:
    """One row per fold and one pooled row per (dataset root, base split, K); every fold 0..K-1 exactly once."""
    groups: dict[tuple[str, str, int], dict[int, dict]] = {}
    sources: dict[tuple[str, str, int, int], str] = {}
    for label, root, split, path in entries:
        m = FOLD_SPLIT.match(split)
        if m is None or m["without"]:
            raise ValueError(f"{path}: split {split!r} is not a held-out fold (BASE-foldIofK)")
        fold, k = int(m["fold"]), int(m["folds"])
        metrics = read_metrics(path)
        lacking = [key for key in ("images", "gt_known_loc", "box_threshold", "MaxBoxAccV2")
                   if metrics.get(key) is None]
        if lacking:
            raise ValueError(f"{path}: no {', '.join(lacking)} (not an evaluate_wsol result of a box threshold?)")
        correct = round(metrics["gt_known_loc"] * metrics["images"])
        row = {"dataset root": root, "base split": m["base"], "fold": str(fold), "of": str(k), "label": label,
               "images": metrics["images"], "GT-known Loc": pct(metrics["gt_known_loc"]), "correct boxes": correct,
               "box threshold": metrics["box_threshold"], "MaxBoxAccV2": pct(metrics["MaxBoxAccV2"]),
               **max_box_acc_cells(metrics)}
        folds = groups.setdefault((root, m["base"], k), {})
        if fold in folds:
            raise ValueError(f"{path}: fold {fold} of {k} of {root} {m['base']} is given twice")
        folds[fold] = row
        sources[(root, m["base"], k, fold)] = path
    rows = []
    for (root, base, k), folds in groups.items():
        missing = sorted(set(range(k)) - set(folds))
        if missing:
            raise ValueError(f"{root} {base}: folds {missing} of {k} are missing; pooling needs all of them")
        ordered = [folds[i] for i in range(k)]
        sweeps = {i: sorted(c for c in folds[i] if c.startswith("MaxBoxAcc")) for i in range(k)}
        if any(sweep != sweeps[0] for sweep in sweeps.values()):
            raise ValueError(f"{root} {base}: the folds were scored at different MaxBoxAcc IoUs ("
                             + "; ".join(f"{sources[(root, base, k, i)]}: {', '.join(sweeps[i])}" for i in range(k))
                             + "); evaluate them with the same wsol_eval.maxboxacc_iou")
        images = sum(r["images"] for r in ordered)
        correct = sum(r["correct boxes"] for r in ordered)
        mean = {c: sum(r[c] for r in ordered) / k for c in ordered[0] if c.startswith("MaxBoxAcc")}
        rows += ordered + [{"dataset root": root, "base split": base, "fold": "pooled", "of": str(k),
                            "label": None, "images": images, "GT-known Loc": 100 * correct / images,
                            "correct boxes": correct, "box threshold": None, **mean}]
    return rows


def run(args: argparse.Namespace) -> None:
    rows = fold_rows([tuple(r) for r in args.row])
    columns = columns_with(COLUMNS, "MaxBoxAccV2", rows, "MaxBoxAcc@")
    write_table(rows, columns, [c for c in columns if c not in TEXT], args.out,
                "C2AM on held-out folds of a training split (recipe selection)", NOTE, args.decimals)


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__)
    add_table_args(p, "--row", ("LABEL", "DATASET_ROOT", "SPLIT", "METRICS_JSON"))
    return p


if __name__ == "__main__":
    main(run, parser())
