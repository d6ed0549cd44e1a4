"""`planner db backup` / `planner db restore` on SQLite and PostgreSQL (campaigns.backup)."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from campaigns import backup as bk
from campaigns.ingest import MeasurementRecord, ParsedPlate
from campaigns.plate import fill_layout
from campaigns.store import Store
from campaigns.templates import load_template
from planner.cli import app
from planner.design import space_filling_design

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def _upload(store: Store, name: str, values: dict[str, float], tag: str) -> None:
    batch = store.batch(name)
    records = tuple(MeasurementRecord(well=w, quantity="ice_pct", value=v, unit="%", status="ok",
                                      operator="ana", instrument=None, measured_at=None,
                                      source_row=i + 2, note=None)
                    for i, (w, v) in enumerate(values.items()))
    parsed = ParsedPlate(filename=f"{tag}.csv", sha256=hashlib.sha256(tag.encode()).hexdigest(),
                         batch_id=batch.id, n_rows=len(records), records=records, warnings=())
    store.ingest(name, parsed, batch_id=batch.id)


def _fill(url: str, name: str = "demo") -> None:
    """A campaign with a plate, two uploads and a correction."""
    spec = load_template("hard-carbon", name=name)
    recipes = space_filling_design(spec, spec.sample_well_count, seed=0).to_dict(orient="records")
    with Store.open(url) as store:
        store.create_campaign(spec)
        store.save_batch(name, iso_week="2026-W10", wells=fill_layout(spec.plate, recipes),
                         generator="test", seed=7, data_revision=0)
        _upload(store, name, {"A2": 80.0, "A3": 81.0, "A4": 82.0}, f"{name}-1")
        _upload(store, name, {"A2": 85.0}, f"{name}-2")


def _state(url: str) -> tuple[list[str], pd.DataFrame]:
    with Store.open(url) as store:
        names = store.campaign_names()
        frames = [store.measurements(n, include_superseded=True).assign(campaign=n)
                  for n in names]
    history = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return names, history.drop(columns=["ingested_at"], errors="ignore")


# --- SQLite ------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    _fill(url)
    return url


def test_sqlite_backup_change_restore_brings_everything_back(sqlite_db: str,
                                                             tmp_path: Path) -> None:
    before = _state(sqlite_db)
    out = tmp_path / "backup.db"
    text = _cli("db", "backup", str(out), "--db", sqlite_db)
    assert f"schema revision {bk.head_revision()}" in text
    assert "1 campaign(s), 4 measurement(s)" in text and " MB," in text
    # the change that the restore must undo: a second campaign and a corrected value
    _fill(sqlite_db, name="later")
    with Store.open(sqlite_db) as store:
        _upload(store, "demo", {"A3": 90.0}, "fix")
    assert _state(sqlite_db)[0] == ["demo", "later"]

    refused = _cli("db", "restore", str(out), "--db", sqlite_db, code=1)
    assert "2 campaign(s)" in refused and "--force" in refused
    assert _state(sqlite_db)[0] == ["demo", "later"]  # refused means untouched

    text = _cli("db", "restore", str(out), "--db", sqlite_db, "--force")
    assert "Restored" in text and "4 measurement(s)" in text
    names, history = _state(sqlite_db)
    assert names == before[0]
    pd.testing.assert_frame_equal(history, before[1])
    with Store.open(sqlite_db) as store:  # and the restored database is writable again
        _upload(store, "demo", {"A5": 70.0}, "after")
        assert len(store.measurements("demo")) == 4
    assert not list(tmp_path.glob(".*.tmp"))


def test_restore_into_a_new_file_needs_no_force(sqlite_db: str, tmp_path: Path) -> None:
    out = tmp_path / "b.db"
    bk.backup(sqlite_db, out)
    target = f"sqlite:///{tmp_path / 'new' / 'copy.db'}"
    info = bk.restore(target, out)
    assert (info.n_campaigns, info.n_measurements) == (1, 4)
    assert _state(target)[0] == ["demo"]


@pytest.mark.parametrize(
    "content", [b"Well,ICE [%]\nA1,80\n", b"", b"SQLite format 3\x00" + b"\x00" * 200],
    ids=["csv", "empty", "damaged-sqlite"])
def test_restore_of_a_file_that_is_not_a_backup_is_refused(sqlite_db: str, tmp_path: Path,
                                                            content: bytes) -> None:
    before = _state(sqlite_db)
    fake = tmp_path / "fake.db"
    fake.write_bytes(content)
    text = _cli("db", "restore", str(fake), "--db", sqlite_db, "--force", code=1)
    assert "Error:" in text and "Hint:" in text and "planner db backup" in text
    assert _state(sqlite_db)[0] == before[0]


def test_restore_refuses_a_database_without_revision_or_from_a_newer_version(
        sqlite_db: str, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE campaigns (id INTEGER PRIMARY KEY)")
    conn.close()
    text = _cli("db", "restore", str(foreign), "--db", sqlite_db, "--force", code=1)
    assert "no schema revision" in text
    newer = tmp_path / "newer.db"
    bk.backup(sqlite_db, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.close()
    text = _cli("db", "restore", str(newer), "--db", sqlite_db, "--force", code=1)
    assert "9999_future" in text and "newer version" in text and "Upgrade" in text


def test_backup_never_overwrites_without_force(sqlite_db: str, tmp_path: Path) -> None:
    out = tmp_path / "b.db"
    out.write_text("keep me")
    text = _cli("db", "backup", str(out), "--db", sqlite_db, code=1)
    assert "exists" in text and "--force" in text and out.read_text() == "keep me"
    _cli("db", "backup", str(out), "--db", sqlite_db, "--force")
    assert bk.inspect_backup(out).n_measurements == 4
    missing = _cli("db", "backup", str(tmp_path / "x.db"), "--db",
                   f"sqlite:///{tmp_path / 'nothing.db'}", code=1)
    assert "no database" in missing


def test_backup_is_consistent_while_another_connection_writes(sqlite_db: str,
                                                              tmp_path: Path) -> None:
    path = sa.make_url(sqlite_db).database
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE measurements SET value = -1")  # not committed yet
        info = bk.backup(sqlite_db, tmp_path / "during.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert info.n_measurements == 4
    with sqlite3.connect(tmp_path / "during.db") as conn:
        assert -1 not in {v for (v,) in conn.execute("SELECT value FROM measurements")}
    conn.close()


def test_a_crash_mid_restore_leaves_the_old_database(sqlite_db: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "b.db"
    bk.backup(sqlite_db, out)
    _fill(sqlite_db, name="later")
    before = _state(sqlite_db)

    def half_copy(source: Path, dest: Path) -> None:
        dest.write_bytes(source.read_bytes()[:4096])  # a copy cut short by a crash
        raise KeyboardInterrupt

    monkeypatch.setattr(bk, "_copy_sqlite", half_copy)
    with pytest.raises(KeyboardInterrupt):
        bk.restore(sqlite_db, out, force=True)
    names, history = _state(sqlite_db)
    assert names == before[0] == ["demo", "later"]
    pd.testing.assert_frame_equal(history, before[1])
    assert not list(tmp_path.glob(".*.tmp"))


def test_restore_refuses_a_database_being_written(sqlite_db: str, tmp_path: Path) -> None:
    out = tmp_path / "b.db"
    bk.backup(sqlite_db, out)
    journal = Path(sa.make_url(sqlite_db).database + "-journal")
    journal.write_bytes(b"")
    try:
        with pytest.raises(bk.BackupError) as info:
            bk.restore(sqlite_db, out, force=True)
    finally:
        journal.unlink()
    assert "being written" in str(info.value) and "Stop the dashboard" in info.value.hint


# --- PostgreSQL --------------------------------------------------------------------------------
def test_libpq_url_carries_no_password_on_the_command_line() -> None:
    url = sa.make_url("postgresql+psycopg://lab:s3cret@db.example:5433/planner?sslmode=require")
    conninfo, env = bk._libpq(url)
    assert conninfo == "postgresql://lab@db.example:5433/planner?sslmode=require"
    assert env["PGPASSWORD"] == "s3cret"


def test_missing_postgresql_tools_are_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bk.shutil, "which", lambda name: None)
    monkeypatch.setattr(bk.glob, "glob", lambda pattern: [])
    text = _cli("db", "backup", str(tmp_path / "x.dump"), "--db",
                "postgresql+psycopg://lab@localhost/planner", code=1)
    assert "pg_dump was not found" in text and "postgresql-client" in text


@pytest.fixture
def new_pg_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh databases on the shared server (each test sees only its own data)."""
    server = sa.make_url(postgres_url)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"bk_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_postgresql_backup_change_restore_round_trip(new_pg_database, tmp_path: Path) -> None:
    url = new_pg_database()
    _fill(url)
    before = _state(url)
    out = tmp_path / "pg.dump"
    text = _cli("db", "backup", str(out), "--db", url)
    assert out.read_bytes().startswith(b"PGDMP") and "4 measurement(s)" in text
    _fill(url, name="later")
    _cli("db", "restore", str(out), "--db", url, code=1)  # holds data: needs --force
    assert _state(url)[0] == ["demo", "later"]
    _cli("db", "restore", str(out), "--db", url, "--force")
    names, history = _state(url)
    assert names == before[0]
    pd.testing.assert_frame_equal(history, before[1])
    with Store.open(url) as store:  # sequences came back too: new rows get new ids
        _upload(store, "demo", {"A5": 70.0}, "after")
    # an empty database takes the backup without --force
    other = new_pg_database()
    info = bk.restore(other, out)
    assert (info.revision, info.n_measurements) == (bk.head_revision(), 4)
    assert _state(other)[0] == ["demo"]
    # a PostgreSQL backup is not restored into SQLite
    text = _cli("db", "restore", str(out), "--db", f"sqlite:///{tmp_path / 's.db'}", code=1)
    assert "postgresql backup" in text


@pytest.mark.postgres
def test_postgresql_restore_of_an_older_backup_drops_later_tables(new_pg_database,
                                                                  tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    old = new_pg_database()
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    engine = sa.create_engine(old)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")  # before the shared-dataset tables
    engine.dispose()
    out = tmp_path / "old.dump"
    info = bk.backup(old, out)
    assert info.revision == "0001"
    url = new_pg_database()
    _fill(url)
    bk.restore(url, out, force=True)
    engine = sa.create_engine(url)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert "shared_sources" not in tables and "campaigns" in tables
    with Store.open(url) as store:  # the next open upgrades the restored database to head
        assert store.campaign_names() == []
