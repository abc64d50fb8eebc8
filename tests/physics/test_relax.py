# ruff: noqa: D103
"""Relaxation: EMT and CHGNet paths, failure statuses, batched FIRE, record round trip."""

from __future__ import annotations

import pytest
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure

from matscreen.physics.calculators import calculator_info, get_calculator
from matscreen.physics.relax import RelaxRecord, batched_relax, relax_many, relax_structure


def test_emt_cu_cell_relax(cu_fcc: Structure) -> None:
    rec = relax_structure(cu_fcc, EMT(), fmax=0.01)
    assert rec.status == "ok" and rec.converged and rec.error is None
    assert rec.structure.lattice.a == pytest.approx(3.59, abs=0.02)  # EMT Cu
    assert rec.volume_change < 0
    assert rec.calculator == "EMT" and rec.calculator_version.startswith("ase")


def test_emt_al_positions_only_bfgs() -> None:
    al = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.05), ["Al"], [[0, 0, 0]])
    al.perturb(0.05)
    rec = relax_structure(al, EMT(), optimizer="BFGS", relax_cell=False, fmax=0.01)
    assert rec.status == "ok"
    assert rec.structure.volume == pytest.approx(al.volume)
    assert rec.energy_per_atom <= rec.initial_energy_per_atom


def test_overlapping_atoms_fail_before_running(cu_fcc: Structure) -> None:
    bad = cu_fcc.copy()
    bad.append("Cu", bad[0].coords + [0.2, 0, 0], coords_are_cartesian=True)
    rec = relax_structure(bad, EMT())
    assert rec.status == "failed" and "overlapping atoms" in rec.error
    assert rec.steps == 0


def test_unsupported_element_fails(licl: Structure) -> None:
    rec = relax_structure(licl, EMT())  # EMT has no Li or Cl
    assert rec.status == "failed" and "not covered" in rec.error and "Li" in rec.error


def test_step_cap_gives_failed_with_reason(cu_fcc: Structure) -> None:
    rec = relax_structure(cu_fcc, EMT(), fmax=1e-4, steps=2)
    assert rec.status == "failed" and rec.error.startswith("not converged")
    assert rec.steps == 2 and rec.structure is not None and rec.energy_per_atom is not None


def test_bad_input_is_a_failed_record() -> None:
    rec = relax_structure("not a structure", EMT())
    assert rec.status == "failed" and "bad structure" in rec.error


def test_relax_many_isolates_failures(cu_fcc: Structure, licl: Structure) -> None:
    recs = relax_many([cu_fcc, licl, cu_fcc], EMT(), fmax=0.05)
    assert [r.status for r in recs] == ["ok", "failed", "ok"]


def test_record_round_trip(cu_fcc: Structure) -> None:
    rec = relax_structure(cu_fcc, EMT(), fmax=0.05)
    back = RelaxRecord.model_validate_json(rec.model_dump_json())
    assert back == rec or (
        back.structure == rec.structure and back.energy_per_atom == rec.energy_per_atom
    )


def test_chgnet_small_cell(licl: Structure) -> None:
    calc = get_calculator("chgnet")
    info = calculator_info(calc)
    assert info.name == "chgnet" and info.version == "0.3.0"
    rec = relax_structure(licl, calc, fmax=0.05)
    assert rec.status == "ok", rec.error
    assert rec.volume_change > 0.03  # compressed input expands
    assert rec.energy_per_atom == pytest.approx(-3.98, abs=0.05)
    assert rec.calculator == "chgnet" and rec.calculator_version == "0.3.0"


def test_chgnet_is_quiet(capsys: pytest.CaptureFixture[str], licl: Structure) -> None:
    get_calculator("chgnet")
    relax_structure(licl, "chgnet", steps=3)
    assert capsys.readouterr().out == ""


def test_batched_relax_matches_serial(licl: Structure) -> None:
    other = licl.copy()
    other.apply_strain(0.05)
    serial = relax_many([licl, other], "chgnet", fmax=0.05)
    batched = batched_relax([licl, other, "garbage"], fmax=0.05)
    assert [r.status for r in batched] == ["ok", "ok", "failed"]
    for a, b in zip(serial, batched[:2], strict=True):
        assert b.energy_per_atom == pytest.approx(a.energy_per_atom, abs=2e-3)


@pytest.mark.gpu
def test_batched_relax_on_cuda_matches_cpu(licl: Structure) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    other = licl.copy()
    other.apply_strain(0.05)
    cpu = batched_relax([licl, other], fmax=0.05)
    gpu = batched_relax([licl, other], fmax=0.05, device="cuda")
    for a, b in zip(cpu, gpu, strict=True):
        assert b.status == "ok"
        assert b.energy_per_atom == pytest.approx(a.energy_per_atom, abs=2e-3)


def test_unknown_calculator_name() -> None:
    with pytest.raises(ValueError, match="unknown calculator 'mace'; known: chgnet, sevenn"):
        get_calculator("mace")


def test_calculator_aliases_and_the_default_setting(monkeypatch) -> None:
    """An alias loads the registry model; ``None`` means the DEFAULT_CALCULATOR setting."""
    from typing import get_args

    import matscreen.physics.calculators as calculators
    from matscreen.core.config import CALCULATOR_NAMES, CalculatorName
    from matscreen.core.settings import get_settings

    assert tuple(m.value for m in calculators.MLIP) == CALCULATOR_NAMES
    assert get_args(get_args(CalculatorName)[0]) == CALCULATOR_NAMES

    loaded: list[tuple[str, str]] = []
    monkeypatch.setattr(
        calculators, "_cached_calculator", lambda name, device: loaded.append((name, device))
    )
    get_calculator(" SevenNet ")
    monkeypatch.setenv("MATSCREEN_DEFAULT_CALCULATOR", "sevennet")
    get_settings.cache_clear()
    try:
        calculators.resolve_calculator(None, device="cuda")
    finally:
        get_settings.cache_clear()
    assert loaded == [(calculators.MLIP.SEVENN, "cpu"), (calculators.MLIP.SEVENN, "cuda")]


@pytest.mark.slow
def test_sevenn_loads_offline_from_wheel(licl: Structure) -> None:
    calc = get_calculator("sevenn")  # sockets are disabled in the test session
    info = calculator_info(calc)
    assert info.name == "sevenn" and info.energy_scale == "mp_raw"
    assert "Li" in info.elements and "Cl" in info.elements
    rec = relax_structure(licl, calc, steps=5)
    assert rec.energy_per_atom is not None and rec.calculator == "sevenn"


def test_exploding_energy_is_failed() -> None:
    from ase.calculators.lj import LennardJones

    squeezed = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    rec = relax_structure(squeezed, LennardJones(sigma=3.0, epsilon=100.0, rc=6.0))
    assert rec.status == "failed" and rec.error.startswith("exploding")


def test_logm_near_identity_matches_scipy() -> None:
    import numpy as np
    from scipy.linalg import logm

    from matscreen.physics.relax import logm_near_identity

    rng = np.random.default_rng(1)
    for scale in (1e-6, 0.01, 0.1, 0.4):
        for _ in range(20):
            f = np.eye(3) + rng.normal(0.0, scale, (3, 3))
            assert np.abs(logm_near_identity(f) - np.real(logm(f))).max() < 1e-12


def test_frechet_cell_matches_ase_filter() -> None:
    """Generalized forces and steps equal ASE's FrechetCellFilter's."""
    import numpy as np
    from ase.build import bulk
    from ase.filters import FrechetCellFilter

    from matscreen.physics.relax import FrechetCell

    rng = np.random.default_rng(0)
    a = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    b = a.copy()
    ase_f, ours = FrechetCellFilter(a), FrechetCell(b)
    for _ in range(3):
        forces = rng.normal(0, 0.3, (len(a), 3))
        stress = rng.normal(0, 0.01, 6)
        from ase.calculators.singlepoint import SinglePointCalculator

        a.calc = SinglePointCalculator(a, energy=0.0, forces=forces, stress=stress)
        g_ase = ase_f.get_forces()
        g_ours = ours.generalized_forces(forces, stress)
        np.testing.assert_allclose(g_ours, g_ase, atol=1e-10)
        dr = rng.normal(0, 0.02, (len(a) + 3, 3))
        ase_f.set_positions(ase_f.get_positions() + dr)
        ours.step(dr)
        np.testing.assert_allclose(b.cell.array, a.cell.array, atol=1e-10)
        np.testing.assert_allclose(b.positions, a.positions, atol=1e-10)


def test_relax_together_falls_back_to_one_by_one(licl: Structure, monkeypatch) -> None:  # noqa: ANN001
    from matscreen.physics import relax

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(relax, "batched_relax", broken)
    recs = relax.relax_together([licl, licl.copy()], "chgnet", steps=5)
    assert len(recs) == 2 and all(r.status in ("ok", "failed") for r in recs)
    assert all(r.energy_per_atom is not None for r in recs)
