"""`planner backtest` and :func:`planner.api.backtest` read a Parquet table like a CSV one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.backtest import BacktestInputError, BacktestProblem, TargetSpec, read_table


def _lab(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = rng.uniform(700, 1400, n).round(0)
    salt = rng.choice(["LiPF6", "LiFSI"], n)
    ice = 60 + 0.02 * t + np.where(salt == "LiFSI", 3.0, 0.0) + rng.normal(0, 1, n)
    return pd.DataFrame({"sample": [f"S{i}" for i in range(n)], "T_C": t, "salt": salt,
                         "ICE_pct": ice.round(2)})


def test_a_parquet_backtest_matches_the_csv_one(tmp_path: Path) -> None:
    from planner.api import backtest

    lab = _lab()
    lab.to_csv(tmp_path / "lab.csv", index=False)
    lab.to_parquet(tmp_path / "lab.parquet", index=False)
    frame = read_table(tmp_path / "lab.parquet")
    assert frame["T_C"].dtype == float and frame["salt"].tolist() == lab["salt"].tolist()

    kw = {"targets": "ICE_pct:max", "inputs": ["T_C", "salt"], "categorical": ["salt"],
          "strategies": ("random",), "seeds": 3, "batch_size": 4, "budget": 12, "init": 4,
          "top": 0.1, "workers": 1}
    from_parquet = backtest(tmp_path / "lab.parquet", **kw).to_dict()
    from_csv = backtest(tmp_path / "lab.csv", **kw).to_dict()
    assert from_parquet["n_candidates"] == from_csv["n_candidates"] == 40
    timing = ("seconds", "rss")  # measured per run, not results
    same = {k: v for k, v in from_csv["strategies"]["random"].items()
            if not any(word in k for word in timing)}
    assert len(same) >= 8
    assert {k: from_parquet["strategies"]["random"][k] for k in same} == same


def test_parquet_gets_the_csv_errors(tmp_path: Path) -> None:
    lab = _lab(6).astype({"T_C": str})  # a column of text, as an export may store it
    lab.loc[2, "T_C"] = "n.a."
    lab.to_parquet(tmp_path / "words.parquet", index=False)
    # Row 4 as in the CSV the table came from (header = row 1), the same message as a CSV's.
    lab.to_csv(tmp_path / "words.csv", index=False)
    for name in ("words.parquet", "words.csv"):
        with pytest.raises(BacktestInputError, match=r"row 4, column 'T_C': 'n.a.'"):
            BacktestProblem.from_frame(read_table(tmp_path / name), inputs=["T_C", "salt"],
                                       targets=[TargetSpec("ICE_pct", "max")],
                                       categorical=["salt"])

    data = (tmp_path / "words.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(BacktestInputError, match="cut off or damaged") as cut:
        read_table(tmp_path / "cut.parquet")
    assert "Export or copy the whole table again" in (cut.value.hint or "")

    (tmp_path / "fake.parquet").write_text("T_C,ICE_pct\n1,2\n")
    with pytest.raises(BacktestInputError, match="not a Parquet table"):
        read_table(tmp_path / "fake.parquet")
    with pytest.raises(BacktestInputError, match="does not exist"):
        read_table(tmp_path / "missing.parquet")


def test_the_cli_takes_a_parquet_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from planner.cli import app

    _lab().to_parquet(tmp_path / "lab.parquet", index=False)
    result = CliRunner().invoke(app, [
        "backtest", str(tmp_path / "lab.parquet"), "--target", "ICE_pct:max",
        "--categorical", "salt", "--strategies", "random", "--seeds", "2", "--budget", "8",
        "--init", "4", "--batch-size", "4", "--top", "0.1", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "40 rows -> 40 candidates" in result.output and "'sample'" in result.output
