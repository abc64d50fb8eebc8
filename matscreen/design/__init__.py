"""matscreen.design: the torch inverse-design core.

Public API (lazy imports; importing this package does not import torch)::

    run_design(workflow, *, out, device="cpu", budget=None, client=None, resume=False)
    DesignConfig, load_design_config(path) -> DesignConfig
    DesignSpace, DesignPoint, InfeasibleSpaceError
    DesignLoop, build_loop(config, *, device, evaluator=None, generator=None)
    GradientSearch, EvolutionarySearch, RandomSearch, select_diverse
    UCBAcquisition, ObjectivePredictor
    TorchEnsembleRegressor, StabilitySurrogate, train_conductivity_surrogate,
    train_voltage_surrogate
    MLIPPhysicsEvaluator
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_design": "loop",
    "DesignLoop": "loop",
    "build_loop": "loop",
    "DesignConfig": "config",
    "load_design_config": "config",
    "DesignSpace": "space",
    "DesignPoint": "space",
    "InfeasibleSpaceError": "space",
    "GradientSearch": "search",
    "EvolutionarySearch": "search",
    "RandomSearch": "search",
    "select_diverse": "search",
    "UCBAcquisition": "objectives",
    "ObjectivePredictor": "objectives",
    "TorchEnsembleRegressor": "surrogates",
    "StabilitySurrogate": "surrogates",
    "train_conductivity_surrogate": "surrogates",
    "train_voltage_surrogate": "surrogates",
    "MLIPPhysicsEvaluator": "physics_checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
