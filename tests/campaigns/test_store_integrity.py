"""The database keeps data right: one current value per measurement, 64-bit seeds, atomic and
guarded schema upgrades, equal text-length rules on every engine, append-only retractions and
corrections. Run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from campaigns.errors import CampaignError, NotFoundError, StoreError
from campaigns.models import AuditRow, MeasurementRow
from campaigns.store import Store, _alembic_config
from tests.campaigns.test_store import _campaign_with_batch, _plate, _rec


def _current(store: Store, name: str = "demo") -> dict[tuple[str, str], float | None]:
    m = store.measurements(name)
    return {(r.well, r.quantity): r.value for r in m.itertuples()}


def test_default_seeds_up_to_2_pow_32_are_stored(any_store: Store) -> None:
    _campaign_with_batch(any_store)
    from campaigns.plate import fill_layout
    from campaigns.templates import load_template
    from planner.design import space_filling_design

    spec = load_template("hard-carbon", name="demo")
    recipes = space_filling_design(spec, spec.sample_well_count, seed=1).to_dict(orient="records")
    big = 2**32 - 1  # the largest default seed; 3368672285 overflowed PostgreSQL's INTEGER
    batch = any_store.save_batch("demo", iso_week="2026-W49",
                                 wells=fill_layout(spec.plate, recipes),
                                 generator="test", seed=big, data_revision=0)
    again = any_store.batch("demo", batch.id)
    assert again.seed == big
    assert {w.seed for w in again.wells} == {big}


def test_the_database_refuses_a_second_current_value(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 80.0)]), batch_id=batch.id)
    with any_store.engine.connect() as conn:
        well_id, first = conn.execute(select(MeasurementRow.well_id, MeasurementRow.id)).one()

    def add(value: float, supersedes: int | None) -> None:
        with any_store.engine.begin() as conn:
            conn.execute(insert(MeasurementRow).values(
                well_id=well_id, quantity="ice_pct", value=value, unit="%", status="ok",
                supersedes_id=supersedes, ingested_at=datetime(2026, 1, 1)))

    # A writer that read stale state would insert a second root, or fork the chain.
    with pytest.raises(IntegrityError):
        add(81.0, None)
    add(82.0, first)  # a correction of the current value is fine …
    with pytest.raises(IntegrityError):
        add(83.0, first)  # … a second correction of the same value is a fork
    assert _current(any_store) == {("A2", "ice_pct"): 82.0}


def test_a_metadata_only_correction_is_stored(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 80.0)], "a"), batch_id=batch.id)
    fixed = replace(_rec("A2", "ice_pct", 80.0), operator="bea", instrument="potentiostat-2")
    result = any_store.ingest("demo", _plate([fixed], "b"), batch_id=batch.id)
    assert (result.n_new, result.n_superseding, result.n_unchanged) == (0, 1, 0)
    row = any_store.measurements("demo").iloc[0]
    assert (row.operator, row.instrument, row.value) == ("bea", "potentiostat-2", 80.0)
    same = any_store.ingest("demo", _plate([fixed], "c"), batch_id=batch.id)
    assert (same.n_superseding, same.n_unchanged) == (0, 1)


def test_retract_an_upload_then_upload_the_right_file(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    good = any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 80.0)], "good"),
                            batch_id=batch.id)
    wrong = any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 55.0),
                                             _rec("A3", "ice_pct", 60.0, row=3)], "wrong"),
                             batch_id=batch.id)
    assert _current(any_store) == {("A2", "ice_pct"): 55.0, ("A3", "ice_pct"): 60.0}

    n = any_store.retract_upload("demo", wrong.upload_id, reason="plate 3's sheet", actor="ana")
    assert n == 2
    # Retracted values are gone from the current view; the superseded 80.0 does not come back
    # by itself (the chemist re-uploads or corrects it), and nothing was deleted.
    assert _current(any_store) == {}
    history = any_store.measurements("demo", include_superseded=True)
    assert sorted(history["status"]) == ["ok", "ok", "ok", "retracted", "retracted"]
    assert any_store.batch("demo", batch.id).status == "proposed"
    uploads = any_store.uploads("demo")
    assert uploads.set_index("upload_id").loc[wrong.upload_id, "retracted"]
    assert not uploads.set_index("upload_id").loc[good.upload_id, "retracted"]
    audit = any_store.audit_log("demo")
    entry = audit[audit["action"] == "upload.retract"].iloc[-1]
    assert entry["actor"] == "ana"
    assert {d["value"] for d in entry["detail"]["before"]} == {55.0, 60.0}

    with pytest.raises(CampaignError, match="retracted"):  # the same wrong file again
        any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 55.0)], "wrong"),
                         batch_id=batch.id)
    with pytest.raises(CampaignError, match="already"):
        any_store.retract_upload("demo", wrong.upload_id, reason="again")
    again = any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 80.0)], "good2"),
                             batch_id=batch.id)
    assert again.n_new == 1
    assert _current(any_store) == {("A2", "ice_pct"): 80.0}


def test_correct_and_retract_one_value(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    any_store.ingest("demo", _plate([_rec("A2", "ice_pct", 8.1)]), batch_id=batch.id)
    mid = any_store.correct_measurement("demo", batch_id=batch.id, well="a02",
                                        quantity="ice_pct", value=81.0, note="typo", actor="bea")
    assert _current(any_store) == {("A2", "ice_pct"): 81.0}
    row = any_store.measurements("demo").iloc[0]
    assert (row.measurement_id, row.note, row.operator) == (mid, "typo", "ana")
    audit = any_store.audit_log("demo")
    entry = audit[audit["action"] == "measurement.correct"].iloc[-1]
    assert (entry["detail"]["before"]["value"], entry["detail"]["after"]["value"]) == (8.1, 81.0)
    assert entry["actor"] == "bea"

    with pytest.raises(CampaignError, match="possible range"):
        any_store.correct_measurement("demo", batch_id=batch.id, well="A2", quantity="ice_pct",
                                      value=180.0, note="x")
    with pytest.raises(CampaignError, match="not a measured quantity") as info:
        any_store.correct_measurement("demo", batch_id=batch.id, well="A2", quantity="ice_pc",
                                      value=80.0, note="x")
    assert "Did you mean 'ice_pct'" in (info.value.hint or "")
    with pytest.raises(NotFoundError, match="no well"):
        any_store.correct_measurement("demo", batch_id=batch.id, well="Z99", quantity="ice_pct",
                                      value=80.0, note="x")

    any_store.retract_value("demo", batch_id=batch.id, well="A2", quantity="ice_pct",
                            reason="cell leaked")
    assert _current(any_store) == {}
    with pytest.raises(NotFoundError, match="no current"):
        any_store.retract_value("demo", batch_id=batch.id, well="A2", quantity="ice_pct",
                                reason="twice")
    # A value after a retraction starts the chain again, still one current value.
    any_store.correct_measurement("demo", batch_id=batch.id, well="A2", quantity="ice_pct",
                                  value=79.0, note="re-measured")
    assert _current(any_store) == {("A2", "ice_pct"): 79.0}
    chain = any_store.measurements("demo", include_superseded=True)
    assert chain["supersedes_id"].dropna().is_unique


def test_text_longer_than_its_column_is_refused_on_every_engine(any_store: Store) -> None:
    _, batch = _campaign_with_batch(any_store)
    long = replace(_rec("A2", "ice_pct", 80.0, row=7), operator="x" * 201)
    with pytest.raises(StoreError, match=r"Row 7, Operator: .* 201 characters long; at most 200"):
        any_store.ingest("demo", _plate([long]), batch_id=batch.id)
    assert any_store.measurements("demo").empty
    assert any_store.uploads("demo").empty


# --- opening and upgrading ---------------------------------------------------------------------
def _at_revision(path, revision: str) -> None:  # noqa: ANN001
    from alembic import command
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_upgrade_repairs_chains_that_raced(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "old.db"
    _at_revision(path, "0002")
    con = sqlite3.connect(path)
    con.executescript("""
        INSERT INTO campaigns VALUES (1, 'demo', '', '', 'x', '2026-01-01', '2026-01-01');
        INSERT INTO batches VALUES (1, 1, '2026-W01', 'running', 'test', 7, 0, '{}', '[]',
                                    '2026-01-01');
        INSERT INTO wells VALUES (1, 1, 'A1', 'sample', NULL, NULL, '{}', '{}', 7);
        -- two uploads raced: two roots (1, 2); then a correction forked from 1 (3, 4 -> 1)
        INSERT INTO measurements (id, well_id, quantity, value, unit, status, supersedes_id,
                                  ingested_at)
        VALUES (1, 1, 'ice_pct', 80, '%', 'ok', NULL, '2026-01-01'),
               (2, 1, 'ice_pct', 81, '%', 'ok', NULL, '2026-01-01'),
               (3, 1, 'ice_pct', 82, '%', 'ok', 1, '2026-01-01'),
               (4, 1, 'ice_pct', 83, '%', 'ok', 1, '2026-01-01'),
               (5, 1, 'cap_mah_g', 300, 'mAh/g', 'ok', NULL, '2026-01-01');
    """)
    con.commit()
    con.close()
    with Store.open(f"sqlite:///{path}") as store, store.engine.connect() as conn:
        links = dict(conn.execute(text("SELECT id, supersedes_id FROM measurements")).all())
        detail = conn.execute(select(AuditRow.detail).where(
            AuditRow.action == "measurements.repair_chains")).scalar_one()
    # One linear chain in id order; the value the model already used (83) stays current.
    assert links == {1: None, 2: 1, 3: 2, 4: 3, 5: None}
    assert [r["measurement_id"] for r in detail["relinked"]] == [2, 3, 4]


def test_upgrade_is_all_or_nothing(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import alembic.command

    path = tmp_path / "old.db"
    _at_revision(path, "0001")
    real = alembic.command.upgrade

    def dies_midway(cfg, revision):  # noqa: ANN001, ANN202
        real(cfg, "0002")  # creates the shared-dataset tables …
        raise KeyboardInterrupt  # … then the process is interrupted

    monkeypatch.setattr(alembic.command, "upgrade", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        Store.open(f"sqlite:///{path}")
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    con.close()
    assert "shared_sources" not in tables  # the half-done upgrade was rolled back
    monkeypatch.setattr(alembic.command, "upgrade", real)
    with Store.open(f"sqlite:///{path}") as store:  # and the next open upgrades fine
        assert store.campaign_names() == []


def test_a_newer_database_is_refused_untouched(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "new.db"
    Store.open(f"sqlite:///{path}").close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '9001'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer version") as info:
        Store.open(f"sqlite:///{path}")
    assert "Upgrade battery-bo-planner" in (info.value.hint or "")


@pytest.mark.parametrize("content", [b"Well,ICE [%]\nA1,80\n", b"\x00" * 5000],
                         ids=["csv", "binary"])
def test_a_file_that_is_not_a_database_is_refused(tmp_path, content: bytes) -> None:  # noqa: ANN001
    path = tmp_path / "plate.csv"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store.open(f"sqlite:///{path}")
    assert "not a planner database" in (info.value.hint or "") or "not a planner" in str(
        info.value)
    assert path.read_bytes() == content


def test_a_foreign_database_is_refused(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a planner database.*invoices"):
        Store.open(f"sqlite:///{path}")


def test_a_library_with_its_own_id_column_can_be_created(tmp_path) -> None:  # noqa: ANN001
    """The spec names the ID column (sample_no); the checked table calls it candidate_id."""
    import pandas as pd

    from campaigns.library import load_library
    from campaigns.spec import CampaignSpec

    spec = CampaignSpec.from_dict({
        "name": "lib", "library": {"id_column": "sample_no", "inputs": ["d002_nm"]},
        "targets": [{"name": "ice_pct"}], "plate": {"wells": 24}})
    table = pd.DataFrame({"sample_no": ["HC-1", "HC-2"], "d002_nm": [0.37, 0.38]})
    with Store.open(f"sqlite:///{tmp_path / 'l.db'}") as store:
        store.create_campaign(spec, library=load_library(spec, base_dir=tmp_path, frame=table))
        library = store.library("lib")
    assert library["candidate_id"].tolist() == ["HC-1", "HC-2"]
    assert library["d002_nm"].tolist() == [0.37, 0.38]
