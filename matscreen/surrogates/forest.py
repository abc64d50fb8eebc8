"""Extra-trees conductivity model on composition (+ cell, when known), with calibrated std.

:class:`ConductivityForest` holds two extra-trees ensembles:

- a **composition** forest (composition block only), used for rows with only
  a formula;
- a **cell** forest (composition + cell block: space group, lattice
  parameters, volume per atom / anion / Li, Li density), used for rows whose
  cell is known (lattice columns in the input table, or a structure).

Each row is routed to the richer model it has inputs for. The raw
uncertainty is the spread of the per-tree predictions; it is scaled by a
factor calibrated on grouped cross-validation inside :meth:`fit` (out-of-fold
residuals, groups = chemical systems) so that about 68 % of out-of-fold
residuals fall within one std.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)


def chemical_system_groups(entries: Any) -> np.ndarray:
    """Return the chemical system (``"Cl-In-Li"``) of each entry, for grouped CV.

    Entries that cannot be read get their own group (their string form).
    """
    from matscreen.featurize.composition import as_composition

    out = []
    for entry in entries:
        try:
            comp = as_composition(entry)
            out.append("-".join(sorted(el.symbol for el in comp.elements)))
        except ValueError:
            out.append(f"?{entry!s}")
    return np.asarray(out)


def calibration_factor(residuals: np.ndarray, std: np.ndarray, coverage: float = 0.6827) -> float:
    """Return ``s`` such that a fraction ``coverage`` of ``|residual| <= s * std``.

    A quantile rather than a likelihood fit: the censored rows (-15) make the
    residuals heavy-tailed, and a Gaussian NLL fit would inflate every std to
    cover them.
    """
    ratio = np.abs(residuals) / np.maximum(std, 1e-6)
    return float(np.quantile(ratio, coverage))


class ConductivityForest(RegressorMixin, BaseEstimator):
    """Extra-trees on composition (+ cell) features with a CV-calibrated std.

    Parameters
    ----------
    n_estimators
        Trees per forest.
    max_features
        Fraction of features tried at each split by the cell forest.
    max_features_comp
        The same for the composition forest.
    min_samples_leaf
        Minimum samples per leaf.
    aggregate
        How the per-tree predictions are combined: ``"median"`` (default) or
        ``"mean"``. The target is bimodal (conductors around -3, insulators
        and censored rows at -10 to -15), and the median of the trees is the
        prediction that minimizes absolute error where the mean would land in
        between (grouped CV on the OBELiX train split: 1.36 -> 1.30 for the
        cell forest).
    use_cell
        Fit the cell forest too (needs lattice columns or structures in the
        training input); rows without a cell always use the composition forest.
    calibrate
        Scale the tree spread by a factor from grouped CV (``cv_folds``
        folds, groups = chemical systems). Without it the factor is 1.
    cv_folds
        Folds of that calibration CV.
    random_state
        Seed of the trees and of the CV shuffling.
    n_jobs
        Parallel jobs for the trees.

    Examples
    --------
    >>> from matscreen.datasets import load_obelix
    >>> df = load_obelix("train", structures=False)
    >>> model = ConductivityForest(n_estimators=20, calibrate=False).fit(df, df["log10_sigma"])
    >>> mean, std = model.predict(["Li3InCl6"], return_std=True)
    """

    def __init__(
        self,
        n_estimators: int = 300,
        max_features: float = 1.0,
        max_features_comp: float = 0.5,
        min_samples_leaf: int = 1,
        aggregate: str = "median",
        use_cell: bool = True,
        calibrate: bool = True,
        cv_folds: int = 5,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.max_features_comp = max_features_comp
        self.min_samples_leaf = min_samples_leaf
        self.aggregate = aggregate
        self.use_cell = use_cell
        self.calibrate = calibrate
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _forest(self, cell: bool = True) -> Any:
        from sklearn.ensemble import ExtraTreesRegressor

        return ExtraTreesRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features if cell else self.max_features_comp,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    @staticmethod
    def featurize(X: Any) -> tuple[np.ndarray, np.ndarray, list[str | None], list[Any]]:
        """Return composition features, cell features, per-row errors and entries."""
        from matscreen.surrogates.features import cell_block, composition_block
        from matscreen.surrogates.inputs import normalize_inputs

        inputs = normalize_inputs(X)
        comp, _, errors = composition_block(list(inputs["entry"]))
        cell = cell_block(inputs)
        return comp, cell, errors, list(inputs["entry"])

    def fit(self, X: Any, y: Any) -> ConductivityForest:
        """Fit both forests and calibrate the std on grouped CV.

        Parameters
        ----------
        X
            Formulas / Compositions / Structures, or a table with ``formula``
            and optionally ``structure``, ``space_group_number``, lattice
            columns and ``cell_formula`` (see :mod:`matscreen.surrogates.inputs`).
        y
            log10 conductivity in S/cm.

        Raises
        ------
        ValueError
            If a row cannot be featurized or ``y`` is not finite.
        """
        _check_aggregate(self.aggregate)
        comp, cell, errors, entries = self.featurize(X)
        y = np.asarray(y, dtype=float).ravel()
        self._check_training(errors, y, len(comp))
        has_cell = np.isfinite(cell).all(axis=1)
        self.comp_model_ = self._forest(cell=False).fit(comp, y)
        self.cell_model_ = None
        if self.use_cell and has_cell.sum() >= max(10, self.cv_folds):
            self.cell_model_ = self._forest().fit(np.hstack([comp, cell])[has_cell], y[has_cell])
        self.n_features_in_ = comp.shape[1]
        self.std_scale_comp_ = 1.0
        self.std_scale_cell_ = 1.0
        if self.calibrate:
            groups = chemical_system_groups(entries)
            self.std_scale_comp_ = self._calibrate(comp, y, groups, cell=False)
            if self.cell_model_ is not None:
                full = np.hstack([comp, cell])
                self.std_scale_cell_ = self._calibrate(
                    full[has_cell], y[has_cell], groups[has_cell]
                )
        return self

    @staticmethod
    def _check_training(errors: list[str | None], y: np.ndarray, n: int) -> None:
        if len(y) != n:
            raise ValueError(f"X has {n} rows but y has {len(y)}")
        bad = [(i, e) for i, e in enumerate(errors) if e is not None]
        if bad:
            raise ValueError(f"training row {bad[0][0]}: {bad[0][1]} ({len(bad)} bad rows)")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or inf")

    def _calibrate(
        self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, cell: bool = True
    ) -> float:
        from sklearn.model_selection import GroupKFold

        n_splits = min(self.cv_folds, len(np.unique(groups)))
        if n_splits < 2:
            return 1.0
        res, std = np.zeros(len(y)), np.zeros(len(y))
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        for tr, te in cv.split(X, y, groups):
            forest = self._forest(cell).fit(X[tr], y[tr])
            mean, sd = forest_center_std(forest, X[te], self.aggregate)
            res[te], std[te] = y[te] - mean, sd
        return calibration_factor(res, std)

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predict log10 conductivity (S/cm), with the calibrated std if asked.

        Raises
        ------
        ValueError
            If a row cannot be featurized (use
            :func:`~matscreen.surrogates.conductivity.predict_conductivity_table`
            for per-row errors).
        """
        comp, cell, errors, _ = self.featurize(X)
        bad = [(i, e) for i, e in enumerate(errors) if e is not None]
        if bad:
            raise ValueError(f"row {bad[0][0]}: {bad[0][1]} ({len(bad)} bad rows)")
        mean, std, _ = self.predict_features(comp, cell)
        return (mean, std) if return_std else mean

    def predict_features(
        self, comp: np.ndarray, cell: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict from precomputed feature blocks; also return which rows used the cell forest."""
        check_is_fitted(self, "comp_model_")
        aggregate = getattr(self, "aggregate", "mean")  # forests pickled before 1.2 used the mean
        n = len(comp)
        mean, std = np.zeros(n), np.zeros(n)
        use_cell = np.zeros(n, dtype=bool)
        if self.cell_model_ is not None:
            use_cell = np.isfinite(cell).all(axis=1)
        if (~use_cell).any():
            m, s = forest_center_std(self.comp_model_, comp[~use_cell], aggregate)
            mean[~use_cell], std[~use_cell] = m, s * self.std_scale_comp_
        if use_cell.any():
            m, s = forest_center_std(self.cell_model_, np.hstack([comp, cell])[use_cell], aggregate)
            mean[use_cell], std[use_cell] = m, s * self.std_scale_cell_
        return mean, std, use_cell


def _check_aggregate(aggregate: str) -> None:
    if aggregate not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean', got {aggregate!r}")


def forest_center_std(
    forest: Any, X: np.ndarray, aggregate: str = "median"
) -> tuple[np.ndarray, np.ndarray]:
    """Combine the per-tree predictions of a fitted forest.

    Parameters
    ----------
    forest
        A fitted scikit-learn forest (``estimators_``).
    X
        Feature rows.
    aggregate
        ``"median"`` or ``"mean"`` of the trees.

    Returns
    -------
    center, std
        The median (or mean) of the trees and their standard deviation
        (floored at 1e-3, uncalibrated).
    """
    _check_aggregate(aggregate)
    per_tree = np.stack([tree.predict(X) for tree in forest.estimators_])
    center = np.median(per_tree, axis=0) if aggregate == "median" else per_tree.mean(axis=0)
    return center, np.maximum(per_tree.std(axis=0), 1e-3)
