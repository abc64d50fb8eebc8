"""Physics checks of one candidate (the screening run's physics stage)."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Structure

from matscreen.core.io import structure_from_json
from matscreen.physics.checks import PHYSICS_COLUMNS, physics_checks


@pytest.fixture(scope="module")
def li3ocl(test_dir) -> Structure:
    from matscreen.core.paths import seeds_dir

    return Structure.from_file(seeds_dir() / "prototypes" / "Li3OCl_Pm-3m.cif")


@pytest.mark.slow
def test_li3ocl_relaxed_hull_window_and_reactivity(li3ocl: Structure) -> None:
    rec = physics_checks(li3ocl, "chgnet", steps=100)
    assert set(rec) == set(PHYSICS_COLUMNS)
    assert rec["physics_status"] == "ok", rec["physics_error"]
    assert rec["mlip"] == "chgnet" and rec["mlip_version"]
    # Li-O-Cl: Li2O and LiCl are references, so the hull is complete.
    assert rec["hull_complete"] is True and rec["hull_missing"] == ""
    # Li3OCl is metastable by DFT (~+0.02 eV/atom vs Li2O + LiCl); tolerance 50 meV/atom.
    assert abs(rec["e_above_hull"]) < 0.05
    assert set(rec["decomposition"].split(" + ")) == {"Li2O", "LiCl"}
    # stable against Li metal, oxidized (Cl- -> Cl2) below ~3.5 V
    assert rec["window_low_V"] < 0.3 and 2.0 < rec["window_high_V"] < 3.6
    # antiperovskites are hygroscopic: exothermic reaction with water
    assert rec["moisture_reaction_eV_atom"] < -0.05
    assert rec["cathode_reaction_eV_atom"] <= 0.0
    relaxed = structure_from_json(rec["relaxed_structure"])
    assert relaxed.composition.reduced_formula == li3ocl.composition.reduced_formula


@pytest.mark.slow
def test_element_without_reference_compounds_flags_the_hull(li3ocl: Structure) -> None:
    s = li3ocl.copy()
    s.replace(0, "Na")
    rec = physics_checks(s, "chgnet", electrolyte=True, steps=60)
    assert rec["physics_status"] == "ok"
    assert rec["hull_complete"] is False and rec["hull_missing"] == "Na"
    assert "lower bound" in rec["physics_error"]
    assert math.isfinite(rec["e_above_hull"])
    # no window or reactivity from an incomplete phase diagram
    assert rec["window_low_V"] is None and rec["moisture_reaction_eV_atom"] is None


def test_overlapping_atoms_are_a_failed_row_with_the_reason(li3ocl: Structure) -> None:
    s = li3ocl.copy()
    s.append("Li", s[0].frac_coords + 0.01)
    rec = physics_checks(s, "chgnet")
    assert rec["physics_status"] == "failed"
    assert "overlapping" in rec["physics_error"]
    assert rec["e_above_hull"] is None


def test_every_builtin_reference_ships_relaxed_with_chgnet() -> None:
    import json

    from matscreen.physics.references import BUILTIN_REFERENCES, _shipped_cache_path

    shipped = json.loads(_shipped_cache_path("chgnet").read_text())["entries"]
    assert set(BUILTIN_REFERENCES) <= set(shipped)


@pytest.mark.parametrize(
    ("elements", "missing"),
    [
        (("Li", "Er", "Cl"), []),
        (("Li", "Y", "Br"), []),
        (("Li", "Zr", "Cl"), []),  # ZrCl4 from the ordering search
        (("Li", "Sn", "Cl"), ["Sn"]),
    ],
)
def test_halide_hulls_are_complete_except_for_uncovered_metals(elements, missing) -> None:
    from matscreen.physics.checks import missing_reference_elements
    from matscreen.physics.hull import reference_entries

    refs = reference_entries(elements, "chgnet")
    assert missing_reference_elements(set(elements), refs) == missing
