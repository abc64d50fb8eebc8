# ruff: noqa: D103
"""Voltage: pair normalisation, Mn3+ bookkeeping, surrogate CV, MLIP voltages."""

from __future__ import annotations

import numpy as np
import pytest

from matscreen.physics.references import cathode_structure
from matscreen.physics.voltage import (
    PHYSICS_COLUMNS,
    VoltageSurrogate,
    _icsd_redox_step,
    _oxide_curvature,
    _oxide_redox_step,
    framework_features,
    grouped_cv,
    insertion_pair,
    load_voltage_data,
    mlip_voltage,
    mn3_fraction,
    redox_family,
    redox_states,
    voltage_features,
)


def test_insertion_pair_normalises_host() -> None:
    x_c, x_d, host = insertion_pair("Mn(NbS2)3", "LiMn2(NbS2)6")
    assert (x_c, x_d) == (0.0, 0.5) and host.reduced_formula == "Mn(NbS2)3"
    x_c, x_d, host = insertion_pair("Mn2O4", "LiMn2O4")  # per reduced host MnO2
    assert (x_c, x_d, host.reduced_formula) == (0.0, 0.5, "MnO2")
    with pytest.raises(ValueError, match="host"):
        insertion_pair("Mn2O4", "LiFe2O4")
    with pytest.raises(ValueError, match="columns look swapped"):
        insertion_pair("LiMn2O4", "Mn2O4")
    with pytest.raises(ValueError, match="no more Li"):
        insertion_pair("LiMn2O4", "LiMn2O4")
    with pytest.raises(ValueError, match="takes up Na, not Li: the working ion here is Li"):
        insertion_pair("FePO4", "NaFePO4")
    with pytest.raises(ValueError, match="takes up Mg, not Li"):
        insertion_pair("Mo6S8", "MgMo6S8")
    # formulas are read as the other commands read them: hydrates, absurd amounts refused
    assert insertion_pair("FePO4·H2O", "LiFePO4*H2O")[:2] == (0.0, 1.0)
    assert redox_family("FePO4·2H2O") == "Fe" and mn3_fraction("LiMn2O4·Li2O") == 0.5
    with pytest.raises(ValueError, match="out of range"):
        insertion_pair("FePO4", "Li1e10FePO4")


def test_redox_family_and_mn3() -> None:
    assert redox_family("LiNi0.5Mn1.5O4") == "Mn"
    assert redox_family("LiFePO4") == "Fe"
    assert mn3_fraction("LiMn2O4") == pytest.approx(0.5)
    assert mn3_fraction("LiNi0.5Mn1.5O4") == pytest.approx(0.0)
    assert mn3_fraction("LiMnO2") == pytest.approx(1.0)
    assert mn3_fraction("LiCoO2") is None


def _states(charge: str, discharge: str) -> tuple[dict[str, float], dict[str, float]]:
    x_c, x_d, host = insertion_pair(charge, discharge)
    items = tuple(sorted((el.symbol, float(amt)) for el, amt in host.items()))
    return redox_states(items, x_c, x_d)


@pytest.mark.parametrize(
    ("charge", "discharge", "element", "before", "after"),
    [
        ("Ni0.5Mn1.5O4", "LiNi0.5Mn1.5O4", "Ni", 2.0, 4.0),  # Mn stays 4+
        ("Li0.5Mn0.5Fe0.5PO4", "LiMn0.5Fe0.5PO4", "Fe", 2.0, 3.0),  # Fe before Mn
        ("FeSO4F", "LiFeSO4F", "Fe", 2.0, 3.0),
        ("AgBi2F12", "LiAgBi2F12", "Ag", 1.0, 2.0),  # Bi stays 5+
        ("K3YbV2O8", "K3LiYbV2O8", "V", 4.5, 5.0),  # Yb3+ is a spectator
    ],
)
def test_redox_states_put_electrons_on_the_right_cation(
    charge: str, discharge: str, element: str, before: float, after: float
) -> None:
    s_d, s_c = _states(charge, discharge)
    assert s_d[element] == pytest.approx(before) and s_c[element] == pytest.approx(after)
    for el in s_d:  # charging oxidises, never reduces
        assert s_c[el] >= s_d[el] - 1e-9


def test_redox_states_fixed_species_and_fallbacks() -> None:
    s_d, s_c = _states("Mn0.5Fe0.5PO4", "LiMn0.5Fe0.5PO4")
    assert s_d["P"] == s_c["P"] == 5.0 and s_d["O"] == -2.0
    assert s_d["Mn"] == s_d["Fe"] == 2.0 and s_c["Mn"] == s_c["Fe"] == 3.0
    s_d, s_c = _states("MnO3", "Li2MnO3")  # rare Mn6+ only when nothing common balances
    assert (s_d["Mn"], s_c["Mn"]) == (4.0, 6.0)
    s_d, s_c = _states("NiO3", "Li2NiO3")  # no Ni6+ in the ICSD: equal-share fallback
    assert (s_d["Ni"], s_c["Ni"], s_c["O"]) == (4.0, 6.0, -2.0)
    with pytest.raises(ValueError, match="redox"):
        _states("LiAlCl4", "Li2AlCl4")  # nothing can be oxidised


def test_voltage_features_physics_columns() -> None:
    F = voltage_features(
        ["FePO4", "CoO2", "Mn2O4", "Xq2O"], ["LiFePO4", "LiCoO2", "LiFe2O4", "LiXqO"]
    )
    phys = F[PHYSICS_COLUMNS]
    assert np.isfinite(phys.iloc[:2].to_numpy()).all()
    assert phys.iloc[2:].isna().all(axis=None)  # no shared host / unreadable formula
    fe, co = phys.iloc[0], phys.iloc[1]
    assert (fe.redox_ox_discharge, fe.redox_ox_charge) == (2.0, 3.0)
    assert fe.redox_ie_couple_eV == pytest.approx(30.65, abs=0.1)  # Fe2+ -> Fe3+
    assert fe.polyanion_frac_O == 1.0 and co.polyanion_frac_O == 0.0
    assert co.redox_ie_couple_eV > fe.redox_ie_couple_eV


def test_oxide_redox_step_from_experimental_enthalpies() -> None:
    # Mn2O3 -> MnO2 (about -0.43 eV per Mn) gives less than MnO -> Mn2O3 (-0.98 eV):
    # the higher the state, the less a further oxidation gains
    mn34, mn23 = _oxide_redox_step("Mn", 3), _oxide_redox_step("Mn", 2)
    assert mn34 == pytest.approx(-0.43, abs=0.05)
    assert mn23 < mn34 < 0
    # Ni has only NiO tabulated: beyond it the curve bends with the pooled curvature,
    # so Ni2+ -> Ni3+ -> Ni4+ gain less and less (not the 0 -> 2 average repeated)
    b = _oxide_curvature()
    assert 0.05 < b < 0.5
    ni = [_oxide_redox_step("Ni", k) for k in range(4)]
    assert ni[0] < ni[1] < ni[2] < ni[3]
    assert ni[2] - ni[1] == pytest.approx(2 * b)
    assert ni[0] + ni[1] == pytest.approx(-2.48, abs=0.02)  # still through NiO
    # a wide gap (Mo metal -> MoO2) is bowed, not linear: Mo3+ -> Mo4+ gains less than average
    assert _oxide_redox_step("Mo", 3) > _oxide_redox_step("Mo", 0)
    # an element with no binary oxide in the table falls back to the median of the others
    assert np.isfinite(_oxide_redox_step("Pm", 3))
    F = voltage_features(["FePO4"], ["LiFePO4"])
    assert F["redox_oxide_dH_eV"].iloc[0] == pytest.approx(_oxide_redox_step("Fe", 2))


def test_icsd_redox_step_ranks_couples() -> None:
    # a rarely seen oxidised state (Cr4+, Cu3+) costs more than the usual one (Ti4+, W6+)
    assert _icsd_redox_step("Cr", 3) > 1.0 and _icsd_redox_step("Cu", 2) > 1.0
    assert _icsd_redox_step("Ti", 3) < 0 and _icsd_redox_step("W", 5) < 0
    assert _icsd_redox_step("Cr", 2) < _icsd_redox_step("Cr", 3)  # Cr2+ oxidises readily
    assert _icsd_redox_step("Pm", 3) == 0.0  # no data
    F = voltage_features(["CrO2", "TiO2"], ["LiCrO2", "LiTiO2"])
    assert F["redox_icsd_step"].iloc[0] == pytest.approx(_icsd_redox_step("Cr", 3))
    assert F["redox_icsd_step"].iloc[0] > F["redox_icsd_step"].iloc[1]


def test_framework_features_per_redox_atom() -> None:
    fw = framework_features(
        ["FePO4", "Ni0.5Mn1.5O4", "Mn2O4"], ["LiFePO4", "LiNi0.5Mn1.5O4", "LiFe2O4"]
    )
    assert fw.iloc[0][["fw_P", "fw_O", "fw_Li_charge", "fw_Li_discharge"]].tolist() == [
        1.0,
        4.0,
        0.0,
        1.0,
    ]
    # LNMO: Ni is the couple, Mn4+ belongs to the framework (per Ni)
    assert fw.iloc[1]["fw_Mn"] == pytest.approx(3.0) and fw.iloc[1]["fw_O"] == pytest.approx(8.0)
    assert "fw_Ni" not in fw.columns or fw.iloc[1]["fw_Ni"] == 0.0
    assert fw.iloc[2].isna().all()  # no shared host


def test_surrogate_grouped_cv_beats_mean_predictor() -> None:
    df = load_voltage_data().sample(400, random_state=0)
    cv = grouped_cv(df, n_splits=3, estimator=VoltageSurrogate(n_estimators=40))
    assert cv["mae"] < 0.85 * cv["mae_mean_predictor"]
    assert np.isfinite(cv["oof_pred"]).all()


def test_surrogate_predict_with_std_and_bad_rows(caplog: pytest.LogCaptureFixture) -> None:
    df = load_voltage_data().sample(300, random_state=1)
    model = VoltageSurrogate(n_estimators=30).fit(df, df["voltage"])
    with caplog.at_level("WARNING", logger="matscreen.physics.voltage"):
        mean, std = model.predict([("Mn2O4", "LiMn2O4"), ("Mn2O4", "LiFe2O4")], return_std=True)
    assert 3.0 < mean[0] < 5.0 and std[0] > 0
    assert np.isnan(mean[1]) and np.isnan(std[1])
    assert "1 of 2 electrode pair(s) predicted NaN; pair 1 (Mn2O4 / LiFe2O4)" in caplog.text
    # sklearn API: params round-trip, linear trend leaves out element identity
    assert VoltageSurrogate(alpha=3.0).get_params()["alpha"] == 3.0
    assert VoltageSurrogate(trend_weight=0.5).get_params()["trend_weight"] == 0.5
    assert "redox_Z" in model.tree_columns_ and "redox_Z" not in model.linear_columns_
    assert "fw_Li_discharge" in model.framework_columns_
    # LNMO (Ni2+/Ni4+) sits above LMO (Mn3+/Mn4+)
    lmo, lnmo = model.predict([("Mn2O4", "LiMn2O4"), ("Ni0.5Mn1.5O4", "LiNi0.5Mn1.5O4")])
    assert lnmo > lmo
    # a couple beyond the states of the training pairs is named (Mn6+, conversion to Co0)
    low, high = model.state_ranges_["Mn"]
    assert low <= 3.5 and 4.0 <= high < 6.0
    notes = model.domain_notes([("Mn2O4", "LiMn2O4"), ("MnO3", "Li2MnO3"), ("CoO", "Li2OCo")])
    assert notes[0] is None
    assert notes[1].startswith("Mn 4+ -> 6+ leaves the Mn states of the training pairs")
    assert "Co 0 -> 2+" in notes[2] and notes[2].endswith("an extrapolation")
    # no pairs: empty arrays (a TypeError before); structures in a table's formula columns
    assert model.predict([]).shape == (0,) and model.predict([], return_std=True)[1].shape == (0,)
    import pandas as pd

    cells = pd.DataFrame({"formula_charge": [cathode_structure("Mn2O4")],
                          "formula_discharge": [cathode_structure("LiMn2O4")]})  # fmt: skip
    assert model.predict(cells)[0] == pytest.approx(lmo)


def test_surrogate_inputs_noise_floor_and_unfitted_error() -> None:
    from pymatgen.core import Composition
    from sklearn.exceptions import NotFittedError

    from matscreen.physics.voltage import _label_noise, pair_error

    with pytest.raises(NotFittedError):
        VoltageSurrogate().predict([("CoO2", "LiCoO2")])
    df = load_voltage_data().sample(300, random_state=1)
    model = VoltageSurrogate(n_estimators=30).fit(df, df["voltage"])
    # one bare pair, Compositions and structures are read as formulas, not as text
    one = model.predict(("Mn2O4", "LiMn2O4"))
    comps = model.predict([(Composition("Mn2O4"), Composition("LiMn2O4"))])
    assert one.shape == (1,) and np.allclose(one, comps) and np.isfinite(one).all()
    assert np.allclose(model.predict(np.array([["Mn2O4", "LiMn2O4"]])), one)  # rows of an array
    # training pairs: the std is at least the label noise, not the ~0 of grown trees
    mean, std = model.predict(df.head(5), return_std=True)
    assert model.noise_std_ > 0.02 and (std >= model.noise_std_ - 1e-12).all()
    ys = np.array([3.32, 3.40, 3.50, 4.0])
    noise = _label_noise(["FePO4"] * 3 + ["CoO2"], ["LiFePO4"] * 3 + ["LiCoO2"], ys, ys > 0)
    assert noise == pytest.approx(np.std(ys[:3], ddof=1))
    # reasons, and precision differences of one host
    assert "no redox-active cation" in pair_error("C6", "LiC6")
    assert "unknown element" in pair_error("Xx2O", "LiXx2O")
    assert pair_error("Ni0.33Mn0.33Co0.33O2", "LiNi0.333Mn0.333Co0.333O2") is None


def test_mlip_lmo_and_lnmo_voltages() -> None:
    # pre-relaxed structures ship with the package, so the relaxations here are short
    lmo = mlip_voltage(
        cathode_structure("LiMn2O4", "chgnet"), cathode_structure("Mn2O4", "chgnet"), "chgnet"
    )
    assert lmo.status == "ok", lmo.error
    assert lmo.voltage == pytest.approx(4.05, abs=0.4)
    assert lmo.capacity_mAh_g == pytest.approx(148.2, abs=1.0)
    assert lmo.mn3_fraction_discharge == pytest.approx(0.5)
    assert lmo.volume_change_pct < 0  # the spinel shrinks on delithiation
    lnmo = mlip_voltage(
        cathode_structure("LiNi0.5Mn1.5O4", "chgnet"),
        cathode_structure("Ni0.5Mn1.5O4", "chgnet"),
        "chgnet",
    )
    assert lnmo.status == "ok" and lnmo.voltage > lmo.voltage
    assert lnmo.mn3_fraction_discharge == pytest.approx(0.0)


def test_an_unconverged_voltage_says_so_and_ase_atoms_are_read() -> None:
    """Three relaxation steps of a 15 % expanded LiMn2O4: a voltage, ok, but not a clean one
    (it read ok with no word); the cells given as ASE Atoms, as INTERFACE.md allows."""
    from pymatgen.io.ase import AseAtomsAdaptor

    lmo = cathode_structure("LiMn2O4", "chgnet")
    lmo.scale_lattice(lmo.volume * 1.15)
    mo = lmo.copy()
    mo.remove_species(["Li"])
    rec = mlip_voltage(AseAtomsAdaptor.get_atoms(lmo), AseAtomsAdaptor.get_atoms(mo), "chgnet",
                       steps=3)  # fmt: skip
    assert rec.status == "ok" and rec.error is None and rec.voltage is not None
    assert "discharged LiMn2O4 relaxation not converged" in rec.note
    assert "its last energy used" in rec.note


def test_mlip_voltage_names_an_implausible_pair() -> None:
    """A charged cell blown up 40x in volume (isolated atoms, no forces to bring them back)
    gives a number, but with a note on the volume change and the voltage range."""
    lmo = cathode_structure("LiMn2O4", "chgnet")
    mo = lmo.copy()
    mo.remove_species(["Li"])
    mo.scale_lattice(mo.volume * 40)
    rec = mlip_voltage(lmo, mo, "chgnet", relax=False)
    assert rec.status == "ok" and rec.volume_change_pct > 1000
    assert "between the relaxed cells: a cell far from any equilibrium" in rec.note
    assert "outside the 0-6 V of Li insertion electrodes" in rec.note
    clean = mlip_voltage(lmo, lmo.copy().remove_species(["Li"]), "chgnet", relax=False)
    assert clean.note is None or "volume change" not in clean.note


def test_mlip_voltage_rejects_mismatched_hosts() -> None:
    rec = mlip_voltage(cathode_structure("LiMnPO4"), cathode_structure("Mn2O4"), "chgnet")
    assert rec.status == "failed" and "host" in rec.error


def test_aqueous_potential_and_hull_voltage() -> None:
    from matscreen.physics.voltage import _aqueous_potential

    assert _aqueous_potential("Fe", 2) == pytest.approx(0.771)  # Fe3+/Fe2+
    assert _aqueous_potential("V", 2) < _aqueous_potential("V", 3) < _aqueous_potential("V", 4)
    assert _aqueous_potential("Mn", 6) == _aqueous_potential("Mn", 5)  # nearest tabulated step
    assert np.isfinite(_aqueous_potential("Pm", 3))  # untabulated element: median
    F = voltage_features(["CoO2", "FePO4", "TiO2"], ["LiCoO2", "LiFePO4", "LiTiO2"])
    assert F["redox_E0_aq_V"].tolist() == pytest.approx([1.416, 0.771, 0.1])
    assert F["hull_voltage_known"].tolist() == [1.0, 0.0, 1.0]
    assert F["hull_voltage_V"].iloc[0] == pytest.approx(3.53, abs=0.02)  # Alexandria Li-Co-O
    assert F["hull_voltage_V"].iloc[1] == 0.0
