"""Progress bars of long loops (tqdm on stderr; sparse updates when stderr is a log file, not a terminal)."""

from __future__ import annotations

import sys


def progress_bar(iterable, total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(iterable, total=total, disable=not enabled, leave=False, desc=desc, file=sys.stderr,
                mininterval=1 if sys.stderr.isatty() else 15)
