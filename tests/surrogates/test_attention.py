"""AttentionConductivityRegressor: contract, determinism, save/load, devices."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from matscreen.surrogates.attention import AttentionConductivityRegressor

from .conftest import TINY_ATTENTION


@pytest.fixture(scope="module")
def fitted(small_train):
    model = AttentionConductivityRegressor(**TINY_ATTENTION, seed=1)
    assert model.fit(small_train, small_train["log10_sigma"]) is model
    return model


def test_sklearn_checks_that_apply():
    est = AttentionConductivityRegressor()
    check_parameters_default_constructible("AttentionConductivityRegressor", est)
    check_no_attributes_set_in_init("AttentionConductivityRegressor", est)
    check_get_params_invariance("AttentionConductivityRegressor", est)
    assert clone(est).get_params() == est.get_params()


def test_runs_on_cpu_with_shapes_and_std(fitted):
    from pymatgen.core import Composition

    mean, std = fitted.predict(["Li3InCl6", Composition("Li3PO4"), "Li7La3Zr2O12"], return_std=True)
    assert mean.shape == std.shape == (3,)
    assert np.isfinite(mean).all() and (std > 0).all()
    assert fitted.device_ == "cpu"


def test_deterministic_with_seed(small_train):
    y = small_train["log10_sigma"]
    kw = {**TINY_ATTENTION, "n_members": 1}
    a = AttentionConductivityRegressor(**kw, seed=7).fit(small_train, y)
    b = AttentionConductivityRegressor(**kw, seed=7).fit(small_train, y)
    c = AttentionConductivityRegressor(**kw, seed=8).fit(small_train, y)
    x = list(small_train["formula"].head(10))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert not np.array_equal(a.predict(x), c.predict(x))


def test_save_load_weights_only(fitted, tmp_path):
    import torch

    path = tmp_path / "att.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    assert {"state_dict", "model_args", "versions"} <= set(payload)
    loaded = AttentionConductivityRegressor.load(path)
    x = ["Li3InCl6", "Li6PS5Cl"]
    np.testing.assert_allclose(loaded.predict(x), fitted.predict(x), rtol=1e-6)


def test_bad_element_is_rejected(fitted):
    with pytest.raises(ValueError, match="row 0"):
        fitted.predict(["Li3Zz"])


def test_cuda_request_falls_back_without_cuda(small_train):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present; covered by the gpu test")
    kw = {**TINY_ATTENTION, "n_members": 1, "epochs": 1}
    model = AttentionConductivityRegressor(**kw, device="cuda").fit(
        small_train.head(20), small_train["log10_sigma"].head(20)
    )
    assert model.device_ == "cpu"


@pytest.mark.gpu
def test_runs_on_cuda(small_train):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    kw = {**TINY_ATTENTION, "n_members": 1}
    model = AttentionConductivityRegressor(**kw, device="cuda").fit(
        small_train, small_train["log10_sigma"]
    )
    assert model.device_ == "cuda"
    assert np.isfinite(model.predict(["Li3InCl6"])).all()
