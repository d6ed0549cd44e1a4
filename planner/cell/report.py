"""Cell-level projections for measured wells of a campaign.

The PyBaMM model is :mod:`planner.cell.projection`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from campaigns.snapshot import CampaignSnapshot
from campaigns.store import BatchInfo
from planner.cell.projection import CellDesign, CellProjection
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


def inputs_for(kind: str) -> tuple[str, ...]:
    """The material numbers a projection of ``kind`` needs."""
    return HARD_CARBON_INPUTS if kind == "hard_carbon" else ELECTROLYTE_INPUTS


def projectable_materials(snapshot: CampaignSnapshot, batches: Sequence[BatchInfo] = (), /, *,
                          top: int = 20) -> pd.DataFrame:
    """Materials a projection can start from: measured wells and proposed (not yet measured)
    wells with predictions.

    Args:
        snapshot: The campaign's data.
        batches: The campaign's plates (for the predictions stored with proposed wells).
        top: At most this many of each source, best primary objective first.

    Returns:
        One row per material: ``source`` (``measured`` or ``proposed``), ``batch_id``, ``well``,
        ``label`` (for a picker) and the numbers of :func:`inputs_for` (predicted means for
        proposed wells). Empty when the campaign has none.
    """
    kind = projection_kind(snapshot)
    needed = list(inputs_for(kind))
    primary = snapshot.spec.objectives[0]
    rows: list[dict[str, Any]] = []
    obs = snapshot.observations
    if not obs.empty and set(needed) <= set(obs.columns):
        ok = obs[(obs["status"] == "ok") & obs[needed].notna().all(axis=1)]
        if primary.name in ok:
            ok = ok.sort_values(primary.name, ascending=primary.direction == "min")
        for rec in ok.head(top).to_dict(orient="records"):
            rows.append({"source": "measured", "batch_id": int(rec["batch_id"]),
                         "well": rec["well"], **{k: float(rec[k]) for k in needed}})
    measured = set() if obs.empty else set(zip(obs["batch_id"], obs["well"], strict=True))
    proposed: list[dict[str, Any]] = []
    for batch in batches:
        for w in batch.wells:
            if w.role != "sample" or (batch.id, w.well) in measured:
                continue
            targets = w.predictions.get("targets") or {}
            means = {k: (targets.get(k) or {}).get("mean") for k in needed}
            numbers = {k: float(v) for k, v in means.items() if isinstance(v, (int, float))}
            if len(numbers) == len(needed):
                proposed.append({"source": "proposed", "batch_id": batch.id, "well": w.well,
                                 **numbers})
    if proposed and primary.name in needed:
        proposed.sort(key=lambda r: r[primary.name], reverse=primary.direction == "max")
    rows += proposed[:top]
    frame = pd.DataFrame(rows, columns=["source", "batch_id", "well", *needed])
    frame.insert(3, "label", [
        f"{r.source} · plate {r.batch_id} · {r.well} · "
        + ", ".join(f"{k} {getattr(r, k):.4g}" for k in needed)
        for r in frame.itertuples()])
    return frame


def project_material(kind: str, values: Mapping[str, float], /, *,
                     design: CellDesign | None = None, fast: bool = True) -> CellProjection:
    """Project one material (``values``: the numbers of :func:`inputs_for`) into the cell of
    ``design``; cached in memory and on disk (:mod:`planner.cell.projection`)."""
    from planner.cell.projection import project_electrolyte, project_hard_carbon

    missing = [k for k in inputs_for(kind) if k not in values]
    if missing:
        raise PlanningError(f"a {kind} projection needs {missing}.",
                            hint=f"Give {', '.join(inputs_for(kind))}.")
    if kind == "hard_carbon":
        return project_hard_carbon(values["ice_pct"], values["reversible_capacity_mah_per_g"],
                                   fast=fast, design=design)
    return project_electrolyte(values["ionic_conductivity_ms_per_cm"], fast=fast, design=design)


def rate_table(projection: CellProjection) -> pd.DataFrame:
    """One row per C-rate: capacity, energy (per cell and per area), specific energy."""
    out = pd.DataFrame({
        "c_rate_per_h": list(projection.c_rates),
        "capacity_mah": [1e3 * c for c in projection.capacity_ah],
        "energy_mwh": [1e3 * e for e in projection.energy_wh],
        "capacity_mah_per_cm2": [0.1 * c for c in projection.capacity_ah_per_m2],
        "energy_wh_per_m2": list(projection.energy_wh_per_m2),
    })
    if projection.specific_energy_wh_per_kg:
        out["specific_energy_wh_per_kg"] = list(projection.specific_energy_wh_per_kg)
    first = projection.capacity_ah[0]
    out["capacity_retained_pct"] = [100.0 * c / first for c in projection.capacity_ah]
    return out
