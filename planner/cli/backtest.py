"""`planner backtest`: replay campaigns on a lab table with known outcomes, per strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from planner.cli._common import console, report_errors


def _split(values: list[str] | None) -> list[str]:
    """Accept both repeated flags and comma-separated lists."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


@report_errors
def backtest(
    pool: Annotated[
        Path,
        typer.Argument(
            help="CSV, XLSX or Parquet table of candidates with known outcomes.",
            show_default=False,
        ),
    ],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            help="Target as NAME:max or NAME:min; repeat for several.",
            show_default=False,
        ),
    ],
    inputs: Annotated[
        str | None,
        typer.Option(
            "--inputs", help="Comma-separated input columns (default: all non-target columns)."
        ),
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option(
            "--categorical", help="Categorical input column(s); repeat or comma-separate."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Experiments per proposal (plate).")
    ] = 6,
    budget: Annotated[
        int, typer.Option(help="Experiments per campaign, initial design included.")
    ] = 60,
    init: Annotated[
        int, typer.Option(help="Random initial experiments, shared by all strategies.")
    ] = 6,
    seeds: Annotated[int, typer.Option(help="Campaigns (seeds) per strategy.")] = 20,
    top: Annotated[float, typer.Option(help="Fraction of candidates that counts as top.")] = 0.01,
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated: random, gp, ensemble, rf, boosted, auto (the model chosen "
            "per target by cross-validation, as campaigns do by default), ax, baybe (random "
            "always runs; gp-prior is added by --prior)."
        ),
    ] = "random,gp,ensemble,ax,baybe",
    workers: Annotated[
        int, typer.Option(help="Parallel worker processes (1 = in this process).")
    ] = 2,
    prior: Annotated[
        Path | None,
        typer.Option(
            "--prior",
            help="Another lab's table (CSV/XLSX/Parquet) with the same input and target "
            "columns: adds "
            "the strategy gp-prior, a GP warm-started by it, to measure what it is worth.",
        ),
    ] = None,
    prior_mode: Annotated[
        str,
        typer.Option(
            "--prior-mode",
            help="multitask (each source a task of a multi-task GP) or prior_mean (a GP on the "
            "prior as the mean function).",
        ),
    ] = "multitask",
    prior_source: Annotated[
        str | None,
        typer.Option(
            "--prior-source",
            help="Column of the prior table naming each row's source (default: 'source' if "
            "present, else one source).",
        ),
    ] = None,
    prior_max_rows: Annotated[
        int | None,
        typer.Option(
            "--prior-max-rows",
            help="Most prior rows per target in each warm-started fit (a random subset above; "
            "default: every row).",
        ),
    ] = None,
    acquisition: Annotated[
        str,
        typer.Option(
            "--acquisition",
            help="auto (log-EI for one target, log-NEHVI for several), qLogNEI, qLogNEHVI or "
            "qLogNParEGO: a campaign's planning.acquisition, for our model strategies.",
        ),
    ] = "auto",
    mc_samples: Annotated[
        int, typer.Option("--mc-samples", help="Quasi-MC samples of the acquisition.")
    ] = 64,
    log_targets: Annotated[
        str,
        typer.Option(
            "--log-targets",
            help="auto (log10 of minimized positive targets spanning 10x), on or off.",
        ),
    ] = "auto",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full report as JSON here.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Where the seeds run: local (worker processes, --workers) or dask (each seed "
            "a Dask task).",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address tcp://HOST:PORT for --engine dask (default: a local "
            "cluster on 127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Compare proposal strategies on a table whose outcomes are all known (pool-based backtest).

    Each strategy starts from the same random initial design per seed, proposes batches from the
    distinct rows of the table and sees only the outcomes of what it picked. Our model
    strategies (gp, ensemble, gp-prior) call the pool core a library campaign's `planner
    suggest` calls, with the acquisition settings given here (a campaign's planning block).
    Reported per
    strategy: experiments until the first top candidate (median, IQR), hit rate within the budget,
    enhancement and acceleration factors relative to random sampling, seconds per proposal and
    peak memory.
    """
    from planner.backtest import (
        BacktestConfig,
        BacktestProblem,
        parse_target,
        read_table,
        run_backtest,
    )

    targets = [parse_target(t) for t in target]
    df = read_table(pool)
    problem = BacktestProblem.from_frame(
        df,
        inputs=_split([inputs]) if inputs else None,
        targets=targets,
        categorical=_split(categorical),
        source=pool.name,
    )
    from planner.acquisition import ProposalSettings

    names = _split([strategies])
    settings = ProposalSettings(acquisition=acquisition, mc_samples=mc_samples,
                                log_targets=log_targets)
    options: dict[str, dict[str, object]] = {
        name: {"settings": settings} for name in ("gp", "ensemble", "rf")}
    if prior is not None:
        prior_data = problem.prior_from_frame(
            read_table(prior), task_column=prior_source, mode=prior_mode, label=prior.name
        )
        options["gp-prior"] = {"prior": prior_data, "max_prior_rows": prior_max_rows,
                               "settings": settings}
        if "gp-prior" not in names:  # measured side by side with the cold GP
            names.append("gp-prior")
        if "gp" not in names:
            names.insert(names.index("gp-prior"), "gp")
        console.print(
            f"Prior: {len(prior_data.X)} rows from {prior.name} "
            f"({prior_mode}; {len(prior_data.summary()['tasks']) or 1} source(s))."
        )
    config = BacktestConfig(
        batch_size=batch_size,
        budget=budget,
        init=init,
        seeds=seeds,
        top=top,
        strategies=tuple(names),
        workers=workers,
        strategy_options=options,
    )
    config.validate()
    from planner.engine import running_on

    with running_on(engine, scheduler):
        result = run_backtest(problem, config, progress=progress)
    report = result.to_dict()
    print_report(report)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))
        console.print(f"Report written to {json_out}")


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _data_line(report: dict) -> str:
    """What became of the table's rows: left out, merged, and identifier columns."""
    rows, n = report.get("n_rows", 0), report["n_candidates"]
    dropped = report.get("n_without_target", 0)
    merged = rows - dropped - n
    parts = [f"{rows} rows -> {n} candidates"]
    if dropped:
        parts.append(f"{dropped} row(s) without a value for every target left out")
    if merged > 0:
        parts.append(f"{merged} row(s) repeating another row's inputs averaged with it")
    line = parts[0] + (f" ({'; '.join(parts[1:])})" if parts[1:] else "") + "."
    if report.get("identifier_columns"):
        ids = ", ".join(repr(c) for c in report["identifier_columns"])
        line += f" Left out as sample identifiers (their own text in most rows): {ids}."
    return line


def paired_sentence(reference: str, versus: dict[str, dict], *, seeds: bool = False) -> str:
    """One sentence of :func:`planner.backtest.metrics.paired_comparison` results, per strategy
    ``fewer/as many/more`` (with the seed count if ``seeds``) and the sign test."""
    parts = []
    for name, c in versus.items():
        notes = [f"{c['seeds']} seeds"] if seeds else []
        if c["p_value"] is not None:
            notes.append(f"sign test p = {c['p_value']:.2g}")
        parts.append(
            f"{name} {c['fewer']}/{c['same']}/{c['more']}"
            + (f" ({', '.join(notes)})" if notes else "")
        )
    return (
        f"Seed by seed (same initial design), {reference} needed fewer/as many/more experiments "
        f"to the first top candidate than: {'; '.join(parts)}."
    )


def print_report(report: dict) -> None:
    """Print the per-strategy summary table of a backtest report."""
    from rich.table import Table

    budget = report["budget"]
    exact = report["random_exact"]
    title = (
        f"{report['pool']}: {report['n_candidates']} candidates, "
        f"top {report['top_fraction']:.0%} = "
        f"{report['n_top']}, budget {budget}, {report['seeds']} seeds"
    )
    table = Table(title=title)
    for col in (
        "strategy",
        "median first top",
        "IQR",
        "hit rate",
        "vs random",
        "EF",
        "AF",
        "s/proposal",
        "CPU s",
        "peak MB",
        "fallbacks",
    ):
        table.add_column(col, justify="left" if col == "strategy" else "right")

    def count(x: float | None) -> str:  # a quantile that falls on a miss: beyond the budget
        return _fmt(x) if x is not None else f">{budget}"

    for name, s in report["strategies"].items():
        lo, hi = s["iqr_first_top"]
        table.add_row(
            name,
            count(s["median_first_top"]),
            f"{count(lo)}–{count(hi)}",
            f"{s['hit_rate']:.0%}",
            _fmt(s["first_top_vs_random"], 2),
            _fmt(s["enhancement_factor"], 2),
            _fmt(s["acceleration_factor"], 2),
            _fmt(s["median_seconds_per_proposal"], 2),
            _fmt(s.get("median_cpu_seconds_per_proposal"), 2),
            _fmt(s["peak_rss_mb"], 0),
            str(s["fallbacks"]),
        )
    console.print(table)
    console.print(_data_line(report))
    console.print(
        f"Random sampling, exact: median {exact['median']:.0f} experiments to the first top "
        "candidate "
        f"(mean {exact['mean']:.1f}; {exact['hit_rate']:.0%} within {budget}). "
        "'vs random' = median first top / that median."
    )
    paired = report.get("paired")
    if paired:
        console.print(paired_sentence(paired["reference"], paired["versus"]))
    for name, reason in report.get("skipped", {}).items():
        console.print(f"[yellow]Skipped {name}:[/] {reason}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("backtest")(backtest)
