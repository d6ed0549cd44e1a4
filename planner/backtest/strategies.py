"""Proposal strategies a backtest compares: random, our surrogates + BoTorch, and the peers.

A strategy sees the pool's *inputs* and only the outcomes of the rows it has picked. Each
``propose`` call returns ``q`` pool row indices that were not picked before.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from planner.acquisition import ProposalSettings
from planner.backtest.base import PoolView, PriorData, Strategy
from planner.backtest.peers.ax_peer import AxStrategy
from planner.backtest.peers.baybe_peer import BayBEStrategy
from planner.errors import PlanningError
from planner.optimize import OptimizerSettings, default_settings
from planner.propose import Goal, PoolProblem, Prior, propose_from_pool


def backtest_optimizer() -> OptimizerSettings:
    """What ``planner suggest`` would use here (``PLANNER_FAST`` included), on one torch thread:
    parallel seeds must not oversubscribe the cores."""
    return replace(default_settings(), threads=1)


#: Strategy names understood by :func:`make_strategy`, in report order. ``gp-prior`` needs prior
#: data (``planner backtest --prior``).
STRATEGIES = ("random", "gp", "gp-prior", "ensemble", "rf", "boosted", "auto", "ax", "baybe")


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
    """One of our surrogates through the product's own pool core, refitted every batch.

    Each ``propose`` calls :func:`planner.propose.propose_from_pool`, the function a library
    campaign's ``planner suggest`` calls, with the same :class:`ProposalSettings` (acquisition,
    MC samples, target transforms): what a backtest measures is what ``suggest`` does.

    Args:
        kind: ``"gp"``, ``"ensemble"`` or ``"rf"`` (any name of :func:`surrogates.make_surrogate`).
        pool: the pool without outcomes.
        seed: seeds the strategy; batch ``k`` is proposed with seed ``seed * 1000 + k``.
        settings: acquisition settings (default: a campaign's defaults).
        prior: warm-start data for the ``gp`` (``planner backtest --prior``).
        max_prior_rows: most prior rows per target in each fit (a seeded random subset above
            that; an exact multi-task GP costs ``O((n + m)^3)``).
    """

    def __init__(self, kind: str, pool: PoolView, *, seed: int,
                 settings: ProposalSettings | None = None, prior: PriorData | None = None,
                 max_prior_rows: int | None = None) -> None:
        self._kind = kind
        self._pool = pool
        self._seed = seed
        self._settings = settings or ProposalSettings()
        self._goals = tuple(Goal(n, d) for n, d in zip(pool.target_names, pool.directions,
                                                        strict=True))
        self._prior = None if prior is None else Prior(
            prior.X, prior.Y, prior.task, prior.mode, max_prior_rows, {"source": prior.label})
        self._step = 0

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """The pool core's ``q`` rows given the picked rows and their outcomes."""
        pool = self._pool
        picked = np.asarray(picked, dtype=int)
        exclude = np.zeros(len(pool.X), bool)
        exclude[picked] = True
        problem = PoolProblem(
            pool=pool.X, X=pool.X.iloc[picked].reset_index(drop=True),
            Y=pd.DataFrame(np.asarray(Y_picked, dtype=float), columns=list(pool.target_names)),
            goals=self._goals, categorical=tuple(pool.categorical), exclude=exclude,
            prior=self._prior)
        plan = propose_from_pool(problem, q=q, seed=self._seed * 1000 + self._step,
                                 surrogate=self._kind, settings=self._settings,
                                 optimizer=backtest_optimizer())
        self._step += 1
        return [int(i) for i in plan.rows]


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
    """Build a strategy by name (see :data:`STRATEGIES`); a peer's package (Ax, BayBE) is imported
    only when its strategy is built.

    Args:
        name: strategy name.
        pool: the pool without outcomes.
        seed: seed of the strategy's own randomness.
        options: extra keyword arguments for the strategy's constructor.
    """
    options = options or {}
    if name == "random":
        return RandomStrategy(pool, seed=seed)
    if name in ("gp", "ensemble", "rf", "boosted", "auto"):
        return SurrogateStrategy(name, pool, seed=seed, **options)
    if name == "gp-prior":
        if not isinstance(options.get("prior"), PriorData):
            raise PlanningError(
                "The gp-prior strategy needs prior data.",
                hint="Pass --prior PRIOR.csv to `planner backtest`.",
            )
        return SurrogateStrategy("gp", pool, seed=seed, **options)
    if name == "ax":
        return AxStrategy(pool, seed=seed, **options)
    if name == "baybe":
        return BayBEStrategy(pool, seed=seed, **options)
    raise PlanningError(f"Unknown strategy {name!r}.", hint=f"Choose from {', '.join(STRATEGIES)}.")
