"""The weekly loop through the Python API, on a fresh database, with SIMULATED results.

Run it::

    python examples/weekly_loop.py                          # a new SQLite file in a temp folder
    python examples/weekly_loop.py --db sqlite:///loop.db   # or any SQLAlchemy URL
    PLANNER_FAST=1 python examples/weekly_loop.py           # small optimizer settings: seconds

Week 1: create a campaign from the hard-carbon template and propose its first plate (a
space-filling design, nothing is known yet); write the sheet the lab would print. The lab would
then make and measure the wells and fill in the sheet. Here the planner's virtual hard-carbon
lab fills it instead: a SIMULATION, not an instrument, and every value it writes says so in the
Instrument column. The filled sheet, a DataFrame, is added with ``add_results`` (checked exactly
like an uploaded file). Week 2: the model proposes the next plate from those results; it is
printed with its predictions, then a summary of the results, and the results are exported.

Only :mod:`planner.api` is used for the loop; the virtual lab stands in for the lab.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from campaigns.errors import CampaignError
from planner.api import Planner
from planner.errors import PlanningError
from planner.simulation.virtual_lab import run_plate  # SIMULATED lab, for this example only

CAMPAIGN = "weekly-loop-example"


def iso_week(day: date) -> str:
    """``YYYY-Www`` of a date."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def run(db: str, out: Path, *, template: str = "hard-carbon", seed: int = 0) -> None:
    """The loop: create, suggest week 1, add (simulated) results, suggest week 2, export."""
    week1 = iso_week(date.today())
    week2 = iso_week(date.today() + timedelta(weeks=1))
    with Planner.open(db, actor="weekly-loop example") as planner:
        print(f"Database: {planner.url}")
        campaign = planner.create_campaign(template, name=CAMPAIGN)
        spec = campaign.spec
        print(f"Created campaign {campaign.name!r} from the {template} template: "
              f"{len(spec.input_names)} inputs, {spec.plate.wells}-well plates.")

        # Week 1: no data yet, so a space-filling design.
        plate = campaign.suggest(week=week1)
        print(f"\nWeek 1 ({plate.week}): plate {plate.id}, {len(plate)} wells, {plate.generator}.")
        sheet_path = out.parent / f"plate{plate.id}-{plate.week}.xlsx"
        campaign.plate_sheet(sheet_path, batch=plate.id)
        print(f"Sheet for the lab: {sheet_path}")

        # The lab's work, SIMULATED: the virtual lab fills the plate sheet as a DataFrame.
        filled = run_plate(spec, plate.batch, seed=seed)
        print("SIMULATED results from the virtual lab (not real measurements): "
              f"{int(filled['Status'].isna().sum())} wells measured, "
              f"{int(filled['Status'].notna().sum())} failed.")
        outcome = campaign.add_results(filled, filename=f"{plate.week}-simulated.xlsx")
        r = outcome.result
        print(f"Added {r.n_new} values to plate {r.batch_id}; it is now {r.batch_status}"
              f" ({len(outcome.warnings)} warning(s)).")

        # Week 2: the model proposes from the results.
        plate2 = campaign.suggest(week=week2)
        print(f"\nWeek 2 ({plate2.week}): plate {plate2.id}, {plate2.generator}.")
        frame = plate2.frame()
        predicted = [c for c in frame.columns if c.startswith("predicted_")]
        with pd.option_context("display.width", 250, "display.max_columns", 30,
                               "display.precision", 3):
            print(frame[["well", "role", *spec.input_names, *predicted]].head(12)
                  .to_string(index=False))
            print(f"… and {len(frame) - 12} more wells.")

            # What was measured so far (SIMULATED), per week: wells, failures, best values.
            results = campaign.results()
            columns = {"wells": ("well", "size"),
                       "failed": ("status", lambda s: int((s != "ok").sum()))}
            for t in spec.objectives:
                columns[f"best {t.name}"] = (t.name, t.direction)
            print("\nResults so far (SIMULATED):")
            print(results.groupby("iso_week").agg(**columns).to_string())

        exported = campaign.export(out)
        print(f"\nExported {len(exported)} rows to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", help="SQLAlchemy database URL (default: a new SQLite file in a "
                        "temporary folder). The database must not hold the example's campaign.")
    parser.add_argument("--out", type=Path, help="Export file, .csv or .xlsx (default: "
                        "results.xlsx next to a temporary database, else in a temporary folder).")
    parser.add_argument("--template", choices=("hard-carbon", "electrolyte"),
                        default="hard-carbon", help="Campaign template (default hard-carbon).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the simulated lab.")
    args = parser.parse_args(argv)
    if args.db is None or args.out is None:  # files the user can open afterwards
        folder = Path(tempfile.mkdtemp(prefix="planner-weekly-loop-"))
    db = args.db or f"sqlite:///{folder / 'planner.db'}"
    out = args.out or folder / "results.xlsx"
    try:
        run(db, out, template=args.template, seed=args.seed)
    except (CampaignError, PlanningError) as exc:  # a message and a hint, never a traceback
        print(f"Error: {exc}", file=sys.stderr)
        if getattr(exc, "hint", None):
            print(f"Hint: {exc.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
