"""Saving matplotlib figures the pipeline's way: titled, tight, written atomically."""

from __future__ import annotations

from pathlib import Path

from .io import atomic_path


def save_figure(fig, out: str | Path, title: str, dpi: int = 90) -> None:
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    top = 1 - 0.4 / fig.get_figheight()  # keep the title clear of the first row's titles
    fig.tight_layout(rect=(0, 0, 1, top))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
