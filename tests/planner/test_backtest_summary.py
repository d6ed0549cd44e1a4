"""`benchmarks/backtest_summary.py`: the acceptance figures of every backtested table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def summary():
    spec = importlib.util.spec_from_file_location(
        "backtest_summary", ROOT / "benchmarks" / "backtest_summary.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(firsts: dict[str, list], random_median: float = 48.0) -> dict:
    strategies = {}
    for name, f in firsts.items():
        hits = sorted(x for x in f if x is not None)
        med = hits[len(f) // 2] if len(hits) > len(f) // 2 else None
        strategies[name] = {
            "first_top_per_seed": f,
            "median_first_top": med,
            "first_top_vs_random": None if med is None else med / random_median,
        }
    return {"budget": 60, "random_exact": {"median": random_median}, "strategies": strategies}


def test_summary_pairs_seeds_per_table_and_pools_them(summary, tmp_path) -> None:
    (tmp_path / "pvlab").mkdir()
    (tmp_path / "battery").mkdir()
    # Table A: gp ahead of baybe on 3 seeds, level on 1; ax ran 2 seeds only.
    a = _report({"gp": [12, 12, 18, None], "baybe": [18, 24, 24, None], "ax": [12, 30]})
    # Table B: gp behind baybe on 2 seeds, ahead on 1, and meets the 1/4 goal (12/48).
    b = _report({"gp": [12, 12, 12, 12], "baybe": [6, 6, 18, 12]})
    (tmp_path / "pvlab" / "A.json").write_text(json.dumps(a))
    (tmp_path / "battery" / "B.json").write_text(json.dumps(b))
    (tmp_path / "battery" / "no_gp.json").write_text(json.dumps(_report({"baybe": [6]})))
    text = summary.summarize(tmp_path)
    per_table = text.split("## Pooled")[0]
    rows = {line.split(" | ")[1]: line for line in per_table.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"A", "B"} and "no_gp" not in rows
    assert "3/1/0 (p = 0.12)" in rows["A"]  # vs baybe: P(X >= 3), X ~ Bin(3, 1/2) = 1/8
    assert "1/1/0 (p = 0.5)" in rows["A"]  # vs ax, on the 2 seeds both ran
    assert "1/1/2 (p = 0.88)" in rows["B"]
    assert "0.25" in rows["B"] and "goal of at most 0.25 × random's median on 1 of 2 tables" in text
    pooled = next(line for line in text.splitlines() if line.startswith("| baybe |"))
    # 8 seeds: gp fewer on 4, as many on 2, more on 2; medians: A below (18 < 24), B equal.
    assert pooled.startswith("| baybe | 2 | 8 | 4 / 2 / 2 |")
    assert pooled.endswith("| 1 / 1 / 0 |")


def test_summary_counts_the_seeds_within_a_quarter_of_random(summary, tmp_path) -> None:
    (tmp_path / "pvlab").mkdir()
    # goal = 0.25 * 60 = 15 experiments: gp's 12s count, its 18 and its miss do not.
    r = _report({"gp": [12, 12, 18, None], "baybe": [6, 24, 24, 30]}, random_median=60.0)
    (tmp_path / "pvlab" / "A.json").write_text(json.dumps(r))
    (tmp_path / "pvlab" / "B.json").write_text(json.dumps(_report({"gp": [6, 60]})))
    text = summary.summarize(tmp_path)
    section = text.split("## Seeds within the goal")[1]
    rows = {line.split(" | ")[1]: line for line in section.splitlines() if line.startswith("| ")}
    assert rows["A"] == "| pvlab | A | 15 | – | 2/4 | – | – | 1/4 |"
    assert rows["B"] == "| pvlab | B | 12 | – | 1/2 | – | – | – |"
    assert section.strip().splitlines()[-1] == "| all | | | 0/0 | 3/6 | 0/0 | 0/0 | 1/4 |"
