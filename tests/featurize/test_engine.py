"""The chunked featurization engine: order, error isolation, cache, Dask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matscreen.featurize import engine as engine_mod
from matscreen.featurize.composition import ElementStatistics, StoichiometryNorms
from matscreen.featurize.engine import ERROR_COLUMN, FeatureCache, featurize, featurizer_signature
from matscreen.featurize.structure import DensityFeaturesFast
from matscreen.featurize.transport import LiTransportFeatures


def test_rows_keep_input_order_and_bad_rows_fail_alone(licl, nacl):
    fs = [StoichiometryNorms(p_list=(0, 2)), DensityFeaturesFast(), LiTransportFeatures()]
    table = featurize([licl, nacl, "Li2O", licl], fs, chunk_size=2)
    assert len(table) == 4
    assert table[ERROR_COLUMN].iloc[0] is None
    assert "no Li" in table[ERROR_COLUMN].iloc[1]
    # A formula has no structure: composition features computed, structure ones refused.
    assert table["0-norm"].iloc[2] == 2.0
    assert "needs a structure" in table[ERROR_COLUMN].iloc[2]
    pd.testing.assert_series_equal(table.iloc[0], table.iloc[3], check_names=False)
    assert table["density"].iloc[1] == pytest.approx(nacl.density)  # computed before the Li check


def test_cache_means_no_recompute(tmp_path, licl, monkeypatch):
    fs = [ElementStatistics(), DensityFeaturesFast()]
    first = featurize([licl, "LiCl"], fs, cache_dir=tmp_path)
    calls = []
    original = engine_mod.featurize_chunk
    monkeypatch.setattr(engine_mod, "featurize_chunk", lambda *a: calls.append(a) or original(*a))
    again = featurize([licl, "LiCl"], fs, cache_dir=tmp_path)
    assert calls == []
    pd.testing.assert_frame_equal(first, again)
    # A new entry computes only itself.
    featurize([licl, "Li2O"], fs, cache_dir=tmp_path)
    assert len(calls) == 1 and len(calls[0][0]) == 1


def test_cache_is_keyed_by_featurizer_parameters(tmp_path):
    a = featurizer_signature([StoichiometryNorms(p_list=(2,))])
    b = featurizer_signature([StoichiometryNorms(p_list=(3,))])
    assert a != b
    cache = FeatureCache(tmp_path)
    assert cache.load(a, ["c:Li1 Cl1"], ["2-norm"]).empty


def test_engine_on_a_local_dask_cluster_matches_serial(licl, lifepo4):
    from distributed import Client, LocalCluster

    fs = [ElementStatistics(), DensityFeaturesFast(), LiTransportFeatures()]
    entries = [licl, lifepo4] * 3 + ["Li3YCl6"]
    serial = featurize(entries, fs, chunk_size=2)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as lc,
        Client(lc) as client,
    ):
        parallel = featurize(entries, fs, client=client, chunk_size=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert np.isfinite(serial.iloc[:6, :-1].to_numpy(dtype=float)).all()


def test_cache_with_all_none_and_string_errors_reads_back(tmp_path, licl, nacl):
    fs = [DensityFeaturesFast(), LiTransportFeatures()]
    featurize([licl], fs, cache_dir=tmp_path)  # error column all None
    featurize([nacl], fs, cache_dir=tmp_path)  # error column a string
    again = featurize([licl, nacl], fs, cache_dir=tmp_path)
    assert again[ERROR_COLUMN].iloc[0] is None and "no Li" in again[ERROR_COLUMN].iloc[1]


def test_corrupt_cache_is_ignored(tmp_path, licl):
    fs = [DensityFeaturesFast()]
    featurize([licl], fs, cache_dir=tmp_path)
    for part in tmp_path.rglob("*.parquet"):
        part.write_bytes(b"not parquet")
    table = featurize([licl], fs, cache_dir=tmp_path)
    assert table[ERROR_COLUMN].iloc[0] is None and table["density"].iloc[0] > 0
