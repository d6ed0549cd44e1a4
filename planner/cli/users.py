"""Who the command acts as (``planner --user``), ``planner user`` and ``planner audit``.

    planner user add ana                      # the first account: an admin, no sign-in needed
    planner --user ana user add ben           # later ones: an admin signs in
    planner --user ana user grant ben --campaign hc-2026 --role chemist
    PLANNER_USER=ben planner ingest plate.csv --campaign hc-2026   # password asked for
    planner audit list --campaign hc-2026 --user ben --csv audit.csv
    planner audit verify

A database without accounts works as before: nothing is checked. From the first account on,
every write needs a signed-in user with the right role in the campaign, and is recorded under
that user's name. Passwords come from a prompt, or from $PLANNER_PASSWORD (signing in) and
$PLANNER_NEW_PASSWORD (a new password) in scripts; never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planner.cli._common import (
    DbOption,
    console,
    err_console,
    open_store,
    read_password,
    report_errors,
    set_user,
    user_name,
)

user_app = typer.Typer(no_args_is_help=True, help="User accounts and per-campaign roles.")
audit_app = typer.Typer(no_args_is_help=True,
                        help="The audit log: who did what, and a check that nobody rewrote it.")

NameArg = Annotated[str, typer.Argument(help="User name (case-sensitive).")]
CampaignOpt = Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")]


def main_options(
    user: Annotated[str | None, typer.Option(
        "--user", envvar="PLANNER_USER", show_default=False,
        help="Act as this user (default: $PLANNER_USER) when the database has user accounts; "
        "the password is asked for, or read from $PLANNER_PASSWORD.")] = None,
) -> None:
    set_user(user)


def _new_password(name: str) -> str:
    return read_password(f"New password for {name}", env="PLANNER_NEW_PASSWORD", confirm=True)


@user_app.command("add")
@report_errors
def add(
    name: NameArg,
    admin: Annotated[bool, typer.Option("--admin", help="Site-wide admin: manages users, may do "
                                        "anything in any campaign.")] = False,
    db: DbOption = None,
) -> None:
    """Create an account (password typed twice, or $PLANNER_NEW_PASSWORD).

    The database's first account needs no sign-in and is an admin; from then on every write
    needs a signed-in user. Later accounts are added by an admin (planner --user ADMIN user add).
    """
    from campaigns.auth import ADMIN, add_user, has_users, require

    store = open_store(db)
    first = not has_users(store)
    if not first:
        require(store, None, ADMIN, what="add users")  # before asking for a password
    is_admin = add_user(store, name, _new_password(name), admin=admin)
    console.print(f"Added user [bold]{name}[/]" + (" (admin)." if is_admin else "."),
                  highlight=False)
    if first:
        console.print("This is the database's first account, so it is an admin. From now on "
                      f"every write needs a signed-in user: planner --user {name} … (or "
                      "PLANNER_USER). Give others roles with planner user grant.", highlight=False)
    elif not is_admin:
        console.print(f"Give {name} a role: planner user grant {name} --campaign NAME "
                      "--role viewer|chemist|owner", highlight=False)


@user_app.command("passwd")
@report_errors
def passwd(
    name: Annotated[str | None, typer.Argument(
        help="Whose password (default: yours). An admin may set anyone's.",
        show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Set a new password: your own, or (as an admin) anyone's."""
    from campaigns.auth import ADMIN, ANY_USER, require, set_password

    store = open_store(db)
    who = name or user_name()
    if who is None:
        err_console.print("[bold red]Error:[/] whose password? Nobody is signed in.",
                          highlight=False)
        err_console.print("[yellow]Hint:[/] planner --user NAME user passwd", highlight=False)
        raise typer.Exit(1)
    own = store.identity is not None and store.identity.name == who
    require(store, None, ANY_USER if own else ADMIN, what=f"set the password of {who!r}")
    set_password(store, who, _new_password(who))
    console.print(f"Password of [bold]{who}[/] changed.", highlight=False)


@user_app.command("grant")
@report_errors
def grant(
    name: NameArg,
    campaign: CampaignOpt,
    role: Annotated[str, typer.Option("--role", "-r", help="viewer (reads), chemist (uploads, "
                                      "corrections, plates) or owner (spec, publish, roles).")],
    db: DbOption = None,
) -> None:
    """Give a user a role in a campaign (an owner of the campaign or an admin may)."""
    from campaigns.auth import grant as grant_role

    before = grant_role(open_store(db), name, campaign, role)
    was = f" (was {before})" if before and before != role else ""
    console.print(f"{name} is now {role} in {campaign}{was}.", highlight=False)


@user_app.command("revoke")
@report_errors
def revoke(name: NameArg, campaign: CampaignOpt, db: DbOption = None) -> None:
    """Take away a user's role in a campaign."""
    from campaigns.auth import revoke as revoke_role

    before = revoke_role(open_store(db), name, campaign)
    if before is None:
        console.print(f"{name} had no role in {campaign}; nothing changed.", highlight=False)
    else:
        console.print(f"{name} is no longer {before} in {campaign}.", highlight=False)


@user_app.command("list")
@report_errors
def list_users(db: DbOption = None) -> None:
    """List accounts, admins and each user's roles."""
    from campaigns.auth import users

    found = users(open_store(db))
    if not found:
        console.print("This database has no user accounts: everyone may write, under their "
                      "login name. Create the first (admin) account with planner user add NAME.",
                      highlight=False)
        return
    table = Table(header_style="bold")
    for col in ("user", "admin", "roles", "created", "by"):
        table.add_column(col, overflow="fold")
    for u in found:
        roles = ", ".join(f"{c}: {r}" for c, r in sorted(u.roles.items()))
        table.add_row(u.name, "yes" if u.admin else "", roles or "—",
                      f"{u.created_at:%Y-%m-%d}", u.created_by)
    console.print(table)


@audit_app.command("list")
@report_errors
def audit_list(
    campaign: Annotated[str | None, typer.Option("--campaign", "-c", help="Only this campaign.",
                                                 show_default=False)] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only what this user did.",
                                             show_default=False)] = None,
    action: Annotated[str | None, typer.Option(
        "--action", "-a", show_default=False,
        help="Only this action (measurements.ingest), or a family ending in a dot "
        "(measurement.).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write every matching entry, with "
                                             "its full detail, to this CSV file.",
                                             show_default=False)] = None,
    last: Annotated[int, typer.Option("--last", help="Show the newest N entries.")] = 50,
    db: DbOption = None,
) -> None:
    """Who did what, when: uploads, corrections, plates, spec changes, roles, pulls."""
    from campaigns.audit import audit_entries, audit_table
    from campaigns.exports import write_frame

    store = open_store(db)
    if campaign is not None:
        store.spec(campaign)  # an unknown name gets "did you mean"
    frame = audit_entries(store, campaign=campaign, user=user, action=action)
    if csv is not None:
        write_frame(audit_table(frame), csv, fmt="csv")
        console.print(f"Wrote {len(frame)} audit entries to {csv}.", highlight=False)
        return
    if frame.empty:
        console.print("No audit entries match.", highlight=False)
        return
    table = Table(header_style="bold")
    for col in ("id", "at (UTC)", "user", "action", "campaign", "what"):
        table.add_column(col, overflow="fold")
    for row in frame.tail(last).itertuples():
        table.add_row(str(row.id), f"{row.at:%Y-%m-%d %H:%M:%S}", row.actor, row.action,
                      row.campaign if isinstance(row.campaign, str) else "", row.summary)
    console.print(table)
    if len(frame) > last:
        console.print(f"(the newest {last} of {len(frame)}; --last N for more, --csv for all)",
                      highlight=False)


@audit_app.command("verify")
@report_errors
def audit_verify(
    expect: Annotated[str | None, typer.Option(
        "--expect", show_default=False,
        help="A head hash printed by an earlier verify: fail unless the chain still holds it "
        "(detects a rewrite of the whole chain).")] = None,
    db: DbOption = None,
) -> None:
    """Recompute the audit log's hash chain; name the first entry changed, removed or added
    behind the planner's back (exit code 1 if any)."""
    from campaigns.audit import verify_audit

    check = verify_audit(open_store(db), expect=expect)
    if check.ok:
        console.print(f"Audit log intact: {check.n_entries} entries, chain head "
                      f"{check.head_position} sha256 {check.head_sha256}", highlight=False)
        console.print("Note the head hash elsewhere; `planner audit verify --expect HASH` later "
                      "proves nothing before it was rewritten.", highlight=False)
        return
    first = check.first_broken
    err_console.print(f"[bold red]Audit log broken:[/] {first}", highlight=False)
    for problem in check.problems[1:20]:
        err_console.print(f"  also: {problem}", highlight=False)
    if len(check.problems) > 20:
        err_console.print(f"  … and {len(check.problems) - 20} more.", highlight=False)
    err_console.print("[yellow]Hint:[/] the entries above were edited in the database itself, "
                      "not through the planner. Compare with a backup (planner db backup / "
                      "restore) to see what changed.", highlight=False)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``--user`` to ``planner`` and the ``user`` and ``audit`` groups."""
    app.callback()(main_options)
    app.add_typer(user_app, name="user", help="User accounts and per-campaign roles.")
    app.add_typer(audit_app, name="audit",
                  help="The audit log: who did what; verify nobody rewrote it.")
