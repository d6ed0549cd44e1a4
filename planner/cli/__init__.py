"""The ``planner`` command: every sub-command a lab uses each week.

Each group lives in its own module; this file only assembles them.
"""

from __future__ import annotations

import typer

from planner.cli import backtest, cell, core, data, dataset, db, lab, model, ui, users
from planner.cli._common import reflow_help
from planner.runtime import tune_allocator

app = typer.Typer(
    name="planner",
    help="Bayesian-optimization experiment planner for battery materials.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

core.register(app)
app.add_typer(model.app, name="model", help="Fit and cross-validate surrogate models on any CSV.")
backtest.register(app)
lab.register(app)
app.add_typer(cell.app, name="cell", help="PyBaMM projections of cell-level performance.")
app.add_typer(data.app, name="data", help="Uploads, retractions and single-value corrections.")
app.add_typer(dataset.app, name="dataset", help="Publish and pull FAIR data packages.")
app.add_typer(db.app, name="db", help="Back up and restore the planner database.")
ui.register(app)
users.register(app)
reflow_help(app)


def main() -> None:
    """Console-script entry point."""
    tune_allocator()
    app()
