"""``planner data``: list uploads, retract a wrong upload or value, correct one value.

Nothing is ever deleted: a retraction or a correction is a new, audited measurement row that
supersedes the old one, which stays in ``planner export --long`` and the audit log.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from planner.cli._common import DbOption, console, open_store, report_errors

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
