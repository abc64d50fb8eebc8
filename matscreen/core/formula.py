"""Read chemical formulas as users write them (adducts and hydrates included)."""

from __future__ import annotations

import math
import re

from pymatgen.core import Composition

#: Separators of an adduct or hydrate formula (``Li2SO4·H2O``, ``LiOH*H2O``).
ADDUCT_SEPARATORS: tuple[str, ...] = ("·", "•", "∙", "*")
_DOT_HYDRATE = re.compile(r"\.\s*\d*\s*H2O\s*$")


def parse_formula(formula: str) -> Composition:
    """Parse a formula, adducts included: ``Li2SO4·H2O``, ``LiBr*2H2O``.

    Each part of an adduct may start with a multiplier. A ``.`` is a decimal
    point to pymatgen (``Li3InCl6.2H2O`` would read as Cl6.2 H2 O), so a
    formula ending in ``.nH2O`` is refused with a hint to write ``·``.

    Parameters
    ----------
    formula
        The formula text.

    Returns
    -------
    pymatgen.core.Composition
        The composition (amounts as written, not reduced).

    Raises
    ------
    ValueError
        If the formula cannot be read, an adduct part is empty or has a zero
        multiplier, or an amount is not finite.

    Examples
    --------
    >>> parse_formula("LiBr*2H2O").formula
    'Li1 H4 Br1 O2'
    """
    text = formula.strip()
    if _DOT_HYDRATE.search(text):
        raise ValueError(
            "a '.' is a decimal point in a formula; write a hydrate with · or * (Li3InCl6·2H2O)"
        )
    for sep in ADDUCT_SEPARATORS[1:]:
        text = text.replace(sep, ADDUCT_SEPARATORS[0])
    if ADDUCT_SEPARATORS[0] not in text:
        comp = Composition(text)
    else:
        comp = Composition()
        for part in text.split(ADDUCT_SEPARATORS[0]):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)?\s*(.+?)\s*", part)
            if match is None:
                raise ValueError("an empty part between separators")
            multiplier = float(match.group(1) or 1)
            if multiplier <= 0:
                raise ValueError(f"a zero multiplier ({part.strip()})")
            comp += Composition(match.group(2)) * multiplier
    check_amounts(comp)
    return comp


#: Largest amount of one element in a formula (per formula unit).
MAX_AMOUNT = 1e6
#: Largest ratio between the amounts of two elements of one formula: a dopant at a
#: hundred-thousandth of the host is below what a composition model can tell from the host.
MAX_AMOUNT_RATIO = 1e5


def check_amounts(comp: Composition) -> None:
    """Refuse amounts no compound is written with (``Li1e10Cl``, ``LiCl1e-9``).

    Such formulas are typing slips; read as written they overflow the models'
    float32 features or put a compound at the composition of an element.

    Parameters
    ----------
    comp
        The composition.

    Raises
    ------
    ValueError
        If an amount is not finite or exceeds :data:`MAX_AMOUNT`, or two
        amounts differ by more than :data:`MAX_AMOUNT_RATIO` (negative
        amounts pymatgen refuses before).
    """
    amounts = {getattr(el, "symbol", str(el)): float(amt) for el, amt in comp.items()}
    if not all(math.isfinite(a) for a in amounts.values()):
        raise ValueError("amounts must be finite numbers")
    if not amounts:
        return
    big = max(amounts, key=amounts.__getitem__)
    small = min(amounts, key=amounts.__getitem__)
    if amounts[big] > MAX_AMOUNT:
        raise ValueError(
            f"{amounts[big]:g} {big} per formula unit is out of range (at most {MAX_AMOUNT:g}); "
            "write the formula per formula unit"
        )
    if amounts[small] > 0 and amounts[big] / amounts[small] > MAX_AMOUNT_RATIO:
        raise ValueError(
            f"amounts {amounts[big]:g} {big} and {amounts[small]:g} {small} differ by more "
            f"than a factor {MAX_AMOUNT_RATIO:g}: a typing slip? (a dopant that dilute is "
            "invisible to a composition model; leave it out)"
        )


def fraction_distance(a: Composition, b: Composition) -> float:
    """Return the L1 distance between the atomic fractions of two compositions (0 to 2)."""
    fa, fb = (
        a.element_composition.fractional_composition,
        b.element_composition.fractional_composition,
    )
    return float(sum(abs(fa[el] - fb[el]) for el in {*fa.elements, *fb.elements}))


_UNIT_AMOUNT = re.compile(r"([A-Z][a-z]?)1(?![\d.])")


def display_formula(composition: Composition) -> str:
    """Return the reduced formula as people write it: ``Li0.33La0.56TiO3``, not ``...Ti1O3``.

    pymatgen writes an amount of 1 in a formula with fractional amounts; it is
    left out here, as in integer formulas.
    """
    return _UNIT_AMOUNT.sub(r"\1", composition.reduced_formula)
