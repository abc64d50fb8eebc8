"""Pareto ranking and composition-level properties."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition

from matscreen.physics.voltage import mn3_fraction
from matscreen.screening.pareto import pareto_rank
from matscreen.screening.properties import capacities_mAh_g, cost_usd_per_kg


def test_pareto_fronts_and_directions():
    values = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [1.0, 3.0], [np.nan, 0.0]])
    # maximize column 0, minimize column 1
    ranks = pareto_rank(values, [True, False])
    assert ranks.tolist() == [3, 2, 1, 2, 0]


def test_pareto_identical_points_share_a_front():
    values = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert pareto_rank(values, [True, True]).tolist() == [1, 1, 2]


@pytest.mark.parametrize(
    ("formula", "mn3", "capacity"),
    [
        ("LiMn2O4", 0.5, 148.2),
        ("LiNi0.5Mn1.5O4", 0.0, 146.7),
        ("LiMnO2", 1.0, 285.5),
        ("LiMnPO4", 0.0, 170.9),
    ],  # fmt: skip
    ids=["LMO", "LNMO", "LiMnO2", "LMP"],
)
def test_cathode_properties(formula, mn3, capacity):
    comp = Composition(formula)
    assert mn3_fraction(comp) == pytest.approx(mn3)
    li_cap, redox_cap = capacities_mAh_g(comp)
    assert li_cap == pytest.approx(capacity, abs=0.2)  # textbook theoretical capacities
    assert redox_cap == pytest.approx(capacity, abs=0.2)


def test_li2mno3_has_no_redox_capacity_from_mn4():
    li_cap, redox_cap = capacities_mAh_g(Composition("Li2MnO3"))
    assert li_cap == pytest.approx(458.9, abs=0.2) and redox_cap == 0.0


def test_cost_orders_cathodes_sensibly():
    """Raw-element costs from the shipped 2019-2020 prices (pymatgen's 2013 table made
    LiFePO4 30 times as costly as LiMn2O4: Fe 0.03, P 300 USD/kg)."""
    cost = cost_usd_per_kg
    assert cost("LiFePO4") == pytest.approx(cost("LiMn2O4"), rel=0.2)
    assert cost("LiMn2O4") < cost("LiNi0.5Mn1.5O4") < cost("LiCoO2")
    assert cost("Li3YCl6") < cost("Li3InCl6") < cost("Li3ScCl6")  # Sc, In: scarce metals
    assert cost("Li6PS5Cl") < cost("Li10GeP2S12")  # germanium
    # by hand: mass fractions times prices (Li 81.4, Mn 1.82, O 0.154 USD/kg)
    li, mn, o = 6.941, 54.938, 15.999
    by_hand = (li * 81.4 + 2 * mn * 1.82 + 4 * o * 0.154) / (li + 2 * mn + 4 * o)
    assert cost("LiMn2O4") == pytest.approx(by_hand, rel=1e-3)
    assert np.isnan(cost("Li2FrCl3"))  # no market price for francium


def test_the_reports_physics_table_puts_lower_bounds_after_real_hulls() -> None:
    """Li8La2ZrBr18 came out 0.68 eV/atom below a hull without La compounds and headed the
    table; a lower bound (hull_complete False) goes after every complete hull."""
    import pandas as pd

    from matscreen.report.html import physics_rows

    results = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "physics_status": ["ok", "ok", None, "ok", "failed"],
            "e_above_hull": [0.03, -0.68, None, 0.0, None],
            "hull_complete": [True, False, None, True, None],
        }
    )
    assert list(physics_rows(results)["id"]) == ["d", "a", "e", "b"]
    assert "_lower" not in physics_rows(results).columns


def test_a_cathode_without_redox_capacity_says_why_it_has_no_voltage() -> None:
    """Li2MnO3 (Mn4+) cannot be charged by Mn redox: NaN voltage, ok, and the reason."""
    from matscreen.screening.stages import _cathode_voltage

    formulas = ["LiMn2O4", "Li2MnO3"]
    caps = [capacities_mAh_g(Composition(f)) for f in formulas]
    props = {
        "capacity_li_mAh_g": [c[0] for c in caps],
        "capacity_redox_mAh_g": [c[1] for c in caps],
    }
    out = _cathode_voltage([{"formula": f} for f in formulas], [None, None], props)
    assert 3.0 < out.loc[0, "voltage"] < 5.0 and out.loc[0, "voltage_note"] is None
    assert np.isnan(out.loc[1, "voltage"]) and out.loc[1, "formula_charged"] is None
    assert out.loc[1, "voltage_note"].startswith("no redox capacity")


def test_an_out_of_domain_conductivity_says_why_in_the_screening_table() -> None:
    """sigma_out_of_domain is a flag; sigma_note carries predict conductivity's reason."""
    import pandas as pd

    from matscreen.screening.stages import _conductivity

    rows = [{"formula": "Li3InCl6"}, {"formula": "Li2PuCl5"}]
    out = _conductivity(rows, [None, None], [None, None])
    # None on pandas 2; NaN in pandas 3's "str" column (as the parquet checkpoints read back)
    assert pd.isna(out.loc[0, "sigma_note"]) and not out.loc[0, "sigma_out_of_domain"]
    assert out["sigma_note"].dtype != object or out.loc[0, "sigma_note"] is None
    assert out.loc[1, "sigma_note"] == "Pu in no training compound: an extrapolation"
    assert out.loc[1, "sigma_out_of_domain"]
