"""`planner model` commands: cross-validate surrogate models on any lab table.

Example::

    planner model cv data.csv --inputs T,c,salt --target k --categorical salt --group doi

prints every candidate's scores (GP, ensemble, random forest, gradient boosting) and, per
target, the model that ``model: auto`` picks from them and why (:mod:`surrogates.selection`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from campaigns.hints import did_you_mean
from planner.cli._common import console, err_console, report_errors

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Fit and cross-validate surrogate models on any CSV."""


def _input_error(message: str, hint: str | None = None) -> Exception:
    from surrogates.errors import InputDataError

    return InputDataError(message, hint=hint)


def read_table(path: Path) -> pd.DataFrame:
    """Read a lab table with the backtest's reader (:func:`planner.backtest.read_table`).

    That is the plate reader's decoder: CSV in UTF-8 (with or without BOM), UTF-16, cp1252 or
    Latin-1, separated by ``,``, ``;`` or tabs (or an Excel ``sep=`` line), and XLSX workbooks.
    A column whose filled cells are all numbers, decimal commas included, becomes numeric; one
    with text keeps its text, and :func:`check_columns` names its first text cell. The index holds
    spreadsheet row numbers, so errors name the row a chemist sees in Excel.
    """
    from planner.backtest.problem import BacktestInputError, numbers_where_possible
    from planner.backtest.problem import read_table as read_lab_table

    try:
        frame = read_lab_table(path)
    except BacktestInputError as exc:
        raise _input_error(str(exc), exc.hint) from None
    if frame.empty:
        raise _input_error(f"File {path.name} has a header but no rows.", "Add measurements.")
    return numbers_where_possible(frame)


def _split_names(values: list[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (options may be repeated or comma-separated)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return list(dict.fromkeys(out))


def check_columns(
    frame: pd.DataFrame,
    inputs: list[str],
    targets: list[str],
    categorical: list[str],
    group: str | None = None,
) -> None:
    """Refuse unknown names and text in numeric columns, naming every problem at once."""
    problems, hints = [], []
    columns = list(frame.columns)
    named = (
        ("input", inputs),
        ("target", targets),
        ("categorical", categorical),
        ("group", [group] if group else []),
    )
    for kind, names in named:
        for c in names:
            if c not in columns:
                problems.append(f"There is no {kind} column {c!r} in the file.")
                hints.append(did_you_mean(c, columns)
                             or f"Known columns: {', '.join(map(repr, columns[:20]))}.")
    for c in categorical:
        if c in columns and c not in inputs:
            problems.append(f"Categorical column {c!r} is not one of --inputs.")
            hints.append(f"Add {c} to --inputs.")
    for c in [*inputs, *targets]:
        if c not in columns or c in categorical:
            continue
        col = frame[c]
        text = col.notna() & pd.to_numeric(col, errors="coerce").isna()
        if text.any():
            row = text.idxmax()
            problems.append(
                f"Column {c!r} holds text, e.g. {col[row]!r} in row {row} "
                f"({int(text.sum())} such cells)."
            )
            hints.append(
                f"Pass --categorical {c} if it is a category (a precursor, a salt)."
                if c in inputs
                else f"Target {c} must be numeric: remove units or comments from its cells."
            )
    if problems:
        raise _input_error(" ".join(problems), " ".join(dict.fromkeys(hints)))


@app.command("cv")
@report_errors
def cv(
    data: Annotated[Path, typer.Argument(help="CSV or XLSX table, one row per sample.")],
    inputs: Annotated[
        list[str], typer.Option("--inputs", help="Input columns, comma-separated.")
    ],
    target: Annotated[
        list[str], typer.Option("--target", help="Target column (repeat for several).")
    ],
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", help="Categorical input column (repeat or comma-separate)."),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Keep rows with the same value (paper, plate) in one fold."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="gp, ensemble, rf, boosted, auto or all (every "
                          "candidate; comma-separate several). auto: the automatic choice "
                          "scored by nested cross-validation (slow: it cross-validates the "
                          "candidates inside each fold).")
    ] = "all",
    folds: Annotated[int, typer.Option("--folds", min=2, help="Number of folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed for folds and models.")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics as JSON to this file.")
    ] = None,
) -> None:
    """Cross-validate surrogate models: R², MAE, RMSE, NLPD and 90% coverage per target, and
    the model ``auto`` picks per target with its reason."""
    from surrogates.evaluation import MODEL_NAMES, cross_validate

    frame = read_table(data)
    input_names = _split_names(inputs)
    targets = _split_names(target)
    cats = _split_names(categorical)
    names = _split_names([model])
    models = list(dict.fromkeys(
        m for n in names for m in (MODEL_NAMES if n == "all" else (n,))))
    unknown = [m for m in models if m not in (*MODEL_NAMES, "auto")]
    if unknown:
        raise _input_error(
            f"Unknown model {unknown[0]!r}.", f"Use --model {'|'.join(MODEL_NAMES)}|auto|all."
        )
    check_columns(frame, input_names, targets, cats, group)
    report = cross_validate(
        frame,
        inputs=input_names,
        targets=targets,
        categorical=cats,
        group=group,
        models=models,
        folds=folds,
        seed=seed,
        progress=True,
    )
    result = report.to_dict()
    table = Table(
        title=f"{report.folds}-fold {'grouped by ' + group if group else 'random'} "
        f"cross-validation, {result['n_rows']} rows"
    )
    for col in ("model", "target", "R²", "MAE", "RMSE", "NLPD", "cover 90%", "fit s"):
        table.add_column(col, justify="left" if col in ("model", "target") else "right")

    def fmt(v: float | None, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    for name, per_target in result["models"].items():
        for t, m in per_target.items():
            table.add_row(
                name,
                t,
                fmt(m["r2"], ".3f"),
                fmt(m["mae"], ".4g"),
                fmt(m["rmse"], ".4g"),
                fmt(m["nlpd"], ".3f"),
                fmt(m["coverage90"], ".0%"),
                fmt(m["fit_seconds"], ".2f"),
            )
    console.print(table)
    picks = _auto_picks(result["models"], targets)
    if picks:
        result["auto"] = picks
        console.print(_picks_table(picks, result["models"]))
    for t, n in result["n_excluded"].items():
        if n:
            console.print(f"{n} rows without {t} were left out of its fits and scores.")
    for note in report.notes:
        console.print(note)
    for name, texts in report.fit_warnings.items():
        if texts:
            err_console.print(
                f"[yellow]{name}: {len(texts)} fit warning(s)[/], first: {texts[0]}",
                highlight=False,
            )
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"Metrics written to {json_out}.")


def _auto_picks(scores: dict[str, dict[str, dict[str, float | None]]],
                targets: list[str]) -> dict[str, dict[str, str]]:
    """Per target, what ``model: auto`` picks among the candidates just scored, and why
    (the rule of :func:`surrogates.selection.choose`; needs two or more candidates)."""
    from surrogates.errors import SurrogateError
    from surrogates.selection import choose

    candidates = [m for m in scores if m != "auto"]
    if len(candidates) < 2:
        return {}
    out = {}
    for t in targets:
        try:
            chosen, reason = choose({m: scores[m][t] for m in candidates})
        except SurrogateError:
            continue
        out[t] = {"model": chosen, "reason": reason}
    return out


def _picks_table(picks: dict[str, dict[str, str]],
                 scores: dict[str, dict[str, dict[str, float | None]]]) -> Table:
    table = Table(title="model: auto picks")
    for col in ("target", "chosen", "R²", "cover 90%", "best R²", "rf R²", "why"):
        table.add_column(col, justify="left" if col in ("target", "chosen", "why") else "right")

    def r2(m: str, t: str) -> float | None:
        return scores.get(m, {}).get(t, {}).get("r2")

    def fmt(v: float | None, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    for t, pick in picks.items():
        values = [v for m in scores if m != "auto" and (v := r2(m, t)) is not None]
        best = max(values) if values else None
        table.add_row(t, pick["model"], fmt(r2(pick["model"], t), ".3f"),
                      fmt(scores[pick["model"]][t]["coverage90"], ".0%"), fmt(best, ".3f"),
                      fmt(r2("rf", t), ".3f"), pick["reason"])
    return table
