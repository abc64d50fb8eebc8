"""matscreen: an open workbench for screening and designing solid-state battery materials.

The package is organised by stage of a screening run, in data-flow order::

    core/        settings, workflow config, records, io helpers
    candidates/  prototypes from seeds/, substitution enumeration, ordering
    featurize/   matminer-compatible featurizers and the chunked Dask engine
    datasets/    loaders for the data shipped under datasets/
    surrogates/  ML models (scikit-learn API)
    physics/     MLIP calculators, relaxation, hull, windows, voltages
    screening/   scores, filters, Pareto ranking, the run orchestrator
    design/      torch inverse-design core
    report/      tables, plots and the HTML report
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "screen"]

if TYPE_CHECKING:  # pragma: no cover
    from matscreen.screening.run import screen


def __getattr__(name: str) -> Any:
    # Lazy: importing matscreen must not pull in dask, torch or pymatgen.
    if name == "screen":
        from matscreen.screening.run import screen

        return screen
    raise AttributeError(f"module 'matscreen' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names too, so that tab completion and dir() show them
    return sorted({*globals(), *__all__})
