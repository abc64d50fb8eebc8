"""The per-chunk work of a screening run (what each Dask task executes).

Each function takes plain rows (dicts with the structure as a JSON string) and
returns a DataFrame, so tasks pickle cheaply and never share state. A row that
fails keeps its ``id`` and gets ``status="failed"`` with the reason in
``error``; the other rows of the chunk are unaffected.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.core.io import structure_from_json

if TYPE_CHECKING:
    import pandas as pd

    from matscreen.featurize.base import BatchFeaturizer

logger = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def first_stage_featurizers(
    composition: bool = True, structure: bool = True, transport: bool = True
) -> tuple[BatchFeaturizer, ...]:
    """Return the cheap featurizers of the first stage."""
    from matscreen.featurize.composition import default_composition_featurizers
    from matscreen.featurize.structure import (
        CoordinationStatistics,
        DensityFeaturesFast,
        SymmetryFeatures,
    )
    from matscreen.featurize.transport import LiTransportFeatures

    fs: list[BatchFeaturizer] = []
    if composition:
        fs += default_composition_featurizers()
    if structure:
        fs += [DensityFeaturesFast(), SymmetryFeatures(), CoordinationStatistics()]
    if transport:
        fs.append(LiTransportFeatures())
    return tuple(fs)


def _read_structures(rows: list[dict[str, Any]]) -> tuple[list[Any], list[str | None]]:
    structures, errors = [], []
    for row in rows:
        if row.get("status", "ok") != "ok":
            structures.append(None)
            errors.append(row.get("error") or "failed before featurization")
            continue
        try:
            s = structure_from_json(row.get("structure"))
            if s is None:
                raise ValueError("no structure")
            structures.append(s)
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - reported per row
            structures.append(None)
            errors.append(f"unreadable structure: {type(exc).__name__}: {exc}")
    return structures, errors


def featurize_stage(rows: list[dict[str, Any]], options: dict[str, Any]) -> pd.DataFrame:
    """First stage: features, composition properties and row status for one chunk.

    Parameters
    ----------
    rows
        Candidate rows (``id``, ``formula``, ``status``, ``error``, ``structure`` JSON).
    options
        ``composition``/``structure``/``transport`` switches, ``cache_dir``,
        ``family``.

    Returns
    -------
    pandas.DataFrame
        One row per input row: ``id``, ``status``, ``error``, the features and
        the composition-level properties (raw-element cost; capacities and Mn3+
        fraction for cathodes, NaN for electrolytes).
    """
    import pandas as pd
    from pymatgen.core import Composition

    from matscreen.featurize.engine import ERROR_COLUMN, featurize
    from matscreen.physics.voltage import mn3_fraction
    from matscreen.screening.properties import capacities_mAh_g, cost_usd_per_kg

    structures, errors = _read_structures(rows)
    fs = first_stage_featurizers(
        options.get("composition", True), options.get("structure", True),
        options.get("transport", True),
    )  # fmt: skip
    ok_idx = [i for i, s in enumerate(structures) if s is not None]
    labels = [label for f in fs for label in f.feature_labels()]
    feats = pd.DataFrame(np.nan, index=range(len(rows)), columns=labels)
    if ok_idx:
        table = featurize([structures[i] for i in ok_idx], fs, cache_dir=options.get("cache_dir"))
        feats.iloc[ok_idx] = table[labels].to_numpy()
        for j, i in enumerate(ok_idx):
            err = table[ERROR_COLUMN].iloc[j]
            if err is not None and err == err:
                errors[i] = str(err)

    props: dict[str, list[float]] = {
        "cost_usd_per_kg": [], "capacity_li_mAh_g": [], "capacity_redox_mAh_g": [],
        "mn3_fraction": [],
    }  # fmt: skip
    family = options.get("family", "")
    electrolyte = family.endswith("electrolyte")
    for i, row in enumerate(rows):
        values = [np.nan] * 4
        if errors[i] is None:
            try:
                comp = Composition(row["formula"])
                values[0] = cost_usd_per_kg(comp.reduced_formula)
                if not electrolyte:  # capacities and Mn3+ mean nothing for an electrolyte
                    values[1:3] = capacities_mAh_g(comp)
                    values[3] = mn3_fraction(comp) or 0.0  # no Mn: no Mn3+
            except Exception as exc:  # noqa: BLE001 - reported per row
                errors[i] = f"properties: {type(exc).__name__}: {exc}"
        for key, value in zip(props, values, strict=True):
            props[key].append(value)

    if electrolyte:
        predictions = _conductivity(rows, structures, errors)
    else:
        predictions = _cathode_voltage(rows, errors, props)
    out = pd.DataFrame({"id": [r["id"] for r in rows]})
    out["status"] = ["ok" if e is None else "failed" for e in errors]
    out["error"] = errors
    out = pd.concat([out, feats.reset_index(drop=True), pd.DataFrame(props), predictions], axis=1)
    return out


CONDUCTIVITY_COLUMNS = ("log10_sigma", "log10_sigma_std", "sigma_out_of_domain",
                        "sigma_domain_distance")  # fmt: skip


def _conductivity(
    rows: list[dict[str, Any]], structures: list[Any], errors: list[str | None]
) -> pd.DataFrame:
    """Conductivity surrogate for the rows still ok; a failed prediction fails the row."""
    import pandas as pd

    from matscreen.surrogates.conductivity import predict_conductivity_table

    values: dict[str, list[Any]] = {c: [np.nan] * len(rows) for c in CONDUCTIVITY_COLUMNS}
    values["sigma_out_of_domain"] = [None] * len(rows)
    values["sigma_note"] = [None] * len(rows)  # why a prediction is an extrapolation
    idx = [i for i, e in enumerate(errors) if e is None]
    if idx:
        table = pd.DataFrame(
            {
                "formula": [rows[i]["formula"] for i in idx],
                "structure": [structures[i] for i in idx],
            }
        )
        predicted = predict_conductivity_table(table)
        for j, i in enumerate(idx):
            if predicted["status"].iloc[j] != "ok":
                errors[i] = f"conductivity: {predicted['error'].iloc[j]}"
                continue
            for column in CONDUCTIVITY_COLUMNS:
                values[column][i] = predicted[column].iloc[j]
            values["sigma_note"][i] = predicted["result_note"].iloc[j]
    out = pd.DataFrame(values)
    out["sigma_out_of_domain"] = out["sigma_out_of_domain"].astype("boolean")
    return out


def delithiated_formula(formula: str, n_li_removed: float) -> str | None:
    """Return the charged (delithiated) composition, or None if no Li can be removed."""
    from pymatgen.core import Composition

    if not n_li_removed > 1e-9:
        return None
    amounts = Composition(formula).get_el_amt_dict()
    amounts["Li"] = amounts.get("Li", 0.0) - n_li_removed
    if amounts["Li"] < 1e-9:
        amounts.pop("Li")
    return Composition(amounts).formula.replace(" ", "")


def _cathode_voltage(
    rows: list[dict[str, Any]], errors: list[str | None], props: dict[str, list[float]]
) -> pd.DataFrame:
    """Voltage surrogate on (delithiated, lithiated) pairs; energy density from it.

    The charged state removes as much Li as the transition metals can be
    oxidized for (the redox-limited capacity); a candidate with no redox
    capacity gets no voltage (NaN) but stays ``ok``, with the reason in
    ``voltage_note``, which also names a pair the surrogate extrapolates to.
    """
    import pandas as pd
    from pymatgen.core import Composition

    from matscreen.physics.voltage import default_voltage_surrogate

    out = pd.DataFrame(
        np.nan, index=range(len(rows)),
        columns=["formula_charged", "voltage", "voltage_std", "energy_density_Wh_kg"],
    )  # fmt: skip
    out["formula_charged"] = None
    out["voltage_note"] = None
    pairs: list[tuple[int, str, str]] = []
    for i, row in enumerate(rows):
        if errors[i] is not None:
            continue
        comp = Composition(row["formula"])
        li_cap = props["capacity_li_mAh_g"][i]
        redox = props["capacity_redox_mAh_g"][i]
        n_removed = comp.get_el_amt_dict().get("Li", 0.0) * (redox / li_cap if li_cap else 0.0)
        charged = delithiated_formula(row["formula"], n_removed)
        if charged is not None:
            pairs.append((i, charged, row["formula"]))
        else:
            out.loc[i, "voltage_note"] = (
                "no redox capacity: no metal here can be oxidised further, so no charged "
                "state and no voltage"
            )
    if pairs:
        model = default_voltage_surrogate()
        given = [(c, d) for _, c, d in pairs]
        mean, std = model.predict(given, return_std=True)
        notes = model.domain_notes(given)
        for (i, charged, _), v, s, note in zip(pairs, mean, std, notes, strict=True):
            out.loc[i, ["voltage", "voltage_std"]] = [v, s]
            out.loc[i, "voltage_note"] = note
            out.loc[i, "formula_charged"] = charged
            out.loc[i, "energy_density_Wh_kg"] = v * props["capacity_redox_mAh_g"][i]
    return out


def bvse_stage(rows: list[dict[str, Any]], options: dict[str, Any]) -> pd.DataFrame:
    """Second stage (electrolytes): BVSE Li barriers for one chunk of survivors.

    Returns ``id``, ``bvse_barrier_1d/2d/3d`` (eV) and ``bvse_error``.
    """
    import pandas as pd

    from matscreen.featurize.engine import ERROR_COLUMN, featurize
    from matscreen.featurize.transport import BVSEBarrier

    structures, errors = _read_structures(rows)
    f = BVSEBarrier(resolution=float(options.get("bvse_resolution", 0.3)))
    ok_idx = [i for i, s in enumerate(structures) if s is not None]
    values = np.full((len(rows), 3), np.nan)
    if ok_idx:
        table = featurize([structures[i] for i in ok_idx], [f], cache_dir=options.get("cache_dir"))
        values[ok_idx] = table[f.feature_labels()].to_numpy()
        for j, i in enumerate(ok_idx):
            err = table[ERROR_COLUMN].iloc[j]
            if err is not None and err == err:
                errors[i] = str(err)
    out = pd.DataFrame(values, columns=f.feature_labels())
    out.insert(0, "id", [r["id"] for r in rows])
    out["bvse_error"] = errors
    return out


def physics_stage(rows: list[dict[str, Any]], options: dict[str, Any]) -> pd.DataFrame:
    """Third stage: MLIP relaxation, hull, window and reactivity for one chunk of survivors.

    Options: ``calculator``, ``electrolyte`` (bool), ``fmax``, ``steps``, ``device``
    (``auto``/``cpu``/``cuda``). A chunk of several CHGNet candidates is relaxed together
    (:func:`matscreen.physics.relax.batched_relax`: one vectorised pass over all
    unconverged cells per step, the same FIRE per cell), each kept on disk and reused
    by a later run (:func:`matscreen.physics.relax_cache.cached_relax_together`); the
    rest of the checks run per candidate. Returns ``id`` and the
    :data:`matscreen.physics.checks.PHYSICS_COLUMNS`.
    """
    import pandas as pd

    from matscreen.core.devices import resolve_device
    from matscreen.physics.checks import PHYSICS_COLUMNS, physics_checks

    calculator = options.get("calculator", "chgnet")
    fmax, steps = float(options.get("fmax", 0.05)), int(options.get("steps", 300))
    device = resolve_device(options.get("device", "cpu"), fallback=True)
    structures, errors = _read_structures(rows)
    valid = [i for i, s in enumerate(structures) if s is not None]
    relaxed: dict[int, Any] = {}
    if len(valid) > 1:
        from matscreen.physics.relax_cache import cached_relax_together

        recs = cached_relax_together(
            [structures[i] for i in valid], calculator, fmax=fmax, steps=steps, device=device
        )
        relaxed = dict(zip(valid, recs, strict=True))
    records = []
    for i, (row, structure, error) in enumerate(zip(rows, structures, errors, strict=True)):
        if structure is None:
            rec: dict[str, Any] = dict.fromkeys(PHYSICS_COLUMNS)
            rec.update(physics_status="failed", physics_error=error, hull_complete=False)
        else:
            rec = physics_checks(
                structure,
                calculator,
                electrolyte=bool(options.get("electrolyte", True)),
                fmax=fmax,
                steps=steps,
                device=device,
                relaxed=relaxed.get(i),
            )
        records.append({"id": row["id"], **rec})
    return pd.DataFrame.from_records(records, columns=["id", *PHYSICS_COLUMNS])


#: Columns of the MD stage (:func:`md_stage`).
MD_COLUMNS = [
    "md_status", "md_error", "md_activation_energy_eV", "md_log10_sigma_300K",
    "md_temperatures_K", "md_diffusivities_cm2_s", "md_temperatures_fitted_K", "md_note",
]  # fmt: skip
MD_NUMERIC = ["md_activation_energy_eV", "md_log10_sigma_300K"]


def md_stage(rows: list[dict[str, Any]], options: dict[str, Any]) -> pd.DataFrame:
    """Fourth stage (electrolytes, optional): Li transport by MLIP MD for one chunk.

    Options: ``calculator``, ``temperatures`` (K), ``time_ps``, ``device``, ``seed``.
    Returns ``id`` and :data:`MD_COLUMNS`; diffusivities are ``;``-joined per temperature.
    """
    import pandas as pd

    from matscreen.core.devices import resolve_device
    from matscreen.physics.diffusion import li_transport

    device = resolve_device(options.get("device", "cpu"), fallback=True)
    structures, errors = _read_structures(rows)
    records = []
    for row, structure, error in zip(rows, structures, errors, strict=True):
        rec: dict[str, Any] = dict.fromkeys(MD_COLUMNS)
        if structure is None:
            rec.update(md_status="failed", md_error=error)
        else:
            est = li_transport(
                structure,
                options.get("temperatures", (700.0, 900.0, 1100.0)),
                options.get("calculator", "chgnet"),
                time_ps=float(options.get("time_ps", 5.0)),
                device=device,
                seed=int(options.get("seed", 0)),
            )
            rec.update(
                md_status=est.status,
                md_error=est.error,
                md_activation_energy_eV=est.activation_energy_eV,
                md_log10_sigma_300K=est.log10_sigma_300K,
                md_temperatures_K=";".join(f"{r.temperature_K:g}" for r in est.runs),
                md_diffusivities_cm2_s=";".join(
                    "nan" if r.diffusivity_cm2_s is None else f"{r.diffusivity_cm2_s:.4g}"
                    for r in est.runs
                ),
                md_temperatures_fitted_K=";".join(f"{t:g}" for t in est.temperatures_fitted_K),
                md_note=est.note,
            )
        records.append({"id": row["id"], **rec})
    return pd.DataFrame.from_records(records, columns=["id", *MD_COLUMNS])
