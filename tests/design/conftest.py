"""Fixtures for the design tests: a small config and a cheap stand-in physics evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


class FakePhysics:
    """Deterministic stand-in for the MLIP/BVSE checks (a function of composition)."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, records: list[Any], client: Any = None) -> Any:
        """Return stand-in physics columns per record."""
        import pandas as pd

        self.calls += len(records)
        rows = []
        for r in records:
            comp = r.structure.composition.fractional_composition
            br = comp["Br"] if "Br" in [e.symbol for e in comp] else 0.0
            sc = comp["Sc"] if "Sc" in [e.symbol for e in comp] else 0.0
            rows.append(
                {"status": "ok", "error": None, "e_above_hull": 0.01 + 0.2 * br + 0.5 * sc,
                 "bvse_barrier": 0.4 - 0.2 * br, "log10_sigma_model": -3.5 + 4 * br}
            )  # fmt: skip
        return pd.DataFrame(rows)


def small_config(**overrides: Any) -> Any:
    """Return a small halide DesignConfig with top-level sections overridden."""
    from matscreen.design.config import DesignConfig

    data: dict[str, Any] = {
        "name": "test",
        "family": "halide_electrolyte",
        "seed": 3,
        "space": {
            "max_atoms": 40,
            "prototypes": [
                {
                    "prototype": "Li3InCl6_C2m",
                    "sites": {
                        "In": {"species": ["In", "Y", "Sc", "Zr"], "grid": 2},
                        "Cl": {"species": ["Cl", "Br"], "grid": 3},
                    },
                }
            ],
        },
        "objectives": [
            {"kind": "stability", "goal": "minimize", "max": 0.05},
            {"kind": "cost", "goal": "minimize", "weight": 0.2},
        ],
        "search": {"method": "gradient", "population": 24, "steps": 15},
        "loop": {"rounds": 2, "batch_size": 3},
        "surrogates": {"n_members": 2, "hidden": 8, "epochs": 20, "min_stability_points": 3},
        "physics": {"bvse_max": 0.45, "n_orderings": 4},
    }
    data.update(overrides)
    return DesignConfig.model_validate(data)


@pytest.fixture
def config() -> Any:
    """Return a small halide design config."""
    return small_config()


@pytest.fixture
def fake_physics() -> FakePhysics:
    """Return a fresh stand-in physics evaluator."""
    return FakePhysics()


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Seed numpy global state."""
    np.random.seed(0)


@pytest.fixture
def make_config() -> Any:
    """Return the factory of small configs (keyword overrides of top-level sections)."""
    return small_config


@pytest.fixture
def fake_physics_class() -> type[FakePhysics]:
    """Return the stand-in physics class (for tests that extend it)."""
    return FakePhysics
