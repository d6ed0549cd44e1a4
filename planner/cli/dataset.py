"""`planner dataset`: publish campaigns as FAIR data packages, pull other labs' packages.

    planner dataset publish --campaign hc-2026 --out hc-2026-package --licence CC-BY-4.0
    frictionless validate hc-2026-package/datapackage.json
    planner dataset pull other-lab-package/ --as other-lab   # a folder, datapackage.json or .zip
    planner dataset seed                       # CALiSol-23 (cleaned) as source "calisol23"
    planner dataset list / show NAME / export --source NAME --out prior.csv
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from planner.cli._common import DbOption, console, err_console, open_store, report_errors

app = typer.Typer(no_args_is_help=True,
                  help="Publish campaigns as FAIR data packages; pull and list shared data.")


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _shared(db: str | None):  # noqa: ANN202 - campaigns.shared_dataset.SharedDataset
    from campaigns.shared_dataset import SharedDataset

    return SharedDataset(open_store(db))


def _print_problems(problems, *, limit: int = 50) -> None:  # noqa: ANN001
    table = Table(header_style="bold", show_lines=False)
    for col in ("", "row", "field", "value", "problem", "hint"):
        table.add_column(col, overflow="fold")
    for p in list(problems)[:limit]:
        mark = "[red]error[/]" if p.severity == "error" else "[yellow]warning[/]"
        table.add_row(mark, "" if p.row is None else str(p.row), p.column or "",
                      "" if p.value is None else str(p.value), p.message, p.hint or "")
    err_console.print(table)
    if len(problems) > limit:
        err_console.print(f"… and {len(problems) - limit} more.")


def _print_pull(result) -> None:  # noqa: ANN001
    if result.warnings:
        _print_problems(result.warnings)
    if result.already_pulled:
        console.print(f"Source [bold]{result.source}[/]: this exact package was already pulled; "
                      "nothing changed.")
        return
    console.print(
        f"Source [bold]{result.source}[/]: {result.n_new} new row(s), {result.n_updated} "
        f"updated, {result.n_unchanged} unchanged, {result.n_duplicates} marked as duplicates of "
        f"another source, {result.n_quarantined} quarantined"
        + (f", {result.n_absent} kept from an earlier version" if result.n_absent else "") + ".")
    if result.n_updated:
        console.print("Updated rows are new versions; the earlier values are kept (see them with "
                      "planner dataset export --include-superseded).")
    if result.metadata_changed:
        console.print(f"Changed the source's {', '.join(result.metadata_changed)}; the previous "
                      "values are in the audit log.")
    if result.n_quarantined:
        console.print(f"See why: planner dataset show {result.source} --problems")


@app.command("publish")
@report_errors
def publish(
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: ./<campaign>-package).")] = None,
    licence: Annotated[str, typer.Option(
        "--licence", "--license",
        help="SPDX licence: CC-BY-4.0, CC0-1.0, CC-BY-SA-4.0, ODC-By-1.0, ODbL-1.0, PDDL-1.0.",
    )] = "CC-BY-4.0",
    contributor: Annotated[list[str] | None, typer.Option(
        "--contributor",
        help='"Name <email>"; repeat for several. The owner and operators are added.')] = None,
    title: Annotated[str | None, typer.Option(help="Package title.")] = None,
    citation: Annotated[str | None, typer.Option(help="How to cite the data (paper, DOI).")] = None,
    db: DbOption = None,
) -> None:
    """Write a campaign's results as a validated Frictionless data package."""
    from campaigns.shared_dataset import parse_contributor, publish_campaign

    out = out or Path(f"{campaign}-package")
    people = [parse_contributor(c) for c in contributor or []]
    result = publish_campaign(open_store(db), campaign, out, licence=licence,
                              contributors=people, title=title, citation=citation,
                              actor=_actor())
    console.print(f"Wrote {result.path} ({result.n_measurements} measured well(s), "
                  f"{result.n_failed} failed synthes{'is' if result.n_failed == 1 else 'es'}; "
                  f"licence {result.licence}; "
                  f"{len(result.contributors)} contributor(s)); frictionless validation passed.")
    if not result.contributors:
        err_console.print("[yellow]Warning:[/] no contributors; add --contributor \"Name <email>\""
                          " so others can credit you.")
    console.print(f"Check it yourself: frictionless validate {result.path}")
    console.print(f"Another lab pulls it with: planner dataset pull {out}")


@app.command("pull")
@report_errors
def pull(
    path: Annotated[Path, typer.Argument(
        help="Package folder, its datapackage.json, or a zipped package.")],
    as_name: Annotated[str | None, typer.Option(
        "--as", "--name", help="Source name (default: the package name).")] = None,
    quarantine: Annotated[bool, typer.Option(
        "--quarantine",
        help="Store valid rows; keep invalid rows aside with their problems.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and map units only; store nothing.")] = False,
    replace_source: Annotated[bool, typer.Option(
        "--replace-source",
        help="Let this package replace the title, licence and citation of a source of the same "
             "name pulled from elsewhere (the old ones stay in the audit log).")] = False,
    db: DbOption = None,
) -> None:
    """Validate another lab's data package and merge it into the shared dataset (all or nothing).

    The package is read from its folder (or .zip) only: a package that refers to anything on
    the network or outside its folder, or whose files are larger, or unpack to more, than the
    limits (PLANNER_MAX_RESOURCE_MB …), is refused before it is read. A changed row is stored
    as a new version; the earlier one is kept.
    """
    from campaigns.shared_dataset import PackageError, read_package

    try:
        if dry_run:
            contents = read_package(path, quarantine=quarantine)
            if contents.warnings:
                _print_problems(contents.warnings)
            _print_fields(contents.fields)
            console.print(f"Valid: {len(contents.records)} row(s) would be stored, "
                          f"{len(contents.quarantined)} quarantined (dry run: nothing stored).")
            return
        result = _shared(db).pull(path, name=as_name, quarantine=quarantine, actor=_actor(),
                                  replace_source=replace_source)
    except PackageError as exc:
        err_console.print(f"[bold red]Refused:[/] {exc}", highlight=False)
        _print_problems(exc.problems)
        if exc.hint:
            err_console.print(f"[yellow]Hint:[/] {exc.hint}", highlight=False)
        raise typer.Exit(code=2) from None
    _print_pull(result)


@app.command("seed")
@report_errors
def seed(
    replace_source: Annotated[bool, typer.Option(
        "--replace-source",
        help="Replace a different package stored as source \"calisol23\".")] = False,
    db: DbOption = None,
) -> None:
    """Load the cleaned CALiSol-23 electrolyte data set (CC BY 4.0) as source "calisol23"."""
    from campaigns.shared_dataset.seed import seed_calisol23

    _print_pull(seed_calisol23(_shared(db), actor=_actor(), replace_source=replace_source))
    console.print("Cite: de Blasio et al., Scientific Data (2024), doi:10.1038/s41597-024-03575-8"
                  " (CC BY 4.0; changes listed in "
                  "campaigns/shared_dataset/data/calisol23/NOTICE.md).")


@app.command("list")
@report_errors
def list_sources(db: DbOption = None) -> None:
    """List the shared dataset's sources with their licences and row counts."""
    sources = _shared(db).sources()
    if not sources:
        console.print("The shared dataset is empty. Seed it with CALiSol-23: planner dataset seed;"
                      " or pull a lab's package: planner dataset pull PATH")
        return
    table = Table(header_style="bold")
    for col in ("source", "domain", "rows", "failed syntheses", "duplicates", "quarantined",
                "licence", "pulled", "title"):
        table.add_column(col)
    for s in sources:
        c = s.counts
        table.add_row(s.name, s.domain, str(c.get("measurement", 0)),
                      str(c.get("failed_synthesis", 0)), str(c.get("duplicate", 0)),
                      str(c.get("quarantined", 0)), s.licence or "[red]none[/]",
                      f"{s.pulled_at:%Y-%m-%d}", s.title[:50])
    console.print(table)


def _print_fields(fields) -> None:  # noqa: ANN001
    """One line per distinct mapping (resources sharing a field are listed together)."""
    merged: dict[tuple, list[str]] = {}
    for f in fields:
        f = f if isinstance(f, dict) else f.to_dict()
        conv = "" if (f["scale"], f["offset"]) == (1.0, 0.0) else (
            f"× {f['scale']:g}" + (f" {f['offset']:+g}" if f["offset"] else "")
            + (" (assumed)" if f.get("assumed") else ""))
        key = (f["source_name"], f["name"], f["role"], f.get("declared_unit") or "",
               f.get("unit") or "", conv)
        merged.setdefault(key, []).append(f["resource"])
    table = Table(title="Field mapping", header_style="bold")
    for col in ("field", "stored as", "role", "declared unit", "stored unit", "conversion",
                "resources"):
        table.add_column(col)
    for key, resources in merged.items():
        table.add_row(*key, ", ".join(resources))
    console.print(table)


@app.command("show")
@report_errors
def show(
    name: Annotated[str, typer.Argument(help="Source name.")],
    rows: Annotated[int, typer.Option(help="Print this many rows.")] = 5,
    problems: Annotated[bool, typer.Option(
        "--problems", help="List the quarantined rows' problems.")] = False,
    db: DbOption = None,
) -> None:
    """Show a source: licence, citation, contributors, field/unit mapping, counts, first rows."""
    shared = _shared(db)
    s = shared.source(name)
    console.print(f"[bold]{s.name}[/] — {s.title}")
    console.print(f"Domain {s.domain}; licence {s.licence or 'NONE'} {s.licence_url}")
    if s.citation:
        console.print(f"Cite: {s.citation}", highlight=False)
    people = ", ".join(f"{c.get('title')} ({'/'.join(c.get('roles') or [c.get('role') or ''])})"
                       for c in s.contributors)
    console.print(f"Contributors: {people or 'none given'}", highlight=False)
    console.print(f"Pulled {s.pulled_at:%Y-%m-%d %H:%M} by {s.pulled_by or '?'} from {s.origin}; "
                  f"package SHA-256 {s.package_sha256[:16]}…", highlight=False)
    console.print("Rows: " + ", ".join(f"{v} {k}" for k, v in s.counts.items()))
    _print_fields(s.fields)
    if problems:
        report = shared.quarantine(name)
        if report.empty:
            console.print("No quarantined rows.")
        else:
            _print_frame(report, title="Quarantined rows")
    frame = shared.rows(source=name, kind=None, include_duplicates=True)
    if rows and not frame.empty:  # one column per row: shared rows are wide
        head = frame.head(rows).dropna(axis=1, how="all").set_index("row_id").T
        _print_frame(head.reset_index(names="row_id"), title=f"First {len(head.columns)} rows")


def _print_frame(frame: pd.DataFrame, *, title: str) -> None:
    table = Table(title=title, header_style="bold")
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    for rec in frame.itertuples(index=False):
        table.add_row(*["" if v is None or (isinstance(v, float) and v != v) else
                        (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in rec])
    console.print(table)


@app.command("export")
@report_errors
def export(
    out: Annotated[Path, typer.Option(
        "--out", "-o",
        help="A .csv or .xlsx file, or a folder for a data package (needs --source).")],
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    domain: Annotated[str | None, typer.Option(
        help="Only this domain: hard-carbon or electrolyte.")] = None,
    kind: Annotated[str, typer.Option(
        help="measurement, failed_synthesis or all.")] = "measurement",
    include_duplicates: Annotated[bool, typer.Option(
        "--include-duplicates", help="Keep rows that duplicate another source's.")] = False,
    include_superseded: Annotated[bool, typer.Option(
        "--include-superseded",
        help="Every version of every row, with a column 'current' (CSV/XLSX only).")] = False,
    db: DbOption = None,
) -> None:
    """Export shared rows (canonical units, with source and provenance) for models or re-sharing."""
    from campaigns.errors import CampaignError

    if kind not in ("measurement", "failed_synthesis", "all"):
        raise typer.BadParameter("--kind must be measurement, failed_synthesis or all")
    shared = _shared(db)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        if source is None:
            raise CampaignError("a data package holds one source (one licence).",
                                hint="Add --source NAME, or export to a .csv file.")
        path = shared.export_package(source, out)
        console.print(f"Wrote {path} (valid Frictionless data package, licence kept).")
        return
    frame = shared.rows(source=source, domain=domain, kind=None if kind == "all" else kind,
                        include_duplicates=include_duplicates,
                        include_superseded=include_superseded)
    frame = frame.dropna(axis=1, how="all")
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.tz_localize(None)  # Excel cannot store time zones
        elif frame[col].map(lambda v: isinstance(v, dict | list)).any():
            frame[col] = frame[col].map(
                lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
    from campaigns.exports import write_frame

    write_frame(frame, out, fmt="csv" if suffix == ".csv" else "xlsx")
    console.print(f"Wrote {len(frame)} rows from {frame['source'].nunique() if len(frame) else 0}"
                  f" source(s) to {out}")
