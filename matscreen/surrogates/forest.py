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
residuals, groups from :func:`near_duplicate_groups`: same paper or
near-identical composition) so that about 68 % of out-of-fold residuals fall
within one std.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)


def chemical_system_groups(entries: Any) -> np.ndarray:
    """Return the chemical system (``"Cl-In-Li"``) of each entry.

    The CV grouping of conductivity models before 1.2.1 (now
    :func:`near_duplicate_groups`). Entries that cannot be read get their own
    group (their string form).
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


#: Default atomic-fraction L1 distance below which two rows count as near duplicates.
NEAR_DUPLICATE_THRESHOLD = 0.02
#: Name of the training-table column holding each row's source (paper DOI).
SOURCE_COLUMN = "doi"


def atomic_fraction_matrix(entries: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the atomic fractions of each entry by element, and which rows could be read.

    Parameters
    ----------
    entries
        Formulas, ``Composition`` or ``Structure`` objects.

    Returns
    -------
    fractions
        ``(n, n_elements)`` array; column ``Z - 1`` holds the atomic fraction
        of element ``Z`` (rows sum to 1; unreadable rows are all zero).
    ok
        Boolean mask of the rows whose composition could be read.
    """
    from matscreen.featurize.composition import element_matrix

    z_index, fractions, errors = element_matrix(list(entries))
    n = len(errors)
    width = int(z_index.max()) + 1 if z_index.size else 1
    out = np.zeros((n, width))
    rows = np.repeat(np.arange(n), z_index.shape[1]) if n else np.zeros(0, dtype=int)
    np.add.at(out, (rows, z_index.ravel()), fractions.ravel())
    ok = np.array([e is None for e in errors], dtype=bool)
    return out, ok


def near_duplicate_groups(
    entries: Any,
    sources: Sequence[object] | None = None,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> np.ndarray:
    """Group rows that share a source or whose compositions are near duplicates.

    Two rows are linked when they come from the same source (e.g. the same
    paper, by DOI) or when the L1 distance between their atomic-fraction
    vectors is below ``threshold``; the groups are the connected components of
    these links. Used as the groups of grouped cross-validation, so that a
    doping series (one host with many dopant levels, often spanning several
    chemical systems) and the rows of one paper never straddle folds: the
    OBELiX test split shares no paper with its training split, and grouping by
    chemical system alone lets CV folds see much closer neighbours than the
    test split does.

    Parameters
    ----------
    entries
        Formulas, ``Composition`` or ``Structure`` objects.
    sources
        One source label per row (a DOI, say), or None. Missing labels (None,
        NaN, empty or blank strings) link nothing.
    threshold
        Atomic-fraction L1 distance (0 to 2) below which two rows are linked.

    Returns
    -------
    numpy.ndarray
        Integer group label per row, ``0 .. n_groups - 1`` (numbered in order
        of first appearance). Entries that cannot be read are linked by their
        source only, never by composition.

    Raises
    ------
    ValueError
        If ``sources`` does not have one label per entry, or ``threshold`` is
        negative.

    Examples
    --------
    >>> near_duplicate_groups(["Li3InCl6", "Li2.99In1.01Cl6", "Li3PO4"]).tolist()
    [0, 0, 1]
    >>> near_duplicate_groups(["Li3InCl6", "Li3YBr6"], sources=["doi:a", "doi:a"]).tolist()
    [0, 0]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import radius_neighbors_graph

    entries = list(entries)
    n = len(entries)
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if sources is not None and len(sources) != n:
        raise ValueError(f"{len(sources)} sources for {n} entries")
    if n == 0:
        return np.zeros(0, dtype=int)
    fractions, ok = atomic_fraction_matrix(entries)
    rows, cols = [np.zeros(0, dtype=int)], [np.zeros(0, dtype=int)]
    idx = np.flatnonzero(ok)
    if len(idx) > 1 and threshold > 0:
        graph = radius_neighbors_graph(
            fractions[idx], threshold, mode="distance", metric="manhattan"
        ).tocoo()
        close = graph.data < threshold
        rows.append(idx[graph.row[close]])
        cols.append(idx[graph.col[close]])
    if sources is not None:
        first: dict[str, int] = {}
        for i, source in enumerate(sources):
            key = _source_key(source)
            if key is not None:
                rows.append(np.array([first.setdefault(key, i)]))
                cols.append(np.array([i]))
    r, c = np.concatenate(rows), np.concatenate(cols)
    adjacency = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _, labels = connected_components(adjacency, directed=False)
    _, first_seen, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_seen))
    return order[inverse].astype(int)


def table_sources(X: Any) -> list[object] | None:
    """Return the source (DOI) column of a training table, or None.

    The column is ``doi`` (any letter case, e.g. OBELiX's ``DOI``); inputs
    that are not a DataFrame, have no such column, or have no value in it
    give None.
    """
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    for name in columns:
        if isinstance(name, str) and name.lower() == SOURCE_COLUMN:
            values = list(X[name])
            return values if any(_source_key(v) is not None for v in values) else None
    return None


def _source_key(source: object) -> str | None:
    """Normalize a source label (DOI); None for a missing one."""
    import pandas as pd

    if not isinstance(source, str) and (source is None or bool(pd.isna(source))):
        return None
    text = str(source).strip().lower()
    return text or None


def calibration_factor(residuals: np.ndarray, std: np.ndarray, coverage: float = 0.6827) -> float:
    """Return ``s`` such that a fraction ``coverage`` of ``|residual| <= s * std``.

    A quantile rather than a likelihood fit: the censored rows (-15) make the
    residuals heavy-tailed, and a Gaussian NLL fit would inflate every std to
    cover them.
    """
    ratio = np.abs(residuals) / np.maximum(std, 1e-6)
    return float(np.quantile(ratio, coverage))


class ViewForest:
    """Extra-trees forests on several column subsets of one feature matrix.

    One forest per view, each fitted on its own columns; the trees of all
    forests are pooled, so :func:`forest_center_std` takes the median (and
    spread) over every tree of every view.

    Parameters
    ----------
    columns
        Column indices of each view.
    n_estimators, max_features, min_samples_leaf, random_state, n_jobs
        Passed to each ``ExtraTreesRegressor``.
    """

    def __init__(
        self,
        columns: Sequence[np.ndarray],
        n_estimators: int,
        max_features: float,
        min_samples_leaf: int,
        random_state: int,
        n_jobs: int = 1,
    ) -> None:
        from sklearn.ensemble import ExtraTreesRegressor

        self.columns = [np.asarray(c, dtype=int) for c in columns]
        self.forests = [
            ExtraTreesRegressor(
                n_estimators=n_estimators,
                max_features=max_features,
                min_samples_leaf=min_samples_leaf,
                random_state=random_state,
                n_jobs=n_jobs,
            )
            for _ in self.columns
        ]

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> ViewForest:
        """Fit every view's forest on its columns of ``X``."""
        for cols, forest in zip(self.columns, self.forests, strict=True):
            forest.fit(X[:, cols], y, sample_weight=sample_weight)
        return self

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Per-tree predictions, ``(n_trees_total, n_rows)``."""
        return np.vstack(
            [
                np.stack([tree.predict(X[:, cols]) for tree in forest.estimators_])
                for cols, forest in zip(self.columns, self.forests, strict=True)
            ]
        )


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
        between (grouped CV on the OBELiX train split, chemical-system
        groups: 1.36 -> 1.30 for the cell forest).
    feature_views
        Composition-feature views (see
        :func:`~matscreen.surrogates.features.composition_view_columns`); one
        extra-trees forest of ``n_estimators`` trees is fitted per view (the
        cell forest adds the cell block to each) and the trees are pooled.
        None means one forest on every column (models before 1.3.0). Since
        1.3.0 the shipped model uses ``("no_magpie", "chemistry")``: without
        the Magpie element-property statistics, which let trees key on the
        identity of the host framework, the forests extrapolate better to
        papers and doping series they have not seen (grouped CV, 8 fold
        seeds: composition forest 1.89 -> 1.67, cell forest 1.75 -> 1.66).
    group_weight_power
        Training rows of the composition forest are weighted by
        ``1 / n_group ** group_weight_power``, ``n_group`` being the number of
        training rows in the row's :func:`near_duplicate_groups` group (same
        paper or near-identical composition), so that a long doping series
        counts less than many independent compositions (redundancy control,
        cf. MD-HIT, Li et al., npj Comput. Mater. 2024). 0 (default): unweighted.
        The cell forest is never weighted (weighting it made grouped CV worse).
    pool_comp_in_cell
        Rows with a cell are predicted by the median over the trees of the
        cell forest *and* of the composition forest (instead of the cell
        forest's trees alone).
    use_cell
        Fit the cell forest too (needs lattice columns or structures in the
        training input); rows without a cell always use the composition forest.
    calibrate
        Scale the tree spread by a factor from grouped CV (``cv_folds``
        folds, groups from :func:`near_duplicate_groups`, with the ``doi``
        column of a training table as sources). Without it the factor is 1.
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
        feature_views: Sequence[str] | None = None,
        group_weight_power: float = 0.0,
        pool_comp_in_cell: bool = False,
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
        self.feature_views = feature_views
        self.group_weight_power = group_weight_power
        self.pool_comp_in_cell = pool_comp_in_cell
        self.use_cell = use_cell
        self.calibrate = calibrate
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _forest(self, cell: bool = True) -> Any:
        """Return an unfitted forest for the composition (+ cell) feature matrix."""
        from sklearn.ensemble import ExtraTreesRegressor

        max_features = self.max_features if cell else self.max_features_comp
        views = getattr(self, "feature_views", None)  # forests pickled before 1.3 have none
        if not views:
            return ExtraTreesRegressor(
                n_estimators=self.n_estimators,
                max_features=max_features,
                min_samples_leaf=self.min_samples_leaf,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
        return ViewForest(
            view_columns(views, cell),
            self.n_estimators,
            max_features,
            self.min_samples_leaf,
            self.random_state,
            self.n_jobs,
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
        from matscreen.surrogates.inputs import check_training_rows

        _check_aggregate(self.aggregate)
        comp, cell, errors, entries = self.featurize(X)
        y = np.asarray(y, dtype=float).ravel()
        check_training_rows(errors, y, len(comp), entries)
        has_cell = np.isfinite(cell).all(axis=1)
        groups = near_duplicate_groups(entries, table_sources(X))
        self.comp_model_ = self._forest(cell=False).fit(
            comp, y, sample_weight=self._group_weights(groups)
        )
        self.cell_model_ = None
        if self.use_cell and has_cell.sum() >= max(10, self.cv_folds):
            self.cell_model_ = self._forest().fit(np.hstack([comp, cell])[has_cell], y[has_cell])
        self.n_features_in_ = comp.shape[1]
        self.std_scale_comp_ = 1.0
        self.std_scale_cell_ = 1.0
        if self.calibrate:
            self.std_scale_comp_ = self._calibrate(comp, y, groups, cell=False)
            if self.cell_model_ is not None:
                self.std_scale_cell_ = self._calibrate(
                    np.hstack([comp, cell]), y, groups, cell=True, rows=has_cell
                )
        return self

    def _group_weights(self, groups: np.ndarray) -> np.ndarray | None:
        """Sample weights ``1 / n_group ** group_weight_power`` (mean 1); None when unweighted."""
        return group_size_weights(groups, getattr(self, "group_weight_power", 0.0))

    def fit_comp_forest(self, comp: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Any:
        """Fit a new composition forest on ``comp``, weighted as ``group_weight_power`` says."""
        return self._forest(cell=False).fit(comp, y, sample_weight=self._group_weights(groups))

    def center_std_cell(
        self, cell_forest: Any, comp_forest: Any, comp: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Centre and raw std of rows with a cell (pooled with the composition trees if asked)."""
        aggregate = getattr(self, "aggregate", "mean")
        if not getattr(self, "pool_comp_in_cell", False):
            return forest_center_std(cell_forest, full, aggregate)
        per_tree = np.vstack(
            [tree_predictions(cell_forest, full), tree_predictions(comp_forest, comp)]
        )
        return _combine_trees(per_tree, aggregate)

    def _calibrate(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        cell: bool = False,
        rows: np.ndarray | None = None,
    ) -> float:
        """Std scale from grouped CV of the composition (or, ``cell=True``, the cell) forest.

        With ``cell``, ``X`` holds every row (composition then cell columns) and
        ``rows`` marks those with a cell: as in :meth:`fit`, the cell forest
        learns from the cell rows and the pooled composition forest from all
        rows of the training folds; the cell rows of each held-out fold are
        scored.
        """
        from sklearn.model_selection import GroupKFold

        rows = np.ones(len(y), dtype=bool) if rows is None else rows
        n_splits = min(self.cv_folds, len(np.unique(groups[rows])))
        if n_splits < 2:
            return 1.0
        res, std = np.zeros(len(y)), np.zeros(len(y))
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        n_comp = self.n_features_in_
        for tr, te in cv.split(X, y, groups):
            if not cell:
                forest = self.fit_comp_forest(X[tr], y[tr], groups[tr])
                mean, sd = forest_center_std(forest, X[te], self.aggregate)
            else:
                tr_cell, te = tr[rows[tr]], te[rows[te]]
                if len(te) == 0 or len(tr_cell) == 0:
                    continue
                forest = self._forest(cell).fit(X[tr_cell], y[tr_cell])
                comp_forest = None
                if getattr(self, "pool_comp_in_cell", False):
                    comp_forest = self.fit_comp_forest(X[tr, :n_comp], y[tr], groups[tr])
                mean, sd = self.center_std_cell(forest, comp_forest, X[te, :n_comp], X[te])
            res[te], std[te] = y[te] - mean, sd
        scored = (rows if cell else np.ones(len(y), dtype=bool)) & (std > 0)
        return calibration_factor(res[scored], std[scored])

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
            m, s = self.center_std_cell(
                self.cell_model_, self.comp_model_, comp[use_cell],
                np.hstack([comp, cell])[use_cell],
            )  # fmt: skip
            mean[use_cell], std[use_cell] = m, s * self.std_scale_cell_
        return mean, std, use_cell


def view_columns(views: Sequence[str], cell: bool) -> list[np.ndarray]:
    """Column indices of each view in the composition (+ cell) feature matrix.

    Parameters
    ----------
    views
        Names from :data:`~matscreen.surrogates.features.COMPOSITION_VIEWS`.
    cell
        Whether the matrix is composition + cell (the cell columns, which
        follow the composition block, are then added to every view).
    """
    from matscreen.surrogates.features import (
        CELL_LABELS,
        composition_labels,
        composition_view_columns,
    )

    n_comp = len(composition_labels())
    cell_cols = np.arange(n_comp, n_comp + len(CELL_LABELS)) if cell else np.zeros(0, dtype=int)
    return [np.concatenate([composition_view_columns(v), cell_cols]) for v in views]


def _check_aggregate(aggregate: str) -> None:
    if aggregate not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean', got {aggregate!r}")


def group_size_weights(groups: np.ndarray, power: float) -> np.ndarray | None:
    """Weights ``1 / n_group ** power`` normalized to mean 1 (None when ``power`` is 0).

    ``n_group`` is how many rows share the row's group label.
    """
    if not power:
        return None
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse].astype(float) ** power
    return w * (len(w) / w.sum())


def tree_predictions(forest: Any, X: np.ndarray) -> np.ndarray:
    """Per-tree predictions ``(n_trees, n_rows)`` of a fitted forest or :class:`ViewForest`."""
    if isinstance(forest, ViewForest):
        return forest.tree_predictions(X)
    return np.stack([tree.predict(X) for tree in forest.estimators_])


def _combine_trees(per_tree: np.ndarray, aggregate: str) -> tuple[np.ndarray, np.ndarray]:
    center = np.median(per_tree, axis=0) if aggregate == "median" else per_tree.mean(axis=0)
    return center, np.maximum(per_tree.std(axis=0), 1e-3)


def forest_center_std(
    forest: Any, X: np.ndarray, aggregate: str = "median"
) -> tuple[np.ndarray, np.ndarray]:
    """Combine the per-tree predictions of a fitted forest.

    Parameters
    ----------
    forest
        A fitted scikit-learn forest (``estimators_``) or :class:`ViewForest`.
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
    return _combine_trees(tree_predictions(forest, X), aggregate)
