"""Li transport from MLIP MD: a real short run, the Arrhenius step, failures with reasons."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matscreen.core.paths import seeds_dir
from matscreen.physics.diffusion import (
    MDRecord,
    arrhenius_estimate,
    md_diffusivities_batched,
    md_diffusivity,
)

K_B = 8.617333e-5  # eV/K


@pytest.fixture(scope="module")
def li3incl6() -> Structure:
    return Structure.from_file(seeds_dir() / "prototypes" / "Li3InCl6_C2m.cif")


def _run(t: float, d: float) -> MDRecord:
    return MDRecord(
        formula="Li3InCl6", status="ok", temperature_K=t, n_atoms=40, time_ps=5.0,
        diffusivity_cm2_s=d, calculator="test",
    )  # fmt: skip


def test_short_chgnet_md_gives_a_finite_li_diffusivity(li3incl6: Structure) -> None:
    rec = md_diffusivity(
        li3incl6, 1000.0, time_ps=0.1, equilibration_ps=0.02, sample_every=2, min_atoms=20
    )
    assert rec.status == "ok", rec.error
    assert rec.n_atoms >= 20 and rec.time_ps == pytest.approx(0.1, abs=0.01)
    assert np.isfinite(rec.diffusivity_cm2_s) and rec.diffusivity_cm2_s >= 0
    assert rec.calculator.startswith("chgnet")


def test_no_li_is_a_failed_run() -> None:
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )
    rec = md_diffusivity(nacl, 800.0, time_ps=0.01)
    assert rec.status == "failed" and "no Li" in rec.error


def test_arrhenius_recovers_the_activation_energy(li3incl6: Structure) -> None:
    ea, d0 = 0.30, 1e-2
    runs = [_run(t, d0 * np.exp(-ea / (K_B * t))) for t in (600.0, 800.0, 1000.0)]
    est = arrhenius_estimate(li3incl6, runs)
    assert est.status == "ok"
    assert est.activation_energy_eV == pytest.approx(ea, rel=1e-3)
    assert est.diffusivity_300K_cm2_s == pytest.approx(d0 * np.exp(-ea / (K_B * 300)), rel=1e-2)
    # Nernst-Einstein: sigma = n e^2 D / (kT), n = Li per cm^3
    n = li3incl6.composition["Li"] / (li3incl6.volume * 1e-24)
    sigma = n * 1.602177e-19**2 * est.diffusivity_300K_cm2_s / (1.380649e-23 * 300)
    assert est.conductivity_300K_S_cm == pytest.approx(sigma, rel=1e-2)


def test_arrhenius_leaves_out_a_temperature_without_hops(li3incl6: Structure) -> None:
    ea, d0 = 0.30, 1e-2
    runs = [_run(600.0, 1.7e-17)]  # pymatgen's floor when the MSD does not grow
    runs += [_run(t, d0 * np.exp(-ea / (K_B * t))) for t in (800.0, 1000.0)]
    est = arrhenius_estimate(li3incl6, runs)
    assert est.status == "ok", est.error
    assert est.temperatures_fitted_K == [800.0, 1000.0] and len(est.runs) == 3
    assert est.activation_energy_eV == pytest.approx(ea, rel=1e-3)


def test_arrhenius_refuses_runs_without_hops(li3incl6: Structure) -> None:
    est = arrhenius_estimate(li3incl6, [_run(600.0, 0.0), _run(900.0, 1e-6)])
    assert est.status == "failed" and "no Li diffusion" in est.error and "600 K" in est.error


def test_batched_md_thermostats_each_replica_to_its_own_temperature() -> None:
    """All temperatures advance together; each replica's kinetic temperature is its own."""
    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0] * 3, [0.5] * 3]
    )
    temps = (300.0, 900.0)
    recs = md_diffusivities_batched(
        licl, temps, time_ps=0.3, equilibration_ps=0.1, sample_every=2, min_atoms=32,
        friction_per_fs=0.05, seed=1,
    )  # fmt: skip
    assert [r.temperature_K for r in recs] == list(temps)
    for r, t in zip(recs, temps, strict=True):
        assert r.status == "ok", r.error
        assert r.n_atoms >= 32 and r.time_ps == pytest.approx(0.3, abs=0.01)
        # 32 atoms fluctuate ~25 % per frame; 75 correlated frames average to within ~15 %
        assert r.kinetic_temperature_K == pytest.approx(t, rel=0.2)
        assert np.isfinite(r.diffusivity_cm2_s)


def test_batched_md_without_li_fails_every_temperature() -> None:
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )
    recs = md_diffusivities_batched(nacl, (600.0, 900.0), time_ps=0.01)
    assert [r.status for r in recs] == ["failed", "failed"]
    assert all("no Li" in r.error for r in recs)


def test_batched_md_refuses_other_calculators() -> None:
    from ase.calculators.emt import EMT

    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0] * 3, [0.5] * 3]
    )
    with pytest.raises(ValueError, match="registry CHGNet"):
        md_diffusivities_batched(licl, (600.0,), EMT(), time_ps=0.01)


def test_arrhenius_fails_on_a_run_without_a_finite_diffusivity(li3incl6: Structure) -> None:
    runs = [_run(600.0, float("nan")), _run(800.0, 1e-5), _run(1000.0, 3e-5)]
    est = arrhenius_estimate(li3incl6, runs)
    assert est.status == "failed" and "600 K" in est.error
    none_d = MDRecord(
        formula="Li3InCl6", status="ok", temperature_K=700.0, n_atoms=40, calculator="test"
    )
    assert arrhenius_estimate(li3incl6, [none_d, *runs[1:]]).status == "failed"


def test_arrhenius_needs_a_positive_activation_energy(li3incl6: Structure) -> None:
    est = arrhenius_estimate(li3incl6, [_run(800.0, 3e-5), _run(1000.0, 1e-5)])
    assert est.status == "failed" and "does not rise" in est.error


def test_arrhenius_leaves_out_runs_with_too_few_hops(li3incl6: Structure) -> None:
    """24 Li over 4 ps: D = 1e-6 cm2/s is under one hop of 2.5 A; 1e-5 is about nine."""
    runs = [
        MDRecord(
            formula="Li3InCl6",
            status="ok",
            temperature_K=t,
            n_atoms=80,
            n_li=24,
            time_ps=4.0,
            diffusivity_cm2_s=d,
            calculator="test",
        )  # fmt: skip
        for t, d in ((600.0, 1e-6), (800.0, 1e-5), (1000.0, 3e-5))
    ]
    est = arrhenius_estimate(li3incl6, runs)
    assert est.status == "ok" and est.temperatures_fitted_K == [800.0, 1000.0]
    assert "600 K" in est.note


def test_batched_md_with_no_temperatures_is_empty(li3incl6: Structure) -> None:
    assert md_diffusivities_batched(li3incl6, ()) == []


def test_a_replica_with_non_finite_forces_fails_alone(monkeypatch) -> None:  # noqa: ANN001
    from matscreen.physics import chgnet_batch

    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0] * 3, [0.5] * 3]
    )
    real, calls = chgnet_batch.ase_results, []

    def poisoned(model, atoms_list, batch_size=64):  # noqa: ANN001, ANN202
        out = real(model, atoms_list, batch_size)
        calls.append(len(atoms_list))
        if len(calls) == 5:  # the first replica's forces turn NaN at step 4
            out[0]["forces"] = out[0]["forces"].copy()
            out[0]["forces"][0, 0] = np.nan
        return out

    monkeypatch.setattr(chgnet_batch, "ase_results", poisoned)
    recs = md_diffusivities_batched(
        licl, (600.0, 900.0), time_ps=0.04, equilibration_ps=0.0, sample_every=2, min_atoms=8
    )
    assert recs[0].status == "failed" and "non-finite" in recs[0].error
    assert recs[1].status == "ok", recs[1].error
    assert calls[-1] == 1  # the other replica went on alone
