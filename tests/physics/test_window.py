# ruff: noqa: D103
"""Electrochemical windows and reactivity against shipped references."""

from __future__ import annotations

import pytest

from matscreen.physics.hull import reference_entries
from matscreen.physics.window import (
    cathode_compatibility,
    moisture_reactivity,
    stability_window,
)


def _split(refs: list, formula: str) -> tuple:
    cand = min(
        (e for e in refs if e.composition.reduced_formula == formula),
        key=lambda e: e.energy_per_atom,
    )
    return cand, [e for e in refs if e.composition.reduced_formula != formula]


def test_li3ycl6_window() -> None:
    refs = reference_entries(["Li", "Y", "Cl"], "chgnet")
    cand, others = _split(refs, "Li3YCl6")
    w = stability_window(cand, others)
    assert w.status == "ok", w.error
    assert w.window_low_V > 0.3 and w.window_high_V > 3.8
    assert w.window_low_V < 1.2 and w.window_high_V < 4.6  # DFT literature 0.62 / 4.21 V
    assert "LiCl" in w.reduction_products and "Y" in w.reduction_products
    assert "Cl2" in w.oxidation_products or "YCl3" in w.oxidation_products


def test_licl_window_and_no_li_phase() -> None:
    refs = reference_entries(["Li", "Cl"], "chgnet")
    cand, others = _split(refs, "LiCl")
    w = stability_window(cand, others)
    assert w.status == "ok" and w.window_low_V == pytest.approx(0.0, abs=1e-6)
    assert 3.8 < w.window_high_V < 4.6
    ycl3, rest = _split(reference_entries(["Y", "Cl"], "chgnet"), "YCl3")
    assert stability_window(ycl3, rest).status == "failed"


def test_moisture_li2o_reacts_and_cathode_compatibility() -> None:
    refs = reference_entries(["Li", "O", "H"], "chgnet")
    li2o, others = _split(refs, "Li2O")
    r = moisture_reactivity(li2o, others)
    assert r.status == "ok" and r.reaction_energy < -0.1  # Li2O + H2O -> 2 LiOH
    refs = reference_entries(["Li", "Mn", "O"], "chgnet")
    lmo, others = _split(refs, "LiMn2O4")
    li2o, _ = _split(refs, "Li2O")
    c = cathode_compatibility(li2o, lmo, [e for e in others if e is not li2o])
    assert c.status == "ok" and c.reaction_energy <= 0.0


def test_latio3_is_the_stable_ti3_perovskite_of_la_ti_o() -> None:
    # the reduction product of LLTO (with it the LLTO reduction limit is 1.72 V, DFT ~1.75 V)
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    refs = reference_entries(["La", "Ti", "O"], "chgnet")
    pd_ = PhaseDiagram(refs)
    latio3, _ = _split(refs, "LaTiO3")
    assert pd_.get_e_above_hull(latio3) == pytest.approx(0.0, abs=1e-6)
    # below the La2O3 + Ti2O3 tie line, by an acid-base mixing energy of tens of meV/atom
    mix = pd_.get_form_energy_per_atom(latio3) - 0.5 * sum(
        pd_.get_form_energy_per_atom(_split(refs, f)[0]) for f in ("La2O3", "Ti2O3")
    )
    assert -0.2 < mix < -0.02


def test_linbo3_reduces_to_li3nbo4_and_linbo2_first() -> None:
    # LiNbO3, the usual cathode coating: without LiNbO2 (Nb3+) among the references it reduced
    # at 0.80 V (CHGNet) towards Nb metal; with LiNbO2 the first step was LiNbO2 + Li2O at
    # 1.04 V; with Li3NbO4 too (built in since 2026-11-29) it is Li3NbO4 + LiNbO2 at ~1.5 V
    from matscreen.physics.hull import cached_reference_entries

    # with the prototype binaries, as predict stability uses them (Nb2O5 and NbO2 among them)
    refs = cached_reference_entries("chgnet", ("Li", "Nb", "O"), prototype_binaries=True)
    cand, others = _split(refs, "LiNbO3")
    w = stability_window(cand, others)
    assert w.status == "ok", w.error
    assert 1.3 < w.window_low_V < 1.8 and 3.6 < w.window_high_V < 4.3
    assert {"LiNbO2", "Li3NbO4"} <= set(w.reduction_products)
