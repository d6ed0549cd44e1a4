"""How a campaign is doing, week by week: the numbers behind the plate and progress pages.

Everything here is computed from a :class:`~campaigns.snapshot.CampaignSnapshot` (and, for a
plate, its stored :class:`~campaigns.store.BatchInfo`); nothing is written anywhere. Hypervolumes
and Pareto fronts use BoTorch's multi-objective utilities.

Conventions:
    * A *design* is a measured sample or replicate well; control wells hold a reference
      material, not a design, and are left out of best-so-far, Pareto fronts and hypervolumes.
    * A design is *feasible* when its status is ``ok``, every objective was measured and every
      constraint target meets its threshold (``ICE >= 80 %``).
    * Weeks are the ISO weeks of the batches (``2026-W47``), oldest first.

Example::

    snap = store.snapshot("demo")
    hypervolume_by_week(snap)[["iso_week", "hypervolume"]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from campaigns.plate import well_position
from campaigns.sheet import SheetWell, furnace_runs
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from campaigns.store import BatchInfo, current_only
from planner.acquisition import ConstraintSpec, ObjectiveSpec, reference_point

SIMULATED_MARK = "simulated"
"""Instrument strings containing this word come from the virtual lab."""


# --- designs, feasibility, Pareto --------------------------------------------------------------
def objective_names(spec: CampaignSpec) -> list[str]:
    """Names of the optimized targets, in spec order (the Pareto axes come first)."""
    return [t.name for t in spec.objectives]


def feasible_mask(frame: pd.DataFrame, spec: CampaignSpec) -> pd.Series:
    """Whether each row is a feasible design (see the module docstring).

    Args:
        frame: Rows with ``status`` and the campaign's target columns (observations).
        spec: The campaign's spec.

    Returns:
        Boolean series on ``frame``'s index.
    """
    ok = frame.get("status", pd.Series("ok", index=frame.index)).eq("ok")
    for t in spec.objectives:
        ok &= pd.to_numeric(frame[t.name], errors="coerce").notna()
    for t in spec.constraints:
        values = pd.to_numeric(frame[t.name], errors="coerce")
        meets = values >= t.threshold if t.direction == "max" else values <= t.threshold
        ok &= meets.fillna(False)
    return ok.astype(bool)


def _designs(snapshot: CampaignSnapshot) -> pd.DataFrame:
    obs = snapshot.observations
    if obs.empty:
        return obs.copy()
    return obs[obs["role"] != "control"].reset_index(drop=True)


def _signed(frame: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    """``n x m`` objective values in the maximization convention (minimized ones negated)."""
    cols = [np.asarray(pd.to_numeric(frame[t.name], errors="coerce"), dtype=float)
            * (1.0 if t.direction == "max" else -1.0) for t in spec.objectives]
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


def pareto_mask(frame: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    """Which rows of ``frame`` are non-dominated among its feasible rows.

    Uses BoTorch's ``is_non_dominated`` on the objectives in the maximization convention.


    Returns:
        Boolean array of ``len(frame)``; infeasible rows are never on the front.
    """
    out = np.zeros(len(frame), dtype=bool)
    feasible = feasible_mask(frame, spec).to_numpy()
    if not feasible.any():
        return out
    Y = torch.as_tensor(_signed(frame, spec)[feasible], dtype=torch.double)
    out[np.flatnonzero(feasible)] = is_non_dominated(Y, maximize=True, deduplicate=False).numpy()
    return out


def measured_designs(snapshot: CampaignSnapshot) -> pd.DataFrame:
    """Every measured design with its objective values, feasibility and Pareto membership.

    Returns:
        One row per design well: ``batch_id``, ``iso_week``, ``well``, ``role``, ``status``, the
        inputs and targets, ``feasible`` and ``pareto`` (on the front of all weeks so far).
    """
    designs = _designs(snapshot)
    if designs.empty:
        cols = [*designs.columns, "feasible", "pareto"]
        return pd.DataFrame(columns=cols)
    designs["feasible"] = feasible_mask(designs, snapshot.spec).to_numpy()
    designs["pareto"] = pareto_mask(designs, snapshot.spec)
    return designs


# --- week by week --------------------------------------------------------------------------
def _week_order(designs: pd.DataFrame) -> list[str]:
    return sorted(designs["iso_week"].dropna().unique().tolist())


def best_so_far(snapshot: CampaignSnapshot) -> pd.DataFrame:
    """Best feasible value of every objective, per week and cumulatively.

    Returns:
        Long frame, one row per (week, objective): ``iso_week``, ``target``, ``direction``,
        ``n_measured`` (designs measured that week), ``n_feasible``, ``best_in_week`` and
        ``best_so_far`` (NaN until a feasible design exists).
    """
    spec = snapshot.spec
    designs = measured_designs(snapshot)
    rows: list[dict[str, Any]] = []
    best: dict[str, float] = {t.name: math.nan for t in spec.objectives}
    for week in _week_order(designs) if not designs.empty else []:
        this = designs[designs["iso_week"] == week]
        feas = this[this["feasible"]]
        for t in spec.objectives:
            values = pd.to_numeric(feas[t.name], errors="coerce").dropna()
            pick = math.nan
            if len(values):
                pick = float(values.max() if t.direction == "max" else values.min())
            old = best[t.name]
            better = pick > old if t.direction == "max" else pick < old
            if not math.isnan(pick) and (math.isnan(old) or better):
                best[t.name] = pick
            rows.append({"iso_week": week, "target": t.name, "direction": t.direction,
                         "n_measured": int(len(this)), "n_feasible": int(len(feas)),
                         "best_in_week": float(pick), "best_so_far": best[t.name]})
    return pd.DataFrame(rows, columns=["iso_week", "target", "direction", "n_measured",
                                       "n_feasible", "best_in_week", "best_so_far"])


def hypervolume_reference(snapshot: CampaignSnapshot) -> list[float] | None:
    """One reference point for every week, in the maximization convention.

    A constraint on an objective (ICE >= 80 %) makes its threshold the reference; otherwise
    :func:`planner.acquisition.reference_point` steps below the worst design measured so far
    (all weeks, so the weekly values stay comparable). ``None`` when nothing is measured.
    """
    spec = snapshot.spec
    designs = _designs(snapshot)
    objectives = spec.objectives
    if designs.empty or not objectives:
        return None
    names = [t.name for t in spec.targets]
    index = {name: i for i, name in enumerate(names)}
    Y = torch.as_tensor(np.column_stack([pd.to_numeric(designs[n], errors="coerce").to_numpy(float)
                                         for n in names]), dtype=torch.double)
    objs = [ObjectiveSpec(index[t.name], t.direction) for t in objectives]
    cons = [ConstraintSpec(index[t.name], t.direction, float(t.threshold))
            for t in spec.constraints if t.threshold is not None]
    usable = [o for o in objs if torch.isfinite(Y[:, o.index]).any()
              or any(c.index == o.index for c in cons)]
    if len(usable) < len(objs):
        return None
    return reference_point(Y, objs, cons)


def hypervolume_by_week(snapshot: CampaignSnapshot) -> pd.DataFrame:
    """Hypervolume dominated by the feasible designs measured up to each week.

    Uses BoTorch's :class:`~botorch.utils.multi_objective.hypervolume.Hypervolume` with the
    fixed reference point of :func:`hypervolume_reference`, in the objectives' units multiplied
    together (e.g. %·mAh/g for ICE and capacity).

    Returns:
        ``iso_week``, ``hypervolume``, ``n_pareto`` (designs on the front so far) and
        ``n_feasible`` (feasible designs so far).
    """
    cols = ["iso_week", "hypervolume", "n_pareto", "n_feasible"]
    spec = snapshot.spec
    designs = measured_designs(snapshot)
    ref = hypervolume_reference(snapshot)
    if designs.empty or ref is None:
        return pd.DataFrame(columns=cols)
    hv = Hypervolume(ref_point=torch.as_tensor(ref, dtype=torch.double))
    rows = []
    for week in _week_order(designs):
        upto = designs[designs["iso_week"] <= week].reset_index(drop=True)
        feasible = feasible_mask(upto, spec).to_numpy()
        front = pareto_mask(upto, spec)
        Y = torch.as_tensor(_signed(upto, spec)[front], dtype=torch.double)
        Y = Y[(Y > hv.ref_point).all(dim=-1)]
        value = float(hv.compute(Y)) if len(Y) else 0.0
        rows.append({"iso_week": week, "hypervolume": value, "n_pareto": int(front.sum()),
                     "n_feasible": int(feasible.sum())})
    return pd.DataFrame(rows, columns=cols)


# --- one plate ---------------------------------------------------------------------------------
def _prediction(pred: dict[str, Any], target: str) -> tuple[float, float]:
    """(mean, std) of ``target`` in a well's stored predictions, NaN when absent."""
    block = pred.get("targets", pred)
    entry = block.get(target) if isinstance(block, dict) else None
    if isinstance(entry, dict):
        mean, std = entry.get("mean"), entry.get("std")
    else:
        mean, std = pred.get(f"{target}_mean"), pred.get(f"{target}_std")
    return (math.nan if mean is None else float(mean), math.nan if std is None else float(std))


def _interval(pred: dict[str, Any], target: str) -> tuple[float, float]:
    """(low, high) of ``target``'s stored 90 % interval (within its physical bounds), NaN when
    the plate was proposed before intervals were stored."""
    block = pred.get("targets", pred)
    entry = block.get(target) if isinstance(block, dict) else None
    if not isinstance(entry, dict):
        return math.nan, math.nan
    low, high = entry.get("low"), entry.get("high")
    return (math.nan if low is None else float(low), math.nan if high is None else float(high))


def plate_frame(batch: BatchInfo, spec: CampaignSpec,
                observations: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per well of a plate, with its position, recipe, predictions and results.

    Args:
        batch: The stored plate.
        spec: The campaign's spec.
        observations: The snapshot's observations; when given, measured targets and
            descriptors of this plate's wells are added.

    Returns:
        ``well``, ``row`` (letter), ``column`` (1-based), ``role``, ``furnace_run`` (the
        plate's furnace run the well is made in, as its sheet shows it:
        :func:`campaigns.sheet.furnace_runs`; nullable integers, ``<NA>`` for controls and for
        campaigns without ``plate.furnace_runs``), ``replicate_of``, ``material`` (controls),
        the inputs, ``predicted_<target>``, ``predicted_<target>_std``
        and the 90 % interval ``predicted_<target>_low``/``_high`` (within the target's
        physical bounds; NaN for plates proposed before intervals were stored) for every target
        with a stored prediction, ``p_feasible_<constraint>`` (probability that
        the constraint holds; ``p_feasible_synthesis``: that the synthesis works) where stored,
        then measured outputs and ``status`` (NaN where not measured). Rows are in loading
        order (A1, A2, …).
    """
    rows = []
    targets = [t.name for t in spec.targets]
    runs = furnace_runs(spec, [SheetWell(w.well, w.role, dict(w.recipe)) for w in batch.wells])
    for w, run in zip(batch.wells, runs, strict=True):
        r, c = well_position(w.well)
        material = w.predictions.get("material") if w.role == "control" else None
        row: dict[str, Any] = {"well": w.well, "row": w.well[0].upper(), "column": c + 1,
                               "row_index": r, "role": w.role, "furnace_run": run,
                               "replicate_of": w.replicate_of,
                               "material": material}
        if w.candidate_id is not None:
            row["candidate_id"] = w.candidate_id
        row.update({name: w.recipe.get(name) for name in spec.input_names})
        for t in targets:
            mean, std = _prediction(w.predictions, t)
            row[f"predicted_{t}"], row[f"predicted_{t}_std"] = mean, std
            row[f"predicted_{t}_low"], row[f"predicted_{t}_high"] = _interval(w.predictions, t)
        for key, p in (w.predictions.get("p_feasible") or {}).items():
            row[f"p_feasible_{key}"] = math.nan if p is None else float(p)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["furnace_run"] = frame["furnace_run"].astype("Int64")
    for t in targets:  # drop prediction columns no well has
        if frame.empty or frame[f"predicted_{t}"].isna().all():
            frame = frame.drop(columns=[f"predicted_{t}{s}" for s in ("", "_std", "_low", "_high")],
                               errors="ignore")
    if observations is not None and not observations.empty and not frame.empty:
        mine = observations[observations["batch_id"] == batch.id]
        outputs = [c for c in spec.output_names if c in mine]
        frame = frame.merge(mine[["well", *outputs, "status"]], on="well", how="left")
    return frame.sort_values(["row_index", "column"], kind="stable").reset_index(drop=True)


def has_predictions(frame: pd.DataFrame) -> bool:
    """Whether a :func:`plate_frame` holds stored model predictions."""
    return any(c.startswith("predicted_") for c in frame.columns)


def pending_batch(snapshot: CampaignSnapshot, batches: list[BatchInfo]) -> BatchInfo | None:
    """The newest plate with no result yet (the one the lab is making), or ``None``."""
    measured = set(snapshot.observations["batch_id"]) if not snapshot.observations.empty else set()
    for b in sorted(batches, key=lambda b: b.id, reverse=True):
        if b.id not in measured:
            return b
    return None


def prediction_check(snapshot: CampaignSnapshot,
                     batches: list[BatchInfo]) -> tuple[BatchInfo | None, pd.DataFrame]:
    """Stored predictions against measurements for the newest measured plate that had predictions.

    "How well did the model do last week": the means and standard deviations the planner stored
    when it proposed the plate, next to what the lab measured.

    Returns:
        ``(batch, frame)``; ``frame`` has one row per (design well, objective): ``well``,
        ``target``, ``predicted``, ``predicted_std``, ``predicted_low``, ``predicted_high`` (the
        stored 90 % interval; NaN for older plates), ``measured``, ``z`` (standardized error)
        and ``inside_90`` (measured value inside the stored 90 % interval, or within
        ``1.645 std`` of the mean for older plates). ``(None, empty)``
        when no measured plate carries predictions.
    """
    cols = ["well", "target", "predicted", "predicted_std", "predicted_low", "predicted_high",
            "measured", "z", "inside_90"]
    obs = snapshot.observations
    if obs.empty:
        return None, pd.DataFrame(columns=cols)
    z90 = 1.6448536269514722
    for b in sorted(batches, key=lambda b: b.id, reverse=True):
        mine = obs[(obs["batch_id"] == b.id) & (obs["role"] != "control") & (obs["status"] == "ok")]
        if mine.empty:
            continue
        preds = {w.well: w.predictions for w in b.wells}
        rows = []
        for _, r in mine.iterrows():
            for t in snapshot.spec.objectives:
                mean, std = _prediction(preds.get(r["well"], {}), t.name)
                measured = r[t.name]
                if math.isnan(mean) or pd.isna(measured):
                    continue
                z = (float(measured) - mean) / std if std and std > 0 else math.nan
                low, high = _interval(preds.get(r["well"], {}), t.name)
                inside = (low <= float(measured) <= high if not math.isnan(low + high)
                          else not math.isnan(z) and abs(z) <= z90)
                rows.append({"well": r["well"], "target": t.name, "predicted": mean,
                             "predicted_std": std, "predicted_low": low, "predicted_high": high,
                             "measured": float(measured), "z": z, "inside_90": bool(inside)})
        if rows:
            return b, pd.DataFrame(rows, columns=cols)
    return None, pd.DataFrame(columns=cols)


def prediction_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Per objective: ``n``, mean absolute error, ``r2`` and the share inside the 90 % interval."""
    rows = []
    for target, g in check.groupby("target", sort=False):
        err = g["measured"] - g["predicted"]
        ss_tot = float(((g["measured"] - g["measured"].mean()) ** 2).sum())
        rows.append({"target": target, "n": int(len(g)), "mae": float(err.abs().mean()),
                     "r2": 1.0 - float((err ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan,
                     "coverage90": float(g["inside_90"].mean())})
    return pd.DataFrame(rows, columns=["target", "n", "mae", "r2", "coverage90"])


# --- provenance ---------------------------------------------------------------------------
def well_table(snapshot: CampaignSnapshot, measurements: pd.DataFrame) -> pd.DataFrame:
    """One row per measured well: results first, then the recipe, then provenance.

    The same content as :meth:`campaigns.store.Store.export_frame`, built from a snapshot and
    its measurements that are already loaded (the store's method loads both again).

    Args:
        snapshot: The campaign at one revision.
        measurements: ``Store.measurements`` of the campaign (superseded rows may be included:
            they are dropped here).

    Returns:
        ``batch_id``, ``iso_week``, ``well``, ``role``, ``status``, targets, descriptors,
        inputs, then the last ``operator``, ``instrument``, ``measured_at``, ``source_file``,
        ``source_file_sha256``, ``generator``, ``seed`` and ``data_revision`` of the well.
    """
    spec, obs = snapshot.spec, snapshot.observations
    if obs.empty:
        return obs.copy()
    meas = current_only(measurements)
    keep = ["operator", "instrument", "measured_at", "source_file", "source_file_sha256",
            "generator", "seed", "data_revision"]
    prov = (meas.sort_values("measurement_id").groupby(["batch_id", "well"])[keep].last()
            .reset_index())
    first = ["batch_id", "iso_week", "well", "role", "status", *[t.name for t in spec.targets],
             *[d.name for d in spec.descriptors], *spec.input_names]
    order = [c for c in first if c in obs] + [c for c in obs.columns if c not in first]
    return obs[order].merge(prov, on=["batch_id", "well"], how="left")



def is_simulated(measurements: pd.DataFrame) -> bool:
    """Whether any stored measurement came from the virtual lab (instrument says "simulated")."""
    if measurements.empty or "instrument" not in measurements:
        return False
    return bool(measurements["instrument"].fillna("").astype(str).str.lower()
                .str.contains(SIMULATED_MARK).any())


def campaign_overview(snapshot: CampaignSnapshot) -> dict[str, Any]:
    """Headline numbers: weeks with results, measured designs, feasible designs, pending wells,
    and the best feasible value of every objective (``best`` maps target → value or NaN)."""
    designs = measured_designs(snapshot)
    best = best_so_far(snapshot)
    last = (best.groupby("target")["best_so_far"].last() if not best.empty
            else pd.Series(dtype=float))
    return {
        "weeks": 0 if designs.empty else int(designs["iso_week"].nunique()),
        "measured": int(len(designs)),
        "feasible": int(designs["feasible"].sum()) if not designs.empty else 0,
        "failed": int((designs["status"] != "ok").sum()) if not designs.empty else 0,
        "pending": int(len(snapshot.pending)),
        "best": {t.name: float(last.get(t.name, math.nan)) for t in snapshot.spec.objectives},
    }
