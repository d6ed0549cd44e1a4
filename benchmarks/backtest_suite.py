"""Runner shared by the backtest suites: run, merge, tabulate and plot ``planner.backtest``.

A :class:`Suite` names a set of lab tables (loaders of ``BacktestProblem``), the title of its
report and the stem of its files. For every (table, strategy) it writes one JSON report per table
under ``--out``, then a markdown table and a Plotly HTML file of best-so-far curves. Suites:
``backtest_pvlab.py``, ``backtest_battery.py``, ``backtest_hard_carbon.py``.

Strategies can get fewer seeds than the others (``--seeds-for ax=10,baybe=10``); the table says
how many seeds each row used. Each run replaces its strategies' entries in the JSON reports and
keeps the others; ``--resume`` skips strategies already there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STRATEGY_ORDER = ("random", "gp", "ensemble", "ax", "baybe")


@dataclass(frozen=True)
class Suite:
    """A set of lab tables backtested together, with one table and one figure."""

    title: str
    """Heading of the markdown table and the figure."""
    stem: str
    """File stem of ``<stem>_table.md`` and ``<stem>_best_so_far.html``."""
    loaders: dict[str, Callable[[], Any]]
    """Data set name -> function returning its ``planner.backtest.BacktestProblem``."""
    export: Callable[[], Any] | None = None
    """Function returning the suite's table as a pandas frame, for ``--export FILE.csv``."""


def _parse_seeds_for(text: str) -> dict[str, int]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, n = part.partition("=")
        out[name.strip()] = int(n)
    return out


def run(args: argparse.Namespace, suite: Suite) -> None:
    """Run the requested backtests strategy by strategy (all data sets of one, then the next).

    Each (data set, strategy) result is merged into ``<out>/<data set>.json`` as soon as it is
    done, so an interrupted run keeps what it finished (continue with ``--resume``).
    """
    from planner.backtest import BacktestConfig, run_backtest

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds_for = _parse_seeds_for(args.seeds_for)
    problems = {name: suite.loaders[name]() for name in args.datasets.split(",")}
    strategies = args.strategies.split(",")
    if "random" in strategies:  # the reference first: EF and AF of the others need it
        strategies = ["random", *[s for s in strategies if s != "random"]]
    for strategy in strategies:
        for name, problem in problems.items():
            path = out / f"{name}.json"
            merged = json.loads(path.read_text()) if path.exists() else None
            if args.resume and merged and strategy in merged["strategies"]:
                print(f"{name}/{strategy}: already in {path}", flush=True)
                continue
            config = BacktestConfig(
                batch_size=args.batch_size,
                budget=args.budget,
                init=args.init,
                seeds=seeds_for.get(strategy, args.seeds),
                top=args.top,
                strategies=(strategy,),
                workers=args.workers,
            )
            t0 = time.time()
            result = run_backtest(problem, config, progress=not args.no_progress, reference=False)
            report = result.to_dict()
            wall = time.time() - t0
            report["strategies"][strategy]["seeds"] = config.seeds
            report["strategies"][strategy]["wall_seconds"] = wall
            # Re-read just before writing, so that runs of other strategies in parallel survive.
            merged = json.loads(path.read_text()) if path.exists() else None
            if merged is None:
                merged = report
            else:  # replace this strategy's entry, keep the others
                merged["strategies"][strategy] = report["strategies"][strategy]
            if "random" in merged["strategies"]:
                _recompute_relative(merged)
            path.write_text(json.dumps(merged, indent=1))
            s = merged["strategies"][strategy]
            print(
                f"{name}/{strategy}: {wall:.0f} s, median first top {s['median_first_top']}, "
                f"hit {s['hit_rate']:.0%}, EF {s['enhancement_factor']}, "
                f"fallbacks {s['fallbacks']}",
                flush=True,
            )


def merge(src: Path, out: Path, strategies: list[str], suite: Suite) -> None:
    """Copy the given strategies' entries from ``src``'s reports into ``out``'s."""
    for name in suite.loaders:
        if not (src / f"{name}.json").exists() or not (out / f"{name}.json").exists():
            continue
        source = json.loads((src / f"{name}.json").read_text())
        target = json.loads((out / f"{name}.json").read_text())
        for strategy in strategies:
            if strategy in source["strategies"]:
                target["strategies"][strategy] = source["strategies"][strategy]
                print(f"{name}/{strategy}: merged from {src}")
        _recompute_relative(target)
        (out / f"{name}.json").write_text(json.dumps(target, indent=1))


def _recompute_relative(report: dict) -> None:
    """EF and AF of each strategy against the report's random curve (seed counts may differ)."""
    import numpy as np

    from planner.backtest import metrics as bm

    R = np.asarray(report["strategies"]["random"]["performance"])
    for s in report["strategies"].values():
        S = np.asarray(s["performance"])
        ef = bm.enhancement_factor(S, R, report["init"])
        af = bm.acceleration_factor(S, R)
        s["enhancement_factor"] = ef if math.isfinite(ef) else None
        s["acceleration_factor"] = af if math.isfinite(af) else None
        s["enhancement_factor_curve"] = [
            (float(v) if math.isfinite(v) else None) for v in bm.enhancement_curve(S, R)
        ]


def _cell(x: float | None, digits: int = 1, budget: int | None = None) -> str:
    if x is None:
        return f">{budget}" if budget is not None else "–"
    return f"{x:.{digits}f}"


def paired_line(report: dict, reference: str = "gp") -> str:
    """``reference`` against every other strategy seed by seed, on the seeds both ran."""
    from planner.backtest import metrics as bm
    from planner.cli.backtest import paired_sentence

    versus = bm.paired_versus(report["strategies"], reference, order=STRATEGY_ORDER)
    return paired_sentence(reference, versus, seeds=True) if versus else ""


def write_report(out: Path, suite: Suite) -> None:
    """Markdown table and Plotly best-so-far figure from the per-data-set JSON reports."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    reports = {
        n: json.loads((out / f"{n}.json").read_text())
        for n in suite.loaders
        if (out / f"{n}.json").exists()
    }
    lines = [
        f"# {suite.title}",
        "",
        "Experiments until the first top-1% candidate (batch-rounded; median and IQR over seeds), "
        "share of seeds that hit within the budget, ratio to the exact random median, enhancement "
        "factor (mean of S(n)/R(n) over the model-driven experiments), acceleration factor at "
        "random's final level, median seconds per proposal and peak RSS per worker process. "
        "Definitions: `planner/backtest/metrics.py`.",
        "",
    ]
    for name, r in reports.items():
        b = r["budget"]
        ex = r["random_exact"]
        lines += [
            f"## {name} ({r['n_candidates']} candidates, top {r['n_top']}, "
            + ", ".join(f"{t['name']} {t['direction']}" for t in r["targets"])
            + f", budget {b}, init {r['init']}, batch {r['batch_size']})",
            "",
            f"Random sampling, exact: median {ex['median']:.0f}, mean {ex['mean']:.1f}, "
            f"hit rate within budget {ex['hit_rate']:.0%}.",
            "",
            "| strategy | seeds | median first top | IQR | hit rate | vs random | EF | AF "
            "| s/proposal | CPU s/proposal | peak MB | fallbacks |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s_name in STRATEGY_ORDER:
            s = r["strategies"].get(s_name)
            if s is None:
                continue
            lo, hi = s["iqr_first_top"]
            lines.append(
                f"| {s_name} | {s.get('seeds', r['seeds'])} | "
                f"{_cell(s['median_first_top'], 0, b)} | "
                f"{_cell(lo, 0, b)}–{_cell(hi, 0, b)} | {s['hit_rate']:.0%} | "
                f"{_cell(s['first_top_vs_random'], 2)} | {_cell(s['enhancement_factor'], 2)} | "
                f"{_cell(s['acceleration_factor'], 2)} | {s['median_seconds_per_proposal']:.2f} | "
                f"{_cell(s.get('median_cpu_seconds_per_proposal'), 2)} | "
                f"{s['peak_rss_mb']:.0f} | {s['fallbacks']} |"
            )
        lines += ["", paired_line(r), ""]
    (out / f"{suite.stem}_table.md").write_text("\n".join(lines))

    fig = make_subplots(rows=1, cols=max(len(reports), 1), subplot_titles=list(reports))
    colors = dict(
        zip(STRATEGY_ORDER, ("#888888", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"), strict=True)
    )
    for col, r in enumerate(reports.values(), start=1):
        for s_name in STRATEGY_ORDER:
            s = r["strategies"].get(s_name)
            if s is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(s["performance"]) + 1)),
                    y=s["performance"],
                    name=s_name,
                    legendgroup=s_name,
                    showlegend=col == 1,
                    line={"color": colors[s_name]},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="experiments", row=1, col=col)
    several = any(len(r["targets"]) > 1 for r in reports.values())
    fig.update_yaxes(
        title_text="best so far (normalized, mean over seeds)"
        + ("; hypervolume share with 2+ targets" if several else ""),
        row=1,
        col=1,
    )
    fig.update_layout(
        title=f"{suite.title}, pool-based: best-so-far, 1 = pool optimum",
        height=420,
        width=380 * max(len(reports), 1),
    )
    fig.write_html(out / f"{suite.stem}_best_so_far.html", include_plotlyjs="cdn")
    print(f"Wrote {out / f'{suite.stem}_table.md'} and {out / f'{suite.stem}_best_so_far.html'}")


def main(suite: Suite, doc: str | None = None) -> None:
    """Command-line entry point for one suite of lab tables."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--datasets", default=",".join(suite.loaders))
    p.add_argument("--strategies", default=",".join(STRATEGY_ORDER))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--seeds-for", default="", help="per-strategy seed counts, e.g. ax=10,baybe=10")
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--init", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=6)
    p.add_argument("--top", type=float, default=0.01)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / suite.stem))
    p.add_argument(
        "--resume", action="store_true", help="keep strategies already in the JSON reports"
    )
    p.add_argument("--report-only", action="store_true")
    p.add_argument(
        "--merge-from",
        help="copy the --strategies entries of the JSON reports in this folder into --out "
        "(runs done separately, e.g. in parallel with another run)",
    )
    p.add_argument("--no-progress", action="store_true")
    if suite.export is not None:
        p.add_argument(
            "--export", metavar="FILE.csv", help="write the table for `planner backtest` and stop"
        )
    args = p.parse_args()
    if getattr(args, "export", None):
        frame = suite.export()
        frame.to_csv(args.export, index=False)
        print(f"{len(frame)} rows -> {args.export}")
        return
    if args.merge_from:
        merge(Path(args.merge_from), Path(args.out), args.strategies.split(","), suite)
    elif not args.report_only:
        run(args, suite)
    write_report(Path(args.out), suite)
