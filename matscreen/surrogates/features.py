"""Features for the conductivity surrogates.

Two blocks:

- **composition** (always available): the default matscreen composition
  featurizers (Magpie element statistics, stoichiometry norms, valence
  orbital fractions, ionic character; 148 values) plus the atomic fractions of
  Li and of the common anions and framework cations, which let trees separate
  the structural families (sulfides, halides, phosphates, ...).
- **cell** (when a cell is known): space group number, crystal system,
  lattice parameters, cell volume, volume per atom, per anion and per Li, and
  Li number density. Taken from the explicit columns when given (the OBELiX
  table), else from the structure's conventional standard cell.

Rows whose composition cannot be read get an error string instead of a NaN
feature row being passed on silently.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

#: Elements whose atomic fraction is a feature (Li, anions, common framework cations).
FRACTION_ELEMENTS: tuple[str, ...] = (
    "Li", "O", "S", "Se", "F", "Cl", "Br", "I", "N", "H", "B", "P", "Si", "Ge", "Sn",
    "Al", "Ti", "Zr", "La", "Ta", "Nb", "Y", "In", "Ga",
)  # fmt: skip
ANIONS: frozenset[str] = frozenset({"O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N"})
CELL_LABELS: tuple[str, ...] = (
    "space_group_number", "crystal_system", "a", "b", "c", "alpha", "beta", "gamma",
    "cell_volume", "volume_per_atom", "volume_per_anion", "volume_per_li", "li_density",
)  # fmt: skip


def crystal_system_index(space_group_number: float) -> float:
    """Return 0-6 for triclinic..cubic from an international space-group number."""
    if not 1 <= space_group_number <= 230:
        return float("nan")
    bounds = (2, 15, 74, 142, 167, 194, 230)
    return float(next(i for i, b in enumerate(bounds) if space_group_number <= b))


def composition_block(entries: Sequence[object]) -> tuple[np.ndarray, list[str], list[str | None]]:
    """Composition features of each entry.

    Parameters
    ----------
    entries
        Formula strings, ``Composition`` or ``Structure`` objects.

    Returns
    -------
    values
        ``(n, n_features)``; rows that failed are NaN.
    labels
        Feature names.
    errors
        None per row, or why the row could not be featurized.
    """
    from matscreen.featurize.composition import (
        as_composition,
        default_composition_featurizers,
    )

    errors: list[str | None] = []
    comps: list[Any] = []
    for entry in entries:
        try:
            comp = as_composition(entry)
            errors.append(None)
            comps.append(comp)
        except Exception as exc:  # noqa: BLE001 - reported per row
            errors.append(str(exc))
            comps.append("H")  # placeholder, row is blanked below
    blocks, labels = [], []
    for featurizer in default_composition_featurizers():
        values, errs = featurizer.featurize_batch(comps)
        blocks.append(values)
        labels += featurizer.feature_labels()
        for i, err in enumerate(errs):
            if err is not None and errors[i] is None:
                errors[i] = err
    fractions = np.zeros((len(comps), len(FRACTION_ELEMENTS)))
    for i, comp in enumerate(comps):
        if errors[i] is not None:
            continue
        el_comp = comp.element_composition
        total = el_comp.num_atoms
        for j, symbol in enumerate(FRACTION_ELEMENTS):
            fractions[i, j] = el_comp[symbol] / total
    blocks.append(fractions)
    labels += [f"frac_{s}" for s in FRACTION_ELEMENTS]
    values = np.concatenate(blocks, axis=1)
    bad = np.array([e is not None for e in errors], dtype=bool)
    values[bad] = np.nan
    bad_values = ~np.isfinite(values).all(axis=1) & ~bad
    for i in np.flatnonzero(bad_values):
        errors[i] = "composition features are not finite (element outside the property table)"
        values[i] = np.nan
    return values, labels, errors


def cell_block(inputs: pd.DataFrame) -> np.ndarray:
    """Cell features per row of a :func:`~matscreen.surrogates.inputs.normalize_inputs` table.

    Returns
    -------
    numpy.ndarray
        ``(n, len(CELL_LABELS))``; a row is all NaN where no cell is known
        (no lattice columns and no structure, or a structure that failed).
    """
    from matscreen.surrogates.inputs import LATTICE_COLUMNS

    out = np.full((len(inputs), len(CELL_LABELS)), np.nan)
    lattice = inputs[["space_group_number", *LATTICE_COLUMNS]].to_numpy(dtype=float)
    for i in range(len(inputs)):
        row = inputs.iloc[i]
        cell_formula = row["cell_formula"]
        if np.isfinite(lattice[i]).all() and cell_formula is not None:
            try:
                out[i] = _cell_features_from_table(lattice[i], cell_formula)
                continue
            except Exception as exc:  # noqa: BLE001 - fall back to the structure
                logger.debug("row %d: lattice columns unusable: %s", i, exc)
        if row["structure"] is not None:
            try:
                out[i] = _cell_features_from_structure(row["structure"])
            except Exception as exc:  # noqa: BLE001 - no cell block for this row
                logger.info("row %d: no cell features from structure: %s", i, exc)
    return out


def _cell_features(sg: float, params: np.ndarray, volume: float, comp: Any) -> np.ndarray:
    el = comp.element_composition
    n_atoms = el.num_atoms
    n_anion = sum(amt for e, amt in el.items() if e.symbol in ANIONS)
    n_li = el["Li"]
    return np.array(
        [
            sg,
            crystal_system_index(sg),
            *params,
            volume,
            volume / n_atoms,
            volume / n_anion if n_anion > 0 else np.nan,
            volume / n_li if n_li > 0 else np.nan,
            n_li / volume,
        ]
    )


def _cell_features_from_table(values: np.ndarray, cell_formula: object) -> np.ndarray:
    from pymatgen.core import Composition, Lattice

    sg, params = values[0], values[1:]
    volume = Lattice.from_parameters(*params).volume
    comp = Composition(cell_formula) if isinstance(cell_formula, str) else cell_formula
    feats = _cell_features(sg, params, volume, comp)
    # volume_per_anion / per_li may legitimately be NaN (no anion / no Li)
    return np.nan_to_num(feats, nan=-1.0)


def _cell_features_from_structure(structure: Any) -> np.ndarray:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sg, conv = 1.0, structure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sga = SpacegroupAnalyzer(structure, symprec=0.1)
            sg = float(sga.get_space_group_number())
            conv = sga.get_conventional_standard_structure()
    except Exception as exc:  # noqa: BLE001 - keep P1 and the given cell
        logger.info("symmetry analysis failed (%s); using the cell as given, P1", exc)
    lat = conv.lattice
    params = np.array([lat.a, lat.b, lat.c, lat.alpha, lat.beta, lat.gamma])
    return np.nan_to_num(_cell_features(sg, params, lat.volume, conv.composition), nan=-1.0)
