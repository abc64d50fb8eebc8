"""Multi-objective ranking: Pareto fronts by non-dominated sorting."""

from __future__ import annotations

import numpy as np


def pareto_rank(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Return the Pareto rank of each row (1 = non-dominated front).

    Parameters
    ----------
    values
        ``(n, m)`` objective values; rows with any NaN get rank 0 (unranked).
    maximize
        Per objective, whether larger is better.

    Returns
    -------
    numpy.ndarray
        Integer ranks, 1 for the first front, 2 for the next, ...

    Examples
    --------
    >>> pareto_rank(np.array([[1.0, 1.0], [2.0, 2.0], [2.0, 0.0]]), [True, True]).tolist()
    [2, 1, 2]
    """
    values = np.asarray(values, dtype=float)
    sign = np.where(np.asarray(maximize), -1.0, 1.0)
    cost = values * sign  # minimize every column
    valid = ~np.isnan(cost).any(axis=1)
    ranks = np.zeros(len(cost), dtype=np.int64)
    remaining = np.flatnonzero(valid)
    rank = 1
    while remaining.size:
        sub = cost[remaining]
        le = (sub[None, :, :] <= sub[:, None, :]).all(axis=2)
        lt = (sub[None, :, :] < sub[:, None, :]).any(axis=2)
        dominated = (le & lt).any(axis=1)
        front = remaining[~dominated]
        ranks[front] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks
