"""CUDA path of the surrogates and the gradient search (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gradient_search_on_cuda(config) -> None:
    """Gradient search on cuda."""
    from matscreen.design.objectives import ObjectivePredictor, UCBAcquisition
    from matscreen.design.search import GradientSearch, Scorer
    from matscreen.design.space import DesignSpace
    from matscreen.design.surrogates import CompositionSurrogate, TorchEnsembleRegressor

    ens = TorchEnsembleRegressor(n_members=2, hidden=8, epochs=10, device="cuda")
    sur = CompositionSurrogate(ens, "conductivity").fit_formulas(
        ["Li3YCl6", "Li3InCl6", "LiCl"], np.array([-3.0, -3.0, -9.0])
    )
    space = DesignSpace.from_spec(config.space, config.family)
    pred = ObjectivePredictor(
        space.elements, {"conductivity": sur}, ["conductivity"], device="cuda"
    )
    from matscreen.design.config import ObjectiveSpec

    scorer = Scorer(
        space, pred, UCBAcquisition(), [ObjectiveSpec(kind="conductivity", goal="maximize")], "cuda"
    )
    points = GradientSearch(population=16, steps=5, device="cuda").propose(
        scorer, np.random.default_rng(0)
    )
    assert points


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gp_on_cuda_matches_cpu() -> None:
    """The loop-trained GP fits and predicts on cuda as on cpu, with gradients, and moves."""
    from matscreen.design.surrogates import GPRegressor

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 5))
    y = np.sin(3.0 * x[:, 0]) + x[:, 1]
    test = rng.uniform(size=(3000, 5))  # several chunks
    cpu = GPRegressor().fit(x, y)
    gpu = GPRegressor(device="cuda").fit(x, y)
    for a, b in zip(cpu.predict(test, return_std=True), gpu.predict(test, return_std=True),
                    strict=True):  # fmt: skip
        assert np.abs(a - b).max() < 1e-3
    z = torch.tensor(test[:8], dtype=torch.float32, device="cuda", requires_grad=True)
    mean, std = gpu.forward(z)
    (mean.sum() + std.sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    moved = cpu.to("cuda")
    assert np.abs(moved.predict(test) - gpu.predict(test)).max() < 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gp_pickled_on_cuda_round_trips() -> None:
    """A GP fitted on cuda pickles and comes back on cuda with the same predictions."""
    import pickle

    from matscreen.design.surrogates import GPRegressor

    rng = np.random.default_rng(1)
    x = rng.uniform(size=(30, 4))
    gp = GPRegressor(device="cuda").fit(x, x[:, 0] - x[:, 2])
    back = pickle.loads(pickle.dumps(gp))
    assert str(back.device).startswith("cuda")
    test = rng.uniform(size=(50, 4))
    for a, b in zip(gp.predict(test, return_std=True), back.predict(test, return_std=True),
                    strict=True):  # fmt: skip
        assert np.abs(a - b).max() < 1e-4
    assert back.noise_std_ == pytest.approx(gp.noise_std_)
    assert all(p.is_cuda for p in back.model_.parameters())
    assert back.model_.train_inputs[0].is_cuda


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_design_loop_on_cuda_matches_its_contract(config, fake_physics, tmp_path) -> None:
    """The closed loop runs on cuda: every proposal novel, balanced, judged; stability GP fitted."""
    from matscreen.design.loop import build_loop

    loop = build_loop(config, device="cuda", evaluator=fake_physics)
    table = loop.run(out=tmp_path)
    assert len(table) == config.loop.rounds * config.loop.batch_size
    assert table["novel"].all() and table["charge_balanced"].all()
    assert set(table["verdict"].str.split(":").str[0]) <= {"pass", "fail"}
    stability = loop.surrogates["stability"]
    assert stability.fitted and str(stability.ensemble.device).startswith("cuda")
    assert all(p.is_cuda for p in stability.ensemble.model_.parameters())  # the GP ran on cuda
