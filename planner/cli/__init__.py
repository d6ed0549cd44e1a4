"""The ``planner`` command: every sub-command a lab uses each week.

Each group lives in its own module; this file only assembles them.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from planner.cli import (
    backtest,
    cell,
    characterize,
    core,
    data,
    dataset,
    db,
    lab,
    model,
    ui,
    users,
)
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
characterize.register(app)
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


LOG_LEVEL_ENV = "PLANNER_LOG_LEVEL"
"""Environment variable: the least severe log records shown (DEBUG, INFO, WARNING, ERROR)."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Show the library's log records on stderr with a time stamp and a level.

    Only the planner's own packages (campaigns, surrogates, planner) are configured, at the level
    in ``$PLANNER_LOG_LEVEL`` (default WARNING: fallbacks; INFO adds routine notes), so a cron
    job's log says when and how sure each line is. Calling it again changes nothing.
    """
    name = os.environ.get(LOG_LEVEL_ENV, "").strip().upper() or "WARNING"
    level = logging.getLevelNamesMapping().get(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.set_name("planner-cli")
    for package in ("campaigns", "surrogates", "planner"):
        logger = logging.getLogger(package)
        if not any(h.get_name() == "planner-cli" for h in logger.handlers):
            logger.addHandler(handler)
        logger.setLevel(logging.WARNING if level is None else level)
    if level is None:
        logging.getLogger("planner").warning(
            "%s=%r is not a log level; using WARNING (choose DEBUG, INFO, WARNING or ERROR).",
            LOG_LEVEL_ENV, name)


def main() -> None:
    """Console-script entry point."""
    configure_logging()
    tune_allocator()
    app()
