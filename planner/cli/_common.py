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


# --- who the command acts as ----------------------------------------------------------------
#: ``planner --user NAME`` (set by the ``planner`` callback in planner/cli/users.py, which also
#: reads $PLANNER_USER); identities signed in during this command, by (database, name).
_cli_user: dict[str, str | None] = {"name": None}
_signed_in: dict[tuple[str, str], Any] = {}


def set_user(name: str | None) -> None:
    """Act as ``name`` in this command (``planner --user``); forget earlier sign-ins."""
    _cli_user["name"] = name or None
    _signed_in.clear()


def user_name() -> str | None:
    """The user this command acts as: ``planner --user``, else ``$PLANNER_USER``, else nobody."""
    return _cli_user["name"] or os.environ.get("PLANNER_USER") or None


def read_password(prompt: str, *, env: str, confirm: bool = False) -> str:
    """A password from ``$env``, else typed at a terminal (never a command-line argument)."""
    import getpass
    import sys

    from campaigns.auth import AuthError

    value = os.environ.get(env)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise AuthError(f"a password is needed and there is no terminal to type it in: {prompt}",
                        hint=f"Set ${env} for this command (never put a password on the "
                        "command line).")
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Again, to confirm: ") != first:
        raise AuthError("the two passwords differ; nothing was changed.",
                        hint="Type the same password twice.")
    return first


def sign_in(store: Any) -> Any:
    """The signed-in identity for ``store`` (``None`` when the database has no accounts or no
    user was named); asks for the password once per command."""
    from campaigns.auth import authenticate, has_users

    name = user_name()
    if name is None or not has_users(store):
        return None
    key = (store.url, name)
    if key not in _signed_in:
        password = read_password(f"Password for {name} on {store.url}", env="PLANNER_PASSWORD")
        _signed_in[key] = authenticate(store, name, password)
    return _signed_in[key]


def open_store(db: str | None):  # noqa: ANN201 - returns campaigns.store.Store
    """Open (and migrate) the store named by ``--db``, ``$PLANNER_DB_URL`` or the default file,
    acting as the signed-in user (``planner --user`` / ``$PLANNER_USER``) when the database has
    user accounts: every write is then checked against that user's roles and recorded under
    that name. Without a user, reads work and writes are refused with a hint."""
    from campaigns.store import Store

    store = Store.open(db)
    return store.as_user(sign_in(store))


def restore_identity(url: str) -> Any:
    """The identity to restore a backup over ``url`` with: signed in without upgrading the
    database there; ``None`` when it has no accounts (or does not exist yet)."""
    from sqlalchemy import inspect, make_url
    from sqlalchemy.exc import SQLAlchemyError

    from campaigns.store import Store

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (
            parsed.database and os.path.isfile(os.path.expanduser(parsed.database))):
        return None
    store = Store.open(url, migrate=False)
    try:
        with store.engine.connect() as conn:
            if "users" not in inspect(conn).get_table_names():
                return None
    except SQLAlchemyError:
        return None  # the restore reports what is wrong with the database
    try:
        return sign_in(store)
    finally:
        store.close()
