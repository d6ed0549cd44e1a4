"""Physical bounds from the spec to the plate: the demo electrolyte plate shows no CE above 100 %.

Also the pieces on the way: a target's bounds in the spec (defaults from the column registry),
the target transform that gives each target one transform (log or bounds), and the stored
90 % intervals that the dashboard and the CLI show.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from campaigns.spec import CampaignSpec, Target
from campaigns.templates import load_template
from campaigns.uploads import ingest_frame
from planner.propose import Goal
from planner.reports import progress
from planner.simulation.demo import weeks_before
from planner.simulation.virtual_lab import run_plate
from planner.transforms import TargetTransform
from planner.weekly import current_week, suggest_plate

CE, KAPPA = "coulombic_efficiency_pct", "ionic_conductivity_ms_per_cm"


# --- the spec -----------------------------------------------------------------------------------
def test_targets_take_bounds_from_the_registry_or_the_spec() -> None:
    spec = load_template("electrolyte", name="e")
    assert {t.name: t.model_bounds for t in spec.targets} == {KAPPA: (0, None), CE: (0, 100)}
    assert load_template("hard-carbon", name="h").targets[0].model_bounds == (0, 100)  # ICE
    assert Target(name=CE, bounds=(None, None)).model_bounds is None  # switched off
    assert Target(name="yield_g").model_bounds is None  # a lab's own column: none by default
    assert Target(name="yield_g", bounds=(0, None)).model_bounds == (0, None)
    data = spec.to_dict()
    data["targets"][1]["bounds"] = [50, 100]
    again = CampaignSpec.from_yaml(CampaignSpec.from_dict(data).to_yaml())
    assert again.targets[1].model_bounds == (50, 100)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bounds": (100, 0)}, "must be below"),
    ({"threshold": 101.0}, "outside its bounds"),
    ({"bounds": (0, float("inf"))}, "null for an open end"),
])
def test_bad_target_bounds_are_refused_with_a_hint(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Target(name=CE, **kwargs)
    assert "Hint:" in str(info.value)


# --- one transform per target -------------------------------------------------------------------
def test_a_target_gets_a_log_or_its_bounds_not_both() -> None:
    Y = pd.DataFrame({"ce": [90.0, 99.0, 99.9], "loss": [0.01, 0.5, 2.0],
                      "cap": [1.0, 50.0, 300.0]})
    t = TargetTransform.fit(Y, directions=["max", "min", "max"], mode="on",
                            bounds={"ce": (0, 100), "loss": (0, None), "cap": (0.5, None)})
    assert t.logged == ("loss", "cap")  # ce has an upper bound: its logit does the job
    assert t.model_bounds == {"ce": (0, 100), "cap": (pytest.approx(np.log10(0.5)), None)}
    np.testing.assert_allclose(t.backward_values("cap", np.array([0.0, 2.0])), [1.0, 100.0])
    assert t.backward_values("ce", np.array([99.5]))[0] == 99.5
    assert Goal("ice_pct").model_bounds == (0, 100)
    assert Goal("ice_pct", bounds=(None, None)).model_bounds is None


# --- the demo's electrolyte plate ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_plate(tmp_path_factory):  # noqa: ANN201
    """The demo's electrolyte loop (the virtual lab, two simulated weeks), then this week's
    plate, with the GP and fast optimizer settings."""
    from campaigns.store import Store

    today = date(2026, 3, 11)
    name = "demo-electrolyte"
    url = f"sqlite:///{tmp_path_factory.mktemp('bounded') / 'planner.db'}"
    with Store.open(url) as store:
        spec = load_template("electrolyte", name=name)
        store.create_campaign(spec, actor="demo")
        for i, week in enumerate(weeks_before(2, today)):
            batch = suggest_plate(store, name, week=week, surrogate="gp", fast=True,
                                  actor="demo").batch
            ingest_frame(store, name, run_plate(spec, batch, seed=i, plate_index=i),
                         filename=f"{week}.csv", batch_id=batch.id, actor="demo")
        plate = suggest_plate(store, name, week=current_week(today), surrogate="gp", fast=True,
                              actor="demo").batch
        yield store.snapshot(name), store.batches(name), plate


def test_the_demo_electrolyte_plate_shows_no_ce_above_100(demo_plate) -> None:
    snapshot, _, plate = demo_plate
    assert plate.generator.startswith("botorch:")
    preds = [w.predictions["targets"] for w in plate.wells if w.predictions.get("targets")]
    assert len(preds) >= 20
    ce = pd.DataFrame([p[CE] for p in preds])
    kappa = pd.DataFrame([p[KAPPA] for p in preds])
    assert ce[["mean", "low", "high"]].notna().all().all()
    assert (ce[["mean", "low", "high"]].to_numpy() <= 100.0).all()
    assert (ce["low"] <= ce["mean"]).all() and (ce["mean"] <= ce["high"]).all()
    assert (kappa[["mean", "low", "high"]].to_numpy() >= 0.0).all()
    assert snapshot.observations[CE].max() < 100.0  # the model, not the data, was the risk
    links = {link["link"] for link in plate.model_info["target_links"]}
    assert links == {"logit", "softplus"}
    assert plate.model_info["target_bounds"] == {KAPPA: [0, None], CE: [0, 100]}


def test_plate_frame_and_prediction_check_use_the_stored_interval(demo_plate) -> None:
    snapshot, batches, plate = demo_plate
    frame = progress.plate_frame(plate, snapshot.spec)
    ends = frame[[f"predicted_{CE}_low", f"predicted_{CE}_high"]].dropna()
    assert len(ends) >= 20 and (ends.to_numpy() <= 100.0).all()
    checked, check = progress.prediction_check(snapshot, batches)
    assert checked is not None and check["predicted_low"].notna().all()
    inside = check["measured"].between(check["predicted_low"], check["predicted_high"])
    assert (check["inside_90"] == inside).all()
