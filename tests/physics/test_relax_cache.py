"""The on-disk relaxation cache: one relaxation per cell, calculator version and settings."""

from __future__ import annotations

import pytest
from ase.calculators.emt import EMT
from pymatgen.core import Structure

import matscreen.physics.relax_cache as relax_cache
from matscreen.core.settings import get_settings
from matscreen.physics.calculators import get_calculator
from matscreen.physics.relax_cache import cached_relax, relax_key


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the real relaxations cached_relax runs (formulas, in order)."""
    calls: list[str] = []
    real = relax_cache.relax_structure

    def relax(structure, calculator, **kw):  # noqa: ANN001, ANN202
        calls.append(structure.composition.reduced_formula)
        return real(structure, calculator, **kw)

    monkeypatch.setattr(relax_cache, "relax_structure", relax)
    return calls


def test_same_cell_is_relaxed_once(licl: Structure, counted: list[str], own_cache_dir) -> None:  # noqa: ANN001
    first = cached_relax(licl, "chgnet", fmax=0.05, steps=200)
    # the same cell with its sites listed in another order and shifted by a lattice vector
    shuffled = Structure(licl.lattice, licl.species[::-1], licl.frac_coords[::-1] + [1, 0, 0])
    again = cached_relax(shuffled, "chgnet", fmax=0.05, steps=200)
    assert counted == ["LiCl"]
    assert first.status == "ok" and again.status == "ok"
    assert again.energy_per_atom == first.energy_per_atom
    assert again.steps == first.steps and again.steps > 0  # the stored record, not a new run
    assert len(list((own_cache_dir / "physics" / "relaxed" / "chgnet").glob("*.json"))) == 1


def test_other_settings_strain_or_calculator_relax_again(
    licl: Structure,
    counted: list[str],
    own_cache_dir,  # noqa: ANN001
) -> None:
    cached_relax(licl, "chgnet", fmax=0.05, steps=200)
    cached_relax(licl, "chgnet", fmax=0.02, steps=200)  # another criterion
    strained = licl.copy()
    strained.apply_strain(0.01)
    cached_relax(strained, "chgnet", fmax=0.05, steps=200)
    assert len(counted) == 3
    key = relax_key(licl, get_calculator("chgnet"), fmax=0.05, steps=200)
    assert key is not None and key.startswith("chgnet/")
    # the defaults are part of the key: naming one changes nothing, another value does
    same = relax_key(licl, get_calculator("chgnet"), fmax=0.05, steps=200, optimizer="FIRE")
    other = relax_key(licl, get_calculator("chgnet"), fmax=0.05, steps=200, optimizer="BFGS")
    assert same == key and other != key
    sevenn = relax_key(licl, get_calculator("sevenn"), fmax=0.05, steps=200)
    assert sevenn is not None and sevenn.startswith("sevenn/") and sevenn[7:] != key[7:]
    fixed = licl.copy(site_properties={"selective_dynamics": [[False] * 3, [True] * 3]})
    assert relax_key(fixed, get_calculator("chgnet"), fmax=0.05, steps=200) != key
    # an ASE calculator outside the registry has no version to key on: never cached
    assert relax_key(licl, EMT(), fmax=0.05) is None


def test_corrupt_file_is_relaxed_again_and_the_setting_turns_it_off(
    licl: Structure,
    counted: list[str],
    own_cache_dir,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec = cached_relax(licl, "chgnet", steps=5)
    (path,) = (own_cache_dir / "physics" / "relaxed" / "chgnet").glob("*.json")
    path.write_text('{"formula": "LiCl", "status"')  # cut off by a full disk
    again = cached_relax(licl, "chgnet", steps=5)
    assert len(counted) == 2 and again.energy_per_atom == pytest.approx(rec.energy_per_atom)
    monkeypatch.setenv("MATSCREEN_RELAX_CACHE", "false")
    get_settings.cache_clear()
    try:
        cached_relax(licl, "chgnet", steps=5)
        cached_relax(licl, "chgnet", steps=5)
    finally:
        monkeypatch.delenv("MATSCREEN_RELAX_CACHE")
        get_settings.cache_clear()
    assert len(counted) == 4


def test_failed_relaxation_without_energy_is_not_kept(
    licl: Structure,
    counted: list[str],
    own_cache_dir,  # noqa: ANN001
) -> None:
    squeezed = Structure(licl.lattice, ["Li", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    for _ in range(2):
        rec = cached_relax(squeezed, "chgnet")
        assert rec.status == "failed" and rec.energy_per_atom is None
    assert len(counted) == 2
    assert not (own_cache_dir / "physics" / "relaxed").exists() or not any(
        (own_cache_dir / "physics" / "relaxed").rglob("*.json")
    )


def test_cells_relaxed_together_are_kept_and_read_back(
    licl: Structure,
    monkeypatch: pytest.MonkeyPatch,
    own_cache_dir,  # noqa: ANN001
    relax_together_sizes: list[int],
) -> None:
    """cached_relax_together relaxes the cells not on disk in one batch, keeps those with an
    energy under cached_relax's keys (so either reads them back), and fails a bad cell alone."""
    strained = licl.copy()
    strained.apply_strain(0.04)
    overlapping = licl.copy()
    overlapping.translate_sites([0], overlapping[1].coords - overlapping[0].coords, False)
    batches = relax_together_sizes
    first = relax_cache.cached_relax_together(
        [licl, strained, overlapping, licl.copy()], "chgnet", fmax=0.05, steps=200
    )
    assert batches == [3]  # the second LiCl is the same cell: relaxed once
    assert [r.status for r in first] == ["ok", "ok", "failed", "ok"]
    assert first[3].energy_per_atom == first[0].energy_per_atom
    assert (first[2].error or "").startswith("overlapping atoms")
    # the strained cell relaxes back to rock salt: the same energy as the relaxed cell
    assert abs(first[1].energy_per_atom - first[0].energy_per_atom) < 2e-3
    # read back: by the batch function (no new relaxation) and by the one-cell cache
    again = relax_cache.cached_relax_together([strained, licl], "chgnet", fmax=0.05, steps=200)
    assert batches == [3]
    assert [r.energy_per_atom for r in again] == [r.energy_per_atom for r in first[1::-1]]
    monkeypatch.setattr(relax_cache, "relax_structure", None)  # would raise if called
    assert cached_relax(strained, "chgnet", fmax=0.05, steps=200).steps == first[1].steps


def test_cache_off_still_relaxes_a_repeated_cell_once(
    licl: Structure,
    monkeypatch: pytest.MonkeyPatch,
    own_cache_dir,  # noqa: ANN001
    relax_together_sizes: list[int],
) -> None:
    """With RELAX_CACHE off nothing is read or written, but a cell given twice in one call is
    still relaxed once (it was relaxed twice before 2026-11-29)."""
    sizes = relax_together_sizes
    monkeypatch.setenv("MATSCREEN_RELAX_CACHE", "false")
    get_settings.cache_clear()
    try:
        out = relax_cache.cached_relax_together([licl, licl.copy()], "chgnet", steps=20)
        again = relax_cache.cached_relax_together([licl], "chgnet", steps=20)
    finally:
        monkeypatch.delenv("MATSCREEN_RELAX_CACHE")
        get_settings.cache_clear()
    assert sizes == [1, 1]  # once per call: the copy shares the first relaxation, none is read
    assert out[0].energy_per_atom == out[1].energy_per_atom is not None
    assert out[1] is not out[0] and again[0].energy_per_atom == pytest.approx(
        out[0].energy_per_atom
    )
    assert not (own_cache_dir / "physics" / "relaxed").exists() or not any(
        (own_cache_dir / "physics" / "relaxed").rglob("*.json")
    )


def test_size_cap_deletes_the_files_used_longest_ago(
    licl: Structure,
    own_cache_dir,  # noqa: ANN001
) -> None:
    """Past RELAX_CACHE_MAX_MB the least recently used records go first (a read counts as a
    use), down to 90 % of the cap; under the cap nothing is deleted."""
    import os

    from matscreen.physics.relax_cache import prune_relax_cache

    first = cached_relax(licl, "chgnet", steps=5)
    folder = own_cache_dir / "physics" / "relaxed" / "chgnet"
    (kept,) = folder.glob("*.json")
    size = kept.stat().st_size
    names = []
    for i in range(4):  # four more records of the same size, each older than the last
        path = folder / f"old{i}.json"
        path.write_text(kept.read_text())
        os.utime(path, (1e9 - i * 1e3, 1e9 - i * 1e3))
        names.append(path.name)
    os.utime(kept, (1e8, 1e8))  # the oldest of all, until it is read
    assert cached_relax(licl, "chgnet", steps=5).steps == first.steps  # read back: touched
    assert prune_relax_cache(max_mb=10 * size / 1e6) == 0
    # cap at 3.5 files: down to 3.15 files' worth, so the two oldest of the copies go
    assert prune_relax_cache(max_mb=3.5 * size / 1e6) == 2
    assert sorted(p.name for p in folder.glob("*.json")) == sorted([kept.name, *names[:2]])
