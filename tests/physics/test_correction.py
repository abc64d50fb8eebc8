"""MLIP -> DFT per-element shift fitted on reference entries."""

import numpy as np
from pymatgen.entries.computed_entries import ComputedEntry

from matscreen.physics.hull import (
    EnergyCorrection,
    ReferenceSet,
    fit_element_shifts,
    hull_record,
)


def test_fit_element_shifts_recovers_shifts():
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(3), size=50)
    delta = np.array([-0.05, 0.02, -0.01])
    est = fit_element_shifts(X, X @ delta, alpha=1e-8)
    assert np.allclose(est, delta, atol=1e-6)
    # weights 0 drop entries; a strong ridge shrinks towards 0
    assert np.abs(fit_element_shifts(X, X @ delta, alpha=1e6)).max() < 1e-4


def test_correction_applies_only_to_its_calculator_once():
    corr = EnergyCorrection(
        calculator="m", calculator_version="1", shifts={"Li": -0.1, "O": 0.0}, mode="all", n_fit=5
    )
    mlip = ComputedEntry("Li2O", -10.0, data={"calculator": "m"})
    dft = ComputedEntry("Li2O", -10.0)
    shifted = corr.apply(mlip)
    assert np.isclose(shifted.energy, -10.0 - 0.2)
    assert np.isclose(corr.apply(shifted).energy, shifted.energy)  # idempotent
    assert corr.apply(dft) is dft
    refs = ReferenceSet([ComputedEntry("Li", -1.9), ComputedEntry("O2", -9.8), dft])
    refs.correction = corr
    plain = hull_record(mlip, list(refs))
    fixed = hull_record(mlip, refs)
    assert np.isclose(fixed.e_above_hull - plain.e_above_hull, -0.2 / 3)
