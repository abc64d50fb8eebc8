"""CV grouping: same paper or near-duplicate composition (``near_duplicate_groups``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matscreen.surrogates.conductivity import cv_grouping_label, cv_groups, grouped_cv_predictions
from matscreen.surrogates.forest import (
    atomic_fraction_matrix,
    near_duplicate_groups,
    table_sources,
)


def _same(labels: np.ndarray, i: int, j: int) -> bool:
    return bool(labels[i] == labels[j])


def test_atomic_fractions():
    fractions, ok = atomic_fraction_matrix(["Li3InCl6", "Qq2"])
    assert ok.tolist() == [True, False]
    np.testing.assert_allclose(fractions.sum(axis=1), [1.0, 0.0])
    assert fractions[0, 2] == pytest.approx(0.3)  # Li, Z = 3


def test_near_duplicates_share_a_group_and_distinct_rows_do_not():
    labels = near_duplicate_groups(["Li3InCl6", "Li2.99In1.01Cl6", "Li3YCl6", "Li7La3Zr2O12"])
    assert _same(labels, 0, 1)
    assert len({labels[0], labels[2], labels[3]}) == 3


def test_doping_series_chains_into_one_group():
    # neighbours differ by 0.016 in atomic-fraction L1; the ends by 0.032
    series = ["Li3InCl6", "Li3In0.92Y0.08Cl6", "Li3In0.84Y0.16Cl6"]
    labels = near_duplicate_groups([*series, "Li3YCl6"])
    assert labels.tolist() == [0, 0, 0, 1]
    ends = near_duplicate_groups([series[0], series[2]])
    assert ends.tolist() == [0, 1]
    assert near_duplicate_groups([series[0], series[2]], threshold=0.05).tolist() == [0, 0]
    assert near_duplicate_groups(series, threshold=0.0).tolist() == [0, 1, 2]


def test_same_source_shares_a_group():
    entries = ["Li3InCl6", "Li7La3Zr2O12", "Li3PO4", "Li6PS5Cl"]
    dois = ["10.1/ABC", "10.1/abc ", "10.2/x", None]
    labels = near_duplicate_groups(entries, sources=dois)
    assert _same(labels, 0, 1)  # DOIs compare case- and space-insensitively
    assert len({labels[0], labels[2], labels[3]}) == 3


def test_missing_sources_link_nothing():
    entries = ["Li3InCl6", "Li7La3Zr2O12", "Li3PO4", "Li6PS5Cl"]
    labels = near_duplicate_groups(entries, sources=[None, float("nan"), "", "  "])
    assert labels.tolist() == [0, 1, 2, 3]
    labels = near_duplicate_groups(entries, sources=pd.Series([pd.NA, pd.NA, None, "x"]))
    assert labels.tolist() == [0, 1, 2, 3]


def test_unreadable_entries_get_their_own_group():
    labels = near_duplicate_groups(["Qq3", "Li3InCl6", "Qq3", None, "Li3InCl6"])
    assert labels.tolist() == [0, 1, 2, 3, 1]
    linked = near_duplicate_groups(["Qq3", "Li3InCl6", "Qq3"], sources=["a", "b", "a"])
    assert linked.tolist() == [0, 1, 0]


def test_labels_and_argument_checks():
    assert near_duplicate_groups([]).tolist() == []
    labels = near_duplicate_groups(["Li3PO4", "Li3InCl6", "Li3PO4"])
    assert labels.dtype.kind == "i" and labels.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="sources"):
        near_duplicate_groups(["Li3PO4", "Li3InCl6"], sources=["a"])
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups(["Li3PO4"], threshold=-1.0)


def test_table_sources_reads_a_doi_column_in_any_case():
    assert table_sources(pd.DataFrame({"formula": ["LiCl"], "DOI": ["x"]})) == ["x"]
    assert table_sources(pd.DataFrame({"formula": ["LiCl"], "doi": ["y"]})) == ["y"]
    assert table_sources(pd.DataFrame({"formula": ["LiCl"]})) is None
    assert table_sources(pd.DataFrame({"formula": ["LiCl"], "doi": [float("nan")]})) is None
    assert table_sources(["LiCl"]) is None
    assert cv_grouping_label(pd.DataFrame({"formula": ["LiCl"], "doi": ["y"]})).startswith(
        "same paper (DOI)"
    )
    assert cv_grouping_label(["LiCl"]) == "atomic-fraction L1 < 0.02"


def test_obelix_cv_folds_split_no_paper_and_no_near_duplicate(obelix_train):
    groups = cv_groups(obelix_train)
    assert len(np.unique(groups)) == 107
    y = obelix_train["log10_sigma"].to_numpy()
    oof = grouped_cv_predictions(obelix_train, y, components=())
    np.testing.assert_array_equal(oof["groups"], groups)
    fold = oof["fold"]
    assert (pd.Series(fold).groupby(obelix_train["doi"].to_numpy()).nunique() == 1).all()
    fractions, _ = atomic_fraction_matrix(obelix_train["formula"])
    dist = np.abs(fractions[:, None, :] - fractions[None, :, :]).sum(-1)
    close = dist < 0.02
    assert (fold[:, None] == fold[None, :])[close].all()
