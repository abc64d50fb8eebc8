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
    if not math.isfinite(comp.num_atoms):
        raise ValueError("amounts must be finite numbers")
    return comp


_UNIT_AMOUNT = re.compile(r"([A-Z][a-z]?)1(?![\d.])")


def display_formula(composition: Composition) -> str:
    """Return the reduced formula as people write it: ``Li0.33La0.56TiO3``, not ``...Ti1O3``.

    pymatgen writes an amount of 1 in a formula with fractional amounts; it is
    left out here, as in integer formulas.
    """
    return _UNIT_AMOUNT.sub(r"\1", composition.reduced_formula)
