"""``planner data``: list uploads, retract a wrong upload or value, correct one value.

Nothing is ever deleted: a retraction or a correction is a new, audited measurement row that
supersedes the old one, which stays in ``planner export --long`` and the audit log.
"""

from __future__ import annotations

import getpass
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from planner.cli._common import DbOption, console, open_store, report_errors
from planner.cli.characterize import (
    BackgroundOpt,
    BandsOpt,
    InstrumentFwhmOpt,
    KlaOpt,
    KlcOpt,
    RatioOpt,
    ShapeOpt,
    WavelengthOpt,
    make_settings,
)

app = typer.Typer(no_args_is_help=True,
                  help="Uploads, retractions and single-value corrections (append-only, audited).")

CampaignOpt = Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: stored with the record and in the "
                                        "audit log.")]
BatchOpt = Annotated[int, typer.Option("--batch", help="Batch (plate) id.")]
WellOpt = Annotated[str, typer.Option("--well", help="Well ID, e.g. B3.")]
QuantityOpt = Annotated[str, typer.Option("--quantity", "-q",
                                          help="Measured quantity (column name), e.g. ice_pct.")]


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


@app.command("uploads")
@report_errors
def uploads(campaign: CampaignOpt, db: DbOption = None) -> None:
    """List a campaign's accepted uploads, with their ids (to retract one)."""
    frame = open_store(db).uploads(campaign)
    if frame.empty:
        console.print(f"Campaign {campaign!r} has no uploads yet.")
        return
    table = Table(title=f"Uploads of {campaign}", header_style="bold")
    for col in ("upload", "batch", "file", "by", "at", "new", "corrections", "unchanged",
                "retracted"):
        table.add_column(col)
    for r in frame.itertuples(index=False):
        table.add_row(str(r.upload_id), str(r.batch_id), r.filename, r.uploaded_by or "",
                      f"{r.uploaded_at:%Y-%m-%d %H:%M}", str(r.new), str(r.superseding),
                      str(r.unchanged), f"yes, by {r.retracted_by or '?'}" if r.retracted else "")
    console.print(table)


@app.command("retract")
@report_errors
def retract(
    campaign: CampaignOpt,
    upload: Annotated[int, typer.Option(
        "--upload", help="Upload id (see `planner data uploads`).")],
    reason: ReasonOpt,
    db: DbOption = None,
) -> None:
    """Withdraw every still-current value of a wrong upload; the file and its values are kept.

    The wells go back to pending (or keep the values other uploads gave them). Upload the right
    file afterwards.
    """
    n = open_store(db).retract_upload(campaign, upload, reason=reason, actor=_actor())
    console.print(f"Retracted upload {upload}: {n} value(s) withdrawn (kept in the history).")


@app.command("retract-value")
@report_errors
def retract_value(campaign: CampaignOpt, batch: BatchOpt, well: WellOpt, quantity: QuantityOpt,
                  reason: ReasonOpt, db: DbOption = None) -> None:
    """Withdraw the current value of one well and quantity (the value is kept in the history)."""
    open_store(db).retract_value(campaign, batch_id=batch, well=well, quantity=quantity,
                                 reason=reason, actor=_actor())
    console.print(f"Retracted {quantity} of well {well.upper()} on batch {batch}.")


@app.command("correct")
@report_errors
def correct(
    campaign: CampaignOpt,
    batch: BatchOpt,
    well: WellOpt,
    quantity: QuantityOpt,
    reason: ReasonOpt,
    value: Annotated[float | None, typer.Option("--value", help="Corrected value, in the "
                                                 "column's unit.")] = None,
    status: Annotated[str, typer.Option("--status", help="ok, failed_synthesis, failed_cell or "
                                        "outlier.")] = "ok",
    db: DbOption = None,
) -> None:
    """Correct one value: the new value supersedes the current one, which is kept."""
    mid = open_store(db).correct_measurement(campaign, batch_id=batch, well=well,
                                             quantity=quantity, value=value, status=status,
                                             note=reason, actor=_actor())
    shown = "no value" if value is None else f"{value:g}"
    console.print(f"Stored {quantity} = {shown} ({status}) for well {well.upper()} of batch "
                  f"{batch} as measurement {mid}.")


@app.command("instruments")
@report_errors
def instruments(
    files: Annotated[list[Path], typer.Argument(
        help="A zip of instrument files, a folder, or the files themselves: XRD patterns and "
        "Raman spectra named by well (A1.xy, B03_raman.txt, C12-xrd.xrdml).",
        show_default=False)],
    campaign: CampaignOpt,
    sheet: Annotated[Path | None, typer.Option(
        "--sheet", help="The filled plate sheet, stored with the files (its 'XRD file' / 'Raman "
        "file' column may name each well's file).", show_default=False)] = None,
    batch: Annotated[int | None, typer.Option(
        "--batch", help="Batch id (default: the sheet's Batch column, else the newest).",
        show_default=False)] = None,
    wavelength_nm: WavelengthOpt = None,
    k_lc: KlcOpt = 0.89,
    k_la: KlaOpt = 1.84,
    instrument_fwhm_deg: InstrumentFwhmOpt = 0.0,
    xrd_background: BackgroundOpt = "auto",
    raman_bands: BandsOpt = "DG",
    raman_shape: ShapeOpt = "pseudo-voigt",
    raman_ratio: RatioOpt = "intensity",
    confirm_unusual: Annotated[bool, typer.Option(
        "--confirm-unusual", help="Store values that look like a wrong unit as written.")] = False,
    db: DbOption = None,
) -> None:
    """Fit XRD patterns and Raman spectra per well; store d002, Lc, La and ID/IG, or nothing.

    Each value is stored as a measurement of its well, with the raw file's SHA-256, its
    standard deviation and the fit settings in its note (planner export --long shows them).
    One bad file rejects the whole upload, naming the file.
    """
    from campaigns.errors import CampaignError, IngestError
    from planner.api import Planner
    from planner.cli._common import err_console

    settings = make_settings(wavelength_nm=wavelength_nm, k_lc=k_lc, k_la=k_la,
                             instrument_fwhm_deg=instrument_fwhm_deg,
                             xrd_background=xrd_background, raman_bands=raman_bands,
                             raman_shape=raman_shape, raman_ratio=raman_ratio)
    if len(files) == 1 and files[0].is_file() and files[0].suffix.lower() == ".zip":
        data: Path | dict[str, bytes] = files[0]
        name = files[0].name
    else:
        paths = [p for f in files for p in (sorted(f.iterdir()) if f.is_dir() else [f])
                 if not p.is_dir()]
        try:
            data = {p.name: p.read_bytes() for p in paths}
        except OSError as exc:
            raise CampaignError(f"cannot read {exc.filename}: {exc.strerror}.",
                                hint="Check the paths.") from None
        name = files[0].name if len(files) == 1 else f"{len(paths)} files"
    camp = Planner(open_store(db), actor=_actor()).campaign(campaign)
    try:
        outcome = camp.upload_instruments(data, sheet=sheet, files_name=name, batch=batch,
                                          settings=settings, confirm_unusual=confirm_unusual)
    except IngestError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        err_console.print(f"[bold red]Rejected {escape(name)}:[/] {len(errors)} problem(s); "
                          "nothing was stored.", highlight=False)
        for p in exc.problems:
            mark = "[red]error[/]" if p.severity == "error" else "[yellow]warning[/]"
            err_console.print(f"{mark} {escape(str(p))}", highlight=False)
        raise typer.Exit(code=2) from None
    for p in outcome.warnings:
        err_console.print(f"[yellow]warning[/] {escape(str(p))}", highlight=False)
    table = Table(title=f"Fits of {name}", header_style="bold")
    for col in ("well", "file", "kind", "d002 [nm]", "Lc [nm]", "La [nm]", "ID/IG"):
        table.add_column(escape(col))
    for f in outcome.files:
        v, s = f.characterization.values, f.characterization.stds

        def cell(key: str, v: Any = v, s: Any = s) -> str:
            value, std = v.get(key, math.nan), s.get(key, math.nan)
            if not math.isfinite(value):
                return ""
            return f"{value:.4g} ± {std:.2g}" if math.isfinite(std) else f"{value:.4g}"

        table.add_row(f.well, escape(f.name), f.kind, cell("d002_nm"), cell("lc_nm"),
                      cell("la_nm"), cell("id_ig"))
    console.print(table)
    r = outcome.result
    if r.already_uploaded:
        console.print("These files were already uploaded with these settings: nothing changed.")
        return
    console.print(f"Stored {r.n_new} new value(s) and {r.n_superseding} correction(s) "
                  f"({r.n_unchanged} unchanged) for {len(r.changed_wells)} well(s) of batch "
                  f"{r.batch_id}; batch is now {r.batch_status}.")
