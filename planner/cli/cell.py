"""`planner cell project`: PyBaMM projections of cell-level performance for measured wells."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from planner.cli._common import DbOption, console, open_store, report_errors

app = typer.Typer(no_args_is_help=True)


@app.command("project")
@report_errors
def project(
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="Campaign name.")],
    well: Annotated[list[str] | None, typer.Option(
        "--well", "-w", help="Well ID (repeatable); default: the best measured wells.")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch id the wells belong to.")] = None,
    top: Annotated[int, typer.Option(help="Without --well: how many of the best wells.")] = 5,
    fast: Annotated[bool, typer.Option(
        help="Coarser PyBaMM mesh and tolerances (screening).")] = False,
    db: DbOption = None,
) -> None:
    """Project measured wells to full-cell capacity and energy at 0.1C, 1C and 2C.

    A PyBaMM model, not a measurement.
    """
    from campaigns.plate import normalize_well
    from planner.cell.report import project_measured, projection_kind

    store = open_store(db)
    snapshot = store.snapshot(campaign)
    kind = projection_kind(snapshot)
    with console.status("Running PyBaMM (cached results return at once)…"):
        wells = [normalize_well(w) for w in well] if well else None
        frame = project_measured(snapshot, wells=wells, batch_id=batch, top=top, fast=fast)
    if kind == "hard_carbon":
        title = "Sodium-ion full cell (PyBaMM BasicDFN, Chayambuka2022, hard-carbon anode scaled)"
        cols = [("ice_pct", "ICE [%]"), ("reversible_capacity_mah_per_g", "Rev. cap. [mAh/g]"),
                ("capacity_ah_0_1c", "Cap. 0.1C [mAh]"), ("energy_wh_0_1c", "Energy 0.1C [mWh]"),
                ("energy_wh_1c", "Energy 1C [mWh]"), ("energy_wh_2c", "Energy 2C [mWh]"),
                ("specific_energy_wh_per_kg_0_1c", "Stack 0.1C [Wh/kg]"),
                ("retention_2c_pct", "2C/0.1C [%]")]
        scale = {"capacity_ah_0_1c": 1e3, "energy_wh_0_1c": 1e3, "energy_wh_1c": 1e3,
                 "energy_wh_2c": 1e3}
    else:
        title = "Lithium-ion cell with this electrolyte's conductivity (PyBaMM DFN, Chen2020)"
        cols = [("ionic_conductivity_ms_per_cm", "σ [mS/cm]"),
                ("capacity_ah_0_1c", "Cap. 0.1C [Ah]"), ("capacity_ah_2c", "Cap. 2C [Ah]"),
                ("energy_wh_1c", "Energy 1C [Wh]"),
                ("retention_2c_pct", "2C/0.1C [%]")]
        scale = {}
    table = Table(title=title, header_style="bold")
    table.add_column("batch")
    table.add_column("well")
    for _, label in cols:
        table.add_column(label, justify="right")
    for rec in frame.to_dict(orient="records"):
        table.add_row(str(rec["batch_id"]), rec["well"],
                      *[f"{rec[k] * scale.get(k, 1):.4g}" if k in rec else "" for k, _ in cols])
    console.print(table)
    console.print("Model projections from measured material numbers; "
                  "assumptions in planner/cell/projection.py.")
