"""Where the planner stands on every backtested table: the acceptance figures in one place.

Reads the JSON reports the backtest suites wrote (``backtest_pvlab.py``, ``backtest_battery.py``,
``backtest_hard_carbon.py``, under ``benchmarks/results/<suite>/``) and writes
``benchmarks/results/backtest_summary.md``:

* per table: the exact random median to the first top-1 % pick, each strategy's median, ``gp``'s
  ratio to random (the goal is at most 1/4), and ``gp`` against each peer seed by seed
  (fewer / as many / more experiments, one-sided sign test; see
  :func:`planner.backtest.metrics.paired_comparison`);
* pooled over all tables: the same seed-by-seed counts and sign test, and on how many tables
  ``gp``'s median is below, equal to or above each peer's;
* how far every strategy is from the goal: per table, the seeds that found a top-1 % pick within
  1/4 of random's median (a median within the goal needs about half of them).

Nothing is run: re-run a suite first to refresh its reports. Usage::

    .venv/bin/python benchmarks/backtest_summary.py
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from backtest_suite import STRATEGY_ORDER  # noqa: E402

from planner.backtest import metrics as bm  # noqa: E402

SUITES = ("battery", "hard_carbon", "pvlab")
GOAL = 0.25


def _median(s: dict, budget: int) -> str:
    m = s["median_first_top"]
    return f">{budget}" if m is None else f"{m:.0f}"


def _or_inf(median: float | None) -> float:
    return math.inf if median is None else median


def _count(c: dict) -> str:
    p = f" (p = {c['p_value']:.2g})" if c["p_value"] is not None else ""
    return f"{c['fewer']}/{c['same']}/{c['more']}{p}"


def summarize(results: Path, reference: str = "gp") -> str:
    """The summary markdown of every suite's reports under ``results``."""
    peers = [s for s in STRATEGY_ORDER if s != reference]
    lines = [
        "# Backtests: every table in one place",
        "",
        f"Median experiments to the first top-1 % pick (20 seeds unless the seeds column of the "
        f"suite's table says otherwise). `{reference}/random`: {reference}'s median over random "
        f"sampling's exact median; the goal is at most {GOAL:g}. `vs X`: seeds on which "
        f"{reference} needed fewer / as many / more experiments than X (same initial design per "
        f"seed), with the one-sided sign test p-value that {reference} is ahead more often than "
        "behind. Written by `benchmarks/backtest_summary.py` from the suites' JSON reports.",
        "",
        "| suite | table | random (exact) | "
        + " | ".join(STRATEGY_ORDER)
        + f" | {reference}/random | "
        + " | ".join(f"vs {p}" for p in peers)
        + " |",
        "|" + "---|" * (4 + len(STRATEGY_ORDER) + len(peers)),
    ]
    pooled: dict[str, tuple[list, list]] = {p: ([], []) for p in peers}  # paired seeds
    tables = {p: [0, 0, 0] for p in peers}  # gp median below / equal / above the peer's
    met, n_tables = 0, 0
    within: list[str] = []  # rows of the "seeds within the goal" table
    within_total = {s: [0, 0] for s in STRATEGY_ORDER}
    for suite in SUITES:
        for path in sorted((results / suite).glob("*.json")):
            r = json.loads(path.read_text())
            st = r["strategies"]
            if reference not in st:
                continue
            n_tables += 1
            b = r["budget"]
            ref = st[reference]
            ratio = ref["first_top_vs_random"]
            met += ratio is not None and ratio <= GOAL
            row = [suite, path.stem, f"{r['random_exact']['median']:.0f}"]
            row += [_median(st[s], b) if s in st else "–" for s in STRATEGY_ORDER]
            row.append("–" if ratio is None else f"{ratio:.2f}")
            for p in peers:
                if p not in st:
                    row.append("–")
                    continue
                c = bm.paired_comparison(ref["first_top_per_seed"], st[p]["first_top_per_seed"])
                row.append(_count(c))
                n = c["seeds"]
                pooled[p][0].extend(ref["first_top_per_seed"][:n])
                pooled[p][1].extend(st[p]["first_top_per_seed"][:n])
                a, o = (_or_inf(s["median_first_top"]) for s in (ref, st[p]))
                tables[p][0 if a < o else 1 if a == o else 2] += 1
            lines.append("| " + " | ".join(row) + " |")
            goal = GOAL * r["random_exact"]["median"]
            cells = [suite, path.stem, f"{goal:g}"]
            for s in STRATEGY_ORDER:
                if s not in st:
                    cells.append("–")
                    continue
                k, n = seeds_within(st[s]["first_top_per_seed"], goal)
                within_total[s][0] += k
                within_total[s][1] += n
                cells.append(f"{k}/{n}")
            within.append("| " + " | ".join(cells) + " |")
    lines += ["", f"## Pooled over the {n_tables} tables", ""]
    lines += [
        f"{reference} reaches the goal of at most {GOAL:g} × random's median on {met} of "
        f"{n_tables} tables.",
        "",
        f"| peer | tables | seeds | {reference} fewer / as many / more (seeds) | sign test p "
        f"| tables where {reference}'s median is below / equal / above |",
        "|---|---|---|---|---|---|",
    ]
    for p in peers:
        c = bm.paired_comparison(*pooled[p])
        pv = c["p_value"]
        lines.append(
            f"| {p} | {sum(tables[p])} | {c['seeds']} | {c['fewer']} / {c['same']} / {c['more']} "
            f"| {'–' if pv is None else f'{pv:.2g}'} | {' / '.join(map(str, tables[p]))} |"
        )
    lines += [
        "",
        "## Seeds within the goal",
        "",
        f"Seeds that found a top-1 % pick within {GOAL:g} × random's exact median (the goal "
        "column, in experiments); a median within the goal needs about half of them.",
        "",
        "| suite | table | goal | " + " | ".join(STRATEGY_ORDER) + " |",
        "|" + "---|" * (3 + len(STRATEGY_ORDER)),
        *within,
        "| all | | | " + " | ".join(f"{k}/{n}" for k, n in within_total.values()) + " |",
    ]
    return "\n".join(lines) + "\n"


def seeds_within(first_top: list, goal: float) -> tuple[int, int]:
    """Seeds whose first top pick came within ``goal`` experiments, and the number of seeds."""
    return sum(f is not None and f <= goal for f in first_top), len(first_top)


def main() -> None:
    """Write (and print) the summary."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--out", default=None, help="default: <results>/backtest_summary.md")
    args = p.parse_args()
    results = Path(args.results)
    text = summarize(results)
    out = Path(args.out) if args.out else results / "backtest_summary.md"
    out.write_text(text)
    print(text)
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
