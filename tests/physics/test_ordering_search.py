"""MLIP search over cation orderings on close-packed anion lattices."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from matscreen.physics.ordering_search import (
    SHIPPED_FORMULAS,
    _distinct_placements,
    anion_frameworks,
    load_ordered_reference,
    search_cation_ordering,
)


def test_frameworks_hold_the_anions_and_one_hole_per_anion() -> None:
    frameworks = anion_frameworks("Cl", 16)
    assert {name.split()[0] for name, _ in frameworks} == {"ccp", "hcp"}
    for _, s in frameworks:
        symbols = [site.specie.symbol for site in s]
        assert symbols.count("Cl") == 16 and len(symbols) == 32
        # close packed: every anion has 12 anion neighbours at the contact distance
        anions = s.copy()
        anions.remove_species(["X0+"])
        shells = anions.get_all_neighbors(anions.lattice.abc[0] * 2)
        contact = min(n.nn_distance for shell in shells for n in shell)
        counts = [sum(n.nn_distance < contact * 1.05 for n in shell) for shell in shells]
        assert counts == [12] * 16
    with pytest.raises(ValueError, match="n_anions"):
        anion_frameworks("Cl", 12)
    with pytest.raises(ValueError, match="anion"):
        anion_frameworks("Xe", 16)


def test_distinct_placements_collapse_symmetry_equivalents() -> None:
    _, ccp = anion_frameworks("Cl", 8)[0]
    placements = _distinct_placements(ccp, "Cl", "Zr", 2, {"Zr": 4.0, "Cl": -2.0})
    assert 1 < len(placements) < 28  # C(8, 2) = 28 placements, far fewer distinct
    energies = [e for e, _ in placements]
    assert energies == sorted(energies)


@pytest.mark.slow
def test_search_finds_rock_salt_for_licl() -> None:
    """LiCl fills every octahedral hole: the ccp framework (rock salt) must beat hcp (NiAs)."""
    result = search_cation_ordering("LiCl", "chgnet", n_anions=8, top_k=3, steps=150)
    assert result.framework.startswith("ccp")
    assert result.structure.composition.reduced_formula == "LiCl"
    assert result.relaxed_energies[0] == pytest.approx(result.energy_per_atom)


def test_search_refuses_what_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="binary"):
        search_cation_ordering("Li3YCl6")
    with pytest.raises(ValueError, match="holes"):
        search_cation_ordering("Li2O", n_anions=8)  # two cations per anion: tetrahedral, not here


def test_shipped_structures_load_with_their_formula() -> None:
    for formula in SHIPPED_FORMULAS:
        s = load_ordered_reference(formula)
        assert s.composition.reduced_formula == Composition(formula).reduced_formula
    with pytest.raises(KeyError, match="no searched"):
        load_ordered_reference("NaCl")


@pytest.mark.slow
def test_searched_zrcl4_makes_the_li_zr_cl_hull_complete() -> None:
    """Li2ZrCl6 (a made compound) relaxes onto, or below, the LiCl + ZrCl4 hull."""
    from pathlib import Path

    from pymatgen.core import Structure

    from matscreen.physics.checks import missing_reference_elements
    from matscreen.physics.hull import cached_reference_entries, structure_hull

    seeds = Path(__file__).resolve().parents[2] / "seeds" / "prototypes"
    s = Structure.from_file(seeds / "Li2ZrCl6_P-3m1.cif")
    refs = cached_reference_entries("chgnet", ("Cl", "Li", "Zr"))
    assert missing_reference_elements({"Li", "Zr", "Cl"}, refs) == []
    hull, _ = structure_hull(s, "chgnet", relax=True, references=refs, fmax=0.05, steps=300)
    assert hull.status == "ok"
    assert hull.e_above_hull < 0.025  # measured -0.029 eV/atom
    assert "ZrCl4" in hull.decomposition


NEW_OXIDES = ("ZrO2", "HfO2", "Al2O3", "Ga2O3", "LiNbO3", "LiTaO3", "La2O3", "La2Zr2O7", "Li2ZrO3")


@pytest.mark.parametrize("name", [*NEW_OXIDES, *SHIPPED_FORMULAS])
def test_builtin_structure_matches_its_shipped_relaxed_energy(name: str) -> None:
    """The structure a built-in name builds is the one whose relaxed energy ships (single point)."""
    from matscreen.physics.hull import static_energies
    from matscreen.physics.references import ReferenceCache, builtin_reference_structure

    shipped = ReferenceCache("chgnet", "0.3.0").get(name)
    assert shipped is not None, f"{name} has no shipped CHGNet energy"
    s = builtin_reference_structure(name)
    assert s.composition.reduced_formula == Composition(name).reduced_formula
    single = static_energies([s], "chgnet")[0]
    assert single == pytest.approx(shipped["energy_per_atom"], abs=0.1)  # unrelaxed: higher
    assert single >= shipped["energy_per_atom"] - 0.005


def test_oxide_references_match_experimental_formation_enthalpies() -> None:
    """CHGNet formation enthalpies of the shipped oxides are within 0.2 eV/atom of experiment."""
    from matscreen.physics.references import ReferenceCache, mp_elemental_references

    exp = {"ZrO2": -3.791, "Al2O3": -3.458, "LiNbO3": -2.830, "Li2ZrO3": -3.044, "La2O3": -3.721}
    elem = mp_elemental_references()
    cache = ReferenceCache("chgnet", "0.3.0")
    for name, h_exp in exp.items():
        comp = Composition(name)
        e_form = (
            cache.get(name)["energy_per_atom"]
            - sum(elem[el.symbol].energy_per_atom * amt for el, amt in comp.items())
            / comp.num_atoms
        )
        assert e_form == pytest.approx(h_exp, abs=0.2), name
