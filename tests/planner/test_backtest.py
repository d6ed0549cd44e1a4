"""Pool-based backtests: metrics on hand-made examples, table handling, the loop and the CLI."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from planner.backtest import (
    BacktestConfig,
    BacktestInputError,
    BacktestProblem,
    TargetSpec,
    parse_target,
    read_table,
    run_backtest,
    run_campaign,
)
from planner.backtest import metrics as bm
from planner.cli import backtest as backtest_cli


# ---------------------------------------------------------------------------- metrics
def test_enhancement_and_acceleration_on_a_hand_made_example() -> None:
    R = np.array([0.1, 0.2, 0.2, 0.4, 0.5, 0.5])
    S = np.array([0.1, 0.2, 0.5, 0.8, 1.0, 1.0])
    np.testing.assert_allclose(bm.enhancement_curve(S, R), [1, 1, 2.5, 2, 2, 2])
    # Mean over the model-driven experiments 3..6 (init = 2): (2.5 + 2 + 2 + 2) / 4.
    assert bm.enhancement_factor(S, R, init=2) == pytest.approx(2.125)
    # Random reaches its final 0.5 at n = 5; the strategy at n = 3: AF = 5 / 3.
    assert bm.acceleration_factor(S, R) == pytest.approx(5 / 3)
    # A strategy that never reaches random's final level has no acceleration factor.
    assert math.isnan(bm.acceleration_factor(np.full(6, 0.3), R))


def test_normalization_makes_minimization_and_offsets_equivalent() -> None:
    y = np.array([[5.0], [1.0], [3.0]])
    np.testing.assert_allclose(bm.normalized_outcomes(y, ["max"])[:, 0], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(bm.normalized_outcomes(-y - 100, ["min"])[:, 0], [1.0, 0.0, 0.5])


def test_hypervolume_curve_of_two_targets() -> None:
    U = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.2]])
    # Pool front {(1,0), (0,1), (.5,.5)}: HV = 0.25 (the (.5,.5) box).
    assert bm.pool_hypervolume(U) == pytest.approx(0.25)
    np.testing.assert_allclose(bm.performance_curve([3, 2, 0, 1], U), [0.04 / 0.25, 1.0, 1.0, 1.0])


def test_top_mask_includes_ties() -> None:
    scores = np.array([0.1, 0.9, 0.9, 0.5, 0.2])
    assert bm.top_mask(scores, 0.2).tolist() == [False, True, True, False, False]


def test_first_top_counts_whole_batches() -> None:
    ends = bm.batch_ends(budget=10, init=2, batch_size=3)
    assert ends.tolist() == [2, 5, 8, 10]
    is_top = np.zeros(20, dtype=bool)
    is_top[7] = True
    assert bm.first_top([0, 1, 2, 7, 3], is_top, ends) == 5.0  # 4th pick, in the batch ending at 5
    assert math.isinf(bm.first_top([0, 1, 2], is_top, ends))


def test_random_first_top_is_exact() -> None:
    # N = 10, K = 1: the top row's position is uniform on 1..10; batches end at 2, 4, ..., 10.
    stats = bm.random_first_top(10, 1, bm.batch_ends(10, 2, 2))
    assert stats["median"] == 6.0  # P(T <= 4) = 0.4, P(T <= 6) = 0.6
    assert stats["mean"] == pytest.approx(6.0)
    assert stats["hit_rate"] == pytest.approx(1.0)
    # Budget 4 of 10: hit rate 0.4, and the statistics continue past the budget.
    short = bm.random_first_top(10, 1, bm.batch_ends(4, 2, 2))
    assert short["hit_rate"] == pytest.approx(0.4)
    assert short["median"] == 6.0


def test_quantile_treats_misses_as_larger() -> None:
    assert bm.quantile([1.0, 3.0, math.inf], 0.5) == 3.0
    assert math.isinf(bm.quantile([1.0, math.inf, math.inf], 0.5))
    assert bm.quantile([2.0, 4.0], 0.5) == 3.0


# ---------------------------------------------------------------------------- tables
def test_paired_comparison_counts_seeds_and_misses_and_gives_a_sign_test() -> None:
    # seed by seed: 12<18 fewer, 18=18 same, miss>30 more, 24<miss fewer, miss=miss same
    c = bm.paired_comparison([12, 18, None, 24, math.inf], [18, 18, 30, None, None])
    assert (c["seeds"], c["fewer"], c["same"], c["more"]) == (5, 2, 2, 1)
    assert c["p_value"] == pytest.approx(0.5)  # P(X >= 2), X ~ Bin(3, 1/2)
    ahead = bm.paired_comparison([12] * 10, [18] * 10)
    assert ahead["fewer"] == 10 and ahead["p_value"] == pytest.approx(1 / 1024)
    behind = bm.paired_comparison([18] * 10, [12] * 10)
    assert behind["more"] == 10 and behind["p_value"] == pytest.approx(1.0)
    assert bm.paired_comparison([12, 18], [12, 18])["p_value"] is None  # every seed ties
    assert bm.paired_comparison([12] * 20, [18] * 10)["seeds"] == 10  # common seeds only


def test_read_table_handles_bom_semicolons_and_decimal_commas(tmp_path) -> None:
    path = tmp_path / "lab.csv"
    path.write_bytes("\ufeffT [°C];ICE [%];salt\n800;81,5;LiPF6\n900;83,0;LiFSI\n".encode())
    df = read_table(path)
    assert list(df.columns) == ["T [°C]", "ICE [%]", "salt"]
    problem = BacktestProblem.from_frame(
        df, inputs=["T [°C]", "salt"], targets=[TargetSpec("ICE [%]", "max")], categorical=["salt"]
    )
    np.testing.assert_allclose(problem.Y[:, 0], [81.5, 83.0])
    assert problem.X["salt"].tolist() == ["LiPF6", "LiFSI"]


def test_read_table_reads_a_workbook_and_names_the_spreadsheet_row(tmp_path) -> None:
    path = tmp_path / "lab.xlsx"
    df = pd.DataFrame(
        {"precursor": ["lignin", "pitch", "lignin"], "d002_nm": [0.37, "n.a.", 0.39],
         "ICE_pct": [81.0, 84.0, 79.0]}
    )
    df.to_excel(path, index=True)  # the index is saved with an empty header cell
    table = read_table(path)
    assert list(table.columns) == ["Unnamed: 0", "precursor", "d002_nm", "ICE_pct"]
    with pytest.raises(BacktestInputError, match=r"row 3, column 'd002_nm': 'n.a.'"):
        BacktestProblem.from_frame(
            table, inputs=None, targets=[TargetSpec("ICE_pct", "max")], categorical=["precursor"]
        )
    df.loc[1, "d002_nm"] = 0.38
    df.to_excel(path, index=True)
    problem = BacktestProblem.from_frame(
        read_table(path), inputs=None, targets=[TargetSpec("ICE_pct", "max")],
        categorical=["precursor"],
    )
    assert problem.identifiers == ("Unnamed: 0",)
    np.testing.assert_allclose(problem.X["d002_nm"], [0.37, 0.38, 0.39])


def test_csv_errors_count_blank_lines_like_a_spreadsheet(tmp_path) -> None:
    path = tmp_path / "lab.csv"
    path.write_text("a,y\n1,2\n\nx,3\n")
    with pytest.raises(BacktestInputError, match=r"row 4, column 'a': 'x'"):
        BacktestProblem.from_frame(read_table(path), inputs=None, targets=[TargetSpec("y", "max")])


def test_read_table_refuses_a_header_that_names_a_column_twice(tmp_path) -> None:
    path = tmp_path / "lab.csv"
    path.write_text("a,a,y\n1,2,3\n")
    with pytest.raises(BacktestInputError, match="names 'a' more than once"):
        read_table(path)


def test_duplicates_are_averaged_and_missing_targets_dropped() -> None:
    df = pd.DataFrame(
        {"a": [1.0, 1.0, 2.0, np.nan, np.nan, 3.0], "y": [1.0, 3.0, 5.0, 7.0, 9.0, np.nan]}
    )
    problem = BacktestProblem.from_frame(df, inputs=None, targets=[parse_target("y:min")])
    assert problem.n_rows == 6 and problem.n_without_target == 1
    assert len(problem.X) == 3  # {1: mean 2}, {2: 5}, {NaN: mean 8}
    got = {
        (None if np.isnan(a) else a): y
        for a, y in zip(problem.X["a"], problem.Y[:, 0], strict=True)
    }
    assert got == {1.0: 2.0, 2.0: 5.0, None: 8.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"inputs": ["tempreature"], "targets": [TargetSpec("ice", "max")]},
            "did you mean 'temperature'",
        ),
        ({"inputs": None, "targets": [TargetSpec("ICE", "max")]}, "did you mean 'ice'"),
        (
            {
                "inputs": ["temperature"],
                "targets": [TargetSpec("ice", "max")],
                "categorical": ["salt"],
            },
            "not among the inputs",
        ),
    ],
    ids=["input", "target", "categorical"],
)
def test_bad_columns_get_actionable_messages(kwargs, message) -> None:
    df = pd.DataFrame({"temperature": [1.0, 2.0], "salt": ["a", "b"], "ice": [80.0, 81.0]})
    with pytest.raises(BacktestInputError, match=message):
        BacktestProblem.from_frame(df, **kwargs)


def test_non_numeric_cells_are_all_reported() -> None:
    df = pd.DataFrame({"a": ["1", "x", "3"], "b": ["1", "2", "?"], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(BacktestInputError, match=r"row 3, column 'a'.*row 4, column 'b'"):
        BacktestProblem.from_frame(df, inputs=None, targets=[TargetSpec("y", "max")])


def _hard_carbon_table() -> pd.DataFrame:
    """A lab's table: sample IDs (one repeated for a replicate), a precursor label, descriptors."""
    return pd.DataFrame(
        {
            "sample": ["HC-01", "HC-02", "HC-03", "HC-04", "HC-04", "HC-05"],
            "precursor": ["lignin", "pitch", "lignin", "pitch", "pitch", "lignin"],
            "d002_nm": [0.37, 0.38, 0.39, 0.40, 0.40, 0.36],
            "ICE_pct": [81.0, 84.0, 79.0, 88.0, 86.0, 90.0],
        }
    )


def test_sample_id_column_is_left_out_of_default_inputs_and_reported() -> None:
    problem = BacktestProblem.from_frame(
        _hard_carbon_table(),
        inputs=None,
        targets=[TargetSpec("ICE_pct", "max")],
        categorical=["precursor"],
    )
    assert problem.identifiers == ("sample",)
    assert list(problem.X.columns) == ["precursor", "d002_nm"]
    assert len(problem.X) == 5  # the replicate of HC-04 is one candidate
    assert problem.Y[problem.X["d002_nm"].to_numpy() == 0.40, 0].tolist() == [87.0]


def test_a_saved_pandas_index_is_an_identifier_too() -> None:
    df = _hard_carbon_table().drop(columns="sample").reset_index(names="Unnamed: 0")
    problem = BacktestProblem.from_frame(
        df, inputs=None, targets=[TargetSpec("ICE_pct", "max")], categorical=["precursor"]
    )
    assert problem.identifiers == ("Unnamed: 0",)


def test_a_numeric_column_with_a_stray_text_cell_is_reported_not_dropped() -> None:
    df = _hard_carbon_table().drop(columns="sample")
    df["SSA_m2_g"] = ["12.5", "40", "n.a.", "7.1", "7.3", "55"]  # every value distinct
    with pytest.raises(BacktestInputError, match=r"row 4, column 'SSA_m2_g': 'n.a.'"):
        BacktestProblem.from_frame(
            df, inputs=None, targets=[TargetSpec("ICE_pct", "max")], categorical=["precursor"]
        )


def test_non_numeric_hint_names_the_label_and_the_identifier_columns() -> None:
    with pytest.raises(BacktestInputError) as info:
        BacktestProblem.from_frame(
            _hard_carbon_table(),
            inputs=["sample", "precursor", "d002_nm"],
            targets=[TargetSpec("ICE_pct", "max")],
        )
    hint = info.value.hint
    assert "'precursor' holds labels: add --categorical precursor." in hint
    assert "'sample' has its own text in most rows" in hint
    assert "--categorical precursor,sample" not in hint


@pytest.mark.parametrize("text", ["toughness", "toughness:maximum", ":max"])
def test_target_parse_errors(text) -> None:
    with pytest.raises(BacktestInputError) as info:
        parse_target(text)
    assert "NAME:max" in info.value.hint


def test_target_parse_keeps_colons_in_names() -> None:
    assert parse_target("ratio a:b:Min") == TargetSpec("ratio a:b", "min")


# ---------------------------------------------------------------------------- the loop
def _smooth_pool(n_side: int = 14) -> BacktestProblem:
    """A 2-d grid with one smooth peak at (0.7, 0.3): a clear optimum a model can find."""
    g = np.linspace(0, 1, n_side)
    a, b = (v.ravel() for v in np.meshgrid(g, g))
    y = np.exp(-((a - 0.7) ** 2 + (b - 0.3) ** 2) / 0.08)
    df = pd.DataFrame({"a": a, "b": b, "y": y})
    return BacktestProblem.from_frame(df, inputs=["a", "b"], targets=[TargetSpec("y", "max")])


def test_gp_finds_the_top_faster_than_random() -> None:
    problem = _smooth_pool()
    config = BacktestConfig(
        batch_size=4, budget=28, init=4, seeds=2, top=0.02, strategies=("random", "gp"), workers=1
    )
    report = run_backtest(problem, config, progress=False).to_dict()
    gp, exact = report["strategies"]["gp"], report["random_exact"]
    assert report["n_top"] == 4 and exact["median"] > 30
    assert gp["hit_rate"] == 1.0 and gp["fallbacks"] == 0
    assert gp["median_first_top"] <= exact["median"] / 2
    assert gp["enhancement_factor"] > 1.0
    assert len(gp["best_so_far"]) == 28
    assert gp["peak_rss_mb"] > 50 and gp["median_seconds_per_proposal"] > 0
    paired = report["paired"]
    assert paired["reference"] == "gp" and list(paired["versus"]) == ["random"]
    assert paired["versus"]["random"] == bm.paired_comparison(
        gp["first_top_per_seed"], report["strategies"]["random"]["first_top_per_seed"]
    )
    assert paired["versus"]["random"]["seeds"] == 2


def test_same_initial_design_for_every_strategy_and_no_repeats() -> None:
    problem = _smooth_pool(8)
    config = BacktestConfig(
        batch_size=5, budget=20, init=5, seeds=1, strategies=("random",), workers=1
    )
    a = run_campaign(problem, "random", 3, config)
    b = run_campaign(problem, "gp", 3, BacktestConfig(**{**config.__dict__, "budget": 10}))
    assert a.picks[:5] == b.picks[:5]
    assert len(set(a.picks)) == len(a.picks) == 20
    assert len(a.seconds) == 3


def test_a_failing_strategy_falls_back_to_random_and_is_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    problem = _smooth_pool(8)
    config = BacktestConfig(
        batch_size=5,
        budget=20,
        init=5,
        seeds=1,
        workers=1,
        strategy_options={"gp": {"no_such_option": 1}},
    )
    with caplog.at_level(logging.DEBUG, logger="planner.backtest.harness"):
        trace = run_campaign(problem, "gp", 0, config)
    assert trace.fallbacks == 3
    assert "no_such_option" in trace.messages[0]
    assert len(set(trace.picks)) == 20
    # The log says it too, with a level: the first failure as a warning, its repeats as debug.
    logged = [r for r in caplog.records if "no_such_option" in r.getMessage()]
    assert [r.levelname for r in logged] == ["WARNING", "DEBUG", "DEBUG"]
    assert "gp, seed 0: the step after 5 experiments failed" in logged[0].getMessage()


def test_parallel_workers_match_in_process_runs() -> None:
    problem = _smooth_pool(8)
    config = BacktestConfig(
        batch_size=5, budget=15, init=5, seeds=2, strategies=("random",), workers=2
    )
    parallel = run_backtest(problem, config, progress=False)
    serial = run_backtest(
        problem, BacktestConfig(**{**config.__dict__, "workers": 1}), progress=False
    )
    assert [t.picks for t in parallel.traces["random"]] == [
        t.picks for t in serial.traces["random"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ensemble", "ax", "baybe"])
def test_other_strategies_make_valid_proposals(strategy, capfd) -> None:
    pytest.importorskip({"ensemble": "torch", "ax": "ax", "baybe": "baybe"}[strategy])
    capfd.readouterr()  # what importing the package printed
    df = pd.DataFrame(
        {
            "t": np.tile([800.0, 1000.0, 1200.0, 1400.0, 1600.0], 6),
            "p": np.repeat(["pitch", "lignin", "starch"], 10),
            "ssa": np.linspace(1, 100, 30),
        }
    )
    df["y"] = -(((df["t"] - 1300) / 300) ** 2) + (df["p"] == "pitch") - df["ssa"] / 100
    problem = BacktestProblem.from_frame(
        df, inputs=["t", "p", "ssa"], targets=[TargetSpec("y", "max")], categorical=["p"]
    )
    config = BacktestConfig(batch_size=3, budget=9, init=6, seeds=1, workers=1)
    trace = run_campaign(problem, strategy, 0, config)
    assert trace.fallbacks == 0, trace.messages
    assert len(set(trace.picks)) == 9
    # A peer's per-trial INFO lines ("Trial 6 marked COMPLETED.") would flood a backtest's output.
    assert "[INFO" not in capfd.readouterr().err


# ---------------------------------------------------------------------------- CLI
@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    backtest_cli.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `backtest` a named sub-command
        """Nothing."""

    return app


def test_cli_reports_unknown_columns_without_traceback(cli, tmp_path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("temperature,ice\n1,80\n2,81\n")
    result = CliRunner().invoke(cli, ["backtest", str(path), "--target", "ICE:max"])
    assert result.exit_code == 2
    assert "did you mean 'ice'" in result.output
    assert "Traceback" not in result.output


def test_cli_writes_the_json_report(cli, tmp_path) -> None:
    path = tmp_path / "pool.csv"
    g = np.linspace(0, 1, 10)
    pd.DataFrame({"x": g, "y": g**2}).to_csv(path, index=False)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "backtest",
            str(path),
            "--target",
            "y:max",
            "--strategies",
            "random",
            "--seeds",
            "2",
            "--budget",
            "6",
            "--init",
            "2",
            "--batch-size",
            "2",
            "--top",
            "0.1",
            "--workers",
            "1",
            "--no-progress",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["n_candidates"] == 10 and report["n_top"] == 1
    s = report["strategies"]["random"]
    assert set(s) >= {
        "median_first_top",
        "iqr_first_top",
        "hit_rate",
        "enhancement_factor",
        "acceleration_factor",
        "median_seconds_per_proposal",
        "peak_rss_mb",
        "best_so_far",
    }
    assert s["enhancement_factor"] == pytest.approx(1.0)
    assert "random" in result.output


def test_cli_says_what_became_of_the_rows(cli, tmp_path) -> None:
    df = _hard_carbon_table()
    df.loc[len(df)] = ["HC-06", "pitch", 0.41, np.nan]  # not measured yet
    path = tmp_path / "lab.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "report.json"
    args = ["backtest", str(path), "--target", "ICE_pct:max", "--categorical", "precursor",
            "--strategies", "random", "--seeds", "1", "--budget", "4", "--init", "2",
            "--batch-size", "2", "--top", "0.2", "--workers", "1", "--no-progress",
            "--json", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert (
        "7 rows -> 5 candidates (1 row(s) without a value for every target left out; "
        "1 row(s) repeating another row's inputs averaged with it)." in text
    )
    assert "Left out as sample identifiers (their own text in most rows): 'sample'." in text
    report = json.loads(out.read_text())
    assert report["identifier_columns"] == ["sample"]
    assert report["n_rows"] == 7 and report["n_without_target"] == 1


def test_report_table_shows_misses_beyond_the_budget(capsys) -> None:
    from planner.cli.backtest import print_report

    def entry(median, iqr):
        return {
            "median_first_top": median, "iqr_first_top": iqr, "hit_rate": 0.2,
            "first_top_vs_random": None, "enhancement_factor": 1.0, "acceleration_factor": 1.0,
            "median_seconds_per_proposal": 0.0, "peak_rss_mb": 300.0, "fallbacks": 0,
        }

    report = {
        "pool": "t.csv", "n_rows": 100, "n_candidates": 100, "top_fraction": 0.01, "n_top": 1,
        "budget": 18,
        "seeds": 5, "random_exact": {"median": 66.0, "mean": 88.0, "hit_rate": 0.18},
        "strategies": {"random": entry(None, [None, None]), "gp": entry(12.0, [12.0, None])},
        "paired": {
            "reference": "gp",
            "versus": {"random": {"seeds": 5, "fewer": 4, "same": 1, "more": 0,
                                  "p_value": 0.0625}},
        },
    }
    print_report(report)
    out = capsys.readouterr().out
    assert (
        "gp needed fewer/as many/more experiments to the first top candidate than: "
        "random 4/1/0 (sign test p = 0.062)." in " ".join(out.split())
    )
    assert "100 rows -> 100 candidates." in out  # nothing left out or merged: no clause
    assert ">18–>18" in out  # every quartile a miss: no bare dash for the lower one
    assert "12.0–>18" in out


def test_gp_inputs_are_scaled_to_the_pool() -> None:
    from planner.pool import pool_bounds
    from surrogates import GPSurrogate

    X = pd.DataFrame({"a": np.linspace(0.0, 10.0, 30), "b": np.linspace(-5.0, 5.0, 30) ** 3})
    y = pd.DataFrame({"y": np.sin(X["a"])})
    model = GPSurrogate(seed=0, log_columns=None, input_bounds=pool_bounds(X))
    model.fit(X.iloc[10:16], y.iloc[10:16])  # measured rows cover a small part of the pool
    bounds = model.to_botorch().models[0].input_transform["normalize"].bounds
    torch.testing.assert_close(bounds, torch.tensor([[0.0, -125.0], [10.0, 125.0]],
                                                    dtype=torch.double))
    # Without the pool's bounds the GP scales to the six measured rows only.
    plain = GPSurrogate(seed=0, log_columns=None).fit(X.iloc[10:16], y.iloc[10:16])
    learned = plain.to_botorch().models[0].input_transform["normalize"].bounds
    assert float(learned[1, 0] - learned[0, 0]) < 3.0


# ---------------------------------------------------------------------------- warm start (--prior)
def _two_lab_tables(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A pool and another lab's table of the same smooth function (offset by the lab)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (140, 2))
    y = np.exp(-12 * ((x[:, 0] - 0.8) ** 2 + (x[:, 1] - 0.25) ** 2))
    pool = pd.DataFrame({"a": x[:70, 0], "b": x[:70, 1], "y": y[:70]})
    prior = pd.DataFrame({"a": x[70:, 0], "b": x[70:, 1], "y": y[70:] + 0.3, "lab": "other"})
    return pool, prior


def test_prior_table_is_checked_against_the_pool() -> None:
    pool, prior = _two_lab_tables()
    problem = BacktestProblem.from_frame(pool, inputs=["a", "b"], targets=[TargetSpec("y", "max")])
    data = problem.prior_from_frame(prior, task_column="lab", label="other.csv")
    assert list(data.X.columns) == ["a", "b"] and list(data.Y.columns) == ["y"]
    assert data.summary()["rows"] == 70 and data.summary()["tasks"] == ["other"]
    with pytest.raises(BacktestInputError, match=r"'b'.*did you mean 'B'") as err:
        problem.prior_from_frame(prior.rename(columns={"b": "B"}))
    assert "input columns" in str(err.value)
    with pytest.raises(BacktestInputError, match="none of the targets"):
        problem.prior_from_frame(prior.drop(columns="y"))
    bad = prior.astype({"a": object})
    bad.loc[4, "a"] = "n/a?"
    with pytest.raises(BacktestInputError, match=r"row 6, column 'a': 'n/a\?'"):
        problem.prior_from_frame(bad)
    with pytest.raises(BacktestInputError, match="Unknown warm-start mode"):
        problem.prior_from_frame(prior, mode="transfer")
    # Rows without any target value are dropped, not imputed.
    holes = prior.copy()
    holes.loc[:9, "y"] = np.nan
    assert len(problem.prior_from_frame(holes).X) == 60


def test_gp_prior_strategy_needs_prior_data() -> None:
    pool, _ = _two_lab_tables()
    problem = BacktestProblem.from_frame(pool, inputs=["a", "b"], targets=[TargetSpec("y", "max")])
    config = BacktestConfig(budget=10, init=4, seeds=1, workers=1, strategies=("gp-prior",))
    result = run_backtest(problem, config, progress=False)
    assert "gp-prior" not in result.report["strategies"]
    assert "--prior" in result.report["skipped"]["gp-prior"]


def test_cli_prior_runs_the_warm_started_gp_beside_the_cold_one(cli, tmp_path) -> None:
    pool, prior = _two_lab_tables()
    pool.to_csv(tmp_path / "pool.csv", index=False)
    prior.to_csv(tmp_path / "prior.csv", index=False)
    out = tmp_path / "report.json"
    args = ["backtest", str(tmp_path / "pool.csv"), "--target", "y:max", "--inputs", "a,b",
            "--strategies", "random", "--seeds", "2", "--budget", "10", "--init", "4",
            "--batch-size", "3", "--top", "0.05", "--workers", "1", "--no-progress",
            "--prior", str(tmp_path / "prior.csv"), "--prior-source", "lab", "--json", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert list(report["strategies"]) == ["random", "gp", "gp-prior"]
    assert report["prior"]["rows"] == 70 and report["prior"]["mode"] == "multitask"
    warm = report["strategies"]["gp-prior"]
    assert warm["fallbacks"] == 0, warm["fallback_messages"]
    # 70 rows of the same landscape: the warm-started GP goes straight to the optimum region
    # (random needs about 24 experiments on average to find one of the top 4 of 70).
    assert warm["hit_rate"] == 1.0 and warm["median_first_top"] <= 7
    assert report["random_exact"]["median"] > 10
    assert "gp-prior" in result.output
    bad = CliRunner().invoke(cli, [*args[:-2], "--prior-mode", "nope"])
    assert bad.exit_code != 0 and "Unknown warm-start mode" in bad.output
