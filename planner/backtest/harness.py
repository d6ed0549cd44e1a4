"""Pool-based backtests: replay a campaign on a lab table whose outcomes are all known.

The idea of BayBE's ``simulate_scenarios`` for any table: every distinct input row of the table
is a candidate; each strategy starts from the same random initial design (per seed, so the
comparison is paired), then proposes batches and "measures" them by looking up the table, seeing
only what it has picked. Rows with identical inputs are one candidate whose outcome is the mean of
their outcomes; rows without a value for a target are dropped (counted in the report).

Metrics (full definitions in :mod:`planner.backtest.metrics`). Outcomes are normalized per
target to ``u = (y - worst) / (best - worst)`` over the pool (direction-aware, so minimized
targets need no special case); ``P(n)`` is the best ``u`` after ``n`` experiments (several
targets: the dominated hypervolume of the picks in ``u``-space, reference 0, as a fraction of the
whole pool's). With ``S(n)``, ``R(n)`` the mean of ``P(n)`` over seeds for a strategy and for random
sampling (Liang et al., npj Comput. Mater. 7, 188, 2021):

* enhancement factor ``EF(n) = S(n) / R(n)``; reported: its mean over ``n = init+1 .. budget``;
* acceleration factor ``AF = n_R(a) / n_S(a)`` with ``n_X(a) = min{n : X(n) >= a}`` at
  ``a = R(budget)``, the level random sampling reaches with the whole budget (null if the
  strategy never reaches it);
* "top" candidates: the best ``ceil(top * N)`` by ``u`` (several targets: by ``min_j u_j``);
  experiments until the first top pick count whole batches; random's exact distribution of that
  count is in ``random_exact``;
* ``paired``: ``gp`` against every other strategy seed by seed (same initial design): seeds on
  which it needed fewer, as many and more experiments, with a one-sided sign test.

Execution: seeds of one strategy run in parallel worker processes (``workers``, default 2), each
started fresh with ``torch.set_num_threads(1)`` (oversubscribed threads made a peer 7-28x
slower); a fresh pool per strategy makes its peak resident memory its own. Inside a
:func:`planner.engine.use_engine` block with the Dask engine (``planner backtest --engine dask``)
the seeds are Dask tasks instead (workers pinned to one thread; peak memory is then the
worker's). A step on which a
strategy fails falls back to random picks for that step and is counted in ``fallbacks``.

Example::

    problem = BacktestProblem.from_frame(
        read_table("Crossed_barrel_dataset.csv"), inputs=["n", "theta", "r", "t"],
        targets=[parse_target("toughness:max")])
    result = run_backtest(problem, BacktestConfig(seeds=5, strategies=("random", "gp")))
    result.to_dict()["strategies"]["gp"]["median_first_top"]
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.backtest import metrics as bm
from planner.backtest.problem import (
    BacktestInputError,
    BacktestProblem,
    TargetSpec,
    parse_target,
    read_table,
)
from planner.backtest.strategies import STRATEGIES, make_strategy, unavailable_reason
from planner.engine import current_engine
from planner.errors import PlanningError
from planner.funnel import MemoryPeak
from planner.runtime import skip_botorch_jit_kernel

logger = logging.getLogger(__name__)

__all__ = [
    "BacktestConfig",
    "BacktestInputError",
    "BacktestProblem",
    "BacktestResult",
    "SeedTrace",
    "TargetSpec",
    "parse_target",
    "read_table",
    "run_backtest",
    "run_campaign",
]


@dataclass(frozen=True)
class BacktestConfig:
    """How to run a backtest (the CLI flags)."""

    batch_size: int = 6
    """Rows proposed per step (a plate)."""
    budget: int = 60
    """Experiments per campaign, initial design included (capped at the pool size)."""
    init: int = 6
    """Random initial picks, the same for every strategy of a seed."""
    seeds: int = 20
    """Campaigns per strategy (seeds 0 .. seeds-1)."""
    top: float = 0.01
    """Fraction of the candidates that counts as "top"."""
    strategies: tuple[str, ...] = STRATEGIES
    """Strategies to compare; ``random`` is always run, it is the reference."""
    workers: int = 2
    """Parallel worker processes (1 = run in this process)."""
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra constructor arguments per strategy (e.g. ``{"gp": {"settings":
    ProposalSettings(mc_samples=128)}}``)."""

    def validate(self) -> None:
        """Reject impossible settings with one message."""
        problems = []
        if self.batch_size < 1:
            problems.append(f"batch size {self.batch_size} < 1")
        if self.init < 1:
            problems.append(f"init {self.init} < 1")
        if self.budget <= self.init:
            problems.append(f"budget {self.budget} must exceed init {self.init}")
        if self.seeds < 1:
            problems.append(f"seeds {self.seeds} < 1")
        if not 0 < self.top < 1:
            problems.append(f"top {self.top} is not a fraction in (0, 1)")
        if self.workers < 1:
            problems.append(f"workers {self.workers} < 1")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            problems.append(f"unknown strategies {unknown} (choose from {', '.join(STRATEGIES)})")
        if problems:
            raise BacktestInputError("Invalid backtest settings: " + "; ".join(problems) + ".")


# ---------------------------------------------------------------------------- one campaign
@dataclass
class SeedTrace:
    """One simulated campaign of one strategy."""

    strategy: str
    seed: int
    picks: list[int]
    """Pool row indices in the order they were measured (initial design first)."""
    seconds: list[float]
    """Wall seconds of each proposal (model fit + acquisition + selection)."""
    cpu_seconds: list[float] = field(default_factory=list)
    """CPU seconds of each proposal (this process, all threads): unlike wall time, not inflated
    when other jobs share the cores."""
    fallbacks: int = 0
    """Steps on which the strategy failed and random picks were used."""
    messages: list[str] = field(default_factory=list)
    """Distinct failure messages (at most 3)."""
    peak_rss_mb: float = math.nan
    """Peak resident memory of the process running the campaign."""


def initial_design(n: int, init: int, seed: int) -> list[int]:
    """The seed's random initial picks, shared by every strategy."""
    return np.random.default_rng(seed).choice(n, size=min(init, n), replace=False).tolist()


def run_campaign(
    problem: BacktestProblem,
    strategy: str,
    seed: int,
    config: BacktestConfig,
    *,
    fresh_process: bool = False,
) -> SeedTrace:
    """Simulate one closed-loop campaign (see the module docstring).

    Args:
        problem: the pool with its outcomes (only picked outcomes are passed on).
        strategy: strategy name.
        seed: seed of the initial design, the strategy and its fallbacks.
        config: batch size, budget and initial design size.
        fresh_process: the process ran nothing else, so its lifetime peak memory is this run's.
    """
    # Peers (Ax, BayBE) build BoTorch acquisitions of their own: they run without BoTorch's
    # JIT-compiled kernel too, as the planner's strategies do (see build_acquisition).
    skip_botorch_jit_kernel()
    n = len(problem.X)
    budget = min(config.budget, n)
    picks = initial_design(n, config.init, seed)
    trace = SeedTrace(strategy=strategy, seed=seed, picks=picks, seconds=[])
    fallback_rng = np.random.default_rng([seed, 99])
    with MemoryPeak() as rss, warnings.catch_warnings():
        # Third-party fit/acquisition warnings must not flood a 20-seed run; failures are counted.
        warnings.simplefilter("ignore")
        impl, build_error = None, None
        try:
            impl = make_strategy(
                strategy, problem.view(), seed=seed, options=config.strategy_options.get(strategy)
            )
        except Exception as exc:  # noqa: BLE001 - any peer failure becomes random fallbacks
            build_error = exc
        while len(picks) < budget:
            q = min(config.batch_size, budget - len(picks))
            chosen: list[int] = []
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                if impl is None:
                    raise build_error or PlanningError("strategy unavailable")
                picked = np.asarray(picks, dtype=int)
                chosen = [int(i) for i in impl.propose(picked, problem.Y[picked], q)]
                bad = (
                    len(set(chosen)) != len(chosen)
                    or len(chosen) != q
                    or any(i in set(picks) or not 0 <= i < n for i in chosen)
                )
                if bad:
                    raise PlanningError(f"proposed invalid rows {chosen[:q]}")
            except Exception as exc:  # noqa: BLE001 - a failed step must not kill the run
                message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                # Each new failure of a seed once at WARNING; its repeats at DEBUG.
                level = logging.DEBUG if message in trace.messages else logging.WARNING
                logger.log(level, "backtest %s, seed %d: the step after %d experiments failed "
                           "(%s); its %d picks are random.", strategy, seed, len(picks), message, q)
                if message not in trace.messages and len(trace.messages) < 3:
                    trace.messages.append(message)
                trace.fallbacks += 1
                free = np.setdiff1d(np.arange(n), picks)
                chosen = fallback_rng.choice(free, size=q, replace=False).tolist()
            trace.seconds.append(time.perf_counter() - t0)
            trace.cpu_seconds.append(time.process_time() - c0)
            picks.extend(chosen)
    trace.peak_rss_mb = rss.peak_mb
    if fresh_process:
        import resource

        trace.peak_rss_mb = max(
            trace.peak_rss_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
    return trace


def _init_worker() -> None:
    """One thread per worker for torch and for BLAS/OpenMP (numpy, scipy, scikit-learn)."""
    import torch
    from threadpoolctl import threadpool_limits

    from planner.runtime import tune_allocator

    torch.set_num_threads(1)
    threadpool_limits(1)
    tune_allocator()


def _run_in_worker(
    problem: BacktestProblem, strategy: str, seed: int, config: BacktestConfig
) -> SeedTrace:
    return run_campaign(problem, strategy, seed, config, fresh_process=True)


# ---------------------------------------------------------------------------- orchestration
def run_backtest(
    problem: BacktestProblem,
    config: BacktestConfig,
    *,
    progress: bool = True,
    reference: bool = True,
) -> BacktestResult:
    """Run every strategy for ``config.seeds`` seeds and summarize (see module docstring).

    Args:
        problem: the pool with outcomes.
        config: the settings.
        progress: show a rich progress bar per strategy on stderr.
        reference: add ``random`` to the strategies if missing (EF and AF need it; without it
            they are null).

    Returns:
        A :class:`BacktestResult`; ``to_dict()`` gives the JSON report.
    """
    config.validate()
    engine = current_engine()
    names = list(dict.fromkeys(config.strategies))
    if reference and "random" not in names:
        names.insert(0, "random")
    skipped = {
        s: r for s in names if (r := unavailable_reason(s, config.strategy_options.get(s)))
    }
    traces: dict[str, list[SeedTrace]] = {}
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with bar:
        for name in names:
            if name in skipped:
                continue
            task = bar.add_task(name, total=config.seeds)
            traces[name] = []
            if engine.name != "local":
                # Seeds as Dask tasks (planner.engine): the problem is sent to each worker once.
                for trace in engine.imap(_run_seed_task, [(name, s) for s in range(config.seeds)],
                                         shared=(problem, config), ordered=False):
                    traces[name].append(trace)
                    bar.advance(task)
            elif config.workers > 1 and config.seeds > 1:
                ctx = multiprocessing.get_context("spawn")
                workers = min(config.workers, config.seeds)
                with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
                    futures = [
                        pool.submit(_run_in_worker, problem, name, s, config)
                        for s in range(config.seeds)
                    ]
                    for fut in as_completed(futures):
                        traces[name].append(fut.result())
                        bar.advance(task)
            else:
                from surrogates.base import single_thread

                for s in range(config.seeds):
                    with single_thread():
                        traces[name].append(run_campaign(problem, name, s, config))
                    bar.advance(task)
            traces[name].sort(key=lambda t: t.seed)
    result = BacktestResult.summarize(problem, config, traces, skipped)
    result.report["engine"] = engine.describe()
    return result


def _run_seed_task(shared: tuple[BacktestProblem, BacktestConfig], item: tuple[str, int]
                   ) -> SeedTrace:
    """One seed of one strategy as an engine task (a Dask worker, pinned to one thread)."""
    problem, config = shared
    strategy, seed = item
    return run_campaign(problem, strategy, seed, config)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass
class BacktestResult:
    """Summary of a backtest; :meth:`to_dict` is the JSON report."""

    report: dict[str, Any]
    traces: dict[str, list[SeedTrace]]

    @classmethod
    def summarize(
        cls,
        problem: BacktestProblem,
        config: BacktestConfig,
        traces: dict[str, list[SeedTrace]],
        skipped: dict[str, str],
    ) -> BacktestResult:
        """Compute every metric of :mod:`planner.backtest.metrics` from the campaigns."""
        directions = [t.direction for t in problem.targets]
        U = bm.normalized_outcomes(problem.Y, directions)
        scores = bm.candidate_scores(U)
        is_top = bm.top_mask(scores, config.top)
        n = len(problem.X)
        budget = min(config.budget, n)
        init = min(config.init, budget)
        ends = bm.batch_ends(budget, init, config.batch_size)
        hv_pool = bm.pool_hypervolume(U) if U.shape[1] > 1 else None
        single = U.shape[1] == 1
        if single:
            threshold = float(
                problem.Y[is_top, 0].min() if directions[0] == "max" else problem.Y[is_top, 0].max()
            )
        else:
            threshold = float(scores[is_top].min())
        curves = {
            k: np.vstack([bm.performance_curve(t.picks, U, hv_pool) for t in v])
            for k, v in traces.items()
        }
        R = curves["random"].mean(axis=0) if "random" in curves else None
        random_exact = bm.random_first_top(n, int(is_top.sum()), ends)
        out: dict[str, Any] = {}
        for name, runs in traces.items():
            firsts = [bm.first_top(t.picks, is_top, ends) for t in runs]
            S = curves[name].mean(axis=0)
            if single:
                sign = 1.0 if directions[0] == "max" else -1.0
                raw = np.vstack(
                    [sign * np.maximum.accumulate(sign * problem.Y[t.picks, 0]) for t in runs]
                )
                best = np.median(raw, axis=0)
            else:
                best = np.median(curves[name], axis=0)
            med = bm.quantile(firsts, 0.5)
            seconds = [s for t in runs for s in t.seconds]
            cpu = [s for t in runs for s in getattr(t, "cpu_seconds", [])]
            out[name] = {
                "median_first_top": _finite(med),
                "iqr_first_top": [
                    _finite(bm.quantile(firsts, 0.25)),
                    _finite(bm.quantile(firsts, 0.75)),
                ],
                "hit_rate": float(np.mean(np.isfinite(firsts))),
                "first_top_vs_random": _finite(med / random_exact["median"]),
                "enhancement_factor": (
                    _finite(bm.enhancement_factor(S, R, init)) if R is not None else None
                ),
                "acceleration_factor": (
                    _finite(bm.acceleration_factor(S, R)) if R is not None else None
                ),
                "median_seconds_per_proposal": float(np.median(seconds)) if seconds else 0.0,
                "median_cpu_seconds_per_proposal": float(np.median(cpu)) if cpu else None,
                "peak_rss_mb": float(max(t.peak_rss_mb for t in runs)),
                "fallbacks": int(sum(t.fallbacks for t in runs)),
                "fallback_messages": sorted({m for t in runs for m in t.messages})[:5],
                "best_so_far": [float(v) for v in best],
                "performance": [float(v) for v in S],
                "enhancement_factor_curve": (
                    [_finite(v) for v in bm.enhancement_curve(S, R)] if R is not None else None
                ),
                "first_top_per_seed": [_finite(f) for f in firsts],
            }
        paired = bm.paired_versus(out, "gp")
        report = {
            "pool": problem.source,
            "n_rows": problem.n_rows,
            "n_candidates": n,
            "n_without_target": problem.n_without_target,
            "identifier_columns": list(problem.identifiers),
            "targets": [{"name": t.name, "direction": t.direction} for t in problem.targets],
            "top_fraction": config.top,
            "n_top": int(is_top.sum()),
            "top_threshold": threshold,
            "top_rule": "target value" if single else "min over targets of normalized value",
            "best_so_far_unit": "target units" if single else "hypervolume fraction of the pool",
            "budget": budget,
            "init": init,
            "batch_size": config.batch_size,
            "seeds": config.seeds,
            "random_exact": random_exact,
            "strategies": out,
            "paired": {"reference": "gp", "versus": paired} if paired else None,
            "skipped": skipped,
        }
        warm = config.strategy_options.get("gp-prior", {})
        if warm.get("prior") is not None and "gp-prior" in traces:
            report["prior"] = {
                **warm["prior"].summary(), "max_prior_rows": warm.get("max_prior_rows")
            }
        return cls(report=report, traces=traces)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready report."""
        return self.report
