"""Turn what users pass to a surrogate into one tidy input table.

Surrogates accept formula strings, pymatgen ``Composition`` or ``Structure``
objects, or a DataFrame with a ``formula`` column and optionally
``structure`` (Structure or None), ``space_group_number``, the lattice
parameters ``a, b, c, alpha, beta, gamma`` and ``cell_formula`` (the content
of that cell, needed to turn the cell volume into a volume per atom). The
OBELiX table from :func:`matscreen.datasets.load_obelix` has all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.core.io import is_ase_atoms as _is_atoms

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

LATTICE_COLUMNS: tuple[str, ...] = ("a", "b", "c", "alpha", "beta", "gamma")
INPUT_COLUMNS: tuple[str, ...] = (
    "entry", "structure", "space_group_number", *LATTICE_COLUMNS, "cell_formula",
)  # fmt: skip


def _is_structure(obj: object) -> bool:
    return hasattr(obj, "lattice") and hasattr(obj, "composition")


def normalize_inputs(X: Any) -> pd.DataFrame:
    """Return the inputs as a table with the columns of :data:`INPUT_COLUMNS`.

    Parameters
    ----------
    X
        A sequence of formula strings / ``Composition`` / ``Structure``
        objects (ASE ``Atoms`` are converted), or a DataFrame with a
        ``formula`` column (or a ``structure`` column alone) and the optional
        columns described in the module docstring.

    Returns
    -------
    pandas.DataFrame
        ``entry`` holds what the composition is read from (the structure when
        there is one, else the formula); missing optional values are None/NaN.

    Raises
    ------
    ValueError
        If a DataFrame has neither a ``formula`` nor a ``structure`` column.
    """
    import pandas as pd

    n_rows: int
    if isinstance(X, pd.DataFrame):
        if set(INPUT_COLUMNS) <= set(X.columns):  # already normalized
            return X.loc[:, list(INPUT_COLUMNS)].reset_index(drop=True)
        if "formula" not in X.columns and "structure" not in X.columns:
            raise ValueError("input table needs a 'formula' (or 'structure') column")
        n_rows = len(X)
        formulas = list(X["formula"]) if "formula" in X.columns else [None] * n_rows
        structures = list(X["structure"]) if "structure" in X.columns else [None] * n_rows
        structures = [_as_structure(s) for s in structures]  # JSON text of results.parquet too
        out = pd.DataFrame(index=range(n_rows))
        out["entry"] = [
            s if s is not None else f for f, s in zip(formulas, structures, strict=True)
        ]
        out["structure"] = structures
        for col in ("space_group_number", *LATTICE_COLUMNS):
            out[col] = (
                pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
                if col in X.columns
                else np.nan
            )
        out["cell_formula"] = list(X["cell_formula"]) if "cell_formula" in X.columns else None
        return out
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 1:
        X = X.ravel()  # one column, as sklearn column transformers pass it
    if isinstance(X, str) or _is_structure(X) or not isinstance(X, Sequence | np.ndarray):
        if isinstance(X, str) or _is_structure(X) or _is_atoms(X) or hasattr(X, "elements"):
            X = [X]
        else:
            X = list(X)
    entries = [_as_structure(x) if _is_atoms(x) else x for x in X]
    out = pd.DataFrame(index=range(len(entries)))
    out["entry"] = entries
    out["structure"] = [e if _is_structure(e) else None for e in entries]
    for col in ("space_group_number", *LATTICE_COLUMNS):
        out[col] = np.nan
    out["cell_formula"] = None
    return out


def _as_structure(obj: object) -> Any:
    """Return a structure cell as a Structure (ASE Atoms, a dict or JSON text converted)."""
    if obj is None or (isinstance(obj, float) and np.isnan(obj)):
        return None
    if (
        _is_atoms(obj)
        or isinstance(obj, dict)
        or (isinstance(obj, str) and obj.lstrip().startswith("{"))
    ):
        from matscreen.core.io import to_structure

        return to_structure(obj)
    return obj


def li_compound_error(comp: Any) -> str | None:
    """Return why a composition is outside a Li-ion conductivity model, or None.

    The models predict Li-ion conductivity of compounds: a composition with
    no Li, or Li alone (Li metal), is refused.
    """
    return li_count_error(comp["Li"] > 0, len(comp.elements))


def li_count_error(has_li: bool, n_elements: int) -> str | None:
    """Return :func:`li_compound_error` from whether Li is present and the element count."""
    if not has_li:
        return "no Li in the composition (the model predicts Li-ion conductivity)"
    if n_elements < 2:
        return "Li metal, not a compound (the model predicts Li-ion conductivity)"
    return None


def check_training_rows(
    errors: list[str | None], y: np.ndarray, n: int, entries: list[Any] | None = None
) -> None:
    """Refuse training rows that cannot be read, are no Li compound, or have no finite ``y``.

    Parameters
    ----------
    errors
        Per-row reading errors (None where the row was read).
    y
        Targets.
    n
        Number of rows of ``X``.
    entries
        The rows' compositions (or anything
        :func:`~matscreen.featurize.composition.as_composition` reads): when
        given, rows that :func:`li_compound_error` refuses are refused here too
        (a Li-ion model fits only what it would predict).

    Raises
    ------
    ValueError
        Naming the first bad row and the number of bad rows.
    """
    from matscreen.featurize.composition import as_composition

    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}")
    if entries is not None:
        errors = [
            e if e is not None else li_compound_error(as_composition(entry))
            for e, entry in zip(errors, entries, strict=True)
        ]
    bad = [(i, e) for i, e in enumerate(errors) if e is not None]
    if bad:
        raise ValueError(f"training row {bad[0][0]}: {bad[0][1]} ({len(bad)} bad rows)")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf")
