"""Saving matplotlib figures the pipeline's way: titled, tight, written atomically."""

from __future__ import annotations

from pathlib import Path

from .io import atomic_path


def save_figure(fig, out: str | Path, title: str, dpi: int = 90) -> None:
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
