"""Matplotlib figures for the report, returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def _png(fig) -> bytes:  # noqa: ANN001 - matplotlib Figure
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def feature_histograms(
    table: pd.DataFrame, columns: Sequence[str], *, by: str = "prototype"
) -> bytes:
    """Histograms of descriptors over ``ok`` rows, stacked by ``by`` (e.g. prototype)."""
    plt = _pyplot()
    cols = [c for c in columns if c in table.columns and table[c].notna().any()]
    n = max(len(cols), 1)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    groups = sorted(table[by].dropna().unique()) if by in table.columns else []
    for ax, col in zip(axes.flat, cols, strict=False):
        data = [table.loc[table[by] == g, col].dropna().to_numpy() for g in groups] or [
            table[col].dropna().to_numpy()
        ]
        combined = np.concatenate(data) if data else np.array([])
        lo, hi = (combined.min(), combined.max()) if combined.size else (0.0, 1.0)
        if not hi - lo > 1e-9 * max(1.0, abs(hi)):
            lo, hi = lo - 0.5, hi + 0.5  # constant data: one visible bar
        edges = np.linspace(lo, hi, 21)
        ax.hist(data, bins=edges, stacked=True, label=groups or None)
        ax.set_xlabel(col)
        ax.set_ylabel("candidates")
    for ax in list(axes.flat)[len(cols) :]:
        ax.axis("off")
    if groups:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def pareto_scatter(
    table: pd.DataFrame, x: str, y: str, *, x_label: str | None = None, y_label: str | None = None
) -> bytes:
    """Scatter of two objectives, first Pareto front highlighted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    ranked = table[(table["pareto_rank"].fillna(0) > 0) & table[x].notna() & table[y].notna()]
    front = ranked[ranked["pareto_rank"] == 1]
    rest = ranked[ranked["pareto_rank"] > 1]
    ax.scatter(rest[x], rest[y], s=12, c="0.6", label="dominated")
    ax.scatter(front[x], front[y], s=30, c="tab:red", label="Pareto front (rank 1)")
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(y_label or y)
    ax.legend()
    fig.tight_layout()
    return _png(fig)
