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
        the composition-level properties.
    """
    import pandas as pd
    from pymatgen.core import Composition

    from matscreen.featurize.engine import ERROR_COLUMN, featurize
    from matscreen.screening.properties import capacities_mAh_g, cost_usd_per_kg, mn3_fraction

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
    for i, row in enumerate(rows):
        values = [np.nan] * 4
        if errors[i] is None:
            try:
                comp = Composition(row["formula"])
                li_cap, redox_cap = capacities_mAh_g(comp)
                values = [cost_usd_per_kg(comp.reduced_formula), li_cap, redox_cap,
                          mn3_fraction(comp)]  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - reported per row
                errors[i] = f"properties: {type(exc).__name__}: {exc}"
        for key, value in zip(props, values, strict=True):
            props[key].append(value)

    out = pd.DataFrame({"id": [r["id"] for r in rows]})
    out["status"] = ["ok" if e is None else "failed" for e in errors]
    out["error"] = errors
    out = pd.concat([out, feats.reset_index(drop=True), pd.DataFrame(props)], axis=1)
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
