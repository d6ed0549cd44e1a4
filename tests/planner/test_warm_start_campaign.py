"""A campaign warm-started by another lab's published data: pull, switch on, suggest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.ingest import MeasurementRecord
from campaigns.shared_dataset import SharedDataset, publish_campaign
from campaigns.spec import WarmStart
from campaigns.store import Store
from campaigns.templates import load_template
from planner.propose import propose_plate
from planner.weekly import suggest_plate
from tests.campaigns.test_shared_dataset import _plate, make_campaign
from tests.planner.proposal_data import hard_carbon_snapshot, hard_carbon_truth

WEEK1, WEEK2 = "2026-W49", "2026-W50"


def _spec(name: str, warm: WarmStart | None):  # noqa: ANN202
    data = load_template("hard-carbon", name=name).to_dict()
    data["plate"] = {"wells": 24}
    data["warm_start"] = None if warm is None else warm.model_dump()
    from campaigns.spec import CampaignSpec

    return CampaignSpec.from_dict(data)


def _measure(store: Store, campaign: str, batch, n: int) -> None:  # noqa: ANN001
    recipes = pd.DataFrame([w.recipe for w in batch.wells[:n]])
    truth = hard_carbon_truth(recipes)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    records = [
        MeasurementRecord(w.well, q, float(truth.iloc[i][q]), unit, "ok", "ana", "VMP3", at,
                          i + 2, None)
        for i, w in enumerate(batch.wells[:n])
        for q, unit in (("ice_pct", "%"), ("reversible_capacity_mah_per_g", "mAh/g"))
    ]
    store.ingest(campaign, _plate(records, f"{campaign}-{batch.iso_week}"), batch_id=batch.id)


@pytest.fixture
def lab_b(tmp_path: Path):  # noqa: ANN201
    """Lab B's database holding lab A's published plate as shared source ``lab-a``."""
    with Store.open(f"sqlite:///{tmp_path / 'lab-a.db'}") as lab_a:
        make_campaign(lab_a)
        package = publish_campaign(lab_a, "hc", tmp_path / "pkg").path
    with Store.open(f"sqlite:///{tmp_path / 'lab-b.db'}") as store:
        SharedDataset(store.engine).pull(package, name="lab-a")
        yield store


def test_prior_rows_match_the_campaign_and_skip_outliers(lab_b: Store) -> None:
    spec = load_template("hard-carbon", name="new")
    targets = ["ice_pct", "reversible_capacity_mah_per_g"]
    prior = SharedDataset(lab_b.engine).prior_for(spec.input_names, targets)
    # Lab A measured 12 wells: one failed synthesis (no targets) and one outlier are left out.
    assert len(prior) == 10
    assert list(prior.X.columns) == spec.input_names and list(prior.Y.columns) == targets
    assert prior.Y.notna().all().all() and set(prior.source) == {"lab-a"}
    assert list(prior.sources) == ["lab-a"] and len(prior.sources["lab-a"]) == 64
    with pytest.raises(Exception, match="nobody"):
        SharedDataset(lab_b.engine).prior_for(spec.input_names, targets, sources=("nobody",))


def test_warm_started_campaign_records_its_prior_on_the_plate(lab_b: Store) -> None:
    spec = _spec("new", WarmStart(sources=("lab-a",), mode="multitask"))
    lab_b.create_campaign(spec)
    first = suggest_plate(lab_b, "new", week=WEEK1, fast=True).batch
    _measure(lab_b, "new", first, 4)
    plate = suggest_plate(lab_b, "new", week=WEEK2, fast=True).batch
    warm = plate.model_info["warm_start"]
    assert warm is not None, plate.warnings
    assert warm["mode"] == "multitask" and set(warm["sources"]) == {"lab-a"}
    assert warm["prior_rows"] == {"ice_pct": 10, "reversible_capacity_mah_per_g": 10}
    assert all(np.isfinite(v) for v in warm["prior_weight"].values())
    assert len(plate.wells) == spec.plate.wells and plate.seed is not None
    # Switched off: the same data gives a campaign-only GP and says so nowhere.
    lab_b.update_spec(spec.model_copy(update={"warm_start": None}))
    cold = suggest_plate(lab_b, "new", week=WEEK2, fast=True, force=True).batch
    assert cold.model_info["warm_start"] is None


def test_unknown_source_is_a_warning_not_a_crash(lab_b: Store) -> None:
    spec = _spec("typo", WarmStart(sources=("lab-aa",)))
    lab_b.create_campaign(spec)
    first = suggest_plate(lab_b, "typo", week=WEEK1, fast=True).batch
    _measure(lab_b, "typo", first, 6)
    plate = suggest_plate(lab_b, "typo", week=WEEK2, fast=True).batch
    assert plate.model_info["warm_start"] is None
    assert any("lab-aa" in w for w in plate.warnings), plate.warnings
    assert plate.generator.startswith("botorch")


def test_prior_helps_the_model_where_the_campaign_has_no_data() -> None:
    """Six campaign rows + 60 rows of another lab on the same chemistry: better predictions."""
    spec = load_template("hard-carbon", name="hc").model_copy(
        update={"warm_start": WarmStart(mode="multitask")}
    )
    snap = hard_carbon_snapshot(6, seed=1, spec=spec, noise=0.2)
    other = hard_carbon_snapshot(60, seed=2, spec=spec, noise=0.2)
    X_other, Y_other = other.training_data()
    from campaigns.shared_dataset.dataset import PriorRows

    prior = PriorRows(X_other.reset_index(drop=True), Y_other.reset_index(drop=True) + 1.0,
                      pd.Series(["lab-x"] * len(X_other)), {"lab-x": "0" * 64})
    warm = propose_plate(snap, seed=0, q=4, fast=True, prior=prior)
    cold = propose_plate(snap.__class__(**{**snap.__dict__, "spec": spec.model_copy(
        update={"warm_start": None})}), seed=0, q=4, fast=True)
    assert warm.model_info["warm_start"]["prior_rows"]["ice_pct"] == 60
    assert cold.model_info["warm_start"] is None
    # Predictions at the proposed wells: the warm model's error against the truth is smaller.
    def error(p) -> float:  # noqa: ANN001
        truth = hard_carbon_truth(p.recipes)["ice_pct"].to_numpy()
        mean = np.array([w["targets"]["ice_pct"]["mean"] for w in p.predictions])
        return float(np.abs(mean - truth).mean())

    assert error(warm) < error(cold)


def test_regenerated_plate_does_not_count_itself_as_pending(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as store:
        store.create_campaign(_spec("p", None))
        first = suggest_plate(store, "p", week=WEEK1, fast=True).batch
        _measure(store, "p", first, 6)
        on_order = sum(w.role != "control" for w in first.wells) - 6
        plate = suggest_plate(store, "p", week=WEEK2, fast=True).batch
        assert plate.model_info["pending"] == on_order
        again = suggest_plate(store, "p", week=WEEK2, fast=True, force=True).batch
        assert again.id != plate.id
        assert again.model_info["pending"] == on_order  # not on_order + the replaced plate
