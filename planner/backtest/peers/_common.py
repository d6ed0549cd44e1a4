"""Helpers shared by the peers: a complete numeric copy of the pool and nearest-row snapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from planner.backtest.base import PoolView


def filled_pool(pool: PoolView) -> pd.DataFrame:
    """The pool with missing numeric inputs set to the column median, missing labels to "missing".

    Peers cannot take NaN inputs; our own surrogates impute inside the model instead.
    """
    X = pool.X.copy()
    for c in X.columns:
        if c in pool.categorical:
            X[c] = X[c].where(X[c].notna(), "missing").astype(str)
        else:
            col = X[c].astype(float)
            X[c] = col.fillna(col.median() if col.notna().any() else 0.0)
    return X


class Snapper:
    """Maps arbitrary points to the nearest free pool row.

    Distance: Euclidean over numeric inputs scaled to [0, 1] by the pool's range, plus 1 per
    mismatching categorical input (the squared distance of two one-hot vectors over 2).
    """

    def __init__(self, X: pd.DataFrame, categorical: Sequence[str]) -> None:
        self._num = [c for c in X.columns if c not in categorical]
        self._cat = [c for c in X.columns if c in categorical]
        Z = X[self._num].to_numpy(dtype=float)
        self._lo = Z.min(axis=0)
        self._span = np.where(Z.max(axis=0) > self._lo, Z.max(axis=0) - self._lo, 1.0)
        self._Z = (Z - self._lo) / self._span
        self._C = X[self._cat].astype(str).to_numpy()

    def nearest(self, point: Mapping[str, float | str], free: np.ndarray) -> int:
        """Index of the free row closest to ``point`` (column -> number, or categorical label)."""
        z = (np.array([float(point[c]) for c in self._num]) - self._lo) / self._span
        d2 = ((self._Z[free] - z) ** 2).sum(axis=1)
        if self._cat:
            labels = np.array([str(point[c]) for c in self._cat])
            d2 = d2 + (self._C[free] != labels).sum(axis=1)
        return int(free[int(np.argmin(d2))])
