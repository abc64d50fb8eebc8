"""ML surrogates with the scikit-learn estimator API.

Conductivity (room-temperature Li-ion, log10 S/cm, trained on OBELiX):

- :class:`~matscreen.surrogates.forest.ConductivityForest`: extra-trees on
  composition (+ space group and lattice), CV-calibrated std.
- :class:`~matscreen.surrogates.attention.AttentionConductivityRegressor`:
  element-attention deep ensemble over composition (torch, CPU or CUDA).
- :class:`~matscreen.surrogates.ensemble.ConductivityEnsemble`: the two
  combined; the shipped default.
- :func:`~matscreen.surrogates.conductivity.predict_conductivity_table`,
  :func:`~matscreen.surrogates.conductivity.train_conductivity_model`,
  :func:`~matscreen.surrogates.conductivity.load_conductivity_model`.

Imports are lazy: importing this package does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matscreen.surrogates.attention import AttentionConductivityRegressor
    from matscreen.surrogates.conductivity import (
        load_conductivity_model,
        predict_conductivity_table,
        train_conductivity_model,
    )
    from matscreen.surrogates.ensemble import ConductivityEnsemble
    from matscreen.surrogates.forest import ConductivityForest

_LAZY = {
    "AttentionConductivityRegressor": "matscreen.surrogates.attention",
    "ConductivityForest": "matscreen.surrogates.forest",
    "ConductivityEnsemble": "matscreen.surrogates.ensemble",
    "load_conductivity_model": "matscreen.surrogates.conductivity",
    "predict_conductivity_table": "matscreen.surrogates.conductivity",
    "train_conductivity_model": "matscreen.surrogates.conductivity",
}
__all__ = [
    "AttentionConductivityRegressor",
    "ConductivityEnsemble",
    "ConductivityForest",
    "load_conductivity_model",
    "predict_conductivity_table",
    "train_conductivity_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matscreen.surrogates' has no attribute {name!r}")
