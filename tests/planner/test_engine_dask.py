"""The Dask engine: stage-1 chunks and backtest seeds as Dask tasks on a loopback LocalCluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.engine import (
    DaskEngine,
    EngineError,
    LocalEngine,
    current_engine,
    make_engine,
    use_engine,
)
from planner.funnel import Screen, as_source, screen_pool
from surrogates import make_surrogate


def _threads(shared: object, item: int) -> tuple[int, int, object]:
    import torch

    return item, torch.get_num_threads(), shared


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201
    # Threads of this process (processes=False): fast to start; the tasks are the same.
    with DaskEngine(n_workers=2, processes=False) as dask_engine:
        yield dask_engine


def test_tasks_run_on_pinned_workers_in_order(engine: DaskEngine) -> None:
    assert engine.threads() == 2
    out = list(engine.imap(_threads, range(9), shared={"k": 1}))
    assert [o[0] for o in out] == list(range(9))  # ordered, lazily submitted (2 per thread)
    assert {o[1] for o in out} == {1}  # torch pinned to one thread on every worker
    assert all(o[2] == {"k": 1} for o in out)
    unordered = sorted(o[0] for o in engine.imap(_threads, range(5), ordered=False))
    assert unordered == list(range(5))
    assert engine.describe()["engine"] == "dask"


def test_stage_one_on_dask_keeps_the_shortlist_of_the_local_engine(engine: DaskEngine) -> None:
    rng = np.random.default_rng(0)
    pool = pd.DataFrame(rng.uniform(0, 1, (1500, 3)), columns=["a", "b", "c"])
    y = pd.DataFrame({"y1": np.sin(6 * pool["a"]) + pool["b"], "y2": pool["c"] - pool["a"]})
    measured = np.arange(0, 1500, 50)
    model = make_surrogate("gp", seed=0, max_iter=15).fit(pool.iloc[measured], y.iloc[measured])
    screen = Screen.build(model, y.iloc[measured].to_numpy(), [(0, 1.0), (1, 1.0)],
                          [(1, 1.0, -0.2)], X=pool.iloc[measured])
    local = screen_pool(as_source(pool), screen, shortlist=60, exclude=measured,
                        batch_rows=400, engine=LocalEngine())
    with use_engine(engine):
        assert current_engine() is engine
        remote = screen_pool(as_source(pool), screen, shortlist=60, exclude=measured,
                             batch_rows=400)
    assert isinstance(current_engine(), LocalEngine)
    np.testing.assert_array_equal(local.positions, remote.positions)
    assert remote.engine["engine"] == "dask" and remote.rows_screened == 1500


def test_backtest_seeds_on_dask_match_the_local_run(engine: DaskEngine) -> None:
    from planner.backtest import BacktestConfig, BacktestProblem, TargetSpec, run_backtest

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.uniform(0, 1, (60, 2)), columns=["x1", "x2"])
    frame["y"] = -((frame["x1"] - 0.3) ** 2) - (frame["x2"] - 0.6) ** 2
    problem = BacktestProblem.from_frame(frame, inputs=["x1", "x2"],
                                         targets=[TargetSpec("y", "max")])
    config = BacktestConfig(batch_size=4, budget=12, init=4, seeds=2,
                            strategies=("random", "gp"), workers=1)
    local = run_backtest(problem, config, progress=False)
    with use_engine(engine):  # two strategies: two rounds of tasks sharing equal data
        remote = run_backtest(problem, config, progress=False)
    for name in ("random", "gp"):
        for a, b in zip(local.traces[name], remote.traces[name], strict=True):
            assert a.picks == b.picks and b.fallbacks == 0
    assert remote.report["engine"]["engine"] == "dask"


def test_engine_names_and_addresses_are_checked() -> None:
    with pytest.raises(EngineError, match="needs --engine dask") as err:
        make_engine("local", scheduler="tcp://127.0.0.1:8786")
    assert err.value.hint
    with pytest.raises(EngineError, match="unknown engine"):
        make_engine("spark")
    with pytest.raises(EngineError, match="cannot reach the Dask scheduler") as err:
        make_engine("dask", scheduler="tcp://127.0.0.1:9", connect_timeout="1s")
    assert "dask scheduler" in (err.value.hint or "")
    assert isinstance(make_engine(), LocalEngine)
