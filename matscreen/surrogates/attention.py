"""A composition-only attention network for conductivity (torch), with the sklearn API.

Each element of a composition becomes a token: its Magpie property vector
(standardized over the periodic table, fixed) plus a learned per-element
embedding (initialised at zero, so an element never seen in training falls
back to its Magpie description), plus an encoding of its atomic fraction.
A small Transformer encoder lets the elements attend to each other; the
tokens are pooled with the atomic fractions as weights (and a max-pool), and
an MLP head outputs the location and the scale of a Laplace distribution,
trained by its negative log-likelihood (so the location targets the median,
which is what an MAE rewards, and the scale is a per-composition aleatoric
uncertainty). The ideas (element tokens, fraction encoding, attention across
elements, weighted pooling) come from Roost and CrabNet; the code is ours.

:class:`AttentionConductivityRegressor` trains a small deep ensemble; the
predictive std combines the members' spread and their mean Laplace scale.
Training is deterministic for a given ``seed`` on CPU.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from matscreen.core.devices import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

#: Highest atomic number the network has element data for (Magpie covers 1-103).
MAX_Z = 103
_N_FREQ = 8


def _magpie_element_table() -> np.ndarray:
    """Standardized Magpie properties, shape ``(MAX_Z + 1, 22)``; row 0 is padding."""
    from matscreen.featurize.composition import MAGPIE_FEATURES, magpie_table

    table = magpie_table(MAGPIE_FEATURES)[:MAX_Z]
    mean, std = table.mean(axis=0), table.std(axis=0)
    std[std == 0] = 1.0
    out = np.zeros((MAX_Z + 1, table.shape[1]))
    out[1:] = (table - mean) / std
    return out


def _build_module(
    d_model: int, n_layers: int, n_heads: int, dropout: float, d_embed: int, n_cell: int = 0
) -> torch.nn.Module:
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            magpie = torch.tensor(_magpie_element_table(), dtype=torch.float32)
            self.register_buffer("magpie", magpie)
            self.embed = nn.Embedding(MAX_Z + 1, d_embed, padding_idx=0)
            nn.init.zeros_(self.embed.weight)
            self.element_proj = nn.Linear(magpie.shape[1] + d_embed, d_model)
            self.frac_proj = nn.Linear(2 * _N_FREQ + 2, d_model)
            layer = nn.TransformerEncoderLayer(
                d_model, n_heads, 2 * d_model, dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.n_cell = n_cell
            if n_cell:
                self.cell_proj = nn.Sequential(nn.Linear(n_cell + 1, d_model), nn.SiLU())
            self.head = nn.Sequential(
                nn.Linear((3 if n_cell else 2) * d_model, d_model), nn.SiLU(), nn.Dropout(dropout),
                nn.Linear(d_model, 2),
            )  # fmt: skip
            freqs = torch.pi * 2.0 ** torch.arange(_N_FREQ, dtype=torch.float32)
            self.register_buffer("freqs", freqs)

        def forward(
            self, z: torch.Tensor, frac: torch.Tensor, cell: torch.Tensor | None = None
        ) -> torch.Tensor:
            mask = z == 0
            x = torch.cat([self.magpie[z], self.embed(z)], dim=-1)
            phase = frac[..., None] * self.freqs
            f = torch.cat(
                [
                    frac[..., None],
                    torch.log(frac.clamp_min(1e-4))[..., None] / 4.0,
                    torch.sin(phase),
                    torch.cos(phase),
                ],
                dim=-1,
            )
            h = self.element_proj(x) + self.frac_proj(f)
            h = self.encoder(h, src_key_padding_mask=mask)
            w = frac.masked_fill(mask, 0.0)
            w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
            mean_pool = (h * w[..., None]).sum(dim=1)
            max_pool = h.masked_fill(mask[..., None], -1e4).max(dim=1).values
            parts = [mean_pool, max_pool]
            if self.n_cell:
                if cell is None:
                    cell = torch.zeros(z.shape[0], self.n_cell + 1, device=z.device)
                parts.append(self.cell_proj(cell))
            return self.head(torch.cat(parts, dim=-1))

    return _Net()


def encode_compositions(entries: Any) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Return padded atomic numbers (0 = padding), fractions and per-row errors.

    Rows whose composition cannot be read, or that contain an element beyond
    :data:`MAX_Z`, get an error and an all-padding row.
    """
    from matscreen.featurize.composition import element_matrix

    z_index, fractions, errors = element_matrix(list(entries))
    z = np.where(fractions > 0, z_index + 1, 0)
    too_heavy = (z > MAX_Z).any(axis=1)
    for i in np.flatnonzero(too_heavy):
        if errors[i] is None:
            errors[i] = f"element beyond Z={MAX_Z} is outside the model's element table"
    bad = np.array([e is not None for e in errors], dtype=bool)
    z[bad] = 0
    fractions = np.where(bad[:, None], 0.0, fractions)
    return z, fractions, errors


class AttentionConductivityRegressor(RegressorMixin, BaseEstimator):
    """Deep ensemble of element-attention networks over composition.

    Parameters
    ----------
    n_members
        Networks in the ensemble (different seeds).
    d_model, n_layers, n_heads, d_embed
        Width, depth and heads of the Transformer encoder; size of the
        learned element embedding.
    dropout
        Dropout in the encoder and head.
    epochs, batch_size, lr, weight_decay
        AdamW training schedule (cosine learning-rate decay).
    use_cell
        Also feed the cell block (space group, lattice, volumes per atom /
        anion / Li; see :mod:`matscreen.surrogates.features`) as a global
        input next to the pooled elements, when a row has one. Rows without
        a cell get a zero vector and a "no cell" flag.
    cell_dropout
        Probability, per training row, of hiding its cell so that the
        network also learns to predict from composition alone.
    seed
        Seed of member ``k`` is ``seed + k``; training is deterministic on CPU.
    device
        ``"cpu"`` or ``"cuda"`` (falls back to CPU with a warning when CUDA
        is not available).

    Examples
    --------
    >>> model = AttentionConductivityRegressor(n_members=1, epochs=2)
    >>> _ = model.fit(["Li3InCl6", "Li3PO4", "Li7La3Zr2O12"], [-3.0, -9.0, -4.0])
    >>> model.predict(["Li3YCl6"]).shape
    (1,)
    """

    def __init__(
        self,
        n_members: int = 5,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        d_embed: int = 16,
        dropout: float = 0.1,
        epochs: int = 150,
        batch_size: int = 32,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        use_cell: bool = False,
        cell_dropout: float = 0.3,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.n_members = n_members
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_embed = d_embed
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.use_cell = use_cell
        self.cell_dropout = cell_dropout
        self.seed = seed
        self.device = device

    # -- sklearn API -----------------------------------------------------
    def fit(self, X: Any, y: Any) -> AttentionConductivityRegressor:
        """Train the ensemble on compositions ``X`` and targets ``y`` (log10 S/cm).

        Raises
        ------
        ValueError
            If a composition cannot be read, has no Li (the model predicts Li-ion
            conductivity) or ``y`` is not finite.
        """
        import torch

        y = np.asarray(y, dtype=float).ravel()
        z, frac, cell = self._encode(X, raise_errors=True, fit_cell=True, y=y)
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0
        device = resolve_device(self.device, fallback=True)
        zt = torch.as_tensor(z, device=device)
        ft = torch.as_tensor(frac, dtype=torch.float32, device=device)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32, device=device)
        ct = None if cell is None else torch.as_tensor(cell, dtype=torch.float32, device=device)
        self.members_ = [
            self._train_member(k, zt, ft, ct, yt, device) for k in range(self.n_members)
        ]
        self.n_features_in_ = 1
        self.device_ = device
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predict log10 conductivity (and the predictive std with ``return_std``).

        Rows that cannot be read raise ``ValueError``; use
        :func:`matscreen.surrogates.conductivity.predict_conductivity_table`
        for per-row error reporting.
        """
        mean, std = self._predict_all(X)
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)  # float64 out
        return (mean, std) if return_std else mean

    # -- internals -------------------------------------------------------
    def _encode(
        self, X: Any, raise_errors: bool, fit_cell: bool = False, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Encode ``X``; with training targets ``y``, refuse what the forest's fit refuses."""
        from matscreen.surrogates.inputs import check_training_rows, normalize_inputs

        inputs = normalize_inputs(X)
        entries = list(inputs["entry"])
        z, frac, errors = encode_compositions(entries)
        if y is not None:  # as the forest: a Li-ion model fits only what it would predict
            check_training_rows(errors, y, len(z), entries)
        elif raise_errors:
            bad = [(i, e) for i, e in enumerate(errors) if e is not None]
            if bad:
                raise ValueError(f"row {bad[0][0]}: {bad[0][1]} ({len(bad)} bad rows)")
        if not self.use_cell:
            return z, frac, None
        from matscreen.surrogates.features import cell_block

        cell = cell_block(inputs)
        has = np.isfinite(cell).all(axis=1)
        if fit_cell:
            known = cell[has] if has.any() else np.zeros((1, cell.shape[1]))
            self.cell_mean_ = known.mean(axis=0)
            std = known.std(axis=0)
            self.cell_std_ = np.where(std > 0, std, 1.0)
        scaled = np.where(has[:, None], (cell - self.cell_mean_) / self.cell_std_, 0.0)
        scaled = np.clip(np.nan_to_num(scaled), -10.0, 10.0)
        return z, frac, np.hstack([scaled, has[:, None].astype(float)])

    def _new_module(self) -> torch.nn.Module:
        from matscreen.surrogates.features import CELL_LABELS

        n_cell = len(CELL_LABELS) if self.use_cell else 0
        return _build_module(
            self.d_model, self.n_layers, self.n_heads, self.dropout, self.d_embed, n_cell
        )

    def _train_member(
        self,
        k: int,
        z: torch.Tensor,
        frac: torch.Tensor,
        cell: torch.Tensor | None,
        y: torch.Tensor,
        device: str,
    ) -> dict[str, Any]:
        import torch

        seed = self.seed + k
        torch.manual_seed(seed)
        net = self._new_module().to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(y)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = self.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
        gen = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen).to(device)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                cell_b = None
                if cell is not None:
                    keep = torch.rand(len(idx), 1, generator=gen) >= self.cell_dropout
                    cell_b = cell[idx] * keep.to(device=device, dtype=cell.dtype)
                out = net(z[idx], frac[idx], cell_b)
                loc, log_b = out[:, 0], out[:, 1].clamp(-6.0, 4.0)
                loss = (torch.abs(y[idx] - loc) * torch.exp(-log_b) + log_b).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                opt.step()
                sched.step()
        net.eval()
        return {k2: v.detach().cpu() for k2, v in net.state_dict().items()}

    def _modules(self) -> list[torch.nn.Module]:
        cache = getattr(self, "_module_cache", None)
        if cache is None or cache[0] is not self.members_:
            device = resolve_device(getattr(self, "device_", self.device), fallback=True)
            mods = []
            for state in self.members_:
                net = self._new_module()
                net.load_state_dict(state)
                mods.append(net.to(device).eval())
            self._module_cache = (self.members_, mods, device)
        return self._module_cache[1]

    def _predict_all(self, X: Any, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        import torch

        check_is_fitted(self, "members_")
        z, frac, cell = self._encode(X, raise_errors=True)
        mods = self._modules()
        device = self._module_cache[2]
        locs, scales = [], []
        with torch.inference_mode():
            for net in mods:
                loc_parts, b_parts = [], []
                for s in range(0, len(z), batch):
                    cell_b = None
                    if cell is not None:
                        cell_b = torch.as_tensor(
                            cell[s : s + batch], dtype=torch.float32, device=device
                        )
                    out = net(
                        torch.as_tensor(z[s : s + batch], device=device),
                        torch.as_tensor(frac[s : s + batch], dtype=torch.float32, device=device),
                        cell_b,
                    )
                    loc_parts.append(out[:, 0].cpu().numpy())
                    b_parts.append(torch.exp(out[:, 1].clamp(-6.0, 4.0)).cpu().numpy())
                locs.append(np.concatenate(loc_parts) if loc_parts else np.zeros(0))
                scales.append(np.concatenate(b_parts) if b_parts else np.zeros(0))
        loc = np.asarray(locs) * self.y_std_ + self.y_mean_
        b = np.asarray(scales) * self.y_std_
        mean = loc.mean(axis=0)
        # Laplace variance is 2 b^2; add the members' spread (epistemic).
        var = (2.0 * b**2).mean(axis=0) + loc.var(axis=0)
        return mean, np.sqrt(var)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_module_cache", None)
        return state

    def __sklearn_clone__(self) -> AttentionConductivityRegressor:
        return type(self)(**copy.deepcopy(self.get_params()))

    # -- persistence -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return ``{state_dict, model_args, versions, ...}`` for ``torch.save``."""
        import torch

        import matscreen

        check_is_fitted(self, "members_")
        args = self.get_params()
        args["device"] = "cpu"
        return {
            "state_dict": {
                f"{k}.{name}": t for k, m in enumerate(self.members_) for name, t in m.items()
            },  # fmt: skip
            "model_args": args,
            "target_scaling": {"mean": self.y_mean_, "std": self.y_std_},
            "cell_scaling": {
                "mean": [float(v) for v in getattr(self, "cell_mean_", [])],
                "std": [float(v) for v in getattr(self, "cell_std_", [])],
            },
            "versions": {"matscreen": matscreen.__version__, "torch": str(torch.__version__)},
        }

    @classmethod
    def from_dict(
        cls, payload: dict[str, Any], device: str = "cpu"
    ) -> AttentionConductivityRegressor:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        args = dict(payload["model_args"])
        args["device"] = device
        model = cls(**args)
        members: list[dict[str, Any]] = [{} for _ in range(model.n_members)]
        for key, tensor in payload["state_dict"].items():
            k, name = key.split(".", 1)
            members[int(k)][name] = tensor
        model.members_ = members
        model.y_mean_ = float(payload["target_scaling"]["mean"])
        model.y_std_ = float(payload["target_scaling"]["std"])
        if model.use_cell:
            model.cell_mean_ = np.asarray(payload["cell_scaling"]["mean"], dtype=float)
            model.cell_std_ = np.asarray(payload["cell_scaling"]["std"], dtype=float)
        model.n_features_in_ = 1
        model.device_ = resolve_device(device, fallback=True)
        return model

    def save(self, path: Any) -> None:
        """Write the fitted model with ``torch.save`` (loadable with ``weights_only=True``)."""
        import io

        import torch

        from matscreen.core.io import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(self.to_dict(), buf)
        written = atomic_write_bytes(path, buf.getvalue())
        written.chmod(0o644)

    @classmethod
    def load(cls, path: Any, device: str = "cpu") -> AttentionConductivityRegressor:
        """Load a model written by :meth:`save` (``torch.load(..., weights_only=True)``)."""
        import torch

        payload = torch.load(path, map_location="cpu", weights_only=True)
        return cls.from_dict(payload, device=device)
