"""`planner db`: back up and restore the planner database.

    planner db backup planner-2026-03-14.db          # SQLite: a consistent copy, even in use
    planner db backup nightly.dump --db postgresql+psycopg://lab@db/planner   # pg_dump archive
    planner db restore planner-2026-03-14.db --force # replaces the data, all or nothing
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli._common import DbOption, console, report_errors, restore_identity

app = typer.Typer(no_args_is_help=True, help="Back up and restore the planner database.")

def _url(db: str | None) -> str:
    from campaigns.store import default_url

    return db or default_url()


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("backup")
@report_errors
def backup(
    out: Annotated[Path, typer.Argument(
        help="Backup file to write (SQLite: a .db file; PostgreSQL: a pg_dump archive).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    db: DbOption = None,
) -> None:
    """Write a consistent backup of the database, safe while others are using it.

    SQLite databases are copied with SQLite's online backup API; PostgreSQL databases with
    pg_dump (the PostgreSQL client tools must be installed). The file appears only once it is
    complete. The database is not upgraded first. Big candidate libraries (Parquet files in
    the library folder) are copied, checksum-checked, into OUT.libraries/ next to OUT.
    """
    from campaigns.backup import backup as write_backup

    url = _url(db)
    info = write_backup(url, out, force=force)
    console.print(f"Backed up {_shown(url)} to [bold]{info.path}[/] ({info.describe()}).",
                  highlight=False)
    if info.library_files:
        console.print(f"Big-library tables copied to {info.library_folder}/ (keep that folder "
                      "next to the backup file).", highlight=False)
    _left_out(info.libraries_left_out, "NOT in the backup")
    console.print(f"Restore it with: planner db restore {info.path} --db URL")


def _left_out(lines: tuple[str, ...], what: str) -> None:
    for line in lines:
        console.print(f"[yellow]Warning:[/] library table {what}: {line}.", highlight=False)


@app.command("restore")
@report_errors
def restore(
    source: Annotated[Path, typer.Argument(help="Backup file written by `planner db backup`.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a database that holds data.")] = False,
    db: DbOption = None,
) -> None:
    """Replace the database with a backup, all of it or nothing.

    The backup is checked first (a planner database of a schema revision this version knows).
    A database that holds data is replaced only with --force: back it up first. SQLite files are
    swapped in atomically, PostgreSQL databases restored in one transaction. Stop the dashboard
    and other planner commands using the database before restoring. Big-library files in
    SOURCE.libraries/ are checked first and put into the database's library folder.
    """
    from campaigns.backup import head_revision
    from campaigns.backup import restore as run_restore

    url = _url(db)
    info = run_restore(url, source, force=force, identity=restore_identity(url))
    console.print(f"Restored {info.path} into {_shown(url)} ({info.describe()}).",
                  highlight=False)
    if info.library_files:
        console.print(f"Big-library tables in {info.library_folder}/.", highlight=False)
    _left_out(info.libraries_left_out, "not restored")
    head = head_revision()
    if info.revision != head:
        console.print(f"The next planner command upgrades it from schema revision "
                      f"{info.revision} to {head}.", highlight=False)
