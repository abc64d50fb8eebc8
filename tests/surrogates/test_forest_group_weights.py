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


def test_cell_std_calibration_with_some_rows_lacking_a_cell(small_train, monkeypatch):
    """Training data where only some rows have a cell: the cell forest's std scale comes
    from held-out cell rows, with the pooled composition forest fitted on all training rows
    of each fold (as deployed)."""
    import matscreen.surrogates.forest as forest_module

    df = small_train.copy()
    df.loc[df.index % 3 == 0, "space_group_number"] = np.nan  # a third without a cell
    y = df["log10_sigma"]
    fitted_rows: list[int] = []
    original = ConductivityForest.fit_comp_forest

    def spy(self, comp, y_, groups):
        fitted_rows.append(len(comp))
        return original(self, comp, y_, groups)

    monkeypatch.setattr(forest_module.ConductivityForest, "fit_comp_forest", spy)
    kw = dict(n_estimators=5, feature_views=("no_magpie",), random_state=0)
    model = ConductivityForest(**kw, group_weight_power=1.0, pool_comp_in_cell=True).fit(df, y)
    assert model.cell_model_ is not None
    assert np.isfinite(model.std_scale_cell_) and model.std_scale_cell_ > 0
    n_cell = int((df.index % 3 != 0).sum())
    # the cell calibration's composition forests saw rows without a cell too
    assert max(fitted_rows[-model.cv_folds :]) > n_cell
