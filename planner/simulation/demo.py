"""The demo: campaigns with several weeks of SIMULATED history, for a first look at the loop.

``run_demo`` creates a hard-carbon campaign (96-well plates, virtual hard-carbon lab) and an
electrolyte campaign (24-well plates, conductivity emulator trained on CALiSol-23), runs the
closed loop suggest → virtual lab → add the filled sheet for past weeks, and proposes this
week's plate. The virtual lab's sheet is a DataFrame and is added as one
(:func:`campaigns.uploads.ingest_frame`, what the Python API's ``Campaign.add_results`` calls),
checked exactly like an uploaded file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from campaigns.store import BatchInfo, Store
from campaigns.templates import load_template
from campaigns.uploads import ingest_frame
from planner.simulation.virtual_lab import run_plate
from planner.weekly import current_week, suggest_plate

DEMO_CAMPAIGNS = {"demo-hard-carbon": "hard-carbon", "demo-electrolyte": "electrolyte"}


def weeks_before(n: int, today: date | None = None) -> list[str]:
    """The ``n`` ISO weeks before this one, oldest first."""
    today = today or date.today()
    out = []
    for k in range(n, 0, -1):
        y, w, _ = (today - timedelta(weeks=k)).isocalendar()
        out.append(f"{y}-W{w:02d}")
    return out


@dataclass
class DemoResult:
    next_plates: dict[str, BatchInfo] = field(default_factory=dict)
    weeks_run: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def run_demo(store: Store, *, weeks: int = 4, electrolyte_weeks: int = 3, seed: int = 0,
             fast: bool = True, today: date | None = None,
             on_step: Callable[[str], None] | None = None) -> DemoResult:
    """Create the demo campaigns (if absent) and simulate past weeks of the closed loop.

    Args:
        store: Open store.
        weeks: Simulated weeks of history for the hard-carbon campaign.
        electrolyte_weeks: Simulated weeks for the electrolyte campaign.
        seed: Seed of the simulated lab.
        fast: Cheaper optimizer settings for the history (the final plate always uses the
            default settings).
        today: Date that counts as "this week".
        on_step: Called with a short description after each step (progress bars).

    Returns:
        This week's proposed plate per campaign. A campaign that already exists is left as it is
        (its name is listed in ``skipped``) so that running the demo twice is harmless.
    """
    result = DemoResult()
    existing = set(store.campaign_names())
    step = on_step or (lambda _msg: None)
    for name, template in DEMO_CAMPAIGNS.items():
        n_weeks = weeks if template == "hard-carbon" else electrolyte_weeks
        if name in existing:
            result.skipped.append(name)
        else:
            spec = load_template(template, name=name)
            spec = type(spec).from_dict({
                **spec.to_dict(), "owner": "demo (simulated data)",
                "description": "SIMULATED demo campaign. " + spec.description})
            store.create_campaign(spec, actor="demo")
            for i, week in enumerate(weeks_before(n_weeks, today)):
                batch = suggest_plate(store, name, week=week, fast=fast, actor="demo").batch
                sheet = run_plate(spec, batch, seed=seed + i, plate_index=i)
                ingest_frame(store, name, sheet, filename=f"{name}-{week} (simulated)",
                             batch_id=batch.id, actor="demo")
                step(f"{name}: {week} simulated")
            result.weeks_run[name] = n_weeks
        this_week = current_week(today)
        result.next_plates[name] = suggest_plate(store, name, week=this_week, fast=False,
                                                 actor="demo").batch
        step(f"{name}: plate for {this_week} proposed")
    return result
