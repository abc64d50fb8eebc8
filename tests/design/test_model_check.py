"""The model check: objectives judged by a model are scored with it before physics is spent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from matscreen.design.loop import build_loop


def _br_fraction(record: Any) -> float:
    comp = record.structure.composition
    br = comp["Br"] if "Br" in [e.symbol for e in comp] else 0.0
    cl = comp["Cl"] if "Cl" in [e.symbol for e in comp] else 0.0
    return float(br / (br + cl))


@pytest.fixture
def model_physics(fake_physics_class: Any) -> Any:
    """Return a stand-in physics whose conductivity column comes from a cheap model."""

    class ModelPhysics(fake_physics_class):
        """Stand-in physics whose conductivity column comes from a cheap model (Br-rich is fast)."""

        def __init__(self) -> None:
            super().__init__()
            self.model_calls = 0

        def model_columns(self, records: list[Any]) -> pd.DataFrame:
            """Return the model-judged column (log10 sigma = -5 + 3 x_Br) per record."""
            self.model_calls += len(records)
            return pd.DataFrame(
                {"log10_sigma_model": [-5.0 + 3.0 * _br_fraction(r) for r in records]}
            )

        def evaluate(self, records: list[Any], client: Any = None) -> pd.DataFrame:
            """Return the stand-in physics columns with the model's conductivity."""
            table = super().evaluate(records, client)
            table["log10_sigma_model"] = self.model_columns(records)["log10_sigma_model"].to_numpy()
            self.model_calls -= len(records)  # count only the loop's own model checks
            return table

    return ModelPhysics()


def _config(make_config: Any, sigma_min: float, model_check: int) -> Any:
    return make_config(
        objectives=[
            {"kind": "conductivity", "goal": "maximize", "min": sigma_min},
            {"kind": "stability", "goal": "minimize", "max": 0.05},
        ],
        loop={"rounds": 2, "batch_size": 3, "model_check": model_check},
    )


def test_model_check_picks_only_candidates_within_the_models_bounds(
    make_config, model_physics, tmp_path
):
    """Every proposal meets the model-judged bound; no physics is spent on the check."""
    config = _config(make_config, sigma_min=-3.5, model_check=64)
    physics = model_physics
    table = build_loop(config, evaluator=physics).run(out=tmp_path)
    assert len(table) == 6 and physics.calls == 6  # physics only for the batch
    assert 6 <= physics.model_calls <= 2 * 64  # the checked candidates, each once
    assert (table["log10_sigma_model"] >= -3.5).all()
    # the acquisition recorded is the model-checked one: a finite number per row
    assert np.isfinite(table["acquisition"]).all()


def test_model_check_falls_back_when_no_candidate_passes(make_config, model_physics, tmp_path):
    """With an unreachable model bound the batch is still filled (nothing better is left)."""
    config = _config(make_config, sigma_min=10.0, model_check=8)
    physics = model_physics
    table = build_loop(config, evaluator=physics).run(out=tmp_path)
    assert len(table) == 6 and not table.duplicated(["prototype", "formula"]).any()


def test_model_check_off_or_without_model_columns(
    make_config, model_physics, fake_physics, tmp_path
):
    """model_check: 0, or an evaluator without model_columns, skips the check."""
    physics = model_physics
    build_loop(_config(make_config, -3.5, 0), evaluator=physics).run(out=tmp_path / "a")
    assert physics.model_calls == 0
    table = build_loop(_config(make_config, -3.5, 12), evaluator=fake_physics).run(
        out=tmp_path / "b"
    )
    assert len(table) == 6


def test_model_check_setting_is_validated(make_config):
    """A negative model_check is rejected, naming the field."""
    with pytest.raises(ValueError, match="model_check"):
        _config(make_config, -3.5, -1)
