"""The paper's tables as data: the manifest of a table or figure (the JSON of its rows that the workflow writes,
results/manifests/NAME.json = {"rows": [{FIELD: VALUE, ...}, ...]}, FIELDS below) and one function per table
that reads the metrics JSONs its rows name and builds the table (rows in, a Table out; the stages write it).

pandas is imported only where a table is built: the workflow imports this module's FIELDS while it plans."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .io import check_out_paths
from .report import (WsssColumn, columns_with, max_box_acc_cells, pct, read_metrics, table_frame,
                     write_frame)

if TYPE_CHECKING:
    import pandas as pd

# the fields of each manifest's rows (every row has exactly these)
FIELDS = {
    "table1": ("experiment", "dataset", "source", "localizer", "classifier", "metrics"),
    "table2": ("method", "label", "dataset", "init", "metrics"),
    "table3": ("method", "label", "dataset", "init", "metrics"),
    "table4": ("experiment", "cam", "dataset", "split", "column", "metrics"),
    "table5": ("experiment", "cam", "dataset", "split", "column", "metrics"),
    "table6": ("study", "value", "experiment", "metrics"),
    "table_fg": ("method", "experiment", "dataset", "train", "eval"),
    "table_folds": ("label", "root", "split", "metrics"),
    "figure_maps": ("label", "format", "root", "split", "maps", "boxes"),
    "figure_wsol": ("label", "format", "root", "split", "classes", "box_rows"),
    "figure_training": ("label", "log"),
}


# ----------------------------------------------------------------------------------------------- manifests
def manifest_json(rows: list[dict]) -> str:
    """The text of a manifest: {"rows": rows}, indented, one key order."""
    return json.dumps({"rows": rows}, indent=1) + "\n"


def read_manifest(path: str | Path, name: str) -> list[dict]:
    """The rows of the manifest at `path` of table / figure `name`, each checked to hold exactly FIELDS[name]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f'{path}: not a manifest: expected {{"rows": [{{...}}, ...]}}')
    fields = set(FIELDS[name])
    for i, row in enumerate(rows):
        if set(row) != fields:
            missing, extra = sorted(fields - set(row)), sorted(set(row) - fields)
            raise ValueError(f"{path}: row {i} of {name}: " + "; ".join(
                filter(None, [missing and f"missing {', '.join(missing)}", extra and f"unknown {', '.join(extra)}"])))
    return rows


def _paths(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _paths(v)
    elif isinstance(value, list):
        for v in value:
            yield from _paths(v)
    elif isinstance(value, str) and value and os.path.exists(value):
        yield value


def check_outputs(rows: list[dict], manifest: str, **outputs: str | None) -> None:
    """Refuse outputs (flag -> path) that are, or hold, the manifest or a file or folder its rows name
    (c2am.io.check_out_paths), or lie inside the root of a `folder` dataset of a row."""
    inputs, listed = {"--manifest": manifest}, set()
    for i, row in enumerate(rows):
        for j, path in enumerate(dict.fromkeys(_paths(row))):
            name = f"manifest row {i} ({path})"
            inputs[name] = path
            if row.get("format") == "folder" and path == row.get("root"):
                listed.add(name)
    check_out_paths({f"--{k.replace('_', '-')}": v for k, v in outputs.items()}, inputs, listed)


@dataclass
class Table:
    """A built table: its DataFrame (numbers rounded to `decimals`) and what its Markdown rendering says."""

    frame: pd.DataFrame
    title: str
    note: str
    decimals: int

    def write(self, out: str | Path) -> pd.DataFrame:
        """CSV at `out`, Markdown next to it (.md)."""
        return write_frame(self.frame, out, self.title, self.note, self.decimals)


def _table(rows, columns, text, title, note, decimals, sort_by=None, numeric=None) -> Table:
    numeric = [c for c in columns if c not in text] if numeric is None else numeric
    return Table(table_frame(rows, columns, numeric, decimals, sort_by), title, note, decimals)


# ----------------------------------------------------------------------------------------------- Table 1
TABLE1_COLUMNS = ["method", "pseudo boxes", "Loc Back.", "Cls Back.", "dataset", "split", "images", "Top-1 Loc",
                  "Top-5 Loc", "GT-known Loc", "Top-1 Loc (class avg)", "Top-5 Loc (class avg)",
                  "GT-known Loc (class avg)", "Top-1 Cls", "Top-5 Cls", "top-5 k", "experiment"]
TABLE1_TEXT = ("method", "pseudo boxes", "Loc Back.", "Cls Back.", "dataset", "split", "images", "top-5 k",
               "experiment")
TABLE1_METHOD = {"c2am": "C2AM", "ddt": "PSOL (DDT boxes)"}
TABLE1_NOTE = (
    "Localizer: PSOL regression network trained on the training split's pseudo boxes (C2AM: this project's "
    "C2AM boxes; PSOL: DDT boxes from the same backbone and init). Top-1 Loc: top-1 class right and IoU >= 0.5 "
    "with a GT box; Top-5 Loc: GT class among the top 5 (top-5 k = classes used when there are fewer than 5); "
    "GT-known Loc: box only. Image-averaged; 'class avg' columns average per class first (PSOL). Percentages.")


def table1(rows: list[dict], decimals: int) -> Table:
    """Table 1 from rows {experiment, dataset, source, localizer, classifier, metrics (evaluate_psol JSON)}."""
    out = []
    for r in rows:
        m = read_metrics(r["metrics"])
        out.append({"method": TABLE1_METHOD.get(r["source"], r["source"]), "pseudo boxes": r["source"],
                    "Loc Back.": r["localizer"], "Cls Back.": r["classifier"], "dataset": r["dataset"],
                    "split": m["split"], "images": m["images"], "Top-1 Loc": pct(m["top1_loc"]),
                    "Top-5 Loc": pct(m["top5_loc"]), "GT-known Loc": pct(m["gt_known_loc"]),
                    "Top-1 Loc (class avg)": pct(m["top1_loc_class_avg"]),
                    "Top-5 Loc (class avg)": pct(m["top5_loc_class_avg"]),
                    "GT-known Loc (class avg)": pct(m["gt_known_loc_class_avg"]), "Top-1 Cls": pct(m["top1_cls"]),
                    "Top-5 Cls": pct(m["top5_cls"]), "top-5 k": m["top5_k"], "experiment": r["experiment"]})
    return _table(out, TABLE1_COLUMNS, TABLE1_TEXT, "Table 1: WSOL through PSOL's route (localizer + classifier)",
                  TABLE1_NOTE, decimals, sort_by=["dataset", "experiment", "Loc Back.", "Cls Back.", "method"])


# ----------------------------------------------------------------------------------------------- Table 2
TABLE2_COLUMNS = ["method", "backbone", "init", "dataset", "split", "images", "GT-known Loc",
                  "box threshold", "GT-known Loc (authors' protocol, tuned on split)", "authors' threshold",
                  "MaxBoxAccV2", "PxAP", "label", "note"]  # + MaxBoxAcc@IoU per evaluate_wsol.maxboxacc_iou
TABLE2_TEXT = ("method", "backbone", "init", "dataset", "split", "images", "label", "note")
TABLE2_NOTE = (
    "GT-known Loc: IoU >= 0.5 with a GT box. C2AM: box threshold chosen on the GT boxes of the training split "
    "(all of it by default, make_boxes.calib_fraction), never on the evaluated split. DDT: positive projection on the "
    "first principal component of the class's deep descriptors (threshold 0; GT-known setting: images grouped by "
    "their class). Authors' protocol: best of 19 thresholds chosen on the evaluated split (optimistic). "
    "MaxBoxAccV2: Choe et al. 2020 (min-max maps, all contours, IoU 0.3/0.5/0.7). Centre box: size tuned on the "
    "evaluated split. Percentages.")


def table2_rows(method: str, label: str | None, dataset: str, init: str, metrics_path: str) -> list[dict]:
    """A method's row and the centre-box row of its dataset and split."""
    m = read_metrics(metrics_path)
    row = {"method": method, "backbone": m["backbone"], "init": init, "dataset": dataset,
           "split": m["split"], "images": m["images"], "GT-known Loc": pct(m["gt_known_loc"]),
           "box threshold": m["box_threshold"],
           "GT-known Loc (authors' protocol, tuned on split)": pct(m["authors_protocol"]["gt_known_loc_tuned_on_eval"]),
           "authors' threshold": m["authors_protocol"]["threshold_tuned_on_eval"],
           "MaxBoxAccV2": pct(m["MaxBoxAccV2"]), **max_box_acc_cells(m), "PxAP": pct(m.get("PxAP")),
           "label": label}
    if method == "DDT":
        row["note"] = "threshold 0 on the projection; authors' protocol and MaxBoxAccV2 sweep min-max maps"
    center = {"method": "centre box (tuned on split)", "backbone": None, "init": None, "dataset": dataset,
              "split": m["split"], "images": m["images"],
              "GT-known Loc": pct(m["center_box"]["gt_known_loc_tuned_on_eval"]), "label": None,
              "note": f"centred box covering {m['center_box']['best_frac_tuned_on_eval']:.2f} of each side"}
    return [row, center]


def table2(rows: list[dict], decimals: int) -> Table:
    """Table 2 from rows {method (C2AM or DDT), label (None for DDT), dataset, init, metrics (evaluate_wsol
    JSON)}, plus one centre-box row per dataset and split."""
    out, seen_center = [], set()
    for r in rows:
        row, center = table2_rows(r["method"], r["label"], r["dataset"], r["init"], r["metrics"])
        out.append(row)
        if (r["dataset"], center["split"]) not in seen_center:
            seen_center.add((r["dataset"], center["split"]))
            out.append(center)
    columns = columns_with(TABLE2_COLUMNS, "PxAP", out, "MaxBoxAcc@")
    return _table(out, columns, TABLE2_TEXT, "Table 2: class-agnostic boxes, C2AM vs DDT (GT-known Loc)",
                  TABLE2_NOTE, decimals, sort_by=["dataset", "backbone", "init", "method"])


# ----------------------------------------------------------------------------------------------- Table 3
TABLE3_COLUMNS = ["method", "backbone", "init", "dataset", "split", "images", "MaxBoxAccV2", "label"]  # + @IoU
TABLE3_TEXT = ("method", "backbone", "init", "dataset", "split", "images", "label")
TABLE3_NOTE = (
    "MaxBoxAccV2: for each IoU in {0.3, 0.5, 0.7}, the best box accuracy over a fine sweep of thresholds on "
    "min-max normalised maps (all contours, best box per image), averaged over the three IoUs. The sweep "
    "picks the threshold on the evaluated split (as Choe et al. define it). Percentages.")


def table3(rows: list[dict], decimals: int) -> Table:
    """Table 3 from the rows of Table 2 {method, label, dataset, init, metrics (evaluate_wsol JSON)}."""
    out = []
    for r in rows:
        m = read_metrics(r["metrics"])
        out.append({"method": r["method"], "backbone": m["backbone"], "init": r["init"], "dataset": r["dataset"],
                    "split": m["split"], "images": m["images"], "MaxBoxAccV2": pct(m["MaxBoxAccV2"]),
                    **max_box_acc_cells(m, with_thresholds=True), "label": r["label"]})
    columns = columns_with(TABLE3_COLUMNS, "label", out, "MaxBoxAcc@")
    columns = columns_with(columns, "label", out, "best threshold@")
    return _table(out, columns, TABLE3_TEXT, "Table 3: MaxBoxAccV2 of class-agnostic maps", TABLE3_NOTE, decimals,
                  sort_by=["dataset", "backbone", "init", "method"])


# ----------------------------------------------------------------------------------------------- Tables 4, 5
TABLE4_TEXT = ["CAM source", "method", "C2AM experiment", "dataset", "split", "images"]
TABLE4_NOTE = (
    "IoU per class = TP / (TP + FP + FN) from one confusion matrix over the split, 255 pixels ignored. "
    "CAMs: argmax over [t, CAMs] with the constant background t chosen on the train split's masks; +C2AM: "
    "argmax over [C2AM background cue, CAMs]. mIoU averages the classes present in ground truth or "
    "prediction (empty cells: class absent). FP / FN: mean over foreground classes of (P - TP) / union and "
    "(T - TP) / union, as ratios in [0, 1]; IoU and mIoU in percent.")


def table4(rows: list[dict], decimals: int) -> Table:
    """Table 4 from cells {experiment, cam, dataset, split, column, metrics (refine_cams JSON)}: one row per
    cell (the CAMs row of a CAM source and split once, however many experiments name it)."""
    from .data.voc import VOC_CLASSES

    out = []
    for r in rows:
        m = read_metrics(r["metrics"])
        is_cams = r["column"] == WsssColumn.CAMS
        row = {"CAM source": r["cam"], "method": f"CAMs (t={m['threshold']:.2f})" if is_cams else r["column"],
               "C2AM experiment": "-" if is_cams else r["experiment"], "dataset": r["dataset"], "split": r["split"],
               "images": m["images"]}
        row.update({c: pct(m["iou"].get(c)) for c in VOC_CLASSES})
        row.update({"mIoU": pct(m["miou"]), "FP": m["fp_mean"], "FN": m["fn_mean"]})
        out.append(row)
    columns = TABLE4_TEXT + list(VOC_CLASSES) + ["mIoU", "FP", "FN"]
    out = list({(r["CAM source"], r["method"], r["C2AM experiment"], r["dataset"], r["split"]): r
                for r in out}.values())
    return _table(out, columns, TABLE4_TEXT,
                  "Table 4: per-class IoU, initial CAMs vs CAMs refined with C2AM's background cues", TABLE4_NOTE,
                  decimals, sort_by=["dataset", "CAM source", "split"])


TABLE5_TEXT = ["CAM source", "C2AM experiment", "dataset", "split", "images", "threshold"]
TABLE5_NOTE = (
    "mIoU over the VOC classes present (255 ignored), one confusion matrix per split. CAMs: constant "
    "background t (chosen on the train split's masks, used on every split); +dCRF: dense CRF on the CAMs "
    "(label unary from the t baseline, IRN / C2AM settings; softmax unary on [(1 - max CAM)^p, CAMs], PSA "
    "settings); +saliency: background = 1 - saliency map; +C2AM (raw 1-P): background = 1 - C2AM map; +C2AM: "
    "background = the cue model trained on C2AM's pseudo labels. Every cue goes through the same argmax. "
    "Percentages; gain = +C2AM - CAMs in points.")


def table5(rows: list[dict], decimals: int) -> Table:
    """Table 5 from the cells of Table 4 (all columns): one row per CAM source x experiment x split, one column
    per refinement (in the cells' order), and the gain of +C2AM over the CAMs."""
    out: dict[tuple, dict] = {}
    columns: list[str] = []
    for r in rows:
        m = read_metrics(r["metrics"])
        column = r["column"]
        row = out.setdefault((r["cam"], r["experiment"], r["dataset"], r["split"]),
                             {"CAM source": r["cam"], "C2AM experiment": r["experiment"], "dataset": r["dataset"],
                              "split": r["split"], "images": m["images"]})
        if column == WsssColumn.CAMS:
            row["threshold"] = m["threshold"]
        row[column] = pct(m["miou"])
        if column not in columns:
            columns.append(column)
    for row in out.values():
        c2am, cams = WsssColumn.C2AM, WsssColumn.CAMS
        row["gain"] = row[c2am] - row[cams] if c2am in row and cams in row else None
    return _table(list(out.values()), TABLE5_TEXT + columns + ["gain"], TABLE5_TEXT,
                  "Table 5: mIoU of CAMs and their refinements", TABLE5_NOTE, decimals,
                  sort_by=["dataset", "CAM source", "split"], numeric=columns + ["gain"])


# ----------------------------------------------------------------------------------------------- Table 6
# Paper Table 6 (ImageNet-1K val, ResNet-50): GT-known Loc per head initialisation. Context, not a target.
PAPER_HEAD_INIT = {"kaiming_normal": 66.51, "kaiming_uniform": 66.44, "normal": 66.82, "uniform": 66.67}
TABLE6_COLUMNS = ["study", "value", "experiment", "split", "images", "GT-known Loc", "box threshold", "MaxBoxAccV2",
                  "paper (ImageNet)", "note"]
TABLE6_NOTE = (
    "One C2AM training per row, each a copy of the base experiment with one setting changed (same data, init "
    "and recipe otherwise); GT-known Loc at the threshold chosen on the training split, "
    "MaxBoxAccV2 as in Table 3. fg_rule rows re-read the base experiment's maps with another foreground-side "
    "rule, each with its own held-out threshold. Paper column: Table 6 of the paper (ImageNet-1K, ResNet-50), "
    "for context only. Percentages.")


def experiment_of(metrics_path: str) -> str:
    """RESULTS/EXP/metrics/NAME.json -> EXP."""
    return Path(metrics_path).parts[-3]


def table6(rows: list[dict], decimals: int, fg_rules: str | None = None) -> Table:
    """Table 6 from rows {study, value, experiment, metrics (evaluate_wsol JSON)} in their order, then the three
    foreground-rule rows of `fg_rules` (a fg_rule_ablation JSON) when given."""
    out = []
    for r in rows:
        m = read_metrics(r["metrics"])
        value = str(r["value"])
        out.append({"study": r["study"], "value": value, "experiment": r["experiment"],
                    "split": m["split"], "images": m["images"], "GT-known Loc": pct(m["gt_known_loc"]),
                    "box threshold": m["box_threshold"], "MaxBoxAccV2": pct(m["MaxBoxAccV2"]),
                    "paper (ImageNet)": PAPER_HEAD_INIT.get(value) if r["study"] == "head_init" else None})
    if fg_rules:
        f = read_metrics(fg_rules)
        flipped, kept = (" (flipped: 1 - P)", "") if f["fg_flip"] else ("", " (same maps: the rule kept P)")
        notes = {"dataset_border": f"ours: one decision for the data set{flipped}",
                 "raw_P": f"no rule: P is the foreground{kept}",
                 "per_image_border": "border test on each image alone"}
        for rule in ("dataset_border", "raw_P", "per_image_border"):
            r = f["rules"][rule]
            out.append({"study": "fg_rule", "value": rule, "experiment": experiment_of(fg_rules),
                        "split": f["split"], "images": r["images"], "GT-known Loc": pct(r["gt_known_loc"]),
                        "box threshold": r["threshold"], "note": notes.get(rule)})
    return _table(out, TABLE6_COLUMNS, (), "Table 6: sensitivity (alpha, head initialisation, loss variant, "
                  "foreground rule)", TABLE6_NOTE, decimals,
                  numeric=["GT-known Loc", "box threshold", "MaxBoxAccV2", "paper (ImageNet)"])


# ----------------------------------------------------------------------------------------------- Table fg
TABLE_FG_COLUMNS = ["method", "experiment", "dataset", "split", "images", "fg IoU", "pixel acc", "maxF",
                    "mask level", "fg IoU (level chosen on train)", "level chosen on train", "train fg IoU"]
TABLE_FG_TEXT = ("method", "experiment", "dataset", "split", "images")
TABLE_FG_NOTE = (
    "Foreground = every object class (255 ignored). fg IoU / pixel acc: mean over images of the mask predict "
    "writes (min-max scaled map >= threshold; + CRF: a dense CRF on the image seeded with that mask, its "
    "foreground marginal >= 0.5). maxF: beta^2 = 0.3, 255 levels, precision and recall averaged over images. "
    "Level chosen on train: the best of the 255 levels on the training split's masks, its fg IoU on this "
    "split. C2AM self-trained: 1 - the background cue of the cue model trained on C2AM's pseudo labels (no "
    "labels, no masks), min-max scaled like the maps. DDT: one group (no labels), the experiment's init with "
    "the stages.ddt_boxes settings, min-max scaled projection. "
    "Percentages.")


def fg_row(method: str, experiment: str, dataset: str, train_path: str, eval_path: str) -> dict:
    """A Table fg row: the eval split's scores and the fg IoU at the level chosen on the train split's curve."""
    from .foreground_scores import LEVELS, best_level

    train, ev = read_metrics(train_path), read_metrics(eval_path)
    level, _ = best_level(train["iou_curve"])
    k = round(level * LEVELS) - 1
    return {"method": method, "experiment": experiment, "dataset": dataset, "split": ev["split"],
            "images": ev["images"], "fg IoU": pct(ev["fg_iou"]), "pixel acc": pct(ev["pixel_acc"]),
            "maxF": pct(ev["max_f"]), "mask level": ev["level"],
            "fg IoU (level chosen on train)": pct(ev["iou_curve"][k]), "level chosen on train": round(level, 4),
            "train fg IoU": pct(train["fg_iou"])}


def table_fg(rows: list[dict], decimals: int) -> Table:
    """Table fg from rows {method, experiment, dataset, train, eval (evaluate_fg JSONs)} in their order."""
    out = [fg_row(r["method"], r["experiment"], r["dataset"], r["train"], r["eval"]) for r in rows]
    return _table(out, TABLE_FG_COLUMNS, TABLE_FG_TEXT, "Foreground masks: C2AM vs DDT and saliency", TABLE_FG_NOTE,
                  decimals)


# ----------------------------------------------------------------------------------------------- Table folds
TABLE_FOLDS_COLUMNS = ["dataset root", "base split", "fold", "of", "label", "images", "GT-known Loc",
                       "correct boxes", "box threshold", "MaxBoxAccV2"]  # + MaxBoxAcc@IoU
TABLE_FOLDS_TEXT = ("dataset root", "base split", "fold", "of", "label", "images", "correct boxes", "box threshold")
TABLE_FOLDS_NOTE = (
    "Held-out folds of a training split: each fold's C2AM trained without labels on the other folds, its box "
    "threshold chosen there, its boxes scored on the held-out fold. Pooled: GT-known Loc over all held-out "
    "images (each counted once); MaxBoxAccV2 and MaxBoxAcc@IoU averaged over the folds. Percentages.")


def fold_rows(rows: list[dict]) -> list[dict]:
    """From rows {label, root, split (BASE-foldIofK), metrics (evaluate_wsol JSON)}: one row per fold and one
    pooled row per (dataset root, base split, K); every fold 0..K-1 exactly once."""
    from .data.readers import FOLD_SPLIT

    groups: dict[tuple[str, str, int], dict[int, dict]] = {}
    sources: dict[tuple[str, str, int, int], str] = {}
    for entry in rows:
        label, root, split, path = entry["label"], entry["root"], entry["split"], entry["metrics"]
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
    out = []
    for (root, base, k), folds in groups.items():
        missing = sorted(set(range(k)) - set(folds))
        if missing:
            raise ValueError(f"{root} {base}: folds {missing} of {k} are missing; pooling needs all of them")
        ordered = [folds[i] for i in range(k)]
        sweeps = {i: sorted(c for c in folds[i] if c.startswith("MaxBoxAcc")) for i in range(k)}
        if any(sweep != sweeps[0] for sweep in sweeps.values()):
            raise ValueError(f"{root} {base}: the folds were scored at different MaxBoxAcc IoUs ("
                             + "; ".join(f"{sources[(root, base, k, i)]}: {', '.join(sweeps[i])}" for i in range(k))
                             + "); evaluate them with the same evaluate_wsol.maxboxacc_iou")
        images = sum(r["images"] for r in ordered)
        correct = sum(r["correct boxes"] for r in ordered)
        mean = {c: sum(r[c] for r in ordered) / k for c in ordered[0] if c.startswith("MaxBoxAcc")}
        out += ordered + [{"dataset root": root, "base split": base, "fold": "pooled", "of": str(k),
                           "label": None, "images": images, "GT-known Loc": 100 * correct / images,
                           "correct boxes": correct, "box threshold": None, **mean}]
    return out


def table_folds(rows: list[dict], decimals: int) -> Table:
    """The held-out fold table (fold_rows), MaxBoxAcc@IoU columns before MaxBoxAccV2."""
    out = fold_rows(rows)
    columns = columns_with(TABLE_FOLDS_COLUMNS, "MaxBoxAccV2", out, "MaxBoxAcc@")
    return _table(out, columns, TABLE_FOLDS_TEXT, "C2AM on held-out folds of a training split (recipe selection)",
                  TABLE_FOLDS_NOTE, decimals)
