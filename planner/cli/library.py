"""``planner library``: big candidate tables of library campaigns (the columnar store).

``planner library import CAMPAIGN FILE`` streams a CSV or Parquet table of any size into the
campaign's Parquet store with a progress bar; ``planner library show`` and ``verify`` read the
stored reference back. ``planner campaign create --spec`` uses the same import (and bar) when
the spec's ``library.path`` names a big table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planner.cli._common import DbOption, console, open_store, report_errors

app = typer.Typer(no_args_is_help=True,
                  help="Big candidate libraries: import a CSV/Parquet table, show, verify.")

ChunkOpt = Annotated[int, typer.Option("--chunk-rows", min=1_000,
                                       help="Rows read, checked and written per chunk.")]


@contextmanager
def import_progress(what: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yields a ``progress(rows_done, rows_total)`` callback drawing a rich progress bar; the
    bar appears at the first call (a campaign without a big library shows none)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    state: dict[str, tuple[Progress, TaskID]] = {}

    def update(done: int, total: int | None) -> None:
        if "bar" not in state:
            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("rows"), TimeElapsedColumn(), TimeRemainingColumn(),
                           console=console)
            bar.start()
            state["bar"] = (bar, bar.add_task(what, total=None))
        bar, task = state["bar"]
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"][0].stop()


@app.command("import")
@report_errors
def import_(
    campaign: Annotated[str, typer.Argument(help="Library campaign.")],
    file: Annotated[Path, typer.Argument(help="CSV or Parquet table, one row per candidate.",
                                         exists=True, dir_okay=False, readable=True)],
    chunk_rows: ChunkOpt = 500_000,
    db: DbOption = None,
) -> None:
    """Import (or replace) a library campaign's candidate table into the columnar store."""
    from planner.cli.core import _planner

    planner = _planner(db)
    target = planner.campaign(campaign)
    with import_progress(f"Importing {file.name}") as progress:
        table = target.import_library(file, chunk_rows=chunk_rows, progress=progress)
    console.print(f"Imported [bold]{table.n_rows:,}[/] candidates x {len(table.columns)} inputs "
                  f"into {table.path} (SHA-256 {table.sha256[:16]}…).")
    console.print(f"Next: planner suggest --campaign {campaign}")


@app.command("show")
@report_errors
def show(campaign: Annotated[str, typer.Argument(help="Library campaign.")],
         db: DbOption = None) -> None:
    """Show a library's stored table: file, checksum, rows, inputs with ranges or levels."""
    store = open_store(db)
    table = store.library_table(campaign)
    if table is None:
        small = store.library(campaign)
        if small is None:
            console.print(f"{campaign} is not a library campaign.")
        else:
            console.print(f"{campaign}: {len(small):,} candidates stored as database rows.")
        return
    console.print(f"[bold]{campaign}[/]: {table.n_rows:,} candidates in {table.path}\n"
                  f"SHA-256 {table.sha256}, {table.size_bytes / 1e6:.1f} MB, source ID column "
                  f"{table.id_column!r}")
    out = Table(header_style="bold")
    for col in ("input", "kind", "range / levels", "missing"):
        out.add_column(col)
    bounds, levels, missing = table.bounds(), table.categories(), table.missing()
    for col in table.columns:
        if col in levels:
            shown = ", ".join(levels[col][:8]) + (" …" if len(levels[col]) > 8 else "")
            out.add_row(col, "categorical", shown, f"{missing.get(col, 0):,}")
        else:
            lo, hi = bounds[col]
            out.add_row(col, "numeric", f"{lo:.4g} – {hi:.4g}", f"{missing.get(col, 0):,}")
    console.print(out)


@app.command("verify")
@report_errors
def verify(campaign: Annotated[str, typer.Argument(help="Library campaign.")],
           db: DbOption = None) -> None:
    """Recompute the stored table's SHA-256 and compare it with the database's reference."""
    store = open_store(db)
    table = store.library_table(campaign, full_check=True)
    if table is None:
        console.print(f"{campaign} has no columnar library (its candidates are database rows).")
        return
    console.print(f"OK: {table.path} matches its SHA-256 ({table.n_rows:,} candidates).")
