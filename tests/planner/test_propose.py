"""Plate proposals end to end: real surrogates, real BoTorch, tiny optimizer settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

import planner.propose as propose_module
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.design import linear_constraint_holds, space_filling_design
from planner.errors import PlanningError, PlanningWarning
from planner.propose import PlateProposal, propose_plate
from tests.planner.proposal_data import (
    electrolyte_snapshot,
    hard_carbon_snapshot,
    hard_carbon_truth,
    observations,
    pending_frame,
    snapshot,
)

HC = load_template("hard-carbon", name="hc")
HC_LEVELS = set(HC.parameter("precursor").levels)


def _with_plate(spec: CampaignSpec, **plate) -> CampaignSpec:
    data = spec.to_dict()
    data["plate"] = {**data["plate"], **plate}
    return CampaignSpec.from_dict(data)


def _assert_valid_hard_carbon(recipes: pd.DataFrame, q: int) -> None:
    assert list(recipes.columns) == HC.input_names and len(recipes) == q
    assert set(recipes["precursor"]) <= HC_LEVELS
    for p in HC.parameters[1:]:
        assert recipes[p.name].between(p.lower, p.upper).all(), p.name
    assert len(recipes.drop_duplicates()) == q


@pytest.fixture(scope="module")
def hc_snapshot():
    return hard_carbon_snapshot(24, seed=0, spec=HC)


@pytest.fixture(scope="module")
def hc_proposal(hc_snapshot) -> PlateProposal:
    return propose_plate(hc_snapshot, seed=0, q=6, fast=True)


def test_recipe_mode_proposal(hc_proposal, hc_snapshot) -> None:
    p = hc_proposal
    _assert_valid_hard_carbon(p.recipes, 6)
    assert p.generator == "botorch:qLogNEHVI/gp"
    assert p.warnings == []
    assert p.seed == 0 and p.revision == hc_snapshot.revision
    assert p.model_info["surrogate"] == "gp" and p.model_info["acquisition"] == "qLogNEHVI"
    # plateau capacity is recorded, not optimized and without threshold: not modelled
    assert p.model_info["targets"] == ["ice_pct", "reversible_capacity_mah_per_g"]
    assert len(p.predictions) == 6
    first = p.predictions[0]
    assert set(first["targets"]) == {"ice_pct", "reversible_capacity_mah_per_g"}
    assert first["targets"]["ice_pct"]["std"] > 0
    assert set(first["p_feasible"]) == {"ice_pct", "synthesis"}
    assert 0.0 <= first["p_feasible"]["ice_pct"] <= 1.0
    assert np.isfinite(first["acquisition"])
    # the temperature follows the furnace's 1 °C resolution
    assert (p.recipes["carbonization_temperature_c"] % 1 == 0).all()


def test_same_snapshot_and_seed_give_the_same_plate(hc_proposal, hc_snapshot) -> None:
    again = propose_plate(hc_snapshot, seed=0, q=6, fast=True)
    pd.testing.assert_frame_equal(again.recipes, hc_proposal.recipes)
    assert again.predictions == hc_proposal.predictions


def test_pending_wells_are_not_proposed_again(hc_proposal, hc_snapshot) -> None:
    previous = hc_proposal.recipes
    snap = snapshot(HC, hc_snapshot.observations, pending=pending_frame(previous))
    p = propose_plate(snap, seed=0, q=6, fast=True)
    _assert_valid_hard_carbon(p.recipes, 6)
    assert p.model_info["pending"] == 6
    both = pd.concat([previous, p.recipes]).round(6)
    assert not both.duplicated().any()


def test_shared_parameters_are_identical_across_the_plate() -> None:
    """Temperature is shared and chosen by the optimizer; the precursor is shared and given."""
    spec = _with_plate(HC, shared_parameters=["carbonization_temperature_c", "precursor"])
    snap = hard_carbon_snapshot(20, seed=1, spec=spec)
    p = propose_plate(snap, seed=3, q=5, fast=True, shared_values={"precursor": "lignin"})
    assert p.recipes["carbonization_temperature_c"].nunique() == 1
    assert (p.recipes["precursor"] == "lignin").all()
    assert p.recipes["dwell_h"].nunique() > 1  # the others still vary
    assert p.model_info["shared"]["precursor"] == "lignin"


def test_bad_shared_values_are_refused_with_a_hint(hc_snapshot) -> None:
    with pytest.raises(PlanningError, match="not recipe parameters") as err:
        propose_plate(hc_snapshot, seed=0, q=2, fast=True, shared_values={"pressure_bar": 2})
    assert err.value.hint
    with pytest.raises(PlanningError, match="outside its bounds"):
        propose_plate(hc_snapshot, seed=0, q=2, fast=True,
                      shared_values={"carbonization_temperature_c": 3000})


def test_mixture_sums_and_linear_constraints_hold() -> None:
    snap = electrolyte_snapshot(16, seed=0)
    spec = snap.spec
    p = propose_plate(snap, seed=1, q=5, fast=True)
    assert p.generator == "botorch:qLogNEHVI/gp"
    fracs = p.recipes[list(spec.mixtures[0].components)].to_numpy()
    assert np.abs(fracs.sum(axis=1) - 1.0).max() <= 1e-9
    assert (fracs >= 0).all()
    assert linear_constraint_holds(p.recipes, spec.linear_constraints[0]).all()
    assert set(p.recipes["salt"]) <= set(spec.parameter("salt").levels)


def _cold_snapshot(cold_status: str):
    """Cold (< 1000 °C) wells did not yield a sample; the truth rewards cold recipes, and the
    cold region has no target data, so an unconstrained planner is drawn to it."""
    X = space_filling_design(HC, 40, seed=3)
    Y = hard_carbon_truth(X)
    Y["reversible_capacity_mah_per_g"] = (400.0 - 0.1 * (X["carbonization_temperature_c"] - 800)
                                          + 3.0 * X["n_doping_at_pct"])
    Y["ice_pct"] = 85.0 + 0.5 * X["dwell_h"]
    status = np.where(X["carbonization_temperature_c"] < 1000, cold_status, "ok")
    return snapshot(HC, observations(HC, X, Y, status))


@pytest.mark.parametrize(("cold_status", "avoided"),
                         [("failed_synthesis", True), ("failed_cell", False)],
                         ids=["failed-synthesis-avoided", "failed-cell-no-lesson"])
def test_failed_synthesis_region_is_avoided(cold_status, avoided) -> None:
    p = propose_plate(_cold_snapshot(cold_status), seed=0, q=8, fast=True)
    warm = (p.recipes["carbonization_temperature_c"] >= 1000).mean()
    if avoided:
        assert warm >= 0.75
        assert p.model_info["feasibility"]["n_failed"] > 0
        p_made = [d["p_feasible"]["synthesis"] for d in p.predictions]
        assert np.mean(p_made) > 0.5
    else:
        assert warm <= 0.5  # the region still attracts wells: failed cells teach nothing
        assert p.model_info["feasibility"] is None


# --- robustness ------------------------------------------------------------------------------
def _robustness_snapshot(case: str):
    X = space_filling_design(HC, 12, seed=5)
    Y = hard_carbon_truth(X)
    if case == "no-data":
        return snapshot(HC)
    if case == "single-observation":
        return snapshot(HC, observations(HC, X.iloc[:1], Y.iloc[:1]))
    if case == "constant-targets":
        Y["ice_pct"], Y["reversible_capacity_mah_per_g"] = 82.0, 300.0
    if case == "duplicated-points":
        X = pd.concat([X.iloc[:4]] * 3, ignore_index=True)
        Y = hard_carbon_truth(X) + np.random.default_rng(0).normal(0, 1.0, (12, 3))
    if case == "all-nan-target":
        Y["reversible_capacity_mah_per_g"] = np.nan
    if case == "all-failed":
        return snapshot(HC, observations(HC, X, Y, ["failed_synthesis"] * len(X)))
    return snapshot(HC, observations(HC, X, Y))


@pytest.mark.parametrize(
    ("case", "generator", "warning"),
    [
        ("no-data", "space-filling", None),
        ("single-observation", "space-filling (fallback)", "could not be fitted"),
        ("all-failed", "space-filling (fallback)", "no usable measurements"),
        ("constant-targets", "botorch:", "constant"),
        ("duplicated-points", "botorch:", None),
        ("all-nan-target", "botorch:qLogNEI/gp", "no measured value"),
    ],
)
def test_awkward_data_never_crashes(case, generator, warning) -> None:
    snap = _robustness_snapshot(case)
    fallback = warning is not None and case != "constant-targets"
    if fallback:
        with pytest.warns(PlanningWarning):
            p = propose_plate(snap, seed=0, q=4, fast=True)
    else:
        p = propose_plate(snap, seed=0, q=4, fast=True)
    assert p.generator.startswith(generator)
    _assert_valid_hard_carbon(p.recipes, 4)
    assert len(p.predictions) == 4
    if warning is None:
        assert not [w for w in p.warnings if "fall" in w or "failed" in w]
    else:
        assert any(warning in w for w in p.warnings), p.warnings


def test_model_failure_falls_back_to_the_forest(hc_snapshot, monkeypatch) -> None:
    real = propose_module.make_surrogate

    def flaky(name, **kw):
        if name == "gp":
            raise RuntimeError("Cholesky failed")
        return real(name, **kw)

    monkeypatch.setattr(propose_module, "make_surrogate", flaky)
    with pytest.warns(PlanningWarning, match="gp surrogate could not be fitted"):
        p = propose_plate(hc_snapshot, seed=0, q=4, fast=True)
    assert p.generator == "botorch:qLogNEHVI/rf"
    assert any("Cholesky failed" in w for w in p.warnings)
    _assert_valid_hard_carbon(p.recipes, 4)


def test_every_model_failing_gives_a_space_filling_plate(hc_snapshot, monkeypatch) -> None:
    def broken(name, **kw):
        raise RuntimeError(f"{name} is broken")

    monkeypatch.setattr(propose_module, "make_surrogate", broken)
    with pytest.warns(PlanningWarning):
        p = propose_plate(hc_snapshot, seed=0, q=4, fast=True)
    assert p.generator == "space-filling (fallback)"
    assert any("gp is broken" in w for w in p.warnings)
    assert any("rf is broken" in w for w in p.warnings)


# --- library mode ---------------------------------------------------------------------------
LIB_SPEC = CampaignSpec.from_dict({
    "name": "lib",
    "library": {"inputs": ["d002_nm", "bet_ssa_m2_per_g", "precursor"],
                "categorical": ["precursor"]},
    "targets": [{"name": "ice_pct", "direction": "max"}],
    "plate": {"wells": 24},
})


def _library(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lib = pd.DataFrame({
        "candidate_id": [f"C{i:05d}" for i in range(n)],
        "d002_nm": rng.uniform(0.36, 0.41, n),
        "bet_ssa_m2_per_g": np.exp(rng.uniform(0, 6, n)),
        "precursor": rng.choice(["cellulose", "lignin", "pitch"], n),
    })
    lib.loc[rng.random(n) < 0.05, "d002_nm"] = np.nan  # descriptors may be missing
    return lib


def _library_snapshot(obs: pd.DataFrame, pending: pd.DataFrame,
                      library: pd.DataFrame) -> CampaignSnapshot:
    return CampaignSnapshot(spec=LIB_SPEC, revision=len(obs), observations=obs, pending=pending,
                            library=library)


def _library_ice(rows: pd.DataFrame) -> np.ndarray:
    return (90 - 120 * (rows["d002_nm"].fillna(0.38) - 0.37) ** 2 * 100
            - 3 * np.log(rows["bet_ssa_m2_per_g"])).to_numpy()


def test_library_mode_picks_unique_unused_candidates() -> None:
    lib = _library(20_000)
    measured = lib.iloc[:30].copy()
    obs = measured.assign(batch_id=1, well=[f"W{i}" for i in range(30)], role="sample",
                          ice_pct=_library_ice(measured), status="ok")
    obs.loc[obs.index[-3:], "status"] = "failed_synthesis"
    pending = lib.iloc[30:40].assign(batch_id=2, well="A1", role="sample")
    snap = _library_snapshot(obs, pending, lib)
    p = propose_plate(snap, seed=0, q=8, fast=True)
    assert p.generator == "botorch:qLogNEI/gp"
    assert list(p.recipes.columns) == ["candidate_id", *LIB_SPEC.input_names]
    ids = p.recipes["candidate_id"].tolist()
    assert len(set(ids)) == 8
    assert not set(ids) & set(lib["candidate_id"].iloc[:40])
    assert set(ids) <= set(lib["candidate_id"])
    assert p.model_info["pending"] == 10
    # The GP scales numeric inputs to the library's range, not to the 30 measured rows.
    bounds = p.model_info["surrogate_params"]["input_bounds"]
    for c, (lo, hi) in bounds.items():
        assert (lo, hi) == (lib[c].min(), lib[c].max()), c
    assert set(bounds) == {c for c in LIB_SPEC.input_names if c not in LIB_SPEC.categorical_inputs}
    # the picks score better on the truth than the library's average
    picked = lib.set_index("candidate_id").loc[ids]
    assert _library_ice(picked).mean() > _library_ice(lib).mean()


def test_library_without_data_is_spread_out() -> None:
    lib = _library(500)
    p = propose_plate(_library_snapshot(pd.DataFrame(), pd.DataFrame(), lib), seed=0, q=6,
                      fast=True)
    assert p.generator == "space-filling"
    assert p.recipes["candidate_id"].nunique() == 6


# --- quality ---------------------------------------------------------------------------------
def test_proposals_gain_more_hypervolume_than_random_wells() -> None:
    """Cheap check on the synthetic two-objective truth, averaged over two seeds."""
    ref = torch.tensor([60.0, 200.0], dtype=torch.double)
    hv = Hypervolume(ref)

    def volume(recipes: pd.DataFrame) -> float:
        Y = torch.tensor(hard_carbon_truth(recipes)[["ice_pct", "reversible_capacity_mah_per_g"]]
                         .to_numpy(), dtype=torch.double)
        Y = Y[(Y > ref).all(dim=-1)]
        return hv.compute(Y[is_non_dominated(Y)]) if len(Y) else 0.0

    gains, random_gains = [], []
    for seed in (0, 1):
        snap = hard_carbon_snapshot(16, seed=10 + seed, spec=HC, noise=0.3)
        X, _ = snap.training_data()
        before = volume(X)
        proposal = propose_plate(snap, seed=seed, q=6, fast=True)
        gains.append(volume(pd.concat([X, proposal.recipes])) - before)
        for r in range(5):
            rand = space_filling_design(HC, 6, seed=100 * seed + r)
            random_gains.append(volume(pd.concat([X, rand])) - before)
    assert np.mean(gains) > np.mean(random_gains)


def test_gp_scales_inputs_to_the_search_space(hc_proposal) -> None:
    # Recipe mode: the spec's bounds, not the range of the 24 measured rows.
    bounds = hc_proposal.model_info["surrogate_params"]["input_bounds"]
    for p in HC.parameters:
        if p.kind == "categorical":
            assert p.name not in bounds
        else:
            assert tuple(bounds[p.name]) == (p.lower, p.upper), p.name

