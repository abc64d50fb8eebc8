"""A compound's own delithiated cell competes for its oxidation limit."""

from __future__ import annotations

import pandas as pd
import pytest
from pymatgen.core import Composition, Structure

from matscreen.physics.delithiation import delithiated_cell
from matscreen.physics.tables import predict_stability_table
from matscreen.physics.templates import template_structures


def test_fixed_valence_compounds_have_no_delithiated_cell(licl: Structure) -> None:
    assert delithiated_cell(licl) == (None, "")


def test_only_the_li_the_metals_can_pay_for_leaves() -> None:
    # Ti3+ -> Ti4+ pays for one Li of three: Li2TiCl6, the remaining Li ordered on the Li sites
    (_, cell), *_ = template_structures(Composition("Li3TiCl6"))
    out, how = delithiated_cell(cell)
    assert out is not None and out.is_ordered
    assert out.composition.reduced_formula == "Li2TiCl6"
    assert "removed" in how and "ordered" in how
    # an approximant of a compound whose metals are at their highest state (its rounded
    # counts left Ti below 4+) loses no Li: the compound's own formula caps the share
    assert delithiated_cell(cell, nominal=Composition("Li2.2Ti0.95Cl6")) == (None, "")
    half, _ = delithiated_cell(cell, nominal=Composition("Li6Ti2.5Cl15"))  # 1 Li in 6 paid for
    assert half is not None and half.composition.reduced_formula == "Li5(TiCl6)2"


def test_olivines_oxidise_in_the_order_of_their_plateaus() -> None:
    """Without heterosite FePO4 among the references, LiFePO4's oxidation limit was 4.90 V
    (Fe2O3 + P2O5); the Fe phosphates built in since (FePO4, Fe3(PO4)2, Fe2P2O7, LiFeP2O7,
    Li3Fe2(PO4)3) put it at the Fe2+/Fe3+ couple. Measured: 3.45 V (the LiFePO4/FePO4
    plateau); CHGNet gives 3.25 V (to Li3Fe2(PO4)3 + Fe3(PO4)2, 0.27 V before FePO4),
    tolerance 0.4 V as for the LiMn2O4 voltage check. MnPO4 and CoPO4 are no references:
    LiMnPO4 and LiCoPO4 get their limits from their own delithiated cells, in the order of the
    measured plateaus (3.45 < 4.1 < 4.8 V; CHGNet 3.25 < 3.68 < 4.21). The hull alone, with
    the M2+ phosphates built in, splits them at or above that (3.97 V to Mn2P2O7 + MnO2 +
    Li4P2O7, 4.21 V to Co3(PO4)2 + CoO2 + LiPO3; 5 V and more before them). Li3YCl6 (Y3+,
    nothing to oxidise) keeps its window."""
    table = pd.DataFrame({"formula": ["LiFePO4", "LiMnPO4", "LiCoPO4", "Li3YCl6"]})
    out = predict_stability_table(table, calculator="chgnet", progress=False)
    fe, mn, co, y = (out.iloc[i] for i in range(4))
    assert (out["status"] == "ok").all()
    assert fe["window_high_V"] == pytest.approx(3.45, abs=0.4)
    assert fe["window_high_V"] < mn["window_high_V"] < co["window_high_V"]
    for row, charged in ((mn, "MnPO4"), (co, "CoPO4")):
        note = row["result_note"]
        assert f"own delithiation to {charged}" in note and "without it" in note
        hull_only = float(note.split("without it: ")[1].split(" V")[0])
        assert row["window_high_V"] <= hull_only < 4.6
    assert fe["window_low_V"] < fe["window_high_V"]
    assert y["window_high_V"] > 3.8 and "delithiation" not in str(y["result_note"])
