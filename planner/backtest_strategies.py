"""Proposal strategies a backtest compares: random, our surrogates + BoTorch, and the peers.

A strategy sees the pool's *inputs* and only the outcomes of the rows it has picked. Each
``propose`` call returns ``q`` pool row indices that were not picked before.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from planner.acquisition import ObjectiveSpec, build_acquisition
from planner.errors import PlanningError
from planner.pool import pool_bounds, select_from_pool

#: Smallest max/min ratio of a positive minimized target that ``log_targets="auto"`` models on a
#: log scale.
LOG_SPAN = 10.0

#: Strategy names understood by :func:`make_strategy`, in report order. ``gp-prior`` needs prior
#: data (``planner backtest --prior``).
STRATEGIES = ("random", "gp", "gp-prior", "ensemble", "ax", "baybe")


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


class RandomStrategy:
    """Uniform random picks without replacement (the reference of EF and AF)."""

    def __init__(self, pool: PoolView, *, seed: int) -> None:
        self._n = len(pool.X)
        self._rng = np.random.default_rng([seed, 7])

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """``q`` unpicked rows drawn uniformly."""
        free = np.setdiff1d(np.arange(self._n), picked)
        return self._rng.choice(free, size=q, replace=False).tolist()


class SurrogateStrategy:
    """One of our surrogates, refitted every batch, + BoTorch acquisition + greedy pool selection.

    Single target: qLogNEI; several: qLogNEHVI with the reference point from the data. The whole
    pool is encoded with the surrogate's own encoder (imputing missing inputs) and scored by
    :func:`planner.pool.select_from_pool`, never re-picking a measured row.

    Args:
        kind: ``"gp"`` or ``"ensemble"`` (any name of :func:`surrogates.make_surrogate`).
        pool: the pool without outcomes.
        seed: seeds the surrogate and the MC base samples.
        mc_samples: posterior samples for the acquisition.
        log_targets: model ``log10(y)`` instead of ``y``: ``True``, ``False`` or ``"auto"``
            (a *minimized* target whose measured values so far are all positive and span more
            than a factor of :data:`LOG_SPAN`, like an instability index or a loss). A monotone
            transform keeps the optimum where it is. Near zero, where a minimized positive
            target has its optimum, the log scale spreads the values the search must tell
            apart; for a maximized target it would squash the top instead. Measured on the
            PV-Lab sets (20 seeds, median [IQR] experiments to the first top-1% candidate): log
            on the minimized Perovskite instability 36 [24-42] vs 39 [30-48] without; log on
            the maximized crossed-barrel toughness 33 vs 24 and P3HT conductivity 30 vs 24,
            hence "auto" logs minimized targets only.
        pool_scaling: GP only: normalize numeric inputs to the range of the whole pool (the
            campaign's search space) rather than the range of the few measured rows
            (``GPSurrogate(input_bounds=...)``). Measured on PV-Lab sets (10 seeds, median
            experiments to the first top-1% candidate): AutoAM 27 vs 42, crossed barrel 27
            vs 33.
    """

    def __init__(
        self,
        kind: str,
        pool: PoolView,
        *,
        seed: int,
        mc_samples: int = 128,
        log_targets: bool | str = "auto",
        pool_scaling: bool = True,
    ) -> None:
        from surrogates import make_surrogate

        extra: dict[str, Any] = {}
        if pool_scaling and kind == "gp":
            extra["input_bounds"] = pool_bounds(pool.X, pool.categorical)

        self._make = lambda: make_surrogate(
            kind,
            categorical=pool.categorical,
            categories=pool.categories or None,
            seed=seed,
            **extra,
        )
        self._pool = pool
        self._seed = seed
        self._mc_samples = mc_samples
        self._objectives = [
            ObjectiveSpec(index=j, direction=d)  # type: ignore[arg-type]
            for j, d in enumerate(pool.directions)
        ]
        self._step = 0
        self._log_targets = log_targets

    def _fit(self, model: Any, X: pd.DataFrame, Y: pd.DataFrame, logs: np.ndarray) -> None:
        model.fit(X, Y)

    def _log_mask(self, Y: np.ndarray) -> np.ndarray:
        if self._log_targets == "auto":
            positive = (Y > 0).all(axis=0)
            span = np.where(positive, Y.max(axis=0) / np.where(positive, Y.min(axis=0), 1.0), 0.0)
            minimized = np.array([d == "min" for d in self._pool.directions])
            return positive & (span > LOG_SPAN) & minimized
        return np.full(Y.shape[1], bool(self._log_targets)) & (Y > 0).all(axis=0)

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """Fit on the picked rows, build the acquisition and select ``q`` pool rows."""
        pool = self._pool
        model = self._make()
        Y_fit = np.array(Y_picked, dtype=float)
        logs = self._log_mask(Y_fit)
        Y_fit[:, logs] = np.log10(Y_fit[:, logs])
        Y = pd.DataFrame(Y_fit, columns=list(pool.target_names))
        self._fit(model, pool.X.iloc[picked].reset_index(drop=True), Y, logs)
        Xt = model.encode(pool.X)
        idx = torch.as_tensor(np.asarray(picked), dtype=torch.long)
        acqf = build_acquisition(
            model.to_botorch(),
            X_baseline=Xt[idx],
            objectives=self._objectives,
            Y_baseline=torch.as_tensor(Y_fit, dtype=torch.double),
            mc_samples=self._mc_samples,
            seed=self._seed * 1000 + self._step,
        )
        self._step += 1
        chosen, _ = select_from_pool(acqf, Xt, q, exclude=idx)
        return chosen.tolist()


class WarmStartStrategy(SurrogateStrategy):
    """:class:`SurrogateStrategy` with :class:`surrogates.warm_start.WarmStartGP` and prior data.

    The prior rows are passed to every fit (a target modelled on a log scale gets the prior's
    values on that scale too; prior values that are not positive are then left out).

    Args:
        pool: the pool without outcomes.
        prior: the prior data and the warm-start mode.
        max_prior_rows: most prior rows per target in each fit (a seeded random subset above
            that; an exact multi-task GP costs ``O((n + m)^3)``).
        seed, mc_samples, log_targets: as for :class:`SurrogateStrategy`.
    """

    def __init__(
        self,
        pool: PoolView,
        *,
        prior: PriorData,
        seed: int,
        max_prior_rows: int = 300,
        mc_samples: int = 128,
        log_targets: bool | str = "auto",
    ) -> None:
        super().__init__(
            "gp", pool, seed=seed, mc_samples=mc_samples, log_targets=log_targets,
            pool_scaling=False,
        )
        from surrogates.warm_start import WarmStartGP

        self._prior = prior
        # The prior's other levels (another salt, another precursor) are knowledge too.
        levels = {
            c: sorted({*pool.categories.get(c, []), *(str(v) for v in prior.X[c].dropna())})
            for c in pool.categorical
        }
        self._make = lambda: WarmStartGP(
            categorical=pool.categorical,
            categories=levels or None,
            mode=prior.mode,
            max_prior_rows=max_prior_rows,
            seed=seed,
        )

    def _fit(self, model: Any, X: pd.DataFrame, Y: pd.DataFrame, logs: np.ndarray) -> None:
        PY = self._prior.Y.copy()
        for j, name in enumerate(self._pool.target_names):
            if logs[j]:
                col = PY[name].where(PY[name] > 0)
                PY[name] = np.log10(col)
        model.fit(X, Y, prior_X=self._prior.X, prior_Y=PY, prior_task=self._prior.task)


def unavailable_reason(name: str, options: dict[str, Any] | None = None) -> str | None:
    """Why a strategy cannot run here (a missing package, no prior data), else ``None``."""
    if name not in STRATEGIES:
        raise PlanningError(
            f"Unknown strategy {name!r}.", hint=f"Choose from {', '.join(STRATEGIES)}."
        )
    if name == "gp-prior" and not (options and isinstance(options.get("prior"), PriorData)):
        return "no prior data (--prior PRIOR.csv)"
    if name == "baybe" and importlib.util.find_spec("baybe") is None:
        return "BayBE is not installed (pip install 'battery-bo-planner[peers]')"
    if name == "ax" and importlib.util.find_spec("ax") is None:
        return "Ax is not installed (pip install ax-platform)"
    return None


def make_strategy(
    name: str, pool: PoolView, *, seed: int, options: dict[str, Any] | None = None
) -> Strategy:
    """Build a strategy by name (see :data:`STRATEGIES`); peers are imported only when asked for.

    Args:
        name: strategy name.
        pool: the pool without outcomes.
        seed: seed of the strategy's own randomness.
        options: extra keyword arguments for the strategy's constructor.
    """
    options = options or {}
    if name == "random":
        return RandomStrategy(pool, seed=seed)
    if name in ("gp", "ensemble", "rf"):
        return SurrogateStrategy(name, pool, seed=seed, **options)
    if name == "gp-prior":
        if not isinstance(options.get("prior"), PriorData):
            raise PlanningError(
                "The gp-prior strategy needs prior data.",
                hint="Pass --prior PRIOR.csv to `planner backtest`.",
            )
        return WarmStartStrategy(pool, seed=seed, **options)
    if name == "ax":
        from planner.peers.ax_peer import AxStrategy

        return AxStrategy(pool, seed=seed, **options)
    if name == "baybe":
        from planner.peers.baybe_peer import BayBEStrategy

        return BayBEStrategy(pool, seed=seed, **options)
    raise PlanningError(f"Unknown strategy {name!r}.", hint=f"Choose from {', '.join(STRATEGIES)}.")
