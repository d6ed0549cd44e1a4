"""What every backtest strategy sees and promises: the pool without outcomes, prior data, and the
:class:`Strategy` protocol. Strategies (ours and the peers') import this module; it imports none
of them, so the backtest room has no import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PriorData:
    """Another lab's (or the literature's) measurements for a warm-started GP.

    Built by :meth:`planner.backtest.BacktestProblem.prior_from_frame`; holds only the pool's
    input and target columns.
    """

    X: pd.DataFrame
    """``m x d`` inputs, the pool's input columns."""
    Y: pd.DataFrame
    """``m x t`` targets, the pool's target names (NaN where a row lacks one)."""
    task: pd.Series | None = None
    """Source label of each row (a lab, a paper): one task each in multitask mode."""
    mode: str = "multitask"
    """``"multitask"`` or ``"prior_mean"`` (see :class:`surrogates.warm_start.WarmStartGP`)."""
    label: str = ""
    """Where it came from (file name), for the report."""

    def summary(self) -> dict[str, Any]:
        """What the JSON report says about the prior."""
        return {
            "source": self.label,
            "rows": len(self.X),
            "mode": self.mode,
            "tasks": sorted(map(str, self.task.unique())) if self.task is not None else [],
            "rows_per_target": {c: int(self.Y[c].notna().sum()) for c in self.Y.columns},
        }


@dataclass(frozen=True)
class PoolView:
    """What a strategy may know about the pool: inputs, target names and directions, no outcomes."""

    X: pd.DataFrame
    """``N x d`` candidate inputs (numeric columns as floats, NaN allowed; categoricals as str)."""
    target_names: tuple[str, ...]
    """The ``t`` target names."""
    directions: tuple[str, ...]
    """``"max"``/``"min"`` per target."""
    categorical: tuple[str, ...] = ()
    """Names of categorical input columns."""
    categories: dict[str, list[str]] = field(default_factory=dict)
    """All levels of each categorical column in the pool (sorted)."""


class Strategy(Protocol):
    """A closed-loop proposal strategy over a fixed pool."""

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """Choose ``q`` new rows.

        Args:
            picked: indices of the rows measured so far, in order.
            Y_picked: ``len(picked) x t`` outcomes of those rows, target units.
            q: number of rows to return.

        Returns:
            ``q`` distinct pool row indices not in ``picked``.
        """
        ...
