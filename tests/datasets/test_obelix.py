"""OBELiX loader: real shipped data, no network."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matscreen.datasets import CENSORED_LOG10_SIGMA, load_obelix
from matscreen.datasets.obelix import cif_members, parse_conductivity

REQUIRED = (
    "id", "formula", "log10_sigma", "censored", "log10_sigma_bound", "space_group_number",
    "a", "b", "c", "alpha", "beta", "gamma", "family", "structure", "cell_formula", "Z",
)  # fmt: skip


@pytest.fixture(scope="module")
def all_rows():
    return load_obelix("all")


@pytest.mark.parametrize(
    ("split", "n_rows", "n_censored", "n_cif"),
    [("train", 478, 29, 254), ("test", 121, 8, 67), ("all", 599, 37, 321)],
    ids=["train", "test", "all"],
)
def test_split_shapes(split, n_rows, n_censored, n_cif):
    df = load_obelix(split, structures=False)
    assert len(df) == n_rows
    assert set(REQUIRED) <= set(df.columns)
    assert df["id"].is_unique
    assert int(df["censored"].sum()) == n_censored
    assert int(df["has_cif"].sum()) == n_cif
    assert df["structure"].isna().all()


def test_train_and_test_partition_all():
    train = load_obelix("train", structures=False)
    test = load_obelix("test", structures=False)
    full = load_obelix("all", structures=False)
    assert not set(train["id"]) & set(test["id"])
    assert set(train["id"]) | set(test["id"]) == set(full["id"])


def test_censored_rows(all_rows):
    cens = all_rows[all_rows["censored"]]
    assert (cens["log10_sigma"] == CENSORED_LOG10_SIGMA).all()
    assert set(cens["log10_sigma_bound"]) == {-10.0, -8.0}
    unc = all_rows[~all_rows["censored"]]
    assert unc["log10_sigma_bound"].isna().all()
    assert np.isfinite(unc["log10_sigma"]).all()
    assert unc["log10_sigma"].between(-20, 0).all()


def test_values_match_the_csv(all_rows):
    row = all_rows.set_index("id").loc["jqc"]
    assert row["formula"] == "Li7Bi1O6"
    assert math.isclose(row["log10_sigma"], math.log10(1.58489e-06))
    assert row["space_group_number"] == 2
    assert math.isclose(row["a"], 5.5071)


def test_structures_parsed_for_the_cif_subset(all_rows):
    from pymatgen.core import Composition, Structure

    has = all_rows["structure"].notna()
    assert has.sum() == 321
    assert (has == all_rows["has_cif"]).all()
    assert set(all_rows.loc[has, "id"]) == set(cif_members())
    for _, row in all_rows[has].head(25).iterrows():
        assert isinstance(row["structure"], Structure)
        assert {e.symbol for e in row["structure"].composition.elements} <= {
            e.symbol for e in Composition(row["formula"]).elements
        } | {"H", "D"}


def test_every_formula_parses(all_rows):
    from pymatgen.core import Composition

    for formula in all_rows["formula"]:
        assert Composition(formula).num_atoms > 0


def test_parse_conductivity():
    assert parse_conductivity("<1E-10") == (CENSORED_LOG10_SIGMA, True, -10.0)
    value, censored, bound = parse_conductivity(1e-3)
    assert math.isclose(value, -3.0) and not censored and math.isnan(bound)
    with pytest.raises(ValueError):
        parse_conductivity("n/a")
    with pytest.raises(ValueError):
        parse_conductivity("0")


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_obelix("validation")  # type: ignore[arg-type]
