"""The HTML report of a screening run: summary, top candidates, plots, failures."""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from matscreen.core.io import atomic_write_text
from matscreen.report.plots import feature_histograms, pareto_scatter

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

    from matscreen.core.config import WorkflowConfig

ELECTROLYTE_PLOTS = [
    "log10_sigma", "log10_sigma_std", "descriptor_score", "bottleneck_radius_mean",
    "li_li_nn_mean", "free_volume_fraction", "volume_per_anion", "bvse_barrier_3d",
    "cost_usd_per_kg",
]  # fmt: skip
CATHODE_PLOTS = [
    "voltage", "energy_density_Wh_kg", "capacity_redox_mAh_g", "mn3_fraction",
    "cost_usd_per_kg", "density", "vpa", "bond_distortion_mean", "descriptor_score",
]  # fmt: skip
TOP_COLUMNS_ELECTROLYTE = [
    "id", "formula", "prototype", "pareto_rank", "log10_sigma", "log10_sigma_std",
    "sigma_out_of_domain", "bvse_barrier_3d", "descriptor_score", "bottleneck_radius_mean",
    "cost_usd_per_kg",
]  # fmt: skip
TOP_COLUMNS_CATHODE = [
    "id", "formula", "prototype", "pareto_rank", "voltage", "voltage_std",
    "capacity_redox_mAh_g", "energy_density_Wh_kg", "mn3_fraction", "cost_usd_per_kg",
]  # fmt: skip
PHYSICS_COLUMNS_REPORT = [
    "id", "formula", "physics_status", "mlip", "e_above_hull", "hull_complete", "decomposition",
    "window_low_V", "window_high_V", "moisture_reaction_eV_atom", "cathode_reaction_eV_atom",
    "relax_converged", "relax_volume_change", "physics_error", "physics_note",
]  # fmt: skip
PHYSICS_NOTE = (
    "Relaxed with the MLIP (cell and positions) and placed on the convex hull of the reference "
    "phases relaxed with the same MLIP (per-element MLIP-to-DFT shift fitted on the shipped MP "
    "entries). <b>hull_complete = False</b>: an element of the candidate is in no reference "
    "compound, or its decomposition leaves a cation as the element (hull_missing names them), so "
    "competing phases are missing and e_above_hull (eV/atom) is only a lower bound. "
    "Windows in V vs Li/Li+; reaction energies in eV/atom of the mixture (with H2O, with LiMn2O4)."
)

MD_COLUMNS_REPORT = [
    "id", "formula", "md_status", "md_activation_energy_eV", "md_log10_sigma_300K",
    "md_temperatures_K", "md_diffusivities_cm2_s", "log10_sigma", "bvse_barrier_3d", "md_error",
    "md_note",
]  # fmt: skip
MD_NOTE = (
    "Li transport from NVT molecular dynamics with the MLIP at the temperatures listed (relaxed "
    "structure, cell of 40 or more atoms): tracer diffusivities (cm2/s), their Arrhenius "
    "activation energy (eV) and the Nernst-Einstein conductivity extrapolated to 300 K "
    "(log10 S/cm, Haven ratio 1), next to the surrogate's log10_sigma. Runs of a few ps give "
    "rough numbers; a run without Li hops is reported as such, not extrapolated."
)

SCORE_NOTE = {
    True: (
        "<b>log10_sigma</b> is the room-temperature Li conductivity (log10 S/cm) predicted by the "
        "conductivity surrogate trained on OBELiX (test MAE 1.2 log10 units; it "
        "underestimates Li3MX6 halides, which are rare in its training data), with its "
        "calibrated std; <b>sigma_out_of_domain</b> flags compositions far from the training "
        "data. The <b>descriptor score</b> is transparent geometry, not ML: the mean percentile "
        "of Li-Li bottleneck radius (larger better), Li-network dimensionality (larger), nearest "
        "Li-Li distance (shorter), free-volume fraction (larger) and Li fraction (larger). The "
        "BVSE stage takes the top candidates by the mean of the two. Pareto objectives: "
        "log10_sigma (max), raw-element cost (min), BVSE Li barrier (min; candidates outside the "
        "BVSE stage rank behind every computed barrier)."
    ),
    False: (
        "<b>voltage</b> is the average voltage (V vs Li/Li+) predicted by the composition-level "
        "voltage surrogate (trained on Materials Project insertion electrodes) between the "
        "candidate and its delithiated form (<b>formula_charged</b>: Li removed as far as the "
        "transition metals can be oxidized); <b>energy_density_Wh_kg</b> is voltage times the "
        "redox-limited capacity. Pareto objectives: energy density (max; no redox capacity "
        "counts as zero), Mn3+ fraction (min; Jahn-Teller / dissolution risk) and raw-element "
        "cost (min). The descriptor score is the mean percentile of redox-limited capacity, "
        "Mn3+ fraction and cost."
    ),
}


def _img(make: Callable[[], bytes], alt: str) -> str:
    """Embed a plot; a plot that fails is reported in its place, never fatal."""
    try:
        png = make()
    except Exception as exc:  # noqa: BLE001 - a report without one plot beats no report
        logger.warning("plot %r failed: %s", alt, exc)
        return f"<p>(plot {html.escape(alt)} unavailable: {html.escape(str(exc))})</p>"
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="t",
                         na_rep="")  # fmt: skip


def physics_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Return the physics-checked rows, lowest e_above_hull first, lower bounds last.

    A row whose hull lacks competing phases (``hull_complete`` False) has only
    a lower bound of e_above_hull, often far below zero; ranked among the
    others it would head the table, so such rows follow them.
    """
    from matscreen.physics.checks import incomplete_hull_mask

    checked = results[results["physics_status"].notna()]
    lower = incomplete_hull_mask(checked.get("hull_complete", [None] * len(checked)))
    order = checked.assign(_lower=lower).sort_values(["_lower", "e_above_hull"], na_position="last")
    return order.drop(columns="_lower")


def write_report(results: pd.DataFrame, cfg: WorkflowConfig, path: str | Path) -> Path:
    """Write the run's HTML report (self-contained: plots are embedded PNGs).

    Parameters
    ----------
    results
        The results table of :func:`matscreen.screening.run.screen`.
    cfg
        The workflow that produced it.
    path
        Output file, written atomically.
    """
    import pandas as pd

    electrolyte = cfg.is_electrolyte
    ok = results[results["status"] == "ok"]
    summary = (
        results.groupby(["prototype", "status"], dropna=False)
        .size()
        .unstack(fill_value=0)
        .reset_index()
    )
    if len(ok):
        key = "log10_sigma" if electrolyte else "energy_density_Wh_kg"
        best = ok.groupby("prototype")[key].agg(["mean", "max"]).reset_index()
        best.columns = ["prototype", f"mean {key}", f"best {key}"]
        summary = summary.merge(best, on="prototype", how="left")
    top_cols = TOP_COLUMNS_ELECTROLYTE if electrolyte else TOP_COLUMNS_CATHODE
    key = "log10_sigma" if electrolyte else "energy_density_Wh_kg"
    top = ok.sort_values(["pareto_rank", key], ascending=[True, False]).head(cfg.report.top_n)[
        [c for c in top_cols if c in ok.columns]
    ]
    failed = results[results["status"] != "ok"][["id", "formula", "status", "error"]]
    flagged = int(ok["sigma_out_of_domain"].fillna(False).sum()) if electrolyte else 0
    counts = results["status"].value_counts().to_dict()

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>matscreen: {html.escape(cfg.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
        "table.t{border-collapse:collapse;font-size:0.85em}"
        "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "img{max-width:100%}.note{background:#fff6d8;padding:0.6em;border-radius:4px}</style>",
        "</head><body>",
        f"<h1>Screening run: {html.escape(cfg.name)}</h1>",
        f"<p>Family <b>{cfg.family}</b>, seed {cfg.seed}. {html.escape(cfg.description)}</p>",
        "<p>Candidates: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + "</p>",
        f"<p class='note'>{SCORE_NOTE[electrolyte]}</p>",
        (
            f"<p>{flagged} ok candidates are outside the conductivity model's training domain.</p>"
            if electrolyte
            else ""
        ),
        "<h2>Summary per prototype</h2>",
        _table(summary),
        f"<h2>Top {len(top)} candidates</h2>",
        _table(top),
    ]
    if "physics_status" in results.columns and results["physics_status"].notna().any():
        checked = physics_rows(results)
        parts += [
            f"<h2>Physics checks ({len(checked)} candidates)</h2>",
            f"<p class='note'>{PHYSICS_NOTE}</p>",
            _table(checked[[c for c in PHYSICS_COLUMNS_REPORT if c in checked.columns]]),
        ]
    if "md_status" in results.columns and results["md_status"].notna().any():
        ran = results[results["md_status"].notna()]
        parts += [
            f"<h2>Li transport by MLIP MD ({len(ran)} candidates)</h2>",
            f"<p class='note'>{MD_NOTE}</p>",
            _table(ran[[c for c in MD_COLUMNS_REPORT if c in ran.columns]]),
        ]
    if len(ok):
        x, y = ("log10_sigma", "cost_usd_per_kg")
        if not electrolyte:
            x, y = ("energy_density_Wh_kg", "mn3_fraction")
        parts += [
            "<h2>Pareto front</h2>",
            _img(lambda: pareto_scatter(results, x, y), "Pareto front"),
        ]
        if electrolyte and ok["bvse_barrier_3d"].notna().any():
            label = "BVSE Li barrier, 3D (eV)"
            parts.append(
                _img(lambda: pareto_scatter(results, x, "bvse_barrier_3d", y_label=label), "BVSE")
            )
        plots = ELECTROLYTE_PLOTS if electrolyte else CATHODE_PLOTS
        parts += ["<h2>Descriptor distributions (ok candidates)</h2>",
                  _img(lambda: feature_histograms(ok, plots), "feature distributions")]  # fmt: skip
    parts += [f"<h2>Failed or filtered ({len(failed)})</h2>",
              _table(failed) if len(failed) else "<p>none</p>", "</body></html>"]  # fmt: skip
    _ = pd  # imported for type checkers; tables come from pandas
    return atomic_write_text(path, "\n".join(parts))
