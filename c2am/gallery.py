"""The HTML gallery of a predict folder (index.html): one row per photo with its preview (the photo, the mask's
outline and the box) and its mask, sortable by foreground fraction or name, with empty maps and (nearly) empty
masks flagged. It links the files beside it (previews/..., masks/...), so the folder can be moved or copied as a
whole; images load lazily, so a folder of 20,000 photos opens at once."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote

import pandas as pd

NEARLY_EMPTY = 0.01  # a mask covering less than 1 % of its photo is flagged (and counted by predict's warning)

_STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:middle}
th{cursor:pointer;text-align:left;background:#f4f4f4;position:sticky;top:0}th:hover{background:#e4e4e4}
pre{white-space:pre-wrap}img{max-height:180px;max-width:320px;display:block}.mask{background:#000}.flag{font-weight:600;color:#b00}
.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em -.15em 1em}"""

# rows start sorted by foreground, ascending (the failures first): the first click on that column reverses it
_SCRIPT = """const body=document.querySelector('tbody');let order={fg:true};
function sortBy(key,numeric){order[key]=!order[key];const rows=[...body.rows];
rows.sort((a,b)=>{const x=a.dataset[key],y=b.dataset[key];
const c=numeric?parseFloat(x)-parseFloat(y):x.localeCompare(y);return order[key]?c:-c});
rows.forEach(r=>body.appendChild(r))}"""


def _link(rel: str) -> str:
    return html.escape(quote(rel), quote=True)


def gallery_html(table: pd.DataFrame, summary: dict, previews: bool) -> str:
    """The page for predict's boxes.parquet rows (file, foreground_fraction, empty_map, box) and its summary."""
    rows = []
    for r in table.sort_values("foreground_fraction", kind="stable").itertuples():
        flags = []
        if r.empty_map:
            flags.append("empty map (no contrast)")
        elif r.foreground_fraction < NEARLY_EMPTY:
            flags.append("nearly empty mask")
        name = html.escape(r.file)
        preview = (f'<td><img loading="lazy" src="{_link("previews/" + r.file + ".jpg")}" alt="{name}"></td>'
                   if previews else "")
        rows.append(
            f'<tr data-file="{html.escape(r.file, quote=True)}" data-fg="{r.foreground_fraction:.6f}">{preview}'
            f'<td><img class="mask" loading="lazy" src="{_link("masks/" + r.file + ".png")}" alt="mask of {name}">'
            f'</td><td>{name}</td><td>{100 * r.foreground_fraction:.1f} %</td>'
            f'<td class="flag">{"; ".join(flags)}</td></tr>')
    head = ('<th onclick="sortBy(\'file\',false)">photo: mask outline, box</th>' if previews else "")
    facts = {k: summary[k] for k in ("images", "predicted", "skipped_unreadable", "empty_maps", "nearly_empty_masks",
                                     "size", "scales", "masks", "refine", "device", "seconds") if k in summary}
    warnings = "".join(f'<p class="flag">{html.escape(w)}</p>' for w in summary.get("warnings", []))
    legend = ('<p class="legend">preview:<span style="background:rgb(240,228,66)"></span>mask outline'
              '<span style="background:rgb(86,180,233)"></span>box (of the mask\'s largest region), background '
              'dimmed. Click a column to sort.</p>' if previews else "")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>predict: {len(rows)} photos</title>'
            f'<style>{_STYLE}</style></head><body><h1>Foreground masks of {len(rows)} photos</h1>'
            f'<p>model <code>{html.escape(str(summary.get("model", "")))}</code></p>{warnings}'
            f'<pre>{html.escape(json.dumps(facts))}</pre>{legend}'
            f'<table><thead><tr>{head}<th onclick="sortBy(\'file\',false)">mask</th>'
            f'<th onclick="sortBy(\'file\',false)">file</th><th onclick="sortBy(\'fg\',true)">foreground</th>'
            f'<th>flags</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<script>{_SCRIPT}</script></body></html>\n')


def write_gallery(out_dir: Path, table: pd.DataFrame, summary: dict, previews: bool) -> Path:
    path = Path(out_dir) / "index.html"
    path.write_text(gallery_html(table, summary, previews), encoding="utf-8")
    return path
