"""Backtests: replay campaigns on tables whose outcomes are all known, strategy against strategy.

The room is layered, with no cycle: :mod:`~planner.backtest.base` (what a strategy sees),
:mod:`~planner.backtest.problem` (a table as a pool), :mod:`~planner.backtest.strategies`
(random, ours through :func:`planner.propose.propose_from_pool`, the peers in
:mod:`~planner.backtest.peers`), :mod:`~planner.backtest.metrics` (experiments to a top pick,
enhancement and acceleration factors, sign tests) and :mod:`~planner.backtest.harness` (seeds,
worker processes, the report). The planner's core never imports this package.

Example::

    from planner.backtest import BacktestConfig, BacktestProblem, TargetSpec, run_backtest
    problem = BacktestProblem.from_frame(table, targets=[TargetSpec("ice_pct", "max")])
    result = run_backtest(problem, BacktestConfig(seeds=5, strategies=("random", "gp")))
"""

from planner.backtest.harness import (
    BacktestConfig,
    BacktestInputError,
    BacktestProblem,
    BacktestResult,
    SeedTrace,
    TargetSpec,
    parse_target,
    read_table,
    run_backtest,
    run_campaign,
)

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
