"""Known formulas: what ``datasets/`` (OBELiX, the known-compound library) and ``seeds/`` hold.

A proposal is *novel* when its reduced formula is not among them.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Composition

LOG = logging.getLogger(__name__)

__all__ = ["is_novel", "known_formulas", "reduced_formula"]


def reduced_formula(formula: str | Composition) -> str:
    """Pymatgen reduced formula of the smallest integer formula.

    ``'Li6Y2Cl12'`` and ``'Li3YCl6'`` compare equal, and so do fractional
    formulas with their integer multiples (``'Li2.5Y0.5Zr0.5Cl6'`` and
    ``'Li5YZrCl12'``; pymatgen's ``reduced_formula`` leaves fractional
    formulas as written). Each amount is read as the nearest fraction with a
    denominator up to 10,000 (exact for design grids and for amounts written
    with up to four decimals), then scaled by the common denominator.
    """
    import math
    from fractions import Fraction

    from pymatgen.core import Composition

    amounts = {el: Fraction(float(a)).limit_denominator(10_000)
               for el, a in Composition(formula).items() if a > 0}  # fmt: skip
    scale = math.lcm(*(f.denominator for f in amounts.values())) if amounts else 1
    return Composition({el: int(f * scale) for el, f in amounts.items()}).reduced_formula


@lru_cache(maxsize=1)
def known_formulas() -> frozenset[str]:
    """Return the reduced formulas of everything shipped that is a known material.

    OBELiX (all splits), the seed prototypes, the voltage data and the
    known-compound library of the hull references (Materials Project Li compounds).
    """
    import pandas as pd

    from matscreen.candidates.prototypes import list_prototypes, load_prototype
    from matscreen.core.paths import datasets_dir
    from matscreen.datasets import load_obelix
    from matscreen.physics.references import _known_compounds

    out: set[str] = set()
    for f in load_obelix("all", structures=False)["formula"]:
        try:
            out.add(reduced_formula(f))
        except Exception:  # noqa: BLE001 - an unreadable formula is simply not known
            LOG.debug("unreadable OBELiX formula %r", f)
    for name in list_prototypes():
        out.add(reduced_formula(load_prototype(name).composition))
    out.update(reduced_formula(name.split("-")[0]) for name in _known_compounds())
    volt = datasets_dir() / "cathode_voltages" / "train.csv"
    if volt.is_file():
        df = pd.read_csv(volt)
        for col in ("formula_charge", "formula_discharge"):
            for f in df[col]:
                try:
                    out.add(reduced_formula(f))
                except Exception:  # noqa: BLE001
                    pass
    return frozenset(out)


def is_novel(formula: str) -> bool:
    """Whether a formula is absent from the shipped data and seeds."""
    return reduced_formula(formula) not in known_formulas()
