"""planner.reports.progress and planner.reports.insight: numbers behind the plate, progress and
insight pages."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from campaigns.snapshot import CampaignSnapshot
from campaigns.templates import load_template
from planner.errors import NoDataError
from planner.reports import insight, progress

SPEC = load_template("hard-carbon", name="t")


def _snapshot(rows: list[dict]) -> CampaignSnapshot:
    """A snapshot whose observations are ``rows`` (week, ICE, capacity, status)."""
    base = {"batch_id": 1, "well": "A2", "role": "sample", "candidate_id": None,
            "precursor": "pitch",
            "carbonization_temperature_c": 1200.0, "heating_rate_c_per_min": 5.0, "dwell_h": 2.0,
            "n_doping_at_pct": 0.0, "s_doping_at_pct": 0.0, "plateau_capacity_mah_per_g": 100.0,
            "status": "ok", **{d.name: np.nan for d in SPEC.descriptors}}
    obs = pd.DataFrame([{**base, "well": f"B{i + 1}", **r} for i, r in enumerate(rows)])
    obs["batch_id"] = obs["iso_week"].rank(method="dense").astype(int)
    return CampaignSnapshot(SPEC, revision=len(obs), observations=obs, pending=obs.iloc[:0])


def _hv_bruteforce(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume by slicing along x (test oracle only)."""
    pts = points[(points > ref).all(axis=1)]
    xs = np.unique(np.concatenate([[ref[0]], pts[:, 0]]))
    total = 0.0
    for lo, hi in itertools.pairwise(xs):
        ys = pts[pts[:, 0] >= hi][:, 1]
        if len(ys):
            total += (hi - lo) * (ys.max() - ref[1])
    return total


def test_feasibility_and_pareto_follow_the_constraint() -> None:
    snap = _snapshot([
        {"iso_week": "2026-W01", "ice_pct": 85.0, "reversible_capacity_mah_per_g": 250.0},
        {"iso_week": "2026-W01", "ice_pct": 82.0, "reversible_capacity_mah_per_g": 300.0},
        # ICE < 80, then a dominated design
        {"iso_week": "2026-W01", "ice_pct": 78.0, "reversible_capacity_mah_per_g": 400.0},
        {"iso_week": "2026-W01", "ice_pct": 81.0, "reversible_capacity_mah_per_g": 260.0},
        {"iso_week": "2026-W01", "ice_pct": 90.0, "reversible_capacity_mah_per_g": 380.0,
         "status": "failed_cell"},
    ])
    designs = progress.measured_designs(snap)
    assert designs["feasible"].tolist() == [True, True, False, True, False]
    assert designs["pareto"].tolist() == [True, True, False, False, False]


def test_best_so_far_and_hypervolume_by_week() -> None:
    snap = _snapshot([
        {"iso_week": "2026-W01", "ice_pct": 82.0, "reversible_capacity_mah_per_g": 300.0},
        {"iso_week": "2026-W01", "ice_pct": 70.0, "reversible_capacity_mah_per_g": 390.0},
        {"iso_week": "2026-W02", "ice_pct": 86.0, "reversible_capacity_mah_per_g": 280.0},
        # no gain in W03
        {"iso_week": "2026-W03", "ice_pct": 81.0, "reversible_capacity_mah_per_g": 290.0},
        {"iso_week": "2026-W04", "ice_pct": 84.0, "reversible_capacity_mah_per_g": 330.0},
    ])
    best = progress.best_so_far(snap)
    ice = best[best["target"] == "ice_pct"]
    cap = best[best["target"] == "reversible_capacity_mah_per_g"]
    assert ice["best_so_far"].tolist() == [82.0, 86.0, 86.0, 86.0]
    assert cap["best_so_far"].tolist() == [300.0, 300.0, 300.0, 330.0]
    assert cap["best_in_week"].tolist() == [300.0, 280.0, 290.0, 330.0]

    ref = progress.hypervolume_reference(snap)
    assert ref is not None and ref[0] == 80.0  # the ICE constraint is the reference
    hv = progress.hypervolume_by_week(snap)
    assert hv["iso_week"].tolist() == ["2026-W01", "2026-W02", "2026-W03", "2026-W04"]
    assert hv["hypervolume"].is_monotonic_increasing
    feasible = snap.observations[snap.observations["ice_pct"] >= 80]
    for week, value in zip(hv["iso_week"], hv["hypervolume"], strict=True):
        pts = feasible[feasible["iso_week"] <= week][["ice_pct", "reversible_capacity_mah_per_g"]]
        assert value == pytest.approx(_hv_bruteforce(pts.to_numpy(float), np.array(ref)))
    assert hv["hypervolume"].iloc[2] == hv["hypervolume"].iloc[1]


def test_overview_counts(history_snapshot) -> None:
    snap, _ = history_snapshot
    o = progress.campaign_overview(snap)
    designs = snap.observations[snap.observations["role"] != "control"]
    assert o["weeks"] == 3 and o["measured"] == len(designs) and o["pending"] == 94
    assert 0 < o["feasible"] <= o["measured"]
    assert o["best"]["ice_pct"] >= 80


def test_plate_frame_is_laid_out_like_a_plate(history_snapshot) -> None:
    snap, batches = history_snapshot
    pending = progress.pending_batch(snap, batches)
    assert pending is not None and pending.iso_week == "2026-W13"
    frame = progress.plate_frame(pending, snap.spec, snap.observations)
    assert len(frame) == 96 and frame["well"].iloc[0] == "A1" and frame["well"].iloc[-1] == "H12"
    assert set(frame["row"]) == set("ABCDEFGH") and set(frame["column"]) == set(range(1, 13))
    assert frame.set_index("well").loc["A1", "role"] == "control"
    assert frame.set_index("well").loc["H12", "role"] == "control"
    assert progress.has_predictions(frame)
    sample = frame[frame["role"] == "sample"]
    assert sample["predicted_ice_pct"].notna().all()
    assert (sample["predicted_ice_pct_std"] == 1.5).all()
    first = progress.plate_frame(batches[0], snap.spec, snap.observations)
    assert not progress.has_predictions(first)  # space-filling plates carry no predictions
    assert first["ice_pct"].notna().sum() > 80  # measured values joined in


def test_prediction_check_uses_the_newest_plate_with_predictions(history_snapshot) -> None:
    snap, batches = history_snapshot
    batch, check = progress.prediction_check(snap, batches)
    assert batch is not None and batch.iso_week == "2026-W12"
    assert set(check["target"]) == {"ice_pct", "reversible_capacity_mah_per_g"}
    row = check.iloc[0]
    assert row["z"] == pytest.approx((row["measured"] - row["predicted"]) / row["predicted_std"])
    summary = progress.prediction_summary(check)
    assert (summary["n"] > 50).all() and summary["coverage90"].between(0, 1).all()


def test_simulated_data_are_recognized() -> None:
    simulated = pd.DataFrame({"instrument": ["BioLogic", "virtual-lab (simulated)"]})
    assert progress.is_simulated(simulated)
    assert not progress.is_simulated(pd.DataFrame({"instrument": ["BioLogic", None]}))


def test_partial_dependence_finds_the_temperature_trend(history_snapshot) -> None:
    snap, _ = history_snapshot
    fitted = insight.fit_insight_model(snap, inputs="recipe", model="rf")
    pdp = insight.partial_dependence(fitted, features=["carbonization_temperature_c", "precursor"],
                                     grid_points=9, max_rows=30)
    ice = pdp[(pdp["feature"] == "carbonization_temperature_c") & (pdp["target"] == "ice_pct")]
    # the grid spans the design space, not just the data
    assert ice["value"].min() == 800 and ice["value"].max() == 1800
    assert ice["mean"].iloc[-1] - ice["mean"].iloc[0] > 5  # ICE rises with temperature
    assert (ice["lower"] <= ice["mean"]).all() and (ice["mean"] <= ice["upper"]).all()
    levels = pdp[(pdp["feature"] == "precursor") & (pdp["target"] == "ice_pct")]
    assert levels["value"].isna().all()
    assert set(levels["level"]) <= set(SPEC.parameter("precursor").levels)


def test_descriptor_insight_uses_descriptors_as_inputs(history_snapshot) -> None:
    snap, _ = history_snapshot
    data = insight.insight_data(snap, inputs="descriptors")
    assert list(data.X.columns) == [d.name for d in snap.spec.descriptors]
    assert not data.categorical and set(data.bounds) == set(data.X.columns)


def test_model_check_holds_out_plates(history_snapshot) -> None:
    snap, _ = history_snapshot
    check = insight.model_check(snap, model="rf", importance_repeats=1)
    assert check.grouped and check.folds == 3
    ice = check.metrics.set_index("target").loc["ice_pct"]
    assert ice["r2"] > 0.3 and 0 <= ice["coverage90"] <= 1
    top = check.importance[check.importance["target"] == "ice_pct"]["feature"].iloc[:2]
    assert "carbonization_temperature_c" in set(top)  # with precursor, what the virtual lab uses
    assert set(check.parity["target"]) >= {"ice_pct", "reversible_capacity_mah_per_g"}


def test_insight_needs_data() -> None:
    empty = CampaignSnapshot(SPEC, 0, pd.DataFrame(columns=["batch_id", "well", "role", "status",
                                                            *SPEC.input_names, *SPEC.output_names]),
                             pd.DataFrame())
    with pytest.raises(NoDataError) as info:
        insight.fit_insight_model(empty)
    assert info.value.hint and "0 measured well" in str(info.value)
