"""The conductivity ensemble: extra-trees forest + element-attention network.

The prediction is a weighted mean of the two components; the weight of the
forest differs for rows with a known cell (where the forest also sees space
group and lattice, and is much stronger) and composition-only rows. The std is
the std of the two-component mixture (each component's own std plus their
disagreement), multiplied by a factor calibrated on grouped CV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from matscreen.surrogates.attention import AttentionConductivityRegressor, encode_compositions
from matscreen.surrogates.forest import ConductivityForest
from matscreen.surrogates.inputs import li_count_error

logger = logging.getLogger(__name__)


@dataclass
class RowPredictions:
    """Per-row predictions of :meth:`ConductivityEnsemble.predict_rows`.

    Attributes
    ----------
    mean, std
        Ensemble log10 sigma (S/cm) and its calibrated std; NaN where failed.
    forest_mean, attention_mean
        The components' predictions.
    used_cell
        Whether the forest used the cell (space group + lattice) features.
    errors
        None per row, or why it failed.
    comp_features
        The composition feature block (for the domain check).
    """

    mean: np.ndarray
    std: np.ndarray
    forest_mean: np.ndarray
    attention_mean: np.ndarray
    used_cell: np.ndarray
    errors: list[str | None]
    comp_features: np.ndarray


def mix(
    w: np.ndarray, m1: np.ndarray, s1: np.ndarray, m2: np.ndarray, s2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the mixture ``w * N(m1, s1) + (1 - w) * N(m2, s2)``."""
    mean = w * m1 + (1 - w) * m2
    var = w * s1**2 + (1 - w) * s2**2 + w * (1 - w) * (m1 - m2) ** 2
    return mean, np.sqrt(var)


class ConductivityEnsemble(RegressorMixin, BaseEstimator):
    """Weighted ensemble of :class:`ConductivityForest` and the attention network.

    Parameters
    ----------
    forest_weight_cell
        Weight of the forest for rows with a known cell (0-1).
    forest_weight_comp
        Weight of the forest for composition-only rows (0-1).
    std_scale_cell, std_scale_comp
        Factors applied to the mixture std of rows with / without a cell
        (calibrated on grouped CV by
        :func:`~matscreen.surrogates.conductivity.train_conductivity_model`).
    forest_params, attention_params
        Keyword arguments of the two components (None: their defaults).
    random_state
        Seed passed to both components.

    Examples
    --------
    >>> model = ConductivityEnsemble(attention_params={"n_members": 1, "epochs": 1},
    ...                              forest_params={"n_estimators": 10, "calibrate": False})
    >>> _ = model.fit(["Li3InCl6", "Li3PO4", "Li7La3Zr2O12", "Li3YCl6"], [-3, -9, -4, -3.3])
    >>> model.predict(["Li3YBr6"], return_std=True)[1].shape
    (1,)
    """

    def __init__(
        self,
        forest_weight_cell: float = 0.75,
        forest_weight_comp: float = 0.5,
        std_scale_cell: float = 1.0,
        std_scale_comp: float = 1.0,
        forest_params: dict[str, Any] | None = None,
        attention_params: dict[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        self.forest_weight_cell = forest_weight_cell
        self.forest_weight_comp = forest_weight_comp
        self.std_scale_cell = std_scale_cell
        self.std_scale_comp = std_scale_comp
        self.forest_params = forest_params
        self.attention_params = attention_params
        self.random_state = random_state

    def _components(self) -> tuple[ConductivityForest, AttentionConductivityRegressor]:
        forest = ConductivityForest(
            **{"random_state": self.random_state, **(self.forest_params or {})}
        )
        attention = AttentionConductivityRegressor(
            **{"seed": self.random_state, **(self.attention_params or {})}
        )
        return forest, attention

    def fit(self, X: Any, y: Any) -> ConductivityEnsemble:
        """Fit both components on the same rows (see :meth:`ConductivityForest.fit`)."""
        forest, attention = self._components()
        self.forest_ = forest.fit(X, y)
        self.attention_ = attention.fit(X, y)
        self.n_features_in_ = self.forest_.n_features_in_
        return self

    @classmethod
    def from_components(
        cls,
        forest: ConductivityForest,
        attention: AttentionConductivityRegressor,
        **params: Any,
    ) -> ConductivityEnsemble:
        """Build a fitted ensemble from already fitted components."""
        model = cls(**params)
        model.forest_ = forest
        model.attention_ = attention
        model.n_features_in_ = forest.n_features_in_
        return model

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predict log10 conductivity (S/cm); raises ``ValueError`` on unreadable rows."""
        rows = self.predict_rows(X)
        bad = [(i, e) for i, e in enumerate(rows.errors) if e is not None]
        if bad:
            raise ValueError(f"row {bad[0][0]}: {bad[0][1]} ({len(bad)} bad rows)")
        return (rows.mean, rows.std) if return_std else rows.mean

    def predict_rows(self, X: Any) -> RowPredictions:
        """Predict every readable row; unreadable rows get NaN and a reason."""
        check_is_fitted(self, "forest_")
        comp, cell, errors, entries = self.forest_.featurize(X)
        z, frac, att_errors = encode_compositions(entries)
        errors = [e or a for e, a in zip(errors, att_errors, strict=True)]
        has_li = ((z == 3) & (frac > 0)).any(axis=1)  # z: atomic number, 0 = padding
        n_elements = (frac > 0).sum(axis=1)
        for i in range(len(errors)):  # a Li-ion model: no Li, or Li metal, is refused
            if errors[i] is None:
                errors[i] = li_count_error(bool(has_li[i]), int(n_elements[i]))
        ok = np.array([e is None for e in errors], dtype=bool)
        n = len(errors)
        mean, std = np.full(n, np.nan), np.full(n, np.nan)
        f_mean, a_mean = np.full(n, np.nan), np.full(n, np.nan)
        used_cell = np.zeros(n, dtype=bool)
        if ok.any():
            fm, fs, uc = self.forest_.predict_features(comp[ok], cell[ok])
            ok_entries = [e for e, keep in zip(entries, ok, strict=True) if keep]
            am, as_ = self.attention_.predict(ok_entries, return_std=True)
            w = np.where(uc, self.forest_weight_cell, self.forest_weight_comp)
            m, s = mix(w, fm, fs, am, as_)
            scale = np.where(uc, self.std_scale_cell, self.std_scale_comp)
            mean[ok], std[ok] = m, s * scale
            f_mean[ok], a_mean[ok], used_cell[ok] = fm, am, uc
        return RowPredictions(mean, std, f_mean, a_mean, used_cell, errors, comp)
