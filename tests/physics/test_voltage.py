# ruff: noqa: D103
"""Voltage: pair normalisation, Mn3+ bookkeeping, surrogate CV, MLIP voltages."""

from __future__ import annotations

import numpy as np
import pytest

from matscreen.physics.references import cathode_structure
from matscreen.physics.voltage import (
    VoltageSurrogate,
    grouped_cv,
    insertion_pair,
    load_voltage_data,
    mlip_voltage,
    mn3_fraction,
    redox_family,
)


def test_insertion_pair_normalises_host() -> None:
    x_c, x_d, host = insertion_pair("Mn(NbS2)3", "LiMn2(NbS2)6")
    assert (x_c, x_d) == (0.0, 0.5) and host.reduced_formula == "Mn(NbS2)3"
    x_c, x_d, host = insertion_pair("Mn2O4", "LiMn2O4")  # per reduced host MnO2
    assert (x_c, x_d, host.reduced_formula) == (0.0, 0.5, "MnO2")
    with pytest.raises(ValueError, match="host"):
        insertion_pair("Mn2O4", "LiFe2O4")
    with pytest.raises(ValueError, match="no more Li"):
        insertion_pair("LiMn2O4", "Mn2O4")


def test_redox_family_and_mn3() -> None:
    assert redox_family("LiNi0.5Mn1.5O4") == "Mn"
    assert redox_family("LiFePO4") == "Fe"
    assert mn3_fraction("LiMn2O4") == pytest.approx(0.5)
    assert mn3_fraction("LiNi0.5Mn1.5O4") == pytest.approx(0.0)
    assert mn3_fraction("LiMnO2") == pytest.approx(1.0)
    assert mn3_fraction("LiCoO2") is None


def test_surrogate_grouped_cv_beats_mean_predictor() -> None:
    df = load_voltage_data().sample(400, random_state=0)
    cv = grouped_cv(df, n_splits=3, estimator=VoltageSurrogate(n_estimators=40))
    assert cv["mae"] < 0.85 * cv["mae_mean_predictor"]
    assert np.isfinite(cv["oof_pred"]).all()


def test_surrogate_predict_with_std_and_bad_rows() -> None:
    df = load_voltage_data().sample(300, random_state=1)
    model = VoltageSurrogate(n_estimators=30).fit(df, df["voltage"])
    mean, std = model.predict([("Mn2O4", "LiMn2O4"), ("Mn2O4", "LiFe2O4")], return_std=True)
    assert 3.0 < mean[0] < 5.0 and std[0] > 0
    assert np.isnan(mean[1]) and np.isnan(std[1])


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


def test_mlip_voltage_rejects_mismatched_hosts() -> None:
    rec = mlip_voltage(cathode_structure("LiMnPO4"), cathode_structure("Mn2O4"), "chgnet")
    assert rec.status == "failed" and "host" in rec.error
