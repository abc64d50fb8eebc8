"""The design report: Pareto front of each round and the proposals table (HTML)."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from matscreen.design.config import DesignConfig

LOG = logging.getLogger(__name__)

__all__ = ["pareto_by_round_png", "write_report"]

_COLUMNS = {"stability": "e_above_hull", "bvse": "bvse_barrier",
            "conductivity": "log10_sigma_model", "voltage": "voltage_model",
            "capacity": "capacity_mAh_g", "mn3": "mn3_fraction",
            "cost": "cost_usd_per_kg"}  # fmt: skip
_MAXIMIZE = {"stability": False, "bvse": False, "conductivity": True, "voltage": True,
             "capacity": True, "mn3": False, "cost": False}  # fmt: skip


def _axes(table: pd.DataFrame, config: DesignConfig) -> list[str]:
    kinds = [o.kind for o in config.objectives]
    cols = [_COLUMNS[k] for k in kinds if _COLUMNS[k] in table and table[_COLUMNS[k]].notna().any()]
    return cols[:2] if len(cols) >= 2 else (cols + ["acquisition"])[:2]


def pareto_by_round_png(table: pd.DataFrame, config: DesignConfig) -> bytes:
    """Two objectives of the evaluated proposals, each round's Pareto front drawn as a line."""
    from matscreen.report.plots import _png, _pyplot
    from matscreen.screening.pareto import pareto_rank

    plt = _pyplot()
    x, y = _axes(table, config)
    if "hull_complete" in table and "e_above_hull" in (x, y):  # lower bounds are no points
        from matscreen.physics.checks import incomplete_hull_mask

        table = table.copy()
        table.loc[incomplete_hull_mask(table["hull_complete"]), "e_above_hull"] = np.nan
    inv = {v: k for k, v in _COLUMNS.items()}
    maximize = [_MAXIMIZE.get(inv.get(c, ""), True) for c in (x, y)]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    cmap = plt.get_cmap("viridis")
    rounds = sorted(table["round"].unique())
    for i, rnd in enumerate(rounds):
        sub = table[(table["round"] <= rnd)][[x, y]].astype(float).dropna()
        color = cmap(i / max(1, len(rounds) - 1))
        cur = table[table["round"] == rnd][[x, y]].astype(float).dropna()
        ax.scatter(cur[x], cur[y], s=18, color=color, label=f"round {rnd}")
        if len(sub):
            ranks = pareto_rank(sub.to_numpy(), maximize)
            front = sub[ranks == 1].sort_values(x)
            ax.plot(front[x], front[y], "-", color=color, lw=1.2)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    ax.set_title("Pareto front after each round (lines)")
    fig.tight_layout()
    return _png(fig)


def _seconds(value: float) -> str:
    """Format a round's wall time (rounds kept from an interrupted run have none)."""
    return f"{value:.1f}" if np.isfinite(value) else "earlier run"


def write_report(
    out: Path, table: pd.DataFrame, config: DesignConfig, history: list[dict[str, Any]]
) -> Path:
    """Write ``out/report.html`` (atomic) and return its path."""
    from matscreen.core.io import atomic_write_text

    try:
        png = pareto_by_round_png(table, config)
        img = f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    except Exception as exc:  # noqa: BLE001 - a report without its plot is still a report
        LOG.warning("Pareto plot failed: %s", exc)
        img = f"<p>(plot failed: {html.escape(str(exc))})</p>"
    hidden = ("structure", "substitution", "design_point", "rng_state")  # for machines
    shown = [c for c in table.columns if c not in hidden]
    body = table[shown].copy()
    for c in body.columns:
        if body[c].dtype.kind == "f":
            body[c] = body[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.4g}")
    rounds = "".join(
        f"<tr><td>{h['round']}</td><td>{h['n']}</td><td>{h['n_pass']}</td>"
        f"<td>{_seconds(h['seconds'])}</td></tr>"
        for h in history
    )
    n_pass = int((table["verdict"] == "pass").sum())
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>matscreen design: {html.escape(config.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>
<h1>Inverse design: {html.escape(config.name)}</h1>
<p>{html.escape(config.description)}</p>
<p>{len(table)} proposals evaluated, {n_pass} pass every bound (verdict "pass").</p>
<h2>Rounds</h2><table><tr><th>round</th><th>proposals</th><th>pass</th><th>seconds</th></tr>
{rounds}</table>
<h2>Pareto front per round</h2>{img}
<h2>Proposals</h2>{body.to_html(index=False, escape=True)}
</body></html>"""
    return atomic_write_text(Path(out) / "report.html", doc)
