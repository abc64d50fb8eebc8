# ruff: noqa: D103
"""Tests for the shipped prototype library."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

from matscreen.candidates import (
    is_charge_balanced,
    list_prototypes,
    load_prototype,
    prototype_info,
)
from matscreen.candidates.prototypes import FAMILIES

REQUIRED = {
    "Li3YCl6_P-3m1": "P-3m1",
    "Li3InCl6_C2m": "C2/m",
    "Li2ZrCl6_P-3m1": "P-3m1",
    "Li7La3Zr2O12_I41acd": "I4_1/acd",
    "LiTi2(PO4)3_R-3c": "R-3c",
    "Li0.5La0.5TiO3_P4mmm": "P4/mmm",
    "Li3OCl_Pm-3m": "Pm-3m",
    "LiMn2O4_Fd-3m": "Fd-3m",
    "LiNi0.5Mn1.5O4_P4332": "P4_332",
    "Li2MnO3_C2m": "C2/m",
    "LiMnO2_C2m": "C2/m",
    "LiMnPO4_Pnma": "Pnma",
}
NAMES = list_prototypes()


def test_required_prototypes_present() -> None:
    assert set(REQUIRED) <= set(NAMES)
    for family in FAMILIES:
        assert list_prototypes(family)
    assert sum(len(list_prototypes(f)) for f in FAMILIES) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_prototype_sane(name: str) -> None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = load_prototype(name)
    info = prototype_info(name)
    assert s.is_ordered
    assert is_charge_balanced(s.composition)
    assert s.composition.fractional_composition.almost_equals(
        Composition(info.formula).fractional_composition
    )
    assert len(s) == info.n_atoms
    dm = s.distance_matrix + np.eye(len(s)) * 100
    assert dm.min() > 1.4  # P-O bonds are ~1.5 A; cation-anion bonds checked below
    symbols = [site.specie.symbol for site in s]
    for i, j in zip(*np.where(dm < 1.8), strict=True):
        assert {symbols[i], symbols[j]} == {"P", "O"}, (symbols[i], symbols[j], dm[i, j])
    assert 1.5 < s.density < 6.5
    if name in REQUIRED:
        assert SpacegroupAnalyzer(s, symprec=0.02).get_space_group_symbol() == REQUIRED[name] or (
            # ordered approximant of Li3YCl6's half-occupied Li 6h: lower symmetry by design
            name == "Li3YCl6_P-3m1"
        )
    assert info.reference.doi.startswith("10.")


@pytest.mark.parametrize("name", NAMES)
def test_prototype_round_trips(name: str, tmp_path) -> None:
    s = load_prototype(name)
    path = tmp_path / "x.cif"
    s.to(filename=str(path))
    s2 = Structure.from_file(path)
    assert StructureMatcher().fit(s, s2)
    s3 = Structure.from_dict(json.loads(json.dumps(s.as_dict())))
    assert s3 == s


def test_unknown_prototype_lists_known_names() -> None:
    with pytest.raises(KeyError, match="Li3YCl6_P-3m1"):
        load_prototype("Li3XCl6")
    with pytest.raises(KeyError):
        prototype_info("nope")
    with pytest.raises(ValueError, match="halide_electrolyte"):
        list_prototypes("sulfide")


def test_load_returns_copy() -> None:
    s = load_prototype("Li3OCl_Pm-3m")
    s.replace_species({"Cl": "Br"})
    assert load_prototype("Li3OCl_Pm-3m").composition["Cl"] == 1
