"""MLIP -> DFT per-element shift fitted on reference entries."""

import numpy as np
from pymatgen.entries.computed_entries import ComputedEntry

from matscreen.physics.hull import (
    EnergyCorrection,
    LocalShiftFitter,
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


def _bumpy_residuals(n: int = 60, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Residuals = per-element shift + a local bump near x = (0.5, 0.25, 0.25) + noise."""
    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.ones(3), size=n)
    bump = -0.04 * np.exp(-((X - [0.5, 0.25, 0.25]) ** 2).sum(1) / (2 * 0.1**2))
    return X, X @ np.array([-0.03, 0.01, -0.02]) + bump + 0.002 * rng.normal(size=n)


def test_hull_correction_without_local_term_is_the_ridge_shift():
    X, r = _bumpy_residuals()
    w = (np.arange(len(r)) % 4 != 0).astype(float)
    fit = LocalShiftFitter(X, r, w, alphas=(1.0,), ratios=(0.0,)).fit()
    assert np.allclose(fit.shifts, fit_element_shifts(X, r, w, 1.0))
    assert fit.coef == [] and fit.n_fit == int(w.sum())


def test_hull_correction_exclude_equals_refit_without_rows():
    X, r = _bumpy_residuals()
    full = LocalShiftFitter(X, r)
    for out in ([3], [0, 5, 7]):
        w = np.ones(len(r))
        w[out] = 0
        a, b = full.fit(exclude=out), LocalShiftFitter(X, r, w).fit()
        assert (a.alpha, a.ratio, a.length_scale) == (b.alpha, b.ratio, b.length_scale)
        assert np.allclose(a.predict(X), b.predict(X)) and np.isclose(a.loo_rmse, b.loo_rmse)


def test_local_hull_correction_follows_a_local_error_and_decays_to_the_shift():
    X, r = _bumpy_residuals()
    truth = r - 0.002 * np.random.default_rng(1).normal(size=len(r))  # noise-free
    local = LocalShiftFitter(X[1:], r[1:]).fit()
    linear = LocalShiftFitter(X[1:], r[1:], ratios=(0.0,)).fit()
    assert local.ratio > 0 and local.loo_rmse < 0.8 * linear.loo_rmse
    centre = np.array([0.5, 0.25, 0.25])
    bump_true = centre @ np.array([-0.03, 0.01, -0.02]) - 0.04
    assert abs(local.predict(centre) - bump_true) < abs(linear.predict(centre) - bump_true)
    assert abs(local.predict(X[0]) - truth[0]) < 0.01  # held-out point
    # a composition far from every fitted one (outside the simplex) gets the shift alone
    far = np.array([3.0, -1.0, -1.0])
    assert np.isclose(local.predict(far), far @ np.asarray(local.shifts))


def test_hull_energy_correction_local_term_roundtrip_and_foreign_elements():
    X, r = _bumpy_residuals()
    fit = LocalShiftFitter(X, r).fit()
    corr = EnergyCorrection(
        calculator="m",
        calculator_version="1",
        shifts=dict(zip(["Li", "Ni", "O"], fit.shifts, strict=True)),
        mode="near_hull",
        n_fit=fit.n_fit,
        elements=["Li", "Ni", "O"],
        local_points=fit.points,
        local_coef=fit.coef,
        length_scale=fit.length_scale,
    )
    assert np.isclose(corr.shift_per_atom("Li2NiO2"), fit.predict([0.4, 0.2, 0.4]))
    again = EnergyCorrection.model_validate_json(corr.model_dump_json())
    assert np.isclose(again.shift_per_atom("Li2NiO2"), corr.shift_per_atom("Li2NiO2"))
    # an element outside the fitted system: shifts only (no data for a local term)
    lin = 0.25 * corr.shifts["Li"] + 0.25 * corr.shifts["Ni"] + 0.25 * corr.shifts["O"]
    assert np.isclose(corr.shift_per_atom("LiNiOF"), lin)


def test_hull_correction_on_shipped_mp_entries_uses_the_local_term():
    from matscreen.physics.hull import reference_entries

    local = reference_entries(["Li", "Co", "Ni", "O"], "chgnet", builtins=False).correction
    shift = reference_entries(
        ["Li", "Co", "Ni", "O"], "chgnet", builtins=False, local_correction=False
    ).correction
    assert local.n_fit == shift.n_fit > 300
    assert local.local_coef and not shift.local_coef
    # leave-one-out error of the correction on the near-hull references (eV/atom)
    assert local.loo_rmse < shift.loo_rmse - 0.003
