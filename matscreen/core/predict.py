"""``matscreen predict``: read an input file, run one property model, keep every row.

The property functions live with their stage (surrogates for conductivity,
physics for stability and voltage); this module only turns a file into a table,
sends the readable rows to the model, and puts every row back in input order
with ``status`` and ``error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from matscreen.core.errors import MatscreenInputError
from matscreen.core.inputs import read_predict_input

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

Property = Literal["conductivity", "stability", "voltage"]
PROPERTIES: tuple[str, ...] = ("conductivity", "stability", "voltage")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "conductivity": ("formula",),
    "stability": ("formula",),
    "voltage": ("formula_charge", "formula_discharge"),
}


def _model(prop: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    if prop == "conductivity":
        from matscreen.surrogates.conductivity import predict_conductivity_table

        return predict_conductivity_table
    if prop == "stability":
        from matscreen.physics.tables import predict_stability_table

        return predict_stability_table
    from matscreen.physics.tables import predict_voltage_table

    return predict_voltage_table


def predict_file(prop: str, path: str | Path) -> pd.DataFrame:
    """Predict one property for every row of a CSV, a CIF or a folder of CIFs.

    Parameters
    ----------
    prop
        ``conductivity``, ``stability`` or ``voltage``.
    path
        The input (see :func:`matscreen.core.inputs.read_predict_input`).

    Returns
    -------
    pandas.DataFrame
        Every input row in input order, the input columns first (structures
        left out), then ``status``, ``error`` and the property columns.

    Raises
    ------
    MatscreenInputError
        For an unknown property, an unreadable input or a missing column.
    """
    import pandas as pd

    if prop not in PROPERTIES:
        raise MatscreenInputError(f"unknown property {prop!r}; use one of {', '.join(PROPERTIES)}")
    structure_columns = ("cif_charge", "cif_discharge") if prop == "voltage" else ("cif",)
    table = read_predict_input(path, structure_columns=structure_columns)
    missing = [c for c in REQUIRED_COLUMNS[prop] if c not in table.columns]
    if missing:
        raise MatscreenInputError(f"{path}: missing column(s) {', '.join(missing)} for {prop}")
    input_columns = [
        c for c in table.columns if not c.startswith("structure") and c != "input_error"
    ]
    good = table["input_error"].isna()
    out = table[input_columns].copy()
    out["status"] = "failed"
    out["error"] = table["input_error"]
    if good.any():
        predicted = _model(prop)(table.loc[good].drop(columns=["input_error"]))
        new_columns = [
            c for c in predicted.columns if c not in table.columns and not c.startswith("structure")
        ]
        out.loc[good, "status"] = predicted["status"].to_numpy()
        out.loc[good, "error"] = predicted["error"].to_numpy()
        for column in new_columns:
            if column in ("status", "error"):
                continue
            out[column] = pd.Series(predicted[column].to_numpy(), index=predicted.index)
    logger.info("%s: %d rows, %d failed", prop, len(out), int((out["status"] != "ok").sum()))
    return out
