"""Writing the paper's tables: CSV (percentages, rounded) plus a Markdown rendering next to it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .io import write_text


def read_metrics(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); re-run the stage that wrote it") from exc


def pct(value):
    return None if value is None else 100 * value


def write_table(rows: list[dict], columns: list[str], numeric: list[str], out: str | Path, title: str, note: str,
                decimals: int, sort_by: list[str] | None = None) -> pd.DataFrame:
    """Rows -> table with `columns`; `numeric` columns rounded to `decimals`; CSV at `out`, Markdown at .md."""
    if not rows:
        raise ValueError(f"{out}: no rows (no active experiment produces this table; see config.yaml)")
    table = pd.DataFrame(rows, columns=columns)
    if sort_by:
        table = table.sort_values(sort_by, na_position="last", kind="stable")
    table[numeric] = table[numeric].astype(float).round(decimals)
    if "images" in table:
        table["images"] = table["images"].astype("Int64")
    out = Path(out)
    write_text(table.to_csv(index=False), out)
    shown = table.astype(object).where(table.notna(), "")
    markdown = shown.to_markdown(index=False, floatfmt=f".{decimals}f")
    write_text(f"# {title}\n\n{note}\n\n{markdown}\n", out.with_suffix(".md"))
    print(table.to_string(index=False))
    return table


def add_cell_args(parser) -> None:
    """The flags of the WSSS tables: one --cell per (experiment, CAM source, split, column) metrics JSON."""
    parser.add_argument("--cell", nargs=6, action="append", required=True,
                        metavar=("EXPERIMENT", "CAM", "DATASET", "SPLIT", "COLUMN", "METRICS_JSON"))
    parser.add_argument("--decimals", type=int, default=2)
    parser.add_argument("--out", required=True)
