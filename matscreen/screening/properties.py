"""Per-candidate properties computed from composition alone.

- raw-element cost (USD/kg, pymatgen's element cost table),
- cathodes: theoretical capacity (Li-limited and redox-limited), average Mn
  oxidation state and Mn3+ fraction (Jahn-Teller / dissolution risk).

The oxidation-state bookkeeping assumes fixed states for spectator ions and
solves Mn (or the single variable transition metal) from charge neutrality.
"""

from __future__ import annotations

from functools import lru_cache

from pymatgen.core import Composition

FARADAY_MAH_PER_MOL = 26801.48  # F in mAh/mol

#: Oxidation states assumed for everything except the redox-active metal being solved.
FIXED_STATES: dict[str, float] = {
    "Li": 1, "Na": 1, "K": 1, "Mg": 2, "Ca": 2, "Zn": 2, "Al": 3, "Ga": 3, "Sc": 3,
    "Y": 3, "La": 3, "B": 3, "In": 3, "Zr": 4, "Hf": 4, "Ti": 4, "Si": 4, "Ge": 4, "Sn": 4,
    "Nb": 5, "Ta": 5, "P": 5, "W": 6, "Mo": 6, "Ru": 4, "Ni": 2, "Co": 3, "Fe": 2, "Cr": 3,
    "Cu": 2, "V": 3, "O": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1, "S": -2, "N": -3,
}  # fmt: skip
#: Highest oxidation state reached on charge (for the redox-limited capacity).
MAX_STATES: dict[str, float] = {
    "Mn": 4, "Ni": 4, "Co": 4, "Fe": 3, "Cr": 4, "Cu": 3, "V": 5, "Ti": 4, "Mo": 6, "Ru": 5,
}  # fmt: skip


@lru_cache(maxsize=65536)
def cost_usd_per_kg(formula: str) -> float:
    """Return the raw-element cost of a composition in USD/kg (pymatgen cost table)."""
    import warnings

    from pymatgen.analysis.cost import CostAnalyzer, CostDBElements

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(CostAnalyzer(_cost_db()).get_cost_per_kg(formula))


@lru_cache(maxsize=1)
def _cost_db():  # noqa: ANN202 - pymatgen type
    from pymatgen.analysis.cost import CostDBElements

    return CostDBElements()


def mn_oxidation_state(comp: Composition) -> float | None:
    """Return the average Mn oxidation state from charge neutrality, or None without Mn.

    Raises
    ------
    ValueError
        If another element has no assumed oxidation state.
    """
    amounts = comp.get_el_amt_dict()
    if "Mn" not in amounts:
        return None
    charge = 0.0
    for el, amt in amounts.items():
        if el == "Mn":
            continue
        if el not in FIXED_STATES:
            raise ValueError(f"no assumed oxidation state for {el}")
        charge += FIXED_STATES[el] * amt
    return -charge / amounts["Mn"]


def mn3_fraction(comp: Composition) -> float:
    """Return the fraction of Mn that is Mn3+ (0 for Mn4+ only, 1 for Mn3+ only).

    A Mn state between 3 and 4 is read as a Mn3+/Mn4+ mixture; below 3, Mn2+ is
    present and the Mn3+ fraction is taken as ``state - 2``.
    """
    state = mn_oxidation_state(comp)
    if state is None:
        return 0.0
    if state >= 3.0:
        return float(min(max(4.0 - state, 0.0), 1.0))
    return float(max(state - 2.0, 0.0))


def capacities_mAh_g(comp: Composition) -> tuple[float, float]:
    """Return (Li-limited, redox-limited) theoretical gravimetric capacity in mAh/g.

    Li-limited: every Li extracted. Redox-limited: Li extracted only as far as
    the transition metals can be oxidized (to :data:`MAX_STATES`), with the
    other metals at :data:`FIXED_STATES` and the variable one from neutrality.
    """
    amounts = comp.get_el_amt_dict()
    n_li = amounts.get("Li", 0.0)
    mass = comp.weight
    li_cap = n_li * FARADAY_MAH_PER_MOL / mass
    electrons = 0.0
    state = mn_oxidation_state(comp)
    for el, amt in amounts.items():
        if el not in MAX_STATES:
            continue
        current = state if el == "Mn" and state is not None else FIXED_STATES.get(el, MAX_STATES[el])
        electrons += max(MAX_STATES[el] - current, 0.0) * amt
    redox_cap = min(n_li, electrons) * FARADAY_MAH_PER_MOL / mass
    return float(li_cap), float(redox_cap)
