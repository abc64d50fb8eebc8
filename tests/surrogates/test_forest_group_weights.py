"""Group-size weights of the composition forest and pooling of its trees into the cell forest."""

import numpy as np

from matscreen.surrogates.forest import ConductivityForest, group_size_weights


def test_group_size_weights_give_each_group_equal_total_weight_at_power_one():
    w = group_size_weights(np.array([0, 0, 0, 1, 2, 2]), 1.0)
    assert np.isclose(w.mean(), 1.0)
    totals = [w[:3].sum(), w[3:4].sum(), w[4:].sum()]
    assert np.allclose(totals, totals[0])
    assert group_size_weights(np.array([0, 1]), 0.0) is None


def test_pooled_cell_prediction_uses_cell_and_composition_trees(small_train):
    df = small_train
    y = df["log10_sigma"]
    kw = dict(n_estimators=5, feature_views=("no_magpie",), calibrate=False, random_state=0)
    plain = ConductivityForest(**kw).fit(df, y)
    pooled = ConductivityForest(**kw, group_weight_power=1.0, pool_comp_in_cell=True).fit(df, y)
    m_plain, _, used_plain = plain.predict_features(*plain.featurize(df)[:2])
    m_pool, s_pool, used_pool = pooled.predict_features(*pooled.featurize(df)[:2])
    assert used_pool.any() and (used_pool == used_plain).all()
    assert np.isfinite(m_pool).all() and (s_pool > 0).all()
    assert not np.allclose(m_plain[used_pool], m_pool[used_pool])
