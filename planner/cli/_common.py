"""Shared pieces of the command-line interface: error reporting and the ``--db`` option.

Users never see a stack trace: every domain error is printed as its message and hint, and the
command exits non-zero. Set ``PLANNER_DEBUG=1`` to get the traceback when reporting a bug.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)
for _c in (console, err_console):
    if not _c.is_terminal:  # wide tables in logs and pipes instead of 80 columns
        _c.width = 160

F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy database URL (e.g. postgresql+psycopg://user@localhost/planner). "
        "Default: $PLANNER_DB_URL, else a SQLite file in your user data directory.",
        show_default=False,
    ),
]


#: A line that starts a list item or is indented keeps its line break in ``--help``.
_KEEP_BREAK = re.compile(r"^(\s|[-*] |\d+[.)] )")


def reflow(text: str) -> str:
    """Join a docstring's wrapped lines into one line per paragraph, for ``--help``.

    Typer's rich help prints every source line break of the paragraphs after the first, so an
    80-column terminal shows ragged half-lines. Blank lines still separate paragraphs; list items
    and indented lines keep their own line.
    """
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        joined = lines[0]
        for line in lines[1:]:
            joined += ("\n" if _KEEP_BREAK.match(line) else " ") + line
        out.append(joined)
    return "\n\n".join(out)


def reflow_help(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its sub-apps) its docstring, reflowed, as help."""
    for info in app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = reflow(info.callback.__doc__)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def _domain_errors() -> tuple[type[BaseException], ...]:
    from campaigns.errors import CampaignError
    from planner.errors import PlanningError
    from surrogates.errors import SurrogateError

    return (CampaignError, PlanningError, SurrogateError)


def report_errors(fn: F) -> F:
    """Turn domain errors into a message, a hint and exit code 1 (2 for rejected input)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except _domain_errors() as exc:
            if os.environ.get("PLANNER_DEBUG"):
                raise
            err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
            hint = getattr(exc, "hint", None)
            if hint:
                err_console.print(f"[yellow]Hint:[/] {hint}", highlight=False)
            raise typer.Exit(code=getattr(exc, "exit_code", 1)) from None

    return wrapper  # type: ignore[return-value]


def open_store(db: str | None):  # noqa: ANN201 - returns campaigns.store.Store
    """Open (and migrate) the store named by ``--db``, ``$PLANNER_DB_URL`` or the default file."""
    from campaigns.store import Store

    return Store.open(db)
