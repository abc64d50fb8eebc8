"""ConductivityForest: estimator contract on real OBELiX rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from matscreen.surrogates.forest import ConductivityForest, calibration_factor

from .conftest import TINY_FOREST


@pytest.fixture(scope="module")
def fitted(small_train):
    model = ConductivityForest(**TINY_FOREST, cv_folds=3)
    assert model.fit(small_train, small_train["log10_sigma"]) is model
    return model


def test_sklearn_checks_that_apply():
    # check_estimator feeds numeric matrices; these models read compositions,
    # so only the data-free parts of the sklearn contract are checked.
    est = ConductivityForest()
    check_parameters_default_constructible("ConductivityForest", est)
    check_no_attributes_set_in_init("ConductivityForest", est)
    check_get_params_invariance("ConductivityForest", est)
    assert clone(est).get_params() == est.get_params()


def test_not_fitted():
    with pytest.raises(NotFittedError):
        ConductivityForest().predict(["Li3InCl6"])


def test_predict_shapes_and_std(fitted, small_train):
    mean = fitted.predict(small_train.head(7))
    assert mean.shape == (7,)
    mean, std = fitted.predict(["Li3InCl6", "Li3PO4"], return_std=True)
    assert mean.shape == std.shape == (2,)
    assert (std > 0).all() and np.isfinite(mean).all()
    assert fitted.std_scale_cell_ > 0 and fitted.std_scale_comp_ > 0


def test_routing_cell_vs_composition(fitted, small_train):
    comp, cell, errors, _ = fitted.featurize(small_train.head(5))
    assert all(e is None for e in errors)
    _, _, used_cell = fitted.predict_features(comp, cell)
    assert used_cell.all()
    comp, cell, _, _ = fitted.featurize(list(small_train["formula"].head(5)))
    _, _, used_cell = fitted.predict_features(comp, cell)
    assert not used_cell.any()


def test_structure_input_uses_cell(fitted, licl):
    comp, cell, errors, _ = fitted.featurize([licl])
    assert errors == [None]
    assert np.isfinite(cell).all() and cell[0, 0] == 225  # Fm-3m
    assert fitted.predict([licl]).shape == (1,)


def test_deterministic(small_train):
    y = small_train["log10_sigma"]
    a = ConductivityForest(**TINY_FOREST, calibrate=False, random_state=3).fit(small_train, y)
    b = ConductivityForest(**TINY_FOREST, calibrate=False, random_state=3).fit(small_train, y)
    np.testing.assert_array_equal(a.predict(small_train), b.predict(small_train))


def test_bad_rows_raise(fitted):
    with pytest.raises(ValueError, match="row 1"):
        fitted.predict(["Li3InCl6", "Qq3"])


def test_calibration_factor():
    rng = np.random.default_rng(0)
    res = rng.normal(size=20000) * 2.0
    assert calibration_factor(res, np.ones_like(res)) == pytest.approx(2.0, rel=0.05)


def test_chemistry_features_li3incl6_and_garnet():
    from pymatgen.core import Composition

    from matscreen.surrogates.features import CHEMISTRY_LABELS, chemistry_features

    f = dict(zip(CHEMISTRY_LABELS, chemistry_features(Composition("Li3InCl6")), strict=True))
    assert f["flag_li3mx6"] == 1.0 and f["anion_frac_soft_halide"] == 1.0
    assert f["mean_nonli_charge_implied"] == 3.0 and f["mean_nonli_charge_nominal"] == 3.0
    assert abs(f["li_vacancy_proxy"]) < 1e-9
    g = dict(zip(CHEMISTRY_LABELS, chemistry_features(Composition("Li7La3Zr2O12")), strict=True))
    assert g["flag_garnet"] == 1.0 and g["flag_li3mx6"] == 0.0


def test_median_of_trees_is_the_default_and_differs_from_the_mean(small_train):
    from matscreen.surrogates.forest import forest_center_std

    y = small_train["log10_sigma"].to_numpy()
    model = ConductivityForest(**TINY_FOREST, calibrate=False).fit(small_train, y)
    assert model.aggregate == "median"
    comp, _, _, _ = model.featurize(["Li3InCl6", "Li7La3Zr2O12", "Li3PO4"])
    per_tree = np.stack([t.predict(comp) for t in model.comp_model_.estimators_])
    med, sd = forest_center_std(model.comp_model_, comp, "median")
    mean, _ = forest_center_std(model.comp_model_, comp, "mean")
    np.testing.assert_allclose(med, np.median(per_tree, axis=0))
    np.testing.assert_allclose(mean, per_tree.mean(axis=0))
    np.testing.assert_allclose(sd, np.maximum(per_tree.std(axis=0), 1e-3))
    np.testing.assert_allclose(model.predict(["Li3InCl6", "Li7La3Zr2O12", "Li3PO4"]), med)


def test_unknown_aggregate_is_refused(small_train):
    y = small_train["log10_sigma"].to_numpy()
    with pytest.raises(ValueError, match="aggregate"):
        ConductivityForest(**TINY_FOREST, aggregate="mode").fit(small_train, y)


def test_composition_views_select_the_documented_columns():
    from matscreen.surrogates.features import (
        CHEMISTRY_LABELS,
        composition_labels,
        composition_view_columns,
    )

    labels = composition_labels()
    assert len(composition_view_columns("all")) == len(labels)
    no_magpie = [labels[i] for i in composition_view_columns("no_magpie")]
    assert no_magpie and not any(label.startswith("MagpieData") for label in no_magpie)
    assert "frac_Li" in no_magpie and "li_per_anion" in no_magpie
    chemistry = [labels[i] for i in composition_view_columns("chemistry")]
    assert chemistry == list(CHEMISTRY_LABELS)
    with pytest.raises(ValueError, match="feature view"):
        composition_view_columns("magpie_only")


def test_composition_labels_match_the_feature_block():
    from matscreen.surrogates.features import composition_block, composition_labels

    _, labels, _ = composition_block(["Li3InCl6"])
    assert tuple(labels) == composition_labels()


def test_feature_views_pool_the_trees_of_one_forest_per_view(small_train):
    from matscreen.surrogates.forest import ViewForest, forest_center_std

    y = small_train["log10_sigma"].to_numpy()
    views = ("no_magpie", "chemistry")
    model = ConductivityForest(**TINY_FOREST, feature_views=views, calibrate=False)
    model.fit(small_train, y)
    assert isinstance(model.comp_model_, ViewForest)
    assert isinstance(model.cell_model_, ViewForest)
    comp, cell, _, _ = model.featurize(small_train.iloc[:5])
    per_tree = model.cell_model_.tree_predictions(np.hstack([comp, cell]))
    assert per_tree.shape == (len(views) * TINY_FOREST["n_estimators"], 5)
    med, _ = forest_center_std(model.cell_model_, np.hstack([comp, cell]))
    np.testing.assert_allclose(med, np.median(per_tree, axis=0))
    mean, std = model.predict(small_train.iloc[:5], return_std=True)
    np.testing.assert_allclose(mean, med)
    assert np.isfinite(std).all() and (std > 0).all()


def test_feature_views_ignore_the_magpie_statistics(small_train):
    from matscreen.surrogates.features import composition_labels

    y = small_train["log10_sigma"].to_numpy()
    model = ConductivityForest(**TINY_FOREST, feature_views=("no_magpie",), calibrate=False)
    model.fit(small_train, y)
    comp, cell, _, _ = model.featurize(["Li3InCl6", "Li7La3Zr2O12"])
    is_magpie = np.array([label.startswith("MagpieData") for label in composition_labels()])
    shuffled = comp.copy()
    shuffled[:, is_magpie] = 123.0
    np.testing.assert_allclose(
        model.predict_features(comp, cell)[0], model.predict_features(shuffled, cell)[0]
    )
