"""Per-candidate properties computed from composition alone.

- raw-element cost (USD/kg, the element prices shipped in ``datasets/element_prices``),
- cathodes: theoretical capacity (Li-limited and redox-limited); the Mn3+
  fraction lives with the other cathode physics in
  :func:`matscreen.physics.voltage.mn3_fraction`.

Oxidation states come from :func:`matscreen.candidates.oxidation.average_oxidation_states`
(nominal states for spectator ions, mixed-valent metals absorbing the rest, Mn first).
"""

from __future__ import annotations

from functools import lru_cache

from pymatgen.core import Composition

from matscreen.candidates.oxidation import average_oxidation_states

FARADAY_MAH_PER_MOL = 26801.48  # F in mAh/mol

#: Highest oxidation state reached on charge (for the redox-limited capacity).
MAX_STATES: dict[str, float] = {
    "Mn": 4, "Ni": 4, "Co": 4, "Fe": 3, "Cr": 4, "Cu": 3, "V": 5, "Ti": 4, "Mo": 6, "Ru": 5,
}  # fmt: skip


@lru_cache(maxsize=65536)
def cost_usd_per_kg(formula: str) -> float:
    """Return the raw-element cost of a composition in USD/kg.

    The mass-weighted mean of the element prices shipped in
    ``datasets/element_prices`` (:func:`~matscreen.datasets.load_element_prices`,
    mostly 2019-2020 market prices); NaN when an element has no price.

    Examples
    --------
    >>> cost_usd_per_kg("LiFePO4") < cost_usd_per_kg("LiCoO2")
    True
    """
    from pymatgen.core import Composition

    from matscreen.datasets.element_prices import load_element_prices

    prices = load_element_prices()
    comp = Composition(formula)
    total = 0.0
    for el, amount in comp.items():
        price = prices.get(el.symbol)
        if price is None:
            return float("nan")
        total += amount * float(el.atomic_mass) * price
    return total / comp.weight


def removable_li(comp: Composition) -> float:
    """Return the Li per formula unit that can leave as the transition metals oxidize.

    As far as the metals can be oxidized (to :data:`MAX_STATES`) from their
    charge-neutral average states, and no more than the Li there is (0 for
    fixed-valence compounds such as Li3YCl6).
    """
    amounts = comp.get_el_amt_dict()
    electrons = 0.0
    states = average_oxidation_states(amounts) if any(el in MAX_STATES for el in amounts) else {}
    for el, amt in amounts.items():
        if el in MAX_STATES:
            electrons += max(MAX_STATES[el] - states[el], 0.0) * amt
    return float(min(amounts.get("Li", 0.0), electrons))


def capacities_mAh_g(comp: Composition) -> tuple[float, float]:
    """Return (Li-limited, redox-limited) theoretical gravimetric capacity in mAh/g.

    Li-limited: every Li extracted. Redox-limited: Li extracted only as far as
    the transition metals can be oxidized (:func:`removable_li`).
    """
    mass = comp.weight
    li_cap = comp.get_el_amt_dict().get("Li", 0.0) * FARADAY_MAH_PER_MOL / mass
    redox_cap = removable_li(comp) * FARADAY_MAH_PER_MOL / mass
    return float(li_cap), float(redox_cap)
