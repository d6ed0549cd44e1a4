"""Core weekly commands: campaigns, suggest, plate templates, ingest, export.

The commands are thin callers of the Python API (:mod:`planner.api`), the functions a notebook
calls: they parse flags, call it, and print what came back.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from planner.cli._common import DbOption, console, err_console, open_store, report_errors

campaign_app = typer.Typer(no_args_is_help=True, help="Create, list and inspect campaigns.")
plate_app = typer.Typer(no_args_is_help=True, help="Plate sheets the lab fills in.")

CampaignOpt = Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")]
#: ``planner suggest --model`` values (``auto``: the best model per target, see
#: :mod:`surrogates.selection`).
MODEL_CHOICES = ("auto", "gp", "ensemble", "rf", "boosted")


def _planner(db: str | None):  # noqa: ANN202 - returns planner.api.Planner
    """The Python API over the store named by ``--db`` (signed in as ``open_store`` does)."""
    from planner.api import Planner

    return Planner(open_store(db), actor=_actor())


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return "" if value is None else str(value)


def print_batch(batch, *, title: str | None = None, max_rows: int | None = None) -> None:  # noqa: ANN001
    """Print a plate as a table: well, role, recipe and predictions."""
    frame = batch.frame().drop(columns=["replicate_of", "candidate_id"], errors="ignore")
    # The "pred" columns show each prediction with its interval; no need for the raw numbers.
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("predicted_")])
    if frame.empty:
        console.print("(empty plate)")
        return
    table = Table(title=title or f"Batch {batch.id} · {batch.iso_week} · {batch.generator}",
                  show_lines=False, header_style="bold")
    pred_cols: list[str] = []
    first_pred = next((w.predictions for w in batch.wells if w.predictions.get("targets")), None)
    if first_pred:
        pred_cols = list(first_pred["targets"])
    for col in frame.columns:
        table.add_column(col, justify="right" if col not in ("well", "role") else "left")
    for col in pred_cols:
        table.add_column(f"pred {col}", justify="right")
    for i, (row, w) in enumerate(zip(frame.to_dict(orient="records"), batch.wells, strict=True)):
        if max_rows is not None and i >= max_rows:
            table.add_row(*["…"] * (len(frame.columns) + len(pred_cols)))
            break
        cells = [_fmt(row[c]) for c in frame.columns]
        for col in pred_cols:
            t = w.predictions.get("targets", {}).get(col)
            cells.append(_prediction_cell(t) if t else "")
        table.add_row(*cells)
    console.print(table)
    selection = (getattr(batch, "model_info", None) or {}).get("model_selection")
    if selection:
        for target, choice in selection.get("choices", {}).items():
            console.print(f"Model for {target}: [bold]{choice['model']}[/] ({choice['reason']})",
                          highlight=False)
    for warning in batch.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)


def _prediction_cell(t: dict[str, Any]) -> str:
    """``"99.4 [98.9, 99.8]"``: the mean and the stored 90 % interval, which stays within the
    target's physical bounds (``mean ± std`` for plates proposed before intervals were stored)."""
    if t.get("low") is not None and t.get("high") is not None:
        return f"{t['mean']:.4g} [{t['low']:.4g}, {t['high']:.4g}]"
    return f"{t['mean']:.4g} ± {t['std']:.2g}"


# --- campaign ------------------------------------------------------------------------------
@campaign_app.command("create")
@report_errors
def campaign_create(
    name: Annotated[str, typer.Argument(help="Name of the new campaign.")],
    template: Annotated[str | None, typer.Option(
        help="Start from a template: hard-carbon or electrolyte.")] = None,
    spec: Annotated[Path | None, typer.Option(help="Campaign spec YAML file.")] = None,
    db: DbOption = None,
) -> None:
    """Create a campaign from a template or a YAML spec."""
    from campaigns.templates import TEMPLATES, load_template

    if (template is None) == (spec is None):
        raise typer.BadParameter(
            f"give exactly one of --template ({' or '.join(TEMPLATES)}) or --spec FILE.yaml")
    source = load_template(template, name=name) if template is not None else spec
    assert source is not None
    from planner.cli.library import import_progress

    planner = _planner(db)
    with import_progress("Importing the candidate library") as progress:
        created = planner.create_campaign(source, name=name, progress=progress)
    campaign, library, big = created.spec, created.library(), created.library_table()
    kind = (f"library of {len(library)} candidates" if library is not None else
            f"library of {big.n_rows:,} candidates in {big.path}" if big is not None else
            f"{len(campaign.input_names)} inputs")
    console.print(f"Created campaign [bold]{name}[/] ({kind}, {campaign.plate.wells}-well plates, "
                  f"{campaign.sample_well_count} sample wells) in {planner.url}")
    console.print(f"Next: planner suggest --campaign {name}")


@campaign_app.command("list")
@report_errors
def campaign_list(db: DbOption = None) -> None:
    """List campaigns with their number of plates and measurements."""
    store = open_store(db)
    rows = store.list_campaigns()
    if not rows:
        console.print("No campaigns yet. Create one: "
                      "planner campaign create --template hard-carbon demo")
        return
    table = Table(header_style="bold")
    for col in ("name", "plates", "measurements", "last week", "owner", "description"):
        table.add_column(col)
    for r in rows:
        description = (r.description[:60] + "…") if len(r.description) > 60 else r.description
        table.add_row(r.name, str(r.n_batches), str(r.n_measurements), r.last_week or "-",
                      r.owner, description)
    console.print(table)


@campaign_app.command("show")
@report_errors
def campaign_show(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    yaml: Annotated[bool, typer.Option("--yaml", help="Print the spec as YAML.")] = False,
    db: DbOption = None,
) -> None:
    """Show a campaign's design space, targets, plates and data counts."""
    store = open_store(db)
    spec = store.spec(name)
    if yaml:
        console.print(spec.to_yaml(), highlight=False, markup=False)
        return
    console.print(f"[bold]{spec.name}[/] — {spec.description}")
    table = Table(title="Design space", header_style="bold")
    for col in ("input", "kind", "range / levels", "unit"):
        table.add_column(col)
    if spec.library is not None:
        lib = store.library(name)
        for col in spec.library.inputs:
            table.add_row(col, "categorical" if col in spec.library.categorical else "descriptor",
                          f"{lib[col].notna().sum() if lib is not None else 0} of "
                          f"{0 if lib is None else len(lib)} known", "")
    for p in spec.parameters:
        rng = ", ".join(p.levels) if p.kind == "categorical" else f"{p.lower:g} – {p.upper:g}"
        table.add_row(p.name, p.kind + (" (log)" if getattr(p, "log_scale", False) else ""), rng,
                      p.column.unit)
    for m in spec.mixtures:
        table.add_row(m.name, f"mixture ({m.basis} fractions sum to 1)",
                      ", ".join(m.components), "-")
    console.print(table)
    for lc in spec.linear_constraints:
        lhs = " + ".join(f"{c:g}·{n}" for n, c in lc.coefficients.items())
        console.print(f"Constraint: {lhs} {lc.operator} {lc.rhs:g}  {lc.description}")
    targets = Table(title="Targets", header_style="bold")
    for col in ("target", "direction", "constraint", "optimized"):
        targets.add_column(col)
    for t in spec.targets:
        sign = "≥" if t.direction == "max" else "≤"
        cons = "" if t.threshold is None else f"{sign} {t.threshold:g} {t.column.unit}"
        targets.add_row(t.column.label, t.direction, cons,
                        "yes" if t.optimize else "recorded only")
    console.print(targets)
    if spec.descriptors:
        console.print("Descriptors: " + ", ".join(d.column.label for d in spec.descriptors))
    console.print(f"Plate: {spec.plate.wells} wells, {len(spec.plate.controls)} controls, "
                  f"{spec.plate.replicates} replicates, {spec.sample_well_count} sample wells")
    batches = store.batches(name)
    snap = store.snapshot(name)
    bt = Table(title="Plates", header_style="bold")
    for col in ("batch", "week", "status", "generator", "seed", "data revision", "measured wells"):
        bt.add_column(col)
    obs = snap.observations
    for b in batches:
        n = int((obs["batch_id"] == b.id).sum()) if not obs.empty else 0
        bt.add_row(str(b.id), b.iso_week, b.status, b.generator, str(b.seed), str(b.data_revision),
                   f"{n}/{len(b.wells)}")
    console.print(bt if batches else "No plates yet.")
    if spec.warm_start is not None:
        ws = spec.warm_start
        console.print(f"Warm start: {ws.mode} from "
                      f"{', '.join(ws.sources) if ws.sources else 'every shared source'} "
                      + ("(every shared row)." if ws.max_prior_rows is None else
                         f"(at most {ws.max_prior_rows} shared rows per target)."))


@campaign_app.command("warm-start")
@report_errors
def campaign_warm_start(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Shared-dataset source to learn from (repeat; default: every source). "
        "See `planner dataset list`.")] = None,
    mode: Annotated[str, typer.Option(
        help="multitask (each source a task; learns how far to trust it) or prior_mean.")
    ] = "multitask",
    max_prior_rows: Annotated[int | None, typer.Option(
        help="Most shared rows per target in one fit (default: every row; above 2,000 rows "
             "the GP is variational).")] = None,
    off: Annotated[bool, typer.Option(
        "--off", help="Learn from this campaign's data only.")] = False,
    db: DbOption = None,
) -> None:
    """Switch learning from the shared dataset (warm start) on or off for a campaign's GP."""
    from campaigns.errors import NotFoundError
    from campaigns.shared_dataset import SharedDataset
    from campaigns.spec import CampaignSpec

    store = open_store(db)
    spec = store.spec(name)
    data = spec.to_dict()
    if off:
        data["warm_start"] = None
    else:
        known = [i.name for i in SharedDataset(store.engine).sources()]
        unknown = [s for s in source or [] if s not in known]
        if unknown:
            raise NotFoundError(
                f"shared source(s) {unknown} are not in this database.",
                hint=("Known sources: " + ", ".join(known)) if known else
                "Pull a package first: planner dataset pull PATH, or planner dataset seed.")
        data["warm_start"] = {"sources": list(source or []), "mode": mode,
                              "max_prior_rows": max_prior_rows}
    new = CampaignSpec.from_dict(data, source=f"campaign {name}")
    store.update_spec(new, actor=_actor())
    if new.warm_start is None:
        console.print(f"Campaign [bold]{name}[/]: warm start off; the GP learns from this "
                      "campaign's data only.")
    else:
        ws = new.warm_start
        console.print(f"Campaign [bold]{name}[/]: warm start on ({ws.mode}, from "
                      f"{', '.join(ws.sources) if ws.sources else 'every shared source'}). "
                      "It is used by the GP model from the next plate on.")


# --- suggest -------------------------------------------------------------------------------
def suggest(
    campaign: Annotated[str | None, typer.Option(
        "--campaign", "-c", help="Campaign name.")] = None,
    week: Annotated[str | None, typer.Option(
        help="ISO week, e.g. 2026-W48 (default: this week).")] = None,
    model: Annotated[str | None, typer.Option(
        help="Surrogate once data exist: auto, gp, ensemble, rf or boosted (default: the "
             "campaign's planning.model, auto unless set).")] = None,
    force: Annotated[bool, typer.Option(
        help="Regenerate this week's plate (only before results).")] = False,
    seed: Annotated[int | None, typer.Option(
        help="Random seed (default: stable per campaign and week).")] = None,
    due: Annotated[bool, typer.Option(
        "--due", help="Propose for every campaign with no plate this week.")] = False,
    fast: Annotated[bool, typer.Option(help="Cheaper optimizer settings.")] = False,
    engine: Annotated[str, typer.Option(
        "--engine", help="Where a big library's screening runs: local (this process) or dask "
        "(Dask distributed).")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address tcp://HOST:PORT for --engine dask (default: "
        "a local cluster on 127.0.0.1).")] = None,
    db: DbOption = None,
) -> None:
    """Propose the week's plate (space-filling before data, BoTorch afterwards). Idempotent per
    week."""
    if model is not None and model not in MODEL_CHOICES:
        raise typer.BadParameter(
            f"--model must be one of {', '.join(MODEL_CHOICES)}, got {model!r}")
    from planner.engine import running_on

    with running_on(engine, scheduler):
        _suggest(campaign, week, model, force, seed, due, fast, db)


@contextlib.contextmanager
def _proposal_progress() -> Iterator[None]:
    """A rich progress bar (stage, well k of q) on stderr while a plate is planned; nothing when
    stderr is not a terminal (cron, pipes, tests), where the log says what happened."""
    from planner import progress

    if not err_console.is_terminal:
        yield
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("planning", total=None)

        def show(step: progress.Step) -> None:
            bar.update(task, description=step.label, completed=step.done, total=step.total)

        with progress.listening(show):
            yield


def _suggest(campaign: str | None, week: str | None, model: str | None, force: bool,
             seed: int | None, due: bool, fast: bool, db: str | None) -> None:
    planner = _planner(db)
    if due:
        names = planner.due_campaigns(week)
        if not names:
            console.print("Every campaign already has its plate for this week.")
        for name in names:
            b = planner.campaign(name).suggest(week, surrogate=model, seed=seed, fast=fast)
            console.print(f"{name}: proposed batch {b.id} for {b.week} ({b.generator}, "
                          f"{len(b)} wells)")
        return
    if campaign is None:
        raise typer.BadParameter("give --campaign NAME, or --due for every campaign")
    with _proposal_progress():
        plate = planner.campaign(campaign).suggest(week, surrogate=model, seed=seed,
                                                   force=force, fast=fast)
    if not plate.created:
        console.print(f"[yellow]Batch {plate.id} already exists for {plate.week}; "
                      "showing it unchanged (use --force to regenerate).[/]")
    print_batch(plate.batch)
    console.print(f"Next: planner plate template --campaign {campaign} --out plate.xlsx")


# --- plate ---------------------------------------------------------------------------------
@plate_app.command("template")
@report_errors
def plate_template(
    campaign: CampaignOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .xlsx.")],
    batch: Annotated[int | None, typer.Option(help="Batch id (default: the newest).")] = None,
    db: DbOption = None,
) -> None:
    """Write the sheet the lab fills in: one row per well, empty result columns with units."""
    camp = _planner(db).campaign(campaign)
    b = camp.plate(batch)
    frame = camp.plate_sheet(out, batch=b.id)
    console.print(f"Wrote {out} ({len(frame)} wells of batch {b.id}, {b.week}). Fill in the "
                  f"result columns, then: planner ingest {out} --campaign {campaign}")


# --- ingest --------------------------------------------------------------------------------
def ingest(
    file: Annotated[Path, typer.Argument(help="Filled plate sheet (.csv or .xlsx).")],
    campaign: CampaignOpt,
    batch: Annotated[int | None, typer.Option(
        help="Batch id (default: from the file's Batch column, else the newest). A file whose "
        "Batch column names another batch is refused.")] = None,
    confirm_unusual: Annotated[bool, typer.Option(
        "--confirm-unusual", help="Store values that look like a wrong unit (ICE 0.85 where ICE "
        "is in %) as written; without it they are errors.")] = False,
    instruments: Annotated[Path | None, typer.Option(
        "--instruments", help="A zip of XRD patterns and Raman spectra, one per well (A1.xy, "
        "B03_raman.txt, or as the sheet's 'XRD file' / 'Raman file' column names them): d002, "
        "Lc, La and ID/IG are fitted and stored with the sheet (default fit settings; see "
        "`planner data instruments` for others).", show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Validate a filled plate and store all of it in one transaction, or nothing.

    The file's Batch column decides which plate it belongs to; its recipe columns must match
    that plate's recipes. A missing value is an empty cell: NA, n/a, none, null or - in a
    result cell is refused.
    """
    from campaigns.errors import IngestError
    from campaigns.ingest import UnusualValuesError

    camp = _planner(db).campaign(campaign)
    try:
        if instruments is not None:
            outcome = camp.upload_instruments(instruments, sheet=file, batch=batch,
                                              confirm_unusual=confirm_unusual)
        else:
            outcome = camp.upload(file, batch=batch, confirm_unusual=confirm_unusual)
    except IngestError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        err_console.print(f"[bold red]Rejected {file.name}:[/] {len(errors)} problem(s); nothing "
                          "was stored.", highlight=False)
        _print_problems(exc.problems)
        if isinstance(exc, UnusualValuesError):
            err_console.print("Only values that look like a wrong unit are flagged. If they are "
                              "correct as written, store them with: planner ingest "
                              f"{file} --campaign {campaign}"
                              + (f" --batch {batch}" if batch is not None else "")
                              + " --confirm-unusual", highlight=False, markup=False)
        raise typer.Exit(code=2) from None
    if outcome.warnings:
        _print_problems(list(outcome.warnings))
    r = outcome.result
    if r.already_uploaded:
        console.print(f"{file.name} was already uploaded (same SHA-256): nothing changed.")
        return
    if not r.changed and r.n_unchanged == 0:
        console.print(f"{file.name} holds no results yet (every result cell is empty): nothing "
                      "changed. Fill in the result columns and upload it again.")
        raise typer.Exit(code=1)
    if not r.changed:
        console.print(f"Every value in {file.name} is already stored: nothing changed.")
        return
    console.print(f"Stored {r.n_new} new value(s) and {r.n_superseding} correction(s) "
                  f"({r.n_unchanged} unchanged) for {len(r.changed_wells)} well(s) of batch "
                  f"{r.batch_id}; batch is now {r.batch_status}.")


def _print_problems(problems) -> None:  # noqa: ANN001
    table = Table(header_style="bold", show_lines=False)
    for col in ("", "row", "column", "value", "problem", "hint"):
        table.add_column(col, overflow="fold")
    for p in problems:
        mark = "[red]error[/]" if p.severity == "error" else "[yellow]warning[/]"
        table.add_row(mark, "" if p.row is None else str(p.row), p.column or "",
                      "" if p.value is None else str(p.value), p.message, p.hint or "")
    err_console.print(table)


# --- export --------------------------------------------------------------------------------
def export(
    campaign: CampaignOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .xlsx.")],
    long: Annotated[bool, typer.Option(
        "--long", help="One row per measurement (with superseded values) instead of one per "
        "well.")] = False,
    db: DbOption = None,
) -> None:
    """Export a campaign's measurements with provenance.

    Text that a spreadsheet would run as a formula (a note starting with "=", "+", "-" or "@")
    is written with a leading ' so the file is safe to open in Excel; numbers stay numbers.
    """
    from campaigns.exports import format_of

    format_of(out)  # a wrong suffix is refused before the database is opened
    frame = _planner(db).campaign(campaign).export(out, long=long)
    console.print(f"Wrote {len(frame)} rows to {out}")


def register(app: typer.Typer) -> None:
    """Add the core commands to the top-level app."""
    from planner.cli import library

    app.add_typer(campaign_app, name="campaign")
    app.add_typer(library.app, name="library")
    app.command("suggest")(report_errors(suggest))
    app.add_typer(plate_app, name="plate")
    app.command("ingest")(report_errors(ingest))
    app.command("export")(report_errors(export))
