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
