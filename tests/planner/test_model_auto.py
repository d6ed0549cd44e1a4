"""``model: auto`` in the planner: the choice per target is made, used and recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import surrogates.selection as selection
from campaigns.errors import CampaignError
from campaigns.spec import CampaignSpec, Planning
from campaigns.templates import load_template
from planner.cli import app as planner_app
from planner.design import space_filling_design
from planner.propose import propose_plate
from surrogates.datasets import make_hard_carbon_table
from surrogates.selection import Selection, TargetChoice, clear_cache
from tests.planner.proposal_data import electrolyte_truth, observations, snapshot

runner = CliRunner()
EL = load_template("electrolyte", name="el")
TARGETS = ["ionic_conductivity_ms_per_cm", "coulombic_efficiency_pct"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))
    clear_cache()
    yield
    clear_cache()


def _unbounded(spec: CampaignSpec) -> CampaignSpec:
    data = spec.to_dict()
    data["targets"] = [{**t, "bounds": [None, None]} for t in data["targets"]]
    return CampaignSpec.from_dict(data)


def _two_plates(n: int = 14, spec: CampaignSpec = EL):
    frames = []
    for batch in (1, 2):
        X = space_filling_design(spec, n, seed=batch)
        Y = electrolyte_truth(X) + np.random.default_rng(batch).normal(0, 0.2, (n, 2))
        frames.append(observations(spec, X, Y, batch_id=batch))
    obs = pd.concat(frames, ignore_index=True)
    obs["well"] = [f"W{i}" for i in range(len(obs))]
    return snapshot(spec, obs)


def test_auto_is_the_default_model_of_a_campaign():
    assert Planning().model == "auto"
    data = EL.to_dict()
    data["planning"] = {**data["planning"], "model": "xgboost"}
    with pytest.raises((CampaignError, ValueError), match="model"):
        CampaignSpec.from_dict(data)


def test_auto_chooses_per_target_holding_out_plates_and_says_why():
    proposal = propose_plate(_two_plates(), surrogate="auto", seed=0, q=4, fast=True)
    assert proposal.generator.endswith("/auto"), proposal.warnings
    chosen = proposal.model_info["model_selection"]
    assert chosen["split"] == "groups" and chosen["folds"] == 2  # two plates: one held out
    assert list(chosen["chosen"]) == TARGETS
    for target, choice in chosen["choices"].items():
        assert choice["model"] in selection.CANDIDATES and choice["reason"]
        r2 = {m: s["r2"] for m, s in choice["scores"].items() if s.get("r2") is not None}
        assert r2[choice["model"]] >= r2["rf"] or choice["model"] == "rf", target
    json.dumps(proposal.model_info)  # stored with the batch as JSON
    for row in proposal.predictions:
        assert set(row["targets"]) == set(TARGETS)


@pytest.mark.parametrize("bounded", [False, True], ids=["open", "bounded"])
def test_a_mix_of_models_proposes_a_plate(monkeypatch, bounded):
    def fake(X, Y, **kwargs):
        choices = {"ionic_conductivity_ms_per_cm": TargetChoice(
            "ionic_conductivity_ms_per_cm", "gp", "fixed", {}),
            "coulombic_efficiency_pct": TargetChoice(
            "coulombic_efficiency_pct", "boosted", "fixed", {})}
        return Selection(choices=choices, folds=0, split="none", n_rows=len(X),
                         n_rows_used=len(X), key="t", seconds=0.0)

    monkeypatch.setattr(selection, "select_models", fake)
    # Open targets: the model list itself; bounded ones (CE in [0, 100] %, conductivity > 0,
    # the template's defaults): each part of the list mapped into its bounds.
    proposal = propose_plate(_two_plates(spec=EL if bounded else _unbounded(EL)),
                             surrogate="auto", seed=0, q=4, fast=True)
    assert proposal.generator.endswith("/auto"), proposal.warnings
    assert proposal.model_info["model_selection"]["chosen"] == {
        "ionic_conductivity_ms_per_cm": "gp", "coulombic_efficiency_pct": "boosted"}
    # Boosted trees have no input gradients: the plate comes from the scored pool alone.
    assert proposal.model_info["optimizer"]["optimized_wells"] == 0
    means = np.array([[r["targets"][t]["mean"] for t in TARGETS] for r in proposal.predictions])
    assert np.isfinite(means).all() and len(proposal.recipes) == 4
    if bounded:
        assert (means[:, 0] > 0).all() and (means[:, 1] <= 100).all()


def test_suggest_refuses_an_unknown_model_naming_the_choices():
    result = runner.invoke(planner_app, ["suggest", "--campaign", "x", "--model", "svm"])
    assert result.exit_code != 0
    assert "auto, gp, ensemble, rf, boosted" in result.output


def test_model_cv_shows_the_candidates_and_the_auto_pick(tmp_path):
    table = make_hard_carbon_table(8, 4, seed=5)
    path = tmp_path / "hc.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "cv.json"
    result = runner.invoke(planner_app, [
        "model", "cv", str(path), "--inputs",
        "precursor,carbonization_temperature_c,bet_ssa_m2_per_g,raman_id_ig",
        "--target", "ice_pct", "--categorical", "precursor", "--group", "paper",
        "--model", "gp,rf", "--folds", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "model: auto picks" in result.output
    metrics = json.loads(out.read_text())
    assert set(metrics["models"]) == {"gp", "rf"}
    pick = metrics["auto"]["ice_pct"]
    r2 = {m: v["ice_pct"]["r2"] for m, v in metrics["models"].items()}
    assert pick["model"] in r2 and pick["reason"]
    assert r2[pick["model"]] >= max(r2.values()) - 0.01 - 1e-12
    assert r2[pick["model"]] >= r2["rf"] or pick["model"] == "rf"
    assert pick["model"] in result.output


def test_spec_round_trip_keeps_the_model():
    data = EL.to_dict()
    data["planning"] = {**data["planning"], "model": "boosted"}
    spec = CampaignSpec.from_dict(yaml.safe_load(yaml.safe_dump(data)))
    assert spec.planning.model == "boosted"


class _Captured(Exception):
    pass


@pytest.mark.parametrize(("planning", "asked", "expected"),
                         [({}, None, "auto"), ({"model": "rf"}, None, "rf"),
                          ({"model": "rf"}, "gp", "gp")])
def test_weekly_plate_uses_the_spec_model_unless_told(store, monkeypatch, planning, asked,
                                                      expected):
    import planner.propose
    from campaigns.uploads import ingest_frame
    from planner.simulation.virtual_lab import run_plate
    from planner.weekly import suggest_plate

    data = load_template("electrolyte", name="weekly-auto").to_dict()
    data["planning"] = {**data["planning"], **planning}
    spec = CampaignSpec.from_dict(data)
    store.create_campaign(spec)
    batch = suggest_plate(store, spec.name, week="2026-W10").batch
    ingest_frame(store, spec.name, run_plate(spec, batch, seed=0, plate_index=0),
                 filename="w10.csv", batch_id=batch.id)
    seen = []

    def capture(snapshot, **kwargs):
        seen.append(kwargs["surrogate"])
        raise _Captured

    monkeypatch.setattr(planner.propose, "propose_plate", capture)
    with pytest.raises(_Captured):
        suggest_plate(store, spec.name, week="2026-W11", surrogate=asked)
    assert seen == [expected]


def test_insight_names_the_newest_plates_model_choice():
    from types import SimpleNamespace

    from planner.reports.insight import planner_model_choice

    selection_info = {"split": "groups", "folds": 3, "choices": {
        "ice_pct": {"model": "boosted", "reason": "best held-out R² 0.810, intervals cover 91 %",
                    "scores": {"gp": {"r2": 0.78, "coverage90": 0.88},
                               "boosted": {"r2": 0.81, "coverage90": 0.91}}}}}
    batches = [
        SimpleNamespace(id=1, iso_week="2026-W01", model_info={"design": "space-filling"}),
        SimpleNamespace(id=2, iso_week="2026-W02",
                        model_info={"surrogate": "auto", "targets": ["ice_pct"],
                                    "model_selection": selection_info}),
        SimpleNamespace(id=3, iso_week="2026-W03", model_info={}),
    ]
    choice = planner_model_choice(batches)
    assert choice is not None and choice.batch_id == 2 and choice.split == "groups"
    row = choice.choices.iloc[0]
    assert (row["target"], row["model"], row["label"]) == ("ice_pct", "boosted",
                                                           "Gradient boosting")
    assert "0.810" in row["reason"]
    assert choice.scores.set_index("model")["chosen"].to_dict() == {"gp": False, "boosted": True}
    fixed = planner_model_choice([SimpleNamespace(
        id=4, iso_week="2026-W04", model_info={"surrogate": "gp", "targets": ["ice_pct"]})])
    assert fixed is not None and fixed.choices.iloc[0]["model"] == "gp"
    assert "not chosen by cross-validation" in fixed.choices.iloc[0]["reason"]
    assert planner_model_choice(batches[:1]) is None
