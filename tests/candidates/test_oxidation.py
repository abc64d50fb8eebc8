# ruff: noqa: D103
"""Tests for the curated oxidation states and the charge-balance check."""

from __future__ import annotations

import pytest

from matscreen.candidates.oxidation import (
    average_oxidation_states,
    common_oxidation_states,
    is_charge_balanced,
)


@pytest.mark.parametrize(
    "formula",
    [
        "Li3YCl6",
        "LiMn2O4",
        "LiNi0.5Mn1.5O4",
        "Li2ZrCl6",
        "Li7La3Zr2O12",
        "Li2MnO3",
        "LiFe0.5Mn0.5PO4",
        "Li1.3Al0.3Ti1.7(PO4)3",
        "Li3OCl",
        "Li6.5La3Zr1.5Ta0.5O12",
        "Li3RuCl6",  # Ru3+
        "Li2Mn0.5Ru0.5O3",  # Ru4+
    ],
)
def test_balanced(formula: str) -> None:
    assert is_charge_balanced(formula)


@pytest.mark.parametrize("formula", ["Li3YCl5", "Li2ZrCl5", "Li4YCl6", "LiMnO4", "Li3OCl2"])
def test_unbalanced(formula: str) -> None:
    assert not is_charge_balanced(formula)


def test_restricted_states() -> None:
    assert common_oxidation_states("Y") == (3,)  # not SMACT's +1..+4
    with pytest.raises(ValueError, match="unknown element"):
        common_oxidation_states("Xx")


def test_average_states_lnmo() -> None:
    states = average_oxidation_states({"Li": 1, "Ni": 0.5, "Mn": 1.5, "O": 4})
    assert states["Ni"] == 2 and states["Mn"] == 4
    assert average_oxidation_states({"Li": 1, "Mn": 2, "O": 4})["Mn"] == pytest.approx(3.5)


def test_average_states_take_sulfate_sulfur_when_sulfide_cannot_balance() -> None:
    """S is S2- where that balances (Li3PS4, La2O2S) and S6+ in sulfates (Li2SO4, tavorite
    LiFeSO4F with Fe2+); an unbalanceable formula still raises."""
    assert average_oxidation_states({"Li": 3, "P": 1, "S": 4})["S"] == -2
    assert average_oxidation_states({"La": 2, "O": 2, "S": 1})["S"] == -2
    assert average_oxidation_states({"Li": 2, "S": 1, "O": 4})["S"] == 6
    states = average_oxidation_states({"Li": 1, "Fe": 1, "S": 1, "O": 4, "F": 1})
    assert (states["S"], states["Fe"]) == (6, 2)
    with pytest.raises(ValueError, match="cannot be balanced"):
        average_oxidation_states({"Li": 5, "Cl": 1})


def test_average_states_do_not_depend_on_the_order_of_the_elements() -> None:
    """SnSbO3.5 balances as Sn4+ Sb3+ or Sn2+ Sb5+ (one departure each): the same answer
    whichever element comes first; a single departure is preferred to two."""
    a = average_oxidation_states({"Sn": 1, "Sb": 1, "O": 3.5})
    b = average_oxidation_states({"Sb": 1, "Sn": 1, "O": 3.5})
    assert a == b
    assert sum(a[el] != q for el, q in (("Sn", 4), ("Sb", 5))) == 1
