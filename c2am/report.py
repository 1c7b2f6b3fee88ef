"""The paper's tables and figures as files: CSV (percentages, rounded) plus a Markdown rendering next to it, and
matplotlib figures saved titled, tight and atomically.

The workflow imports this module to name table columns while it plans, so pandas and matplotlib are imported
only where a table or a figure is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .io import atomic_path, write_text

if TYPE_CHECKING:
    import pandas as pd


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


def max_box_acc_cells(m: dict, with_thresholds: bool = False) -> dict:
    """The MaxBoxAcc@IoU cells (percent) of a metrics JSON, one per IoU of its evaluate_wsol.maxboxacc_iou (and each
    IoU's best threshold when asked), in IoU order."""
    ious = sorted(int(k.split("@")[1]) for k in m if k.startswith("MaxBoxAcc@"))
    cells = {f"MaxBoxAcc@{i}": pct(m[f"MaxBoxAcc@{i}"]) for i in ious}
    if with_thresholds:
        cells.update({f"best threshold@{i}": m[f"best_threshold@{i}"] for i in ious})
    return cells


def columns_with(columns: list[str], before: str, rows: list[dict], prefix: str) -> list[str]:
    """`columns` with every key of `rows` starting with `prefix` (in order of appearance) inserted before `before`."""
    extra = list(dict.fromkeys(k for r in rows for k in r if k.startswith(prefix)))
    i = columns.index(before)
    return columns[:i] + extra + columns[i:]


def table_frame(rows: list[dict], columns: list[str], numeric: list[str], decimals: int,
                sort_by: list[str] | None = None) -> pd.DataFrame:
    """Rows -> a DataFrame with `columns` (sorted by `sort_by`, stable), the `numeric` columns rounded to
    `decimals`."""
    import pandas as pd

    if not rows:
        raise ValueError("no rows (no active experiment produces this table; see config.yaml)")
    table = pd.DataFrame(rows, columns=columns)
    if sort_by:
        table = table.sort_values(sort_by, na_position="last", kind="stable")
    table[numeric] = table[numeric].astype(float).round(decimals)
    if "images" in table:
        table["images"] = table["images"].astype("Int64")
    return table.reset_index(drop=True)


def write_frame(table: pd.DataFrame, out: str | Path, title: str, note: str, decimals: int) -> pd.DataFrame:
    """A table as CSV at `out` and as Markdown (with `title` and `note`) next to it (.md)."""
    if Path(out).suffix.lower() == ".md":  # the CSV and its Markdown rendering would be one file
        raise ValueError(f"--out {out}: the table's Markdown rendering is written next to the CSV as .md; give a "
                         ".csv name")
    out = Path(out)
    write_text(table.to_csv(index=False), out)
    shown = table.astype(object).where(table.notna(), "")
    markdown = shown.to_markdown(index=False, floatfmt=f".{decimals}f")
    write_text(f"# {title}\n\n{note}\n\n{markdown}\n", out.with_suffix(".md"))
    print(table.to_string(index=False))
    return table


def add_manifest_args(parser, settings: bool = True) -> None:
    """The flags of a table stage: --manifest (the JSON of its rows the workflow writes, c2am.tables), the tables
    settings (--decimals) and --out (the CSV; the Markdown goes next to it)."""
    from .cli import add_settings
    from .settings import TableSettings

    parser.add_argument("--manifest", required=True,
                        help='JSON {"rows": [{FIELD: VALUE, ...}, ...]}: one object per row (fields: see above)')
    if settings:
        add_settings(parser, TableSettings)
    parser.add_argument("--out", required=True)


class WsssColumn:
    """Column names of Tables 4-5: the CAMs and each refinement of them."""

    CAMS = "CAMs"
    CRF = {"crf_label": "+dCRF", "crf_softmax": "+dCRF (softmax)"}
    C2AM_RAW = "+C2AM (raw 1-P)"
    C2AM = "+C2AM"

    @staticmethod
    def saliency(label: str) -> str:
        return f"+saliency ({label})"


def save_figure(fig, out: str | Path, title: str, dpi: int = 90) -> None:
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    top = 1 - 0.4 / fig.get_figheight()  # keep the title clear of the first row's titles
    fig.tight_layout(rect=(0, 0, 1, top))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
