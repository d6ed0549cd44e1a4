"""`planner lab run` (the virtual lab) and `planner demo` (simulated weeks of the closed loop).

Both reach the campaigns through the Python API (:mod:`planner.api`), as a notebook would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from planner.cli._common import DbOption, console, open_store, report_errors

lab_app = typer.Typer(no_args_is_help=True,
                      help="The virtual lab: SIMULATED results for demo and testing.")


@lab_app.command("run")
@report_errors
def lab_run(
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Filled sheet to write (.csv or .xlsx).")],
    batch: Annotated[int | None, typer.Option(help="Batch id (default: the newest).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated noise and failures.")] = 0,
    db: DbOption = None,
) -> None:
    """Make and measure a plate in the virtual lab and write the filled sheet (SIMULATED data)."""
    from campaigns.sheet import write_template
    from planner.api import Planner
    from planner.simulation.virtual_lab import run_plate

    camp = Planner(open_store(db)).campaign(campaign)
    plate = camp.plate(batch)
    sheet = run_plate(camp.spec, plate.batch, seed=seed)
    write_template(sheet, out)
    failed = int(sheet["Status"].notna().sum())
    console.print(f"Wrote SIMULATED results for {len(sheet)} wells of batch {plate.id} to {out} "
                  f"({failed} failed). Upload with: planner ingest {out} --campaign {campaign}")


def demo(
    weeks: Annotated[int, typer.Option(help="Simulated weeks of hard-carbon history.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the simulated lab.")] = 0,
    dashboard: Annotated[bool, typer.Option(
        help="Open the dashboard afterwards (also off with PLANNER_NO_DASHBOARD=1).")] = True,
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
    db: DbOption = None,
) -> None:
    """Create demo campaigns with simulated weeks of the closed loop, print next week's plate,
    open the dashboard."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from planner.cli.core import print_batch
    from planner.simulation.demo import run_demo

    store = open_store(db)
    total = weeks + 3 + 2
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("Simulating the closed loop", total=total)
        result = run_demo(store, weeks=weeks, seed=seed,
                          on_step=lambda msg: progress.update(task, advance=1, description=msg))
        progress.update(task, completed=total)
    for name in result.skipped:
        console.print(f"[yellow]{name} already exists; left as it is.[/]")
    for name, batch in result.next_plates.items():
        print_batch(batch, title=f"{name}: next plate · batch {batch.id} · {batch.iso_week} · "
                                 f"{batch.generator}", max_rows=24)
    console.print(f"Database: {store.url}  (SIMULATED data, labelled as such)")
    if dashboard and not os.environ.get("PLANNER_NO_DASHBOARD"):
        console.print(f"Opening the dashboard on http://127.0.0.1:{port} (Ctrl+C to stop)")
        cmd = [sys.executable, "-m", "planner.cli", "dashboard", "--port", str(port)]
        if db:
            cmd += ["--db", db]
        raise typer.Exit(subprocess.call(cmd))


def register(app: typer.Typer) -> None:
    """Add `lab` and `demo` to the top-level app."""
    app.add_typer(lab_app, name="lab")
    app.command("demo")(report_errors(demo))
