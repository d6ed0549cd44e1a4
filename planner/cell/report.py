"""Cell-level projections for measured wells of a campaign.

The PyBaMM model is :mod:`planner.cell.projection`'s.
"""

from __future__ import annotations

import pandas as pd

from campaigns.snapshot import CampaignSnapshot
from planner.errors import PlanningError

HARD_CARBON_INPUTS = ("ice_pct", "reversible_capacity_mah_per_g")
ELECTROLYTE_INPUTS = ("ionic_conductivity_ms_per_cm",)


def projection_kind(snapshot: CampaignSnapshot) -> str:
    """``"hard_carbon"`` or ``"electrolyte"``, from the campaign's targets."""
    names = {t.name for t in snapshot.spec.targets}
    if set(HARD_CARBON_INPUTS) <= names:
        return "hard_carbon"
    if set(ELECTROLYTE_INPUTS) <= names:
        return "electrolyte"
    raise PlanningError(
        f"campaign {snapshot.spec.name!r} has no targets a cell projection can use.",
        hint="Projections need ice_pct and reversible_capacity_mah_per_g (hard carbon) or "
        "ionic_conductivity_ms_per_cm (electrolyte).",
    )


def project_measured(snapshot: CampaignSnapshot, /, *, wells: list[str] | None = None,
                     batch_id: int | None = None, top: int = 5, fast: bool = False) -> pd.DataFrame:
    """Project measured wells to full-cell numbers.

    Args:
        snapshot: The campaign's data.
        wells: Well IDs to project (of ``batch_id``, or of the newest batch that has them).
        batch_id: Restrict to one batch.
        top: Without ``wells``: project the ``top`` measured wells with the best primary
            objective (among those meeting every threshold, if any do).
        fast: Coarser PyBaMM settings.

    Returns:
        One row per well: ``batch_id``, ``well``, the material numbers used and the projection
        (``capacity_ah_0_1c``, ``energy_wh_1c``, ``retention_2c_pct`` ...).
    """
    from planner.cell.projection import project_electrolyte, project_hard_carbon

    kind = projection_kind(snapshot)
    needed = list(HARD_CARBON_INPUTS if kind == "hard_carbon" else ELECTROLYTE_INPUTS)
    obs = snapshot.observations
    obs = obs[(obs["status"] == "ok") & obs[needed].notna().all(axis=1)]
    if batch_id is not None:
        obs = obs[obs["batch_id"] == batch_id]
    if wells:
        chosen = obs[obs["well"].isin(wells)].sort_values("batch_id").groupby("well").tail(1)
        missing = sorted(set(wells) - set(chosen["well"]))
        if missing:
            raise PlanningError(
                f"well(s) {missing} have no measured {', '.join(needed)}"
                + (f" in batch {batch_id}." if batch_id else "."),
                hint="Pick wells whose results are uploaded "
                     "(planner campaign show NAME lists batches).",
            )
    else:
        if obs.empty:
            raise PlanningError(f"campaign {snapshot.spec.name!r} has no measured wells with "
                                f"{', '.join(needed)} yet.", hint="Upload a plate first.")
        ok = obs
        for t in snapshot.spec.constraints:
            if t.name in ok:
                value = ok[t.name]
                meets = value >= t.threshold if t.direction == "max" else value <= t.threshold
                if meets.any():
                    ok = ok[meets]
        primary = snapshot.spec.objectives[0]
        chosen = ok.sort_values(primary.name, ascending=primary.direction == "min").head(top)
    rows = []
    for rec in chosen.to_dict(orient="records"):
        if kind == "hard_carbon":
            proj = project_hard_carbon(rec["ice_pct"], rec["reversible_capacity_mah_per_g"],
                                       fast=fast)
        else:
            proj = project_electrolyte(rec["ionic_conductivity_ms_per_cm"], fast=fast)
        rows.append({"batch_id": rec["batch_id"], "well": rec["well"],
                     **{k: rec[k] for k in needed}, **proj.as_dict()})
    return pd.DataFrame(rows)
