"""Differentiable torch surrogates with ensemble uncertainty for the design loop.

:class:`TorchEnsembleRegressor` is a deep ensemble of small MLPs (each member
on a bootstrap resample, its own seed) with the scikit-learn API on feature
arrays, and :meth:`~TorchEnsembleRegressor.forward` on feature tensors that
keeps the autograd graph (mean and member spread).

On top of it, composition surrogates take atomic fractions over any element
list and featurize them in torch (:mod:`matscreen.design.features`):

- :func:`train_conductivity_surrogate`: log10 sigma (S/cm) from the OBELiX
  training split (censored rows at their bound, ``<1E-10`` -> -10);
- :class:`LoopSurrogate`: a property learned only from the loop's physics
  results (the BVSE barrier); :class:`StabilitySurrogate` is the one for
  E above hull.
- :class:`StabilitySurrogate`: E above hull (eV/atom) learned from the
  physics results of the loop itself, a constant prior until enough exist;
- :class:`VoltageSurrogateTorch`: average voltage from
  ``datasets/cathode_voltages/train.csv`` (features of the discharged
  composition and of its Li-free host).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.design.features import ElementTable, composition_features, fractions_matrix

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger(__name__)

__all__ = [
    "CompositionSurrogate",
    "LoopSurrogate",
    "StabilitySurrogate",
    "TorchEnsembleRegressor",
    "VoltageSurrogateTorch",
    "train_conductivity_surrogate",
    "train_voltage_surrogate",
]


class TorchEnsembleRegressor:
    """Deep ensemble of MLPs on feature vectors (scikit-learn style).

    Parameters
    ----------
    n_members
        Ensemble size.
    hidden
        Width of the two hidden layers.
    epochs
        Full-batch Adam epochs per member.
    lr, weight_decay
        Adam settings.
    bootstrap
        Train each member on a bootstrap resample (more honest spread).
    seed
        Member ``k`` uses ``seed + k``; deterministic on CPU.
    device
        Torch device for training and prediction.
    clamp_inputs
        Clamp the features of a prediction to the range seen in training, so
        that a model fitted on a few points cannot extrapolate without bound
        (the search would exploit that) outside the compositions it has seen.
    """

    def __init__(
        self,
        *,
        n_members: int = 5,
        hidden: int = 64,
        epochs: int = 300,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        bootstrap: bool = True,
        seed: int = 0,
        device: str = "cpu",
        clamp_inputs: bool = False,
    ) -> None:
        self.n_members = n_members
        self.clamp_inputs = clamp_inputs
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.bootstrap = bootstrap
        self.seed = seed
        self.device = device

    def _module(self, n_in: int) -> torch.nn.Module:
        from torch import nn

        return nn.Sequential(
            nn.Linear(n_in, self.hidden), nn.SiLU(),
            nn.Linear(self.hidden, self.hidden), nn.SiLU(),
            nn.Linear(self.hidden, 1),
        )  # fmt: skip

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchEnsembleRegressor:
        """Train the members on features ``X`` ``(n, d)`` and targets ``y`` ``(n,)``."""
        import torch

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).ravel()
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"X has {len(X)} rows and y {len(y)}; need the same, at least 1")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("features or targets contain NaN/inf")
        self.x_mean_ = X.mean(axis=0)
        self.x_std_ = np.where(X.std(axis=0) > 1e-8, X.std(axis=0), 1.0).astype(np.float32)
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0
        dev = self.device
        z = (X - self.x_mean_) / self.x_std_
        xt = torch.tensor(z, device=dev)
        yt = torch.tensor((y - self.y_mean_) / self.y_std_, device=dev)
        self.members_ = []
        for k in range(self.n_members):
            gen = torch.Generator().manual_seed(self.seed + k)
            torch.manual_seed(self.seed + k)
            net = self._module(X.shape[1]).to(dev)
            if self.bootstrap and len(y) > 1:
                idx = torch.randint(0, len(y), (len(y),), generator=gen).to(dev)
            else:
                idx = torch.arange(len(y), device=dev)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.epochs):
                loss = torch.nn.functional.mse_loss(net(xt[idx]).squeeze(-1), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            self.members_.append(net)
        self._xm = torch.tensor(self.x_mean_, device=dev)
        self._xs = torch.tensor(self.x_std_, device=dev)
        self._zlo = torch.tensor(z.min(axis=0), device=dev)
        self._zhi = torch.tensor(z.max(axis=0), device=dev)
        return self

    def to(self, device: str) -> TorchEnsembleRegressor:
        """Move the fitted members to ``device``."""
        self.members_ = [m.to(device) for m in self.members_]
        self._xm, self._xs = self._xm.to(device), self._xs.to(device)
        self._zlo, self._zhi = self._zlo.to(device), self._zhi.to(device)
        self.device = device
        return self

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable mean and member std for ``(B, d)`` feature tensors."""
        import torch

        z = (features - self._xm) / self._xs
        if self.clamp_inputs:
            z = torch.minimum(torch.maximum(z, self._zlo), self._zhi)
        outs = torch.stack([m(z).squeeze(-1) for m in self.members_]) * self.y_std_ + self.y_mean_
        return outs.mean(dim=0), outs.std(dim=0, unbiased=False)

    def predict(self, X: np.ndarray, return_std: bool = False) -> Any:
        """Predict targets (and the ensemble std with ``return_std``)."""
        import torch

        with torch.no_grad():
            mean, std = self.forward(
                torch.tensor(np.asarray(X, dtype=np.float32), device=self.device)
            )
        mean, std = mean.cpu().numpy(), std.cpu().numpy()
        return (mean, std) if return_std else mean


def _formula_features(formulas: list[str]) -> np.ndarray:
    import torch

    x, elements = fractions_matrix(formulas)
    props, roles = ElementTable(elements).tensors()
    with torch.no_grad():
        return composition_features(torch.tensor(x, dtype=torch.float32), props, roles).numpy()


class CompositionSurrogate:
    """A property of a composition: torch features of atomic fractions -> ensemble.

    Parameters
    ----------
    ensemble
        The (unfitted or fitted) feature-level ensemble.
    name
        Property name (for logs and provenance).
    """

    def __init__(self, ensemble: TorchEnsembleRegressor, name: str) -> None:
        self.ensemble = ensemble
        self.name = name

    def fit_formulas(self, formulas: list[str], y: np.ndarray) -> CompositionSurrogate:
        """Fit on formulas and targets."""
        self.ensemble.fit(_formula_features(list(formulas)), np.asarray(y, dtype=float))
        return self

    def forward(
        self, x: torch.Tensor, props: torch.Tensor, roles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (mean, std) for amounts/fractions ``x`` over the table's elements."""
        return self.ensemble.forward(composition_features(x, props, roles))

    def predict_formulas(self, formulas: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std for formulas."""
        return self.ensemble.predict(_formula_features(list(formulas)), return_std=True)


def train_conductivity_surrogate(
    *, n_members: int = 5, hidden: int = 64, epochs: int = 300, seed: int = 0, device: str = "cpu"
) -> CompositionSurrogate:
    """Train the log10-conductivity ensemble on the OBELiX training split.

    Censored rows (``"<1E-10"``) are trained at their bound (log10 sigma =
    -10), not at OBELiX's -15 placeholder, so that the surrogate's scale is
    not dominated by them.
    """
    from matscreen.datasets import load_obelix

    df = load_obelix("train", structures=False)
    y = df["log10_sigma"].to_numpy(dtype=float)
    bound = df["log10_sigma_bound"].to_numpy(dtype=float)
    y = np.where(df["censored"].to_numpy(dtype=bool), bound, y)
    ens = TorchEnsembleRegressor(
        n_members=n_members, hidden=hidden, epochs=epochs, seed=seed, device=device
    )
    return CompositionSurrogate(ens, "conductivity").fit_formulas(list(df["formula"]), y)


class LoopSurrogate(CompositionSurrogate):
    """A property learned from the loop's own physics results (E above hull, BVSE barrier).

    Until ``min_points`` finite results exist it predicts a constant prior
    (mean, std) with no gradient signal; afterwards a deep ensemble fitted on
    targets clipped to ``clip`` (so that one bad cell does not set the scale;
    predictions are clipped to it too: fitted on a few points, the ensemble
    must not promise the search values it has never seen),
    plus a per-prototype offset: the mean training residual of each prototype,
    shrunk towards 0 as ``n / (n + 2)``. Composition alone cannot tell the
    C2/m from the P-3m1 framework of one formula, while their BVSE barriers
    (and energies) differ.

    Parameters
    ----------
    ensemble
        The feature-level ensemble.
    name
        Objective kind (``"stability"``, ``"bvse"``).
    prior_mean, prior_std
        The prediction before enough data.
    min_points
        Finite results needed before the ensemble is used.
    clip
        Target range used for fitting.
    """

    def __init__(
        self,
        ensemble: TorchEnsembleRegressor,
        name: str,
        *,
        prior_mean: float,
        prior_std: float,
        min_points: int = 4,
        clip: tuple[float, float] = (-np.inf, np.inf),
    ) -> None:
        super().__init__(ensemble, name)
        self.prior_mean = prior_mean
        self.prior_std = prior_std
        self.min_points = min_points
        self.clip = clip
        self.fitted = False
        self.offsets: dict[int, float] = {}

    def fit_formulas(
        self, formulas: list[str], y: np.ndarray, protos: list[int] | None = None
    ) -> LoopSurrogate:
        """Fit when at least ``min_points`` finite results exist (else keep the prior).

        ``protos`` (prototype index per row) enables the per-prototype offsets.
        """
        y = np.asarray(y, dtype=float)
        keep = np.isfinite(y)
        formulas = [f for f, k in zip(formulas, keep, strict=True) if k]
        self.offsets = {}
        if len(formulas) < self.min_points:
            self.fitted = False
            return self
        target = np.clip(y[keep], *self.clip)
        super().fit_formulas(formulas, target)
        self.fitted = True
        if protos is not None:
            kept = np.asarray(protos)[keep]
            residual = target - super().predict_formulas(formulas)[0]
            for p in np.unique(kept):
                r = residual[kept == p]
                self.offsets[int(p)] = float(r.mean() * len(r) / (len(r) + 2.0))
        return self

    def forward(
        self, x: torch.Tensor, props: torch.Tensor, roles: torch.Tensor, proto: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (mean, std); the constant prior before fitting."""
        import torch

        if self.fitted:
            mean, std = super().forward(x, props, roles)
            if proto is not None:
                mean = mean + self.offsets.get(proto, 0.0)
            return mean.clamp(*self.clip), std
        zeros = (x * 0.0).sum(dim=-1)
        return zeros + self.prior_mean, zeros + self.prior_std + torch.zeros(())

    def predict_formulas(
        self, formulas: list[str], protos: list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std for formulas (the prior before fitting)."""
        if self.fitted:
            mean, std = super().predict_formulas(formulas)
            if protos is not None:
                mean = mean + np.array([self.offsets.get(int(p), 0.0) for p in protos])
            return np.clip(mean, *self.clip), std
        n = len(formulas)
        return np.full(n, self.prior_mean), np.full(n, self.prior_std)


class StabilitySurrogate(LoopSurrogate):
    """E above hull (eV/atom) learned from the loop's own physics results (clipped to -0.5..1)."""

    def __init__(
        self,
        ensemble: TorchEnsembleRegressor,
        *,
        prior_mean: float = 0.05,
        prior_std: float = 0.1,
        min_points: int = 4,
    ) -> None:
        super().__init__(
            ensemble,
            "stability",
            prior_mean=prior_mean,
            prior_std=prior_std,
            min_points=min_points,
            clip=(-0.5, 1.0),
        )


def li_free(x: torch.Tensor, li_index: int) -> torch.Tensor:
    """Amounts with Li removed (the charged host of a cathode)."""
    mask = x.new_ones(x.shape[-1])
    mask[li_index] = 0.0
    return x * mask


class VoltageSurrogateTorch(CompositionSurrogate):
    """Average voltage (V vs Li/Li+) from discharged and charged (Li-free) compositions."""

    def fit_pairs(
        self, charge: list[str], discharge: list[str], y: np.ndarray
    ) -> VoltageSurrogateTorch:
        """Fit on (charge, discharge) formula pairs and voltages."""
        fd = _formula_features(list(discharge))
        fc = _formula_features(list(charge))
        self.ensemble.fit(np.hstack([fd, fc]), np.asarray(y, dtype=float))
        return self

    def forward(
        self, x: torch.Tensor, props: torch.Tensor, roles: torch.Tensor, li_index: int = -1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (mean, std) for discharged amounts ``x``; charged = Li removed."""
        import torch

        if li_index < 0:
            raise ValueError("VoltageSurrogateTorch.forward needs li_index")
        feats = torch.cat(
            [
                composition_features(x, props, roles),
                composition_features(li_free(x, li_index), props, roles),
            ],
            dim=-1,
        )
        return self.ensemble.forward(feats)

    def predict_formulas(self, formulas: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std for discharged formulas (charged = Li-free host)."""
        from pymatgen.core import Composition

        charged = []
        for f in formulas:
            comp = Composition(f)
            charged.append(Composition({e: a for e, a in comp.items() if e.symbol != "Li"}).formula)
        feats = np.hstack([_formula_features(list(formulas)), _formula_features(charged)])
        return self.ensemble.predict(feats, return_std=True)


def train_voltage_surrogate(
    *, n_members: int = 5, hidden: int = 64, epochs: int = 300, seed: int = 0, device: str = "cpu"
) -> VoltageSurrogateTorch:
    """Train the voltage ensemble on ``datasets/cathode_voltages/train.csv``."""
    import pandas as pd

    from matscreen.core.paths import datasets_dir

    df = pd.read_csv(datasets_dir() / "cathode_voltages" / "train.csv")
    ens = TorchEnsembleRegressor(
        n_members=n_members, hidden=hidden, epochs=epochs, seed=seed, device=device
    )
    return VoltageSurrogateTorch(ens, "voltage").fit_pairs(
        list(df["formula_charge"]), list(df["formula_discharge"]), df["voltage"].to_numpy()
    )
