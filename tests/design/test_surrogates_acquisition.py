"""Surrogate gradients, UCB acquisition, search generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matscreen.design.config import ObjectiveSpec
from matscreen.design.objectives import ObjectivePredictor, UCBAcquisition
from matscreen.design.space import DesignSpace
from matscreen.design.surrogates import CompositionSurrogate, TorchEnsembleRegressor


@pytest.fixture(scope="module")
def tiny_surrogate() -> CompositionSurrogate:
    """Return a conductivity ensemble fitted on seven halide formulas."""
    formulas = ["Li3YCl6", "Li3InCl6", "Li3ScCl6", "Li2ZrCl6", "Li3YBr6", "LiCl", "Li3InBr6"]
    y = np.array([-3.3, -2.9, -4.5, -4.3, -2.8, -9.0, -2.5])
    ens = TorchEnsembleRegressor(n_members=3, hidden=8, epochs=40, seed=0)
    return CompositionSurrogate(ens, "conductivity").fit_formulas(formulas, y)


def test_surrogate_gradients_flow_to_logits(config, tiny_surrogate) -> None:
    """Surrogate gradients flow to logits."""
    space = DesignSpace.from_spec(config.space, config.family)
    pred = ObjectivePredictor(
        space.elements, {"conductivity": tiny_surrogate}, ["conductivity", "cost"]
    )
    logits = torch.randn(5, space.blocks[0].n_columns, generator=torch.Generator().manual_seed(0))
    logits.requires_grad_(True)
    amounts, _ = space.amounts_torch(0, space.site_weights(0, logits))
    out = pred(amounts)
    mean, std = out["conductivity"]
    (mean.sum() + std.sum() + out["cost"][0].sum()).backward()
    g = logits.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_ensemble_predict_matches_forward_and_has_spread(tiny_surrogate) -> None:
    """Ensemble predict matches forward and has spread."""
    m, s = tiny_surrogate.predict_formulas(["Li3YCl6", "Li3Y0.5In0.5Cl6"])
    assert m.shape == (2,) and np.all(s > 0)


@pytest.mark.parametrize(
    "spec",
    [
        ObjectiveSpec(kind="conductivity", goal="maximize"),
        ObjectiveSpec(kind="stability", goal="minimize"),
        ObjectiveSpec(kind="conductivity", min=-3.0),
        ObjectiveSpec(kind="stability", max=0.05),
    ],
    ids=["maximize", "minimize", "min-bound", "max-bound"],
)
def test_ucb_prefers_uncertain_points_when_means_equal(spec: ObjectiveSpec) -> None:
    """Ucb prefers uncertain points when means equal."""
    mean = torch.tensor([0.1, 0.1]) if spec.kind == "stability" else torch.tensor([-4.0, -4.0])
    std = torch.tensor([0.01, 0.5])
    acq = UCBAcquisition(kappa=1.0)({spec.kind: (mean, std)}, [spec])
    assert acq[1] > acq[0]


def test_ucb_without_exploration_is_indifferent_to_std() -> None:
    """Ucb without exploration is indifferent to std."""
    spec = ObjectiveSpec(kind="conductivity", goal="maximize")
    acq = UCBAcquisition(kappa=0.0)(
        {"conductivity": (torch.tensor([-4.0, -4.0]), torch.tensor([0.01, 0.5]))}, [spec]
    )
    assert acq[0] == pytest.approx(float(acq[1]))


@pytest.mark.parametrize("method", ["gradient", "evolutionary", "random"])
def test_generators_return_feasible_distinct_points(config, tiny_surrogate, method: str) -> None:
    """Generators return feasible distinct points."""
    from matscreen.design.search import Scorer, make_generator

    space = DesignSpace.from_spec(config.space, config.family)
    objs = [ObjectiveSpec(kind="conductivity", goal="maximize"),
            ObjectiveSpec(kind="cost", goal="minimize", weight=0.2)]  # fmt: skip
    pred = ObjectivePredictor(
        space.elements, {"conductivity": tiny_surrogate}, ["conductivity", "cost"]
    )
    scorer = Scorer(space, pred, UCBAcquisition(), objs)
    settings = config.search.model_copy(update={"method": method, "population": 16, "steps": 5})
    points = make_generator(settings).propose(scorer, np.random.default_rng(0))
    feasible = set(space.feasible_points())
    assert points and all(p in feasible for p in points)
    assert len(set(points)) == len(points)


def test_select_diverse_spreads_batch_and_skips_known(config) -> None:
    """Select diverse spreads batch and skips known."""
    from matscreen.design.search import select_diverse

    space = DesignSpace.from_spec(config.space, config.family)
    pts = space.feasible_points()
    scores = np.zeros(len(pts))
    scores[0] = 10.0
    known = {space.formula(pts[0])}
    batch = select_diverse(space, pts, scores, 5, diversity=1.0, exclude=known)
    assert len(batch) == 5 and pts[0] not in batch
    formulas = [space.formula(p) for p in batch]
    assert len(set(formulas)) == 5


def test_clamped_ensemble_does_not_extrapolate_beyond_training_range() -> None:
    """With clamp_inputs, a prediction far outside the training range equals the edge's."""
    x = np.linspace(0.0, 1.0, 12)[:, None]
    y = 3.0 * x[:, 0] - 1.0
    free = TorchEnsembleRegressor(n_members=2, hidden=8, epochs=60, seed=0).fit(x, y)
    clamped = TorchEnsembleRegressor(
        n_members=2, hidden=8, epochs=60, seed=0, clamp_inputs=True
    ).fit(x, y)
    far = np.array([[1.0], [50.0]])
    edge, beyond = clamped.predict(far)
    assert beyond == pytest.approx(edge)
    assert np.allclose(free.predict(x), clamped.predict(x))  # no change inside the range


def test_loop_surrogate_predictions_stay_within_clip() -> None:
    """A loop-trained surrogate never predicts outside its clip range, even far from its data."""
    from matscreen.design.surrogates import LoopSurrogate

    ens = TorchEnsembleRegressor(n_members=2, hidden=8, epochs=60, seed=0)
    surrogate = LoopSurrogate(ens, "bvse", prior_mean=0.5, prior_std=0.3, min_points=3,
                              clip=(0.3, 0.6))  # fmt: skip
    formulas = ["Li3YCl6", "Li3YBr6", "Li3InCl6", "Li3ScCl6"]
    surrogate.fit_formulas(formulas, np.array([0.45, 0.40, 0.50, 0.55]), [0, 0, 0, 0])
    mean, _ = surrogate.predict_formulas(["Li3BiI6", "CsPbI3", "Li3YCl6"], [0, 0, 0])
    assert np.all((mean >= 0.3) & (mean <= 0.6))


def test_gp_regressor_fits_predicts_and_reverts_to_its_mean_far_away() -> None:
    """The GP interpolates a smooth function, its std grows away from the data, and far from
    every training point it predicts the mean with the largest std; deterministic."""
    from matscreen.design.surrogates import GPRegressor

    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(30, 2))
    y = 0.4 + 0.1 * np.sin(3.0 * x[:, 0]) + 0.05 * x[:, 1]
    gp = GPRegressor().fit(x, y)
    test = rng.uniform(0.1, 0.9, size=(10, 2))
    truth = 0.4 + 0.1 * np.sin(3.0 * test[:, 0]) + 0.05 * test[:, 1]
    mean, std = gp.predict(test, return_std=True)
    assert np.abs(mean - truth).max() < 0.01
    far_mean, far_std = gp.predict(np.array([[40.0, -40.0]]), return_std=True)
    assert far_mean[0] == pytest.approx(y.mean(), abs=0.02)
    assert far_std[0] > 5 * std.max()
    again = GPRegressor().fit(x, y).predict(test)
    assert np.array_equal(mean, again)
    with pytest.raises(ValueError, match="at least 2"):
        GPRegressor().fit(x[:1], y[:1])


def test_gp_noise_std_makes_measured_value_intervals_calibrated() -> None:
    """On noisy data the fitted noise std recovers the true noise, and the std of a measured
    value (latent std and noise combined) covers fresh measurements about 68 % of the time,
    where the latent std alone covers far fewer."""
    from matscreen.design.surrogates import GPRegressor

    rng = np.random.default_rng(1)

    def f(x: np.ndarray) -> np.ndarray:
        return 0.45 + 0.05 * np.sin(4.0 * x[:, 0]) + 0.03 * x[:, 1]

    x = rng.uniform(0.0, 1.0, size=(150, 2))
    gp = GPRegressor().fit(x, f(x) + rng.normal(0.0, 0.02, len(x)))
    assert gp.noise_std_ == pytest.approx(0.02, rel=0.25)
    test = rng.uniform(0.0, 1.0, size=(2000, 2))
    measured = f(test) + rng.normal(0.0, 0.02, len(test))
    mean, std = gp.predict(test, return_std=True)
    obs_std = np.sqrt(std**2 + gp.noise_std_**2)
    covered = np.mean(np.abs(measured - mean) <= obs_std)
    assert 0.6 < covered < 0.76
    assert np.mean(np.abs(measured - mean) <= std) < 0.45


def test_gp_pickles_with_its_fit() -> None:
    """A fitted GP survives pickling (e.g. to a Dask worker) with identical predictions; an
    unfitted one pickles too."""
    import pickle

    from matscreen.design.surrogates import GPRegressor

    rng = np.random.default_rng(2)
    x = rng.uniform(0.0, 1.0, size=(25, 3))
    y = np.sin(2.0 * x[:, 0]) + x[:, 2]
    gp = GPRegressor().fit(x, y)
    test = rng.uniform(0.0, 1.0, size=(7, 3))
    copy = pickle.loads(pickle.dumps(gp))
    m0, s0 = gp.predict(test, return_std=True)
    m1, s1 = copy.predict(test, return_std=True)
    np.testing.assert_allclose(m1, m0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s1, s0, rtol=1e-8, atol=1e-12)
    assert copy.noise_std_ == pytest.approx(gp.noise_std_)
    assert not hasattr(pickle.loads(pickle.dumps(GPRegressor(restarts=2))), "model_")
    if not torch.cuda.is_available():  # a GP from a GPU machine lands on the CPU here
        gp.device = "cuda"
        moved = pickle.loads(pickle.dumps(gp))
        assert moved.device == "cpu"
        np.testing.assert_allclose(moved.predict(test), m0, rtol=1e-10, atol=1e-12)


def test_gp_accepts_noise_and_signal_floors_above_the_start_values() -> None:
    """min_noise / min_signal above the default starting values still fit."""
    from matscreen.design.surrogates import GPRegressor

    x = np.linspace(0.0, 1.0, 12)[:, None]
    gp = GPRegressor(min_noise=0.05, min_signal=2.0, restarts=1).fit(x, np.sin(3 * x[:, 0]))
    assert gp.noise_std_ >= np.sqrt(0.05) * gp.y_std_ * 0.999


def test_gp_forward_matches_predict_and_passes_gradients() -> None:
    """forward() keeps the autograd graph (float32 in, float32 out) and equals predict()."""
    from matscreen.design.surrogates import GPRegressor

    x = np.linspace(0.0, 1.0, 15)[:, None]
    gp = GPRegressor().fit(x, x[:, 0] ** 2)
    z = torch.tensor([[0.25], [0.75]], dtype=torch.float32, requires_grad=True)
    mean, std = gp.forward(z)
    assert mean.dtype == torch.float32
    (mean.sum() + std.sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert mean.detach().numpy() == pytest.approx(gp.predict(z.detach().numpy()), abs=1e-6)
    assert float(mean[1] - mean[0]) == pytest.approx(0.5, abs=0.05)  # slope of x^2 around


def test_loop_surrogate_tells_prototypes_apart() -> None:
    """With the prototype as an input, one formula in two frameworks gets two predictions."""
    from matscreen.design.surrogates import GPRegressor, LoopSurrogate

    formulas = ["Li3YCl6", "Li3YBr6", "Li3InCl6", "Li3ScCl6", "Li3ErCl6"] * 2
    protos = [0] * 5 + [1] * 5
    y = np.array([0.45, 0.40, 0.47, 0.50, 0.46] + [0.55, 0.50, 0.57, 0.60, 0.56])
    surrogate = LoopSurrogate(GPRegressor(), "bvse", prior_mean=0.5, prior_std=0.3,
                              min_points=3, n_prototypes=2)  # fmt: skip
    surrogate.fit_formulas(formulas, y, protos)
    (a, b), _ = surrogate.predict_formulas(["Li3YCl6", "Li3YCl6"], [0, 1])
    assert b - a == pytest.approx(0.10, abs=0.03)


def test_gp_keeps_a_std_on_constant_targets_and_chunks_consistently() -> None:
    """Constant targets (the loop's first rounds can give them) predict that constant with a
    non-zero std away from the data; chunked evaluation equals one pass."""
    from matscreen.design.surrogates import GPRegressor

    x = np.linspace(0.0, 1.0, 8)[:, None]
    gp = GPRegressor().fit(x, np.full(8, 0.3))
    mean, std = gp.predict(np.array([[0.5], [30.0]]), return_std=True)
    assert mean == pytest.approx([0.3, 0.3], abs=1e-6)
    assert std[1] > 1e-3  # the signal-variance floor keeps some std (not the 1e-19 of no floor)
    rng = np.random.default_rng(1)
    gp = GPRegressor(chunk=7).fit(rng.normal(size=(20, 3)), rng.normal(size=20))
    z = rng.normal(size=(50, 3))
    chunked_mean, chunked_std = gp.predict(z, return_std=True)
    gp.chunk = 1000
    mean, std = gp.predict(z, return_std=True)
    assert chunked_mean == pytest.approx(mean, abs=1e-9)
    assert chunked_std == pytest.approx(std, abs=1e-9)


def test_gp_failed_refit_keeps_the_previous_fit(monkeypatch) -> None:
    """If every start fails, fit raises and the previous fit still predicts as before."""
    from matscreen.design.surrogates import GPRegressor

    x = np.linspace(0.0, 1.0, 10)[:, None]
    gp = GPRegressor().fit(x, np.sin(3.0 * x[:, 0]))
    before = gp.predict(x)

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("not positive definite")

    monkeypatch.setattr(GPRegressor, "_maximise_likelihood", boom)
    with pytest.raises(RuntimeError, match="any start"):
        gp.fit(10.0 * x, 100.0 + x[:, 0])
    assert np.array_equal(gp.predict(x), before)


def test_loop_surrogate_accepts_rows_without_a_prototype() -> None:
    """None or -1 as a row's prototype gives the all-zero one-hot, not an error."""
    from matscreen.design.surrogates import GPRegressor, LoopSurrogate

    surrogate = LoopSurrogate(GPRegressor(), "bvse", prior_mean=0.5, prior_std=0.3,
                              min_points=3, n_prototypes=2)  # fmt: skip
    surrogate.fit_formulas(["Li3YCl6", "Li3YBr6", "Li3InCl6", "Li3ScCl6"],
                           np.array([0.45, 0.40, 0.50, 0.55]), [0, 1, None, -1])  # fmt: skip
    a, _ = surrogate.predict_formulas(["Li3YCl6"] * 3, [None, -1, 0])
    assert np.isfinite(a).all() and a[0] == pytest.approx(a[1])


def test_chemistry_features_of_known_formulas() -> None:
    """Li3YCl6: 1/2 Li and 1/6 Y per Cl, Shannon radii Cl- 1.67 and Y3+ 1.04 A, valence 3;
    Li2ZrCl6 valence 4; a formula without anions or cations gets zeros, with finite gradients."""
    import torch

    from matscreen.design.features import (
        CHEMISTRY_FEATURES,
        ElementTable,
        chemistry_features,
        fractions_matrix,
    )

    x, elements = fractions_matrix(["Li3YCl6", "Li2ZrCl6", "Li3Y0.5In0.5Cl6", "Li", "Cl2"])
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    f = chemistry_features(xt, ElementTable(elements).chemistry_tensor())
    assert f.shape == (5, len(CHEMISTRY_FEATURES))
    got = dict(zip(CHEMISTRY_FEATURES, f[0].tolist(), strict=True))
    assert got["li_per_anion"] == pytest.approx(0.5)
    assert got["cations_per_anion"] == pytest.approx(1 / 6)
    assert got["anion_radius"] == pytest.approx(1.67)
    assert got["cation_radius"] == pytest.approx(1.04)
    assert got["cation_valence"] == pytest.approx(3.0)
    assert f[1, -1].item() == pytest.approx(4.0)
    assert f[2, 3].item() == pytest.approx((1.04 + 0.94) / 2)  # In3+ 0.94 A
    assert f[2, 4].item() == pytest.approx(0.05, abs=1e-3)  # their spread
    assert f[3, [0, 1, 2, 6]].tolist() == [0.0, 0.0, 0.0, 0.0]  # Li metal: nothing per anion
    f.sum().backward()
    assert torch.isfinite(xt.grad).all()


def test_chemistry_features_take_polyanion_formers_in_their_oxyanion_state() -> None:
    """LiTi2(PO4)3: P is P5+ (Shannon 0.52 A), not pymatgen's first common state P3+ (0.58);
    the mean cation valence from charge balance is (2 * 4 + 3 * 5) / 5."""
    import torch

    from matscreen.design.features import CHEMISTRY_FEATURES, ElementTable, chemistry_features

    elements = ["Li", "Ti", "P", "O"]
    x = torch.tensor([[1.0, 2.0, 3.0, 12.0]])
    f = chemistry_features(x, ElementTable(elements).chemistry_tensor())
    got = dict(zip(CHEMISTRY_FEATURES, f[0].tolist(), strict=True))
    assert got["cation_radius"] == pytest.approx((2 * 0.745 + 3 * 0.52) / 5, abs=1e-4)
    assert got["cation_valence"] == pytest.approx(23 / 5)


def test_loop_surrogate_on_chemistry_features_is_differentiable_and_consistent() -> None:
    """features='chemistry': the torch forward over element amounts equals the formula path,
    gives gradients, and needs the chemistry table; an unknown choice is refused."""
    import torch

    from matscreen.design.features import ElementTable, fractions_matrix
    from matscreen.design.surrogates import GPRegressor, LoopSurrogate

    formulas = ["Li3YCl6", "Li3YBr6", "Li3InCl6", "Li3ScCl6", "Li2ZrCl6", "Li3ErBr6"]
    y = np.array([0.45, 0.40, 0.47, 0.50, 0.55, 0.41])
    surrogate = LoopSurrogate(GPRegressor(), "bvse", prior_mean=0.5, prior_std=0.3,
                              min_points=3, n_prototypes=1, features="chemistry")  # fmt: skip
    surrogate.fit_formulas(formulas, y, [0] * 6)
    query = ["Li3Y0.5In0.5Cl6", "Li3YCl3Br3"]
    mean, std = surrogate.predict_formulas(query, [0, 0])
    x, elements = fractions_matrix(query)
    table = ElementTable(elements)
    props, roles = table.tensors()
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    m, s = surrogate.forward(xt, props, roles, proto=0, chemistry=table.chemistry_tensor())
    assert m.detach().numpy() == pytest.approx(mean, abs=1e-5)
    assert s.detach().numpy() == pytest.approx(std, abs=1e-5)
    m.sum().backward()
    assert torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="chemistry table"):
        surrogate.forward(xt, props, roles, proto=0)
    with pytest.raises(ValueError, match="features must be"):
        LoopSurrogate(GPRegressor(), "bvse", prior_mean=0.5, prior_std=0.3, features="magpie")


@pytest.mark.parametrize(
    "formula",
    ["LiMn2O4", "LiNi0.5Mn1.5O4", "LiMnPO4", "LiFe0.5Mn0.5PO4", "Li2MnO3", "LiMn1.5Al0.5O4",
     "LiMn1.5Ti0.5O4", "LiCoO2", "LiMn1.75Mg0.25O4", "LiMn1.5Cr0.5O4", "Li4Ti5O12",
     "Li3MnEuO4.5", "LiMnCeO3.5"],
)  # fmt: skip
def test_design_capacity_is_the_verdicts_redox_limited_capacity(formula: str) -> None:
    """The search optimises the capacity the verdict reports (redox-limited, not all Li)."""
    from pymatgen.core import Composition

    from matscreen.screening.properties import capacities_mAh_g

    comp = Composition(formula)
    elements = sorted(el.symbol for el in comp)
    predictor = ObjectivePredictor(elements=elements, surrogates={}, kinds=["capacity"])
    amounts = torch.tensor([[comp[e] for e in elements]], dtype=torch.float32)
    got = float(predictor(amounts)["capacity"][0][0])
    li_limited, redox_limited = capacities_mAh_g(comp)
    assert got == pytest.approx(redox_limited, rel=1e-4, abs=1e-3)
    if formula == "Li2MnO3":  # Mn4+ already: no capacity from Mn redox
        assert got == pytest.approx(0.0, abs=1e-3) and li_limited > 400
