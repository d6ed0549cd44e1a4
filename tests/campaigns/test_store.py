"""Store behaviour on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import inspect

from campaigns.errors import CampaignError, NotFoundError, StoreError
from campaigns.ingest import MeasurementRecord, ParsedPlate
from campaigns.models import Base
from campaigns.plate import fill_layout
from campaigns.store import Store
from campaigns.templates import load_template
from planner.design import space_filling_design


def _campaign_with_batch(store: Store, name: str = "demo"):  # noqa: ANN202
    spec = load_template("hard-carbon", name=name)
    store.create_campaign(spec)
    recipes = space_filling_design(spec, spec.sample_well_count, seed=0).to_dict(orient="records")
    batch = store.save_batch(name, iso_week="2026-W48", wells=fill_layout(spec.plate, recipes),
                             generator="test", seed=0, data_revision=0)
    return spec, batch


def _plate(records: list[MeasurementRecord], tag: str = "a") -> ParsedPlate:
    return ParsedPlate(filename=f"{tag}.csv", sha256=hashlib.sha256(tag.encode()).hexdigest(),
                       batch_id=None, n_rows=len(records), records=tuple(records), warnings=())


def _rec(well: str, qty: str, value: float | None, status: str = "ok",
         row: int = 2) -> MeasurementRecord:
    return MeasurementRecord(well=well, quantity=qty, value=value, unit="%", status=status,
                             operator="ana", instrument="potentiostat-1", measured_at=None,
                             source_row=row, note=None)


def test_schema_matches_models_after_migration(any_store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert {"campaigns", "batches", "wells", "measurements", "uploads", "audit_log",
            "candidates"} <= set(inspect(any_store.engine).get_table_names())


def test_open_twice_is_idempotent(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with Store.open(url) as store:
        store.create_campaign(load_template("electrolyte", name="e"))
    with Store.open(url) as store:
        assert store.campaign_names() == ["e"]


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("nosuchdb://x")
    assert info.value.hint and "sqlite" in info.value.hint


def test_create_and_read_campaign(any_store: Store) -> None:
    spec = load_template("hard-carbon", name="hc")
    any_store.create_campaign(spec)
    assert any_store.spec("hc") == spec
    with pytest.raises(CampaignError, match="already exists"):
        any_store.create_campaign(spec)
    with pytest.raises(NotFoundError) as info:
        any_store.spec("hd")
    assert "hc" in (info.value.hint or "")


def test_batch_per_week_and_force(any_store: Store) -> None:
    spec, batch = _campaign_with_batch(any_store)
    assert len(batch.wells) == 96
    assert any_store.batch_for_week("demo", "2026-W48").id == batch.id
    with pytest.raises(CampaignError, match="already has batch"):
        any_store.save_batch("demo", iso_week="2026-W48", wells=[], generator="x", seed=1,
                             data_revision=0)
    new = any_store.save_batch("demo", iso_week="2026-W48",
                               wells=fill_layout(spec.plate, [dict(w.recipe) for w in batch.wells
                                                              if w.role == "sample"]),
                               generator="again", seed=1, data_revision=0, replace=True)
    assert new.id != batch.id and any_store.batch_for_week("demo", "2026-W48").id == new.id
    statuses = {b.id: b.status for b in any_store.batches("demo", include_discarded=True)}
    assert statuses[batch.id] == "discarded"


def test_ingest_appends_and_supersedes(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    first = any_store.ingest(
        "demo", _plate([_rec("A2", "ice_pct", 81.0), _rec("A3", "ice_pct", 70.0)]),
        batch_id=batch.id)
    assert (first.n_new, first.n_superseding) == (2, 0) and first.batch_status == "running"
    again = any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 81.0)]), batch_id=batch.id)
    assert again.already_uploaded and not again.changed
    fix = any_store.ingest(
        "demo", _plate([_rec("A2", "ice_pct", 82.5), _rec("A3", "ice_pct", 70.0)], "b"),
        batch_id=batch.id)
    assert (fix.n_new, fix.n_superseding, fix.n_unchanged) == (0, 1, 1)
    current = any_store.measurements("demo")
    assert sorted(current["value"]) == [70.0, 82.5]
    history = any_store.measurements("demo", include_superseded=True)
    assert sorted(history["value"]) == [70.0, 81.0, 82.5]  # nothing is ever lost
    row = current[current["well"] == "A2"].iloc[0]
    assert row["operator"] == "ana" and row["source_file"] == "b.csv" and row["supersedes_id"] > 0
    snap = any_store.snapshot("demo")
    assert snap.revision == int(history["measurement_id"].max())
    obs = snap.observations.set_index("well")
    assert obs.loc["A2", "ice_pct"] == 82.5
    assert len(snap.pending) == 94 - 2  # samples + replicates not yet measured


def test_failed_statuses_reach_the_snapshot(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    any_store.ingest("demo", _plate([_rec("A2", "status", None, "failed_synthesis"),
                                     _rec("A3", "status", None, "failed_cell"),
                                     _rec("A4", "ice_pct", 85.0)]), batch_id=batch.id)
    snap = any_store.snapshot("demo")
    status = snap.observations.set_index("well")["status"]
    assert status.to_dict() == {"A2": "failed_synthesis", "A3": "failed_cell", "A4": "ok"}
    X, Y = snap.training_data()
    assert len(X) == 1 and Y["ice_pct"].iloc[0] == 85.0
    Xs, ok = snap.synthesis_outcomes()
    assert sorted(ok.tolist()) == [0.0, 1.0, 1.0]


def test_failed_ingest_writes_nothing(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    with pytest.raises(CampaignError):
        any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 80.0), _rec("Z99", "ice_pct", 1.0)]),
                         batch_id=batch.id)
    assert any_store.measurements("demo", include_superseded=True).empty
    assert not any(a == "measurements.ingest" for a in any_store.audit_log("demo")["action"])


def test_audit_log_records_each_write(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 81.0)]), batch_id=batch.id)
    assert list(any_store.audit_log("demo")["action"]) == [
        "campaign.create", "batch.propose", "measurements.ingest"]


def test_library_campaign_round_trip(any_store: Store) -> None:
    import numpy as np
    import pandas as pd

    from campaigns.spec import CampaignSpec

    spec = CampaignSpec.from_dict({
        "name": "lib", "library": {"inputs": ["d002_nm", "bet_ssa_m2_per_g", "precursor"],
                                   "categorical": ["precursor"]},
        "targets": [{"name": "ice_pct"}], "plate": {"wells": 24}})
    lib = pd.DataFrame({"candidate_id": ["a", "b", "c"], "d002_nm": [0.37, np.nan, 0.39],
                        "bet_ssa_m2_per_g": [5.0, 500.0, np.nan],
                        "precursor": ["pitch", "lignin", None]})
    any_store.create_campaign(spec, library=lib)
    back = any_store.library("lib")
    assert list(back["candidate_id"]) == ["a", "b", "c"]
    assert np.isnan(back.loc[1, "d002_nm"]) and pd.isna(back.loc[2, "precursor"])
