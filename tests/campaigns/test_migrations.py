"""Upgrading from every schema revision keeps every row readable, and ends at the models' schema.

For each revision in ``campaigns/migrations`` (found by Alembic, so a new migration is covered
without touching this file) a database is built at that revision, filled with plain SQL against
the tables as they were then (a campaign, a batch with wells, two uploads, measurements with a
correction chain and a status-only failure, an audit entry, two shared sources whose rows
duplicate each other), and opened with :meth:`Store.open`, which upgrades it to head. The data
must then read back through the Store API exactly, the store must accept a new correction, and
Alembic must find no difference between the upgraded schema and :mod:`campaigns.models`.

A migration that adds a required column (NOT NULL, no server default) to a seeded table makes
the seed fail with a message naming the column: give it a value in ``_seed``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from campaigns.ingest import MeasurementRecord, ParsedPlate
from campaigns.models import Base
from campaigns.shared_dataset import SharedDataset
from campaigns.store import Store
from campaigns.templates import load_template


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    return cfg


#: Every revision, oldest first.
REVISIONS = [r.revision for r in reversed(list(ScriptDirectory.from_config(_config())
                                                 .walk_revisions()))]
SEED = 2**31 - 1  # the largest seed every revision can hold on PostgreSQL (INTEGER before 0003)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database; on PostgreSQL a fresh database on the shared test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = sa.make_url(request.getfixturevalue("postgres_url"))
    name = f"mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _build(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            assert MigrationContext.configure(conn).get_current_revision() == revision
    finally:
        engine.dispose()


class _Seeder:
    """Inserts rows with plain SQL into the tables as they exist at the database's revision."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.meta = sa.MetaData()
        self.meta.reflect(conn)
        self.counts: dict[str, int] = {}

    def has(self, table: str) -> bool:
        return table in self.meta.tables

    def add(self, table: str, **values: object) -> int:
        t = self.meta.tables[table]
        required = [c.name for c in t.columns if not c.nullable and not c.primary_key
                    and c.server_default is None and c.name not in values]
        assert not required, (
            f"this revision has required column(s) {table}.{required} that the migration test "
            "does not fill: give them a value in tests/campaigns/test_migrations.py::_seed")
        row = {k: v for k, v in values.items() if k in t.c}
        self.counts[table] = self.counts.get(table, 0) + 1
        return self.conn.execute(t.insert().values(**row).returning(t.c.id)).scalar_one()


def _seed(url: str) -> dict[str, object]:
    """Representative rows, as earlier versions wrote them; returns what must read back."""
    spec = load_template("hard-carbon", name="demo")
    recipe = {name: 1.0 for name in spec.input_names}
    recipe["precursor"] = "hard wood"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            db = _Seeder(conn)
            camp = db.add("campaigns", name="demo", description="old data", owner="ana",
                          spec_yaml=spec.to_yaml(), created_at=T0, updated_at=T0)
            db.add("audit_log", at=T0, actor="ana", action="campaign.create", campaign_id=camp,
                   detail={"n_candidates": 0})
            batch = db.add("batches", campaign_id=camp, iso_week="2026-W10", status="running",
                           generator="space-filling", seed=SEED, data_revision=0,
                           model_info={"surrogate": "gp"}, warnings=["one warning"],
                           created_at=T0)
            wells = {}
            for well, role in (("A1", "control"), ("A2", "sample"), ("A3", "sample"),
                               ("A4", "sample"), ("A5", "replicate")):
                wells[well] = db.add("wells", batch_id=batch, well=well, role=role,
                                     replicate_of="A2" if role == "replicate" else None,
                                     candidate_id=None, recipe=recipe,
                                     predictions={"targets": {"ice_pct": {"mean": 80.0,
                                                                          "std": 2.0}}},
                                     seed=SEED)
            uploads = [db.add("uploads", campaign_id=camp, batch_id=batch, filename=f"w10-{i}.csv",
                              sha256=hashlib.sha256(bytes([i])).hexdigest(), uploaded_by="ana",
                              uploaded_at=T0, n_new=2, n_superseding=i - 1, n_unchanged=0)
                       for i in (1, 2)]

            def measure(well: str, quantity: str, value: float | None, *, upload: int,
                        status: str = "ok", supersedes: int | None = None) -> int:
                return db.add("measurements", well_id=wells[well], upload_id=upload,
                              quantity=quantity, value=value, unit="" if value is None else "%",
                              status=status, operator="ana", instrument="VMP3",
                              measured_at=T0, source_file_sha256="a" * 64, source_row=3,
                              note="first plate", supersedes_id=supersedes, ingested_at=T0)

            first = measure("A2", "ice_pct", 70.0, upload=uploads[0])
            measure("A3", "ice_pct", 82.0, upload=uploads[0])
            measure("A4", "status", None, upload=uploads[0], status="failed_synthesis")
            second = measure("A2", "ice_pct", 75.0, upload=uploads[1], supersedes=first)
            last = measure("A2", "ice_pct", 77.5, upload=uploads[1], status="outlier",
                           supersedes=second)
            shared = db.has("shared_sources")
            if shared:
                source = db.add("shared_sources", name="other-lab", title="Other lab",
                                domain="hard-carbon", licence="CC-BY-4.0",
                                licence_url="https://creativecommons.org/licenses/by/4.0/",
                                citation="", contributors=[], fields=[],
                                package_sha256="b" * 64, descriptor={}, origin="pkg",
                                pulled_at=T0, pulled_by="ana")
                original = db.add("shared_rows", source_id=source, row_id="r1",
                                  kind="measurement", domain="hard-carbon", state="accepted",
                                  values={"ice_pct": 88.0}, provenance={"operator": "bo"},
                                  problems=[], values_sha256="c" * 64, duplicate_of_id=None,
                                  created_at=T0, updated_at=T0)
                again = db.add("shared_sources", name="seed-set", title="Seed",
                               domain="hard-carbon", licence="CC0-1.0", licence_url="",
                               citation="", contributors=[],
                               fields=[], package_sha256="e" * 64, descriptor={}, origin="seed",
                               pulled_at=T0, pulled_by="ana")
                db.add("shared_rows", source_id=again, row_id="s1", kind="measurement",
                       domain="hard-carbon", state="accepted", values={"ice_pct": 88.0},
                       provenance={}, problems=[], values_sha256="c" * 64,
                       duplicate_of_id=original, created_at=T0, updated_at=T0)
            counts = dict(db.counts)
    finally:
        engine.dispose()
    return {"counts": counts, "chain": (first, second, last), "shared": shared,
            "recipe": recipe}


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_from_every_revision_keeps_the_data(empty_url: str, revision: str) -> None:
    _build(empty_url, revision)
    seeded = _seed(empty_url)
    first, second, last = seeded["chain"]
    with Store.open(empty_url) as store:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            assert ctx.get_current_revision() == REVISIONS[-1]
            assert compare_metadata(ctx, Base.metadata) == []
            for table, n in seeded["counts"].items():
                assert conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) >= n, table

        assert store.campaign_names() == ["demo"]
        assert store.spec("demo").description == load_template("hard-carbon").description
        (batch,) = store.batches("demo")
        assert (batch.iso_week, batch.seed, batch.warnings) == ("2026-W10", SEED, ["one warning"])
        assert [w.well for w in batch.wells] == ["A1", "A2", "A3", "A4", "A5"]
        assert batch.wells[1].recipe == seeded["recipe"] and batch.wells[4].replicate_of == "A2"

        history = store.measurements("demo", include_superseded=True)
        assert len(history) == 5
        chain = history.set_index("measurement_id").loc[[first, second, last]]
        assert chain["value"].tolist() == [70.0, 75.0, 77.5]
        assert chain["supersedes_id"].tolist()[1:] == [first, second]
        current = store.measurements("demo").set_index(["well", "quantity"])
        assert sorted(current.index) == [("A2", "ice_pct"), ("A3", "ice_pct"), ("A4", "status")]
        assert current.loc[("A2", "ice_pct"), "value"] == 77.5
        assert current.loc[("A2", "ice_pct"), "status"] == "outlier"
        assert current.loc[("A2", "ice_pct"), "source_file"] == "w10-2.csv"

        snap = store.snapshot("demo")
        obs = snap.observations.set_index("well")
        assert obs.loc["A2", "ice_pct"] == 77.5 and obs.loc["A3", "ice_pct"] == 82.0
        assert obs.loc["A4", "status"] == "failed_synthesis"
        assert sorted(snap.pending["well"]) == ["A5"]
        assert snap.revision == last

        # the upgraded store still writes: a new correction chains after the old current value
        rec = MeasurementRecord(well="A3", quantity="ice_pct", value=83.0, unit="%", status="ok",
                                operator="bo", instrument=None, measured_at=None, source_row=4,
                                note=None)
        parsed = ParsedPlate(filename="w10-3.csv", sha256="d" * 64, batch_id=batch.id, n_rows=1,
                             records=(rec,), warnings=())
        result = store.ingest("demo", parsed, batch_id=batch.id)
        assert (result.n_new, result.n_superseding) == (0, 1)
        after = store.measurements("demo").set_index(["well", "quantity"])
        assert after.loc[("A3", "ice_pct"), "value"] == 83.0

        if seeded["shared"]:
            shared = SharedDataset(store.engine)
            rows = shared.rows(source="other-lab")
            assert rows["ice_pct"].tolist() == [88.0] and rows["operator"].tolist() == ["bo"]
            assert shared.rows(source="seed-set").empty  # a duplicate, left out by default
            dup = shared.rows(source="seed-set", include_duplicates=True)
            assert dup["duplicate_of"].tolist() == ["other-lab:r1"]


def _fork(url: str) -> int | None:
    """A second current value for A3's ICE, as two racing uploads left it before revision 0003;
    returns its id, or ``None`` when the schema at this revision refuses it."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            db = _Seeder(conn)
            well = conn.scalar(sa.text("SELECT id FROM wells WHERE well = 'A3'"))
            return db.add("measurements", well_id=well, upload_id=None, quantity="ice_pct",
                          value=82.5, unit="%", status="ok", supersedes_id=None, ingested_at=T0)
    except sa.exc.IntegrityError:
        return None
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_leaves_one_current_value_per_well_and_quantity(empty_url: str,
                                                                revision: str) -> None:
    _build(empty_url, revision)
    _seed(empty_url)
    fork = _fork(empty_url)
    with Store.open(empty_url) as store:
        history = store.measurements("demo", include_superseded=True)
        current = store.measurements("demo")
        audit = store.audit_log("demo")
    assert not current.duplicated(["well", "quantity"]).any()
    a3 = current.set_index(["well", "quantity"]).loc[("A3", "ice_pct")]
    if fork is None:  # this revision already enforces one current value
        assert len(history) == 5 and a3["value"] == 82.0
        return
    # the later value, which the planner read as current all along, stays current; nothing lost
    assert len(history) == 6 and a3["value"] == 82.5 and a3["measurement_id"] == fork
    assert "measurements.repair_chains" in set(audit["action"])


def test_revisions_form_one_line_from_the_first_to_head() -> None:
    script = ScriptDirectory.from_config(_config())
    assert script.get_heads() == [REVISIONS[-1]]  # a second head would need a merge revision
    assert script.get_base() == REVISIONS[0] == "0001"
