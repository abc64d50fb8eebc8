"""Curated common oxidation states and a charge-balance check.

SMACT's default oxidation-state set (ICSD 2024) is deliberately permissive (Y
from +1 to +4, so "Li3YCl5" balances). For screening battery materials we want
the states a solid-state chemist would write down, so this module keeps a
small, explicit table. Transition metals that really change valence in
cathodes and oxides (Mn3+/Mn4+ in LiMn2O4, Ni2+/Mn4+ in LNMO) are marked
*mixed-valent*: their average oxidation state may take any value between their
lowest and highest listed state.

Examples
--------
>>> is_charge_balanced("Li3YCl6")
True
>>> is_charge_balanced("Li3YCl5")
False
>>> is_charge_balanced("LiMn2O4")
True
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Composition

LOG = logging.getLogger(__name__)

#: Common oxidation states; the first entry is the nominal state used for
#: Li compensation and Ewald ordering.
COMMON_OXIDATION_STATES: dict[str, tuple[int, ...]] = {
    # alkali / alkaline earth
    "Li": (1,),
    "Na": (1,),
    "K": (1,),
    "Rb": (1,),
    "Cs": (1,),
    "Be": (2,),
    "Mg": (2,),
    "Ca": (2,),
    "Sr": (2,),
    "Ba": (2,),
    # p-block and post-transition metals
    "B": (3,),
    "Al": (3,),
    "Ga": (3,),
    "In": (3,),
    "Tl": (1, 3),
    "Si": (4,),
    "Ge": (4,),
    "Sn": (4, 2),
    "Pb": (2,),
    "P": (5,),
    "As": (5,),
    "Sb": (5, 3),
    "Bi": (3,),
    "Se": (-2,),
    "Te": (6, -2),
    "S": (-2, 6),
    "N": (-3,),
    "O": (-2,),
    "F": (-1,),
    "Cl": (-1,),
    "Br": (-1,),
    "I": (-1,),
    # d-block
    "Sc": (3,),
    "Y": (3,),
    "Zr": (4,),
    "Hf": (4,),
    "Nb": (5,),
    "Ta": (5,),
    "Ti": (4, 3),
    "V": (5, 3, 4),
    "Cr": (3, 4),
    "Mo": (6, 4),
    "W": (6,),
    "Mn": (3, 2, 4),
    "Fe": (3, 2),
    "Co": (3, 2, 4),
    "Ni": (2, 3, 4),
    "Cu": (2, 1),
    "Zn": (2,),
    "Cd": (2,),
    "Ag": (1,),
    "Ru": (4, 5, 3),  # Ru3+ in RuCl3 and the Li3RuCl6-type halides
    "Rh": (3,),
    "Pd": (2,),
    # lanthanides
    "La": (3,),
    "Ce": (3, 4),
    "Pr": (3,),
    "Nd": (3,),
    "Sm": (3,),
    "Eu": (3, 2),
    "Gd": (3,),
    "Tb": (3,),
    "Dy": (3,),
    "Ho": (3,),
    "Er": (3,),
    "Tm": (3,),
    "Yb": (3,),
    "Lu": (3,),
}

#: Elements whose average oxidation state may lie anywhere between their lowest
#: and highest common state (mixed valence).
MIXED_VALENT: frozenset[str] = frozenset(
    {"Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Mo", "Ru", "Ce", "Eu"}
)

#: Pseudo-species for an empty site (vacancy); charge 0.
VACANCY = "Vac"

_TOL = 1e-6


def common_oxidation_states(symbol: str) -> tuple[int, ...]:
    """Return the curated common oxidation states of an element.

    Parameters
    ----------
    symbol
        Element symbol, e.g. ``"Mn"``; ``"Vac"`` (vacancy) gives ``(0,)``.

    Raises
    ------
    ValueError
        If the symbol is not an element, or has no curated oxidation state.
    """
    if symbol == VACANCY:
        return (0,)
    if symbol in COMMON_OXIDATION_STATES:
        return COMMON_OXIDATION_STATES[symbol]
    from pymatgen.core import Element

    if not Element.is_valid_symbol(symbol):
        raise ValueError(f"unknown element {symbol!r}")
    raise ValueError(
        f"no curated common oxidation state for {symbol!r}; add it to "
        "matscreen.candidates.oxidation.COMMON_OXIDATION_STATES"
    )


def nominal_oxidation_state(symbol: str) -> int:
    """Return the nominal (first-listed) common oxidation state of an element."""
    return common_oxidation_states(symbol)[0]


def _as_amounts(composition: Composition | str | dict[str, float]) -> dict[str, float]:
    if isinstance(composition, dict):
        return {str(k): float(v) for k, v in composition.items() if abs(float(v)) > _TOL}
    from pymatgen.core import Composition

    comp = Composition(composition)
    return {el.symbol: float(amt) for el, amt in comp.element_composition.items()}


def charge_range(composition: Composition | str | dict[str, float]) -> list[tuple[float, float]]:
    """Return the achievable total-charge intervals of a composition.

    Each non-mixed-valent element takes one of its common states; mixed-valent
    elements contribute an interval (lowest..highest state times amount).

    Returns
    -------
    list of (low, high)
        One interval per combination of discrete states.
    """
    amounts = _as_amounts(composition)
    fixed = [(el, amt) for el, amt in amounts.items() if el not in MIXED_VALENT]
    mixed = [(el, amt) for el, amt in amounts.items() if el in MIXED_VALENT]
    lo_mixed = sum(min(common_oxidation_states(el)) * amt for el, amt in mixed)
    hi_mixed = sum(max(common_oxidation_states(el)) * amt for el, amt in mixed)
    choices = [common_oxidation_states(el) for el, _ in fixed]
    out = []
    for states in itertools.product(*choices):
        base = sum(s * amt for s, (_, amt) in zip(states, fixed, strict=True))
        out.append((base + lo_mixed, base + hi_mixed))
    return out


def is_charge_balanced(composition: Composition | str | dict[str, float]) -> bool:
    """Return whether a composition can be neutral with common oxidation states.

    Parameters
    ----------
    composition
        pymatgen ``Composition``, formula string, or ``{element: amount}``.

    Returns
    -------
    bool
        True if some assignment of common states (mixed valence allowed for
        the elements in :data:`MIXED_VALENT`) gives zero total charge.

    Examples
    --------
    >>> is_charge_balanced("LiNi0.5Mn1.5O4")
    True
    >>> is_charge_balanced("Li2ZrCl5")
    False
    """
    try:
        ranges = charge_range(composition)
    except ValueError as exc:
        LOG.debug("charge balance: %s", exc)
        return False
    return any(lo - _TOL <= 0.0 <= hi + _TOL for lo, hi in ranges)


def average_oxidation_states(amounts: dict[str, float]) -> dict[str, float]:
    """Assign one (average) oxidation state per element, neutralising the formula.

    Every element starts from its nominal state; the remaining charge is then
    absorbed by the mixed-valent elements one after the other (Mn first),
    each within its allowed range. When that leaves a residual, the other
    common states of elements with several discrete ones (S as S6+ in a
    sulfate, Sn2+, Sb3+, ...) are tried, fewest departures from the nominal
    states first, elements in alphabetical order (so the result does not depend
    on the order of ``amounts``). Used to decorate structures for Ewald sums and
    BVSE maps.

    Raises
    ------
    ValueError
        If the composition cannot be balanced this way.
    """
    mixed = sorted(
        (el for el, amt in amounts.items() if el in MIXED_VALENT and amt > _TOL),
        key=lambda el: (_ADJUST_PRIORITY.index(el) if el in _ADJUST_PRIORITY else 99, el),
    )
    discrete = sorted(
        el for el in amounts if el not in mixed and len(common_oxidation_states(el)) > 1
    )
    choices = sorted(  # stable: within one number of departures, the product's order
        itertools.product(*(common_oxidation_states(el) for el in discrete)),
        key=lambda c: sum(
            q != nominal_oxidation_state(el) for el, q in zip(discrete, c, strict=True)
        ),
    )
    first_residual = None
    for choice in choices:
        states = {el: float(nominal_oxidation_state(el)) for el in amounts}
        states.update({el: float(q) for el, q in zip(discrete, choice, strict=True)})
        residual = sum(states[el] * amt for el, amt in amounts.items())
        for el in mixed:
            if abs(residual) <= 1e-4:
                break
            amt = amounts[el]
            lo, hi = min(common_oxidation_states(el)), max(common_oxidation_states(el))
            new = min(max(states[el] - residual / amt, lo), hi)
            residual += (new - states[el]) * amt
            states[el] = new
        if abs(residual) <= 1e-4:
            return states
        first_residual = residual if first_residual is None else first_residual
    raise ValueError(f"composition {amounts} cannot be balanced (residual {first_residual:+.3f})")


#: Order in which mixed-valent elements absorb charge when decorating a
#: structure (Mn first: Ni2+/Mn4+ in LNMO, Fe2+/Mn2+ in olivines).
_ADJUST_PRIORITY = ("Mn", "Cr", "Fe", "Co", "V", "Ti", "Mo", "Ru", "Cu", "Ni", "Ce", "Eu")
