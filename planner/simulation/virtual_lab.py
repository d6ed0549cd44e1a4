"""Run a stored plate through a simulator and write the filled sheet, exactly as a lab would.

SIMULATED DATA. The virtual hard-carbon lab (:mod:`planner.simulation.hard_carbon`) and the
electrolyte emulator (:mod:`planner.simulation.electrolyte`) stand in for a real lab in the demo
and in tests. Every value they produce carries an instrument string marked "simulated".
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd

from campaigns.columns import column
from campaigns.sheet import SheetWell, template_frame
from campaigns.spec import CampaignSpec
from campaigns.store import BatchInfo
from planner.errors import PlanningError

Simulator = Callable[..., pd.DataFrame]


def simulator_for(spec: CampaignSpec) -> Simulator:
    """The simulator that understands this campaign's inputs."""
    inputs = set(spec.input_names)
    if {"precursor", "carbonization_temperature_c"} <= inputs:
        from planner.simulation.hard_carbon import simulate_plate

        return simulate_plate
    if {"salt", "salt_molality_mol_per_kg"} <= inputs:
        from planner.simulation.electrolyte import simulate_electrolyte

        return simulate_electrolyte
    raise PlanningError(
        f"the virtual lab cannot run campaign {spec.name!r}: it simulates campaigns made from the "
        "hard-carbon and electrolyte templates only.",
        hint="Create a campaign with `planner campaign create --template hard-carbon NAME`.",
    )


def run_plate(spec: CampaignSpec, batch: BatchInfo, *, seed: int,
              plate_index: int | None = None) -> pd.DataFrame:
    """The batch's plate sheet with every result column filled by the simulator.

    Args:
        spec: The campaign's spec.
        batch: The stored batch (plate) to "make and measure".
        seed: Seed of the simulated noise and failures.
        plate_index: Index of the plate in the campaign (sets the plate-to-plate drift);
            defaults to the batch id.

    Returns:
        The sheet as the lab would return it: one row per well, result columns filled with the
        units of the headers, ``Status`` set for failed wells.
    """
    simulate = simulator_for(spec)
    wells = [SheetWell(w.well, w.role, dict(w.recipe)) for w in batch.wells]
    sheet = template_frame(spec, batch_id=batch.id, wells=wells)
    recipes = pd.DataFrame([w.recipe for w in batch.wells])[spec.input_names]
    index = batch.id if plate_index is None else plate_index
    results = simulate(recipes, seed=seed, plate_index=index)
    results = results.reset_index(drop=True)
    sheet = sheet.astype(object)
    for name in spec.output_names:
        if name in results:
            sheet[column(name).label] = results[name].to_numpy()
    status = results.get("status", pd.Series(["ok"] * len(results)))
    sheet["Status"] = [None if s == "ok" else s for s in status]
    for col, key in (("Operator", "operator"), ("Instrument", "instrument")):
        if key in results:
            sheet[col] = results[key].to_numpy()
    return sheet


def sheet_bytes(sheet: pd.DataFrame) -> bytes:
    """CSV bytes of a sheet, as a lab's export would produce them."""
    buf = io.StringIO()
    sheet.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")
