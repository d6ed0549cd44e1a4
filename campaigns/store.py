"""The campaign store: every write goes through here, explicitly, in one transaction each.

SQLite file in the user's data directory by default; any SQLAlchemy URL (PostgreSQL through
psycopg: ``postgresql+psycopg://user@localhost/planner``) via ``--db`` or ``$PLANNER_DB_URL``.
The schema is created and upgraded by Alembic when the store is opened.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from campaigns import audit
from campaigns.auth import ANY_USER, Identity, authorize, make_owner
from campaigns.errors import CampaignError, NotFoundError, StoreError
from campaigns.hints import did_you_mean
from campaigns.jsonable import jsonable
from campaigns.library_store import LibraryTable
from campaigns.models import (
    RETRACTED,
    AuditRow,
    BatchRow,
    CampaignRow,
    CandidateRow,
    LibraryTableRow,
    MeasurementRow,
    UploadRow,
    WellRow,
    utcnow,
)
from campaigns.plate import PlannedWell
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec

if TYPE_CHECKING:
    from campaigns.ingest import ParsedPlate

logger = logging.getLogger(__name__)

ENV_VAR = "PLANNER_DB_URL"
APP_NAME = "battery-bo-planner"
BATCH_STATUSES = ("proposed", "running", "completed", "discarded")


def default_url() -> str:
    """``$PLANNER_DB_URL`` if set, else a SQLite file in the user data directory."""
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    from platformdirs import user_data_dir

    path = Path(user_data_dir(APP_NAME)) / "planner.db"
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class WellInfo:
    """A stored well."""

    well: str
    role: str
    recipe: dict[str, Any]
    predictions: dict[str, Any]
    replicate_of: str | None
    candidate_id: str | None
    seed: int | None


@dataclass(frozen=True)
class BatchInfo:
    """A stored batch (plate) with its wells."""

    id: int
    campaign: str
    iso_week: str
    status: str
    generator: str
    seed: int
    data_revision: int
    model_info: dict[str, Any]
    warnings: list[Any]
    created_at: datetime
    wells: tuple[WellInfo, ...] = ()

    def frame(self) -> pd.DataFrame:
        """One row per well: ``well``, ``role``, recipe columns, ``replicate_of``,
        ``candidate_id``."""
        rows = [
            {"well": w.well, "role": w.role, **w.recipe, "replicate_of": w.replicate_of,
             "candidate_id": w.candidate_id}
            for w in self.wells
        ]
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class CampaignSummary:
    name: str
    description: str
    owner: str
    created_at: datetime
    n_batches: int
    n_measurements: int
    last_week: str | None


@dataclass(frozen=True)
class IngestResult:
    """What an accepted upload changed."""

    batch_id: int
    upload_id: int | None
    n_new: int
    n_superseding: int
    n_unchanged: int
    already_uploaded: bool = False
    """True when this exact file (same SHA-256) was stored before: nothing changed."""
    batch_status: str = ""
    changed_wells: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return (self.n_new + self.n_superseding) > 0


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back everything on any error.

    Database errors become :class:`StoreError` ("nothing was written"); domain errors pass
    through unchanged after the rollback.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except CampaignError:
        session.rollback()
        raise
    except SQLAlchemyError as exc:
        session.rollback()
        raise StoreError(f"database error: {exc}", hint="Nothing was written.") from exc
    finally:
        session.close()


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    return cfg


#: Tables of a planner database; a database holding other tables and none of these is foreign.
_OUR_TABLES = {"campaigns", "batches", "wells", "measurements", "uploads", "audit_log"}


def _check_database(conn: Any, cfg: Any, url: str) -> str | None:
    """The database's schema revision, after refusing a foreign or newer database."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    script = ScriptDirectory.from_config(cfg)
    tables = set(inspect(conn).get_table_names())
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        if tables and not tables & _OUR_TABLES:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(
                f"{url} is not a planner database: it holds other tables ({shown}).",
                hint="Point --db (or $PLANNER_DB_URL) at a new file or an empty database.",
            )
        if tables & _OUR_TABLES:
            raise StoreError(
                f"{url} holds planner tables but no schema revision (alembic_version).",
                hint="It was not created by `planner`; restore it from a backup "
                "(`planner db restore`) or use another database.",
            )
        return None
    known = {rev.revision for rev in script.walk_revisions()}
    if revision not in known:
        raise StoreError(
            f"{url} has schema revision {revision!r}, which this version of battery-bo-planner "
            f"does not know (newest known: {script.get_current_head()!r}); it was written by a "
            "newer version.",
            hint="Upgrade battery-bo-planner (pip install -U battery-bo-planner), or use another "
            "database. Nothing was changed.",
        )
    return revision


def _migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision in ONE transaction: all of it, or nothing.

    SQLite runs DDL inside the transaction too (see :meth:`Store.open`), so a crash or kill -9
    mid-upgrade leaves the database exactly as it was before.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _alembic_config()
    url = engine.url.render_as_string(hide_password=True)
    with engine.begin() as conn:
        revision = _check_database(conn, cfg, url)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if revision == head:
            return
        logger.info("upgrading %s from schema revision %s to %s", url, revision, head)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """Repository over the campaign database. Create with :meth:`Store.open`."""

    def __init__(self, engine: Engine, *, identity: Identity | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._identity = identity

    # --- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True,
             identity: Identity | None = None) -> Store:
        """Open the database at ``url`` (default: :func:`default_url`), its schema up to date.

        ``identity`` (from :func:`campaigns.auth.authenticate`) is the user every write is
        checked against and recorded under once the database has user accounts.
        """
        url = url or default_url()
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            folder = Path(url.removeprefix("sqlite:///")).expanduser().parent
            folder.mkdir(parents=True, exist_ok=True)
        sqlite = url.startswith("sqlite")
        try:
            # SQLite: wait up to 30 s for another writer instead of failing with "locked".
            engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
        except (ArgumentError, ImportError, ValueError, TypeError) as exc:
            raise StoreError(
                f"cannot use database URL {url!r}: {exc}",
                hint="Use sqlite:///path/to/file.db or postgresql+psycopg://user:pass@host/dbname.",
            ) from None
        if engine.dialect.name == "sqlite":
            _sqlite_transactions(engine)
        if migrate:
            try:
                _migrate(engine)
            except (OperationalError, DatabaseError) as exc:
                engine.dispose()
                not_db = "not a database" in str(exc.orig) or "malformed" in str(exc.orig)
                raise StoreError(
                    f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
                    f"{exc.orig}",
                    hint="That file is not a planner database (a CSV or spreadsheet?); point "
                    "--db at a .db file or a PostgreSQL URL." if not_db else
                    "Check the URL, that the server is running, and your permissions.",
                ) from None
            except StoreError:
                engine.dispose()
                raise
        return cls(engine, identity=identity)

    def as_user(self, identity: Identity | None) -> Store:
        """This store (same engine and connections) acting as ``identity``: a signed-in user from
        :func:`campaigns.auth.authenticate`, or ``None`` for nobody."""
        return type(self)(self.engine, identity=identity)

    @property
    def identity(self) -> Identity | None:
        """The signed-in user writes are checked against (``None``: nobody)."""
        return self._identity

    def _authorize(self, s: Session, camp: CampaignRow | None, needed: str, actor: str,
                   what: str) -> str:
        """Refuse a write ``identity`` may not make (when the database has users); returns the
        name to record as the actor: the signed-in user's, else the caller's ``actor``."""
        return authorize(s, self._identity, camp, needed, database=self.url, actor=actor,
                         what=what)

    def close(self) -> None:
        """Close every pooled connection (the store can be reopened with :meth:`open`)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A transaction that reads and then writes: it takes the write lock before reading.

        SQLite starts it with ``BEGIN IMMEDIATE``; on PostgreSQL the caller locks the rows it
        is about to change (``with_for_update``). Two writers on one plate therefore run one
        after the other, and the second sees what the first stored.
        """
        with transaction(self._sessions) as s:
            s.connection(execution_options={_WRITE_OPTION: True})
            audit.lock_head(s)  # PostgreSQL: every writer takes the audit chain's lock first
            yield s

    # --- campaigns ------------------------------------------------------------------------
    def _campaign(self, s: Session, name: str) -> CampaignRow:
        row = s.scalar(select(CampaignRow).where(CampaignRow.name == name))
        if row is None:
            names = list(s.scalars(select(CampaignRow.name)))
            hint = did_you_mean(name, names, cutoff=0.5) or (
                "List campaigns with `planner campaign list`; create one with "
                "`planner campaign create --template hard-carbon NAME`."
            )
            raise NotFoundError(f"no campaign named {name!r}.", hint=hint)
        return row

    def create_campaign(self, spec: CampaignSpec, *, library: pd.DataFrame | None = None,
                        library_table: LibraryTable | None = None, actor: str = "") -> None:
        """Store a new campaign (and its candidate table in library mode).

        A small library comes as ``library`` (database rows); a big one as ``library_table``,
        already imported by :func:`campaigns.library_store.import_library` into
        :attr:`library_dir`: only its reference and checksum are stored.
        """
        if spec.is_library and library is None and library_table is None:
            raise CampaignError(
                f"campaign {spec.name!r} is a library campaign but no candidate table was given.",
                hint="Set library.path in the spec to a CSV with one row per candidate.",
            )
        with self._write() as s:
            actor = self._authorize(s, None, ANY_USER, actor, "create campaigns")
            if s.scalar(select(CampaignRow).where(CampaignRow.name == spec.name)) is not None:
                raise CampaignError(
                    f"a campaign named {spec.name!r} already exists.",
                    hint="Choose another name, or look at it with `planner campaign show`.",
                )
            row = CampaignRow(name=spec.name, description=spec.description, owner=spec.owner,
                              spec_yaml=spec.to_yaml())
            s.add(row)
            s.flush()
            make_owner(s, self._identity, row)
            if library is not None and spec.library is not None:
                # A table from campaigns.library.load_library names the ID column candidate_id;
                # a raw table still has the spec's own ID column.
                idc = ("candidate_id" if "candidate_id" in library.columns
                       else spec.library.id_column)
                for rec in library.to_dict(orient="records"):
                    cid = str(rec.pop(idc))
                    values = {k: jsonable(v) for k, v in rec.items()}
                    s.add(CandidateRow(campaign_id=row.id, candidate_id=cid, values=values))
            n_candidates = 0 if library is None else len(library)
            if library_table is not None:
                s.add(self._library_row(row.id, library_table, actor))
                n_candidates = library_table.n_rows
            s.add(AuditRow(actor=actor, action="campaign.create", campaign_id=row.id,
                           detail={"spec": spec.to_dict(), "n_candidates": n_candidates,
                                   **({"library_sha256": library_table.sha256}
                                      if library_table is not None else {})}))

    # --- big libraries (campaigns.library_store) ---------------------------------------------
    @property
    def library_dir(self) -> Path:
        """Folder of the campaigns' big-library Parquet files: next to a SQLite file
        (``planner.db`` -> ``planner.libraries/``); else ``$PLANNER_LIBRARY_DIR``, else
        ``libraries/`` in the user data directory."""
        env = os.environ.get("PLANNER_LIBRARY_DIR")
        if env:
            return Path(env).expanduser()
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if database and database != ":memory:":
            path = Path(database).expanduser()
            return path.with_name(path.stem + ".libraries")
        from platformdirs import user_data_dir

        return Path(user_data_dir(APP_NAME)) / "libraries"

    def _library_row(self, campaign_id: int, table: LibraryTable, actor: str) -> LibraryTableRow:
        path = table.path.resolve()
        try:
            stored = str(path.relative_to(self.library_dir.resolve()))
        except ValueError:
            stored = str(path)
        return LibraryTableRow(campaign_id=campaign_id, path=stored, sha256=table.sha256,
                               n_rows=table.n_rows, size_bytes=table.size_bytes,
                               columns=list(table.columns), categorical=list(table.categorical),
                               id_column=table.id_column, source=table.path.name[:500],
                               imported_by=actor)

    def attach_library(self, name: str, table: LibraryTable, *, source: str = "",
                       actor: str = "") -> None:
        """Make ``table`` (imported into :attr:`library_dir`) the candidate table of the library
        campaign ``name``; the previous reference stays in the database for provenance.

        Raises:
            CampaignError: Not a library campaign, the table's columns differ from the spec's
                inputs, or a candidate already placed on a plate is missing from the table.
        """
        spec = self.spec(name)
        if spec.library is None:
            raise CampaignError(f"campaign {name!r} is not a library campaign.",
                                hint="Only a spec with a `library:` block has a candidate table.")
        if tuple(table.columns) != tuple(spec.library.inputs):
            raise CampaignError(
                f"the imported table has inputs {list(table.columns)}, campaign {name!r} "
                f"expects {list(spec.library.inputs)}.",
                hint="Import it with the campaign's own spec.")
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "owner", actor, "replace the candidate library")
            placed = sorted({c for c in s.scalars(
                select(WellRow.candidate_id).join(BatchRow)
                .where(BatchRow.campaign_id == camp.id, WellRow.candidate_id.is_not(None)))
                if c})
            if placed:
                lost = [c for c, p in zip(placed, table.positions_of(placed), strict=True)
                        if p < 0]
                if lost:
                    raise CampaignError(
                        f"{len(lost)} candidate(s) already placed on plates are not in the new "
                        f"table: {lost[:5]}.",
                        hint="Keep every candidate the campaign has used; nothing was changed.")
            row = self._library_row(camp.id, table, actor)
            if source:
                row.source = source[:500]
            s.add(row)
            s.add(AuditRow(actor=actor, action="library.import", campaign_id=camp.id,
                           detail={"path": row.path, "sha256": table.sha256,
                                   "n_rows": table.n_rows, "source": row.source}))

    def library_table(self, name: str, *, full_check: bool = False) -> LibraryTable | None:
        """The big library of campaign ``name`` (``None`` when its candidates are database rows
        or it is a recipe campaign), checked against its reference (:meth:`LibraryTable.open`).

        Raises:
            LibraryStoreError: The file is missing or changed since it was imported.
        """
        with self._session() as s:
            camp = self._campaign(s, name)
            ref = s.scalar(select(LibraryTableRow).where(LibraryTableRow.campaign_id == camp.id)
                           .order_by(LibraryTableRow.id.desc()).limit(1))
            if ref is None:
                return None
            path = Path(ref.path)
            table = LibraryTable(path=path if path.is_absolute() else self.library_dir / path,
                                 sha256=ref.sha256, n_rows=int(ref.n_rows),
                                 columns=tuple(ref.columns), id_column=ref.id_column,
                                 categorical=tuple(ref.categorical or ()),
                                 size_bytes=int(ref.size_bytes))
        return table.open(full=full_check)

    def update_spec(self, spec: CampaignSpec, *, actor: str = "") -> None:
        """Replace a campaign's spec (the old one is kept in the audit log)."""
        with self._write() as s:
            row = self._campaign(s, spec.name)
            actor = self._authorize(s, row, "owner", actor, "edit the spec")
            old = row.spec_yaml
            row.spec_yaml, row.description, row.owner = spec.to_yaml(), spec.description, spec.owner
            row.updated_at = utcnow()
            s.add(AuditRow(actor=actor, action="campaign.update_spec", campaign_id=row.id,
                           detail={"old_spec_yaml": old, "new_spec_yaml": row.spec_yaml}))

    def spec(self, name: str) -> CampaignSpec:
        with self._session() as s:
            return CampaignSpec.from_yaml(self._campaign(s, name).spec_yaml,
                                          source=f"campaign {name}")

    def campaign_names(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(CampaignRow.name).order_by(CampaignRow.name)))

    def list_campaigns(self) -> list[CampaignSummary]:
        with self._session() as s:
            out = []
            for row in s.scalars(select(CampaignRow).order_by(CampaignRow.name)):
                n_b = s.scalar(select(func.count(BatchRow.id)).where(
                    BatchRow.campaign_id == row.id, BatchRow.status != "discarded")) or 0
                n_m = s.scalar(
                    select(func.count(MeasurementRow.id)).join(WellRow).join(BatchRow)
                    .where(BatchRow.campaign_id == row.id)) or 0
                last = s.scalar(select(func.max(BatchRow.iso_week)).where(
                    BatchRow.campaign_id == row.id, BatchRow.status != "discarded"))
                out.append(CampaignSummary(row.name, row.description, row.owner, row.created_at,
                                           n_b, n_m, last))
            return out

    # --- batches --------------------------------------------------------------------------
    @staticmethod
    def _batch_info(row: BatchRow, campaign: str) -> BatchInfo:
        wells = tuple(
            WellInfo(w.well, w.role, dict(w.recipe), dict(w.predictions or {}), w.replicate_of,
                     w.candidate_id, w.seed)
            for w in row.wells
        )
        return BatchInfo(row.id, campaign, row.iso_week, row.status, row.generator, row.seed,
                         row.data_revision, dict(row.model_info or {}), list(row.warnings or []),
                         row.created_at, wells)

    def batches(self, name: str, *, include_discarded: bool = False) -> list[BatchInfo]:
        with self._session() as s:
            camp = self._campaign(s, name)
            q = select(BatchRow).where(BatchRow.campaign_id == camp.id).order_by(BatchRow.id)
            if not include_discarded:
                q = q.where(BatchRow.status != "discarded")
            return [self._batch_info(b, name) for b in s.scalars(q)]

    def batch(self, name: str, batch_id: int | None = None) -> BatchInfo:
        """A batch by id, or the campaign's newest one."""
        with self._session() as s:
            camp = self._campaign(s, name)
            q = select(BatchRow).where(BatchRow.campaign_id == camp.id,
                                       BatchRow.status != "discarded")
            q = q.where(BatchRow.id == batch_id) if batch_id is not None else q.order_by(
                BatchRow.id.desc())
            row = s.scalars(q.limit(1)).first()
            if row is None:
                raise NotFoundError(
                    f"campaign {name!r} has no batch" + (f" {batch_id}." if batch_id else " yet."),
                    hint=f"Propose one with `planner suggest --campaign {name}`."
                    if batch_id is None else f"List batches with `planner campaign show {name}`.",
                )
            return self._batch_info(row, name)

    def batch_for_week(self, name: str, iso_week: str) -> BatchInfo | None:
        with self._session() as s:
            camp = self._campaign(s, name)
            row = s.scalars(select(BatchRow).where(
                BatchRow.campaign_id == camp.id, BatchRow.iso_week == iso_week,
                BatchRow.status != "discarded").order_by(BatchRow.id.desc()).limit(1)).first()
            return None if row is None else self._batch_info(row, name)

    def save_batch(self, name: str, *, iso_week: str, wells: Sequence[PlannedWell],
                   generator: str, seed: int, data_revision: int,
                   model_info: dict[str, Any] | None = None, warnings: Sequence[str] = (),
                   replace: bool = False, actor: str = "") -> BatchInfo:
        """Store a proposed plate as the campaign's batch for ``iso_week``.

        With ``replace``, this week's existing batch is marked ``discarded`` (kept for the
        record); a batch that already has measurements cannot be replaced.
        """
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "chemist", actor, "propose plates")
            existing = s.scalars(select(BatchRow).where(
                BatchRow.campaign_id == camp.id, BatchRow.iso_week == iso_week,
                BatchRow.status != "discarded")).all()
            if existing and replace:  # regenerating a plate is the owner's call
                actor = self._authorize(s, camp, "owner", actor, "regenerate a plate")
            for old in existing:
                if not replace:
                    raise CampaignError(
                        f"campaign {name!r} already has batch {old.id} for {iso_week}.",
                        hint="Use --force to regenerate it (only before results are uploaded).",
                    )
                n = s.scalar(select(func.count(MeasurementRow.id)).join(WellRow).where(
                    WellRow.batch_id == old.id)) or 0
                if n:
                    raise CampaignError(
                        f"batch {old.id} ({iso_week}) already has {n} measurements and cannot be "
                        "regenerated.",
                        hint="Propose for another week with --week, or upload the remaining "
                             "results.",
                    )
                old.status = "discarded"
            row = BatchRow(campaign_id=camp.id, iso_week=iso_week, status="proposed",
                           generator=generator, seed=seed, data_revision=data_revision,
                           model_info=jsonable(model_info or {}), warnings=list(warnings))
            s.add(row)
            s.flush()
            for w in wells:
                s.add(WellRow(batch_id=row.id, well=w.well, role=w.role,
                              replicate_of=w.replicate_of, candidate_id=w.candidate_id,
                              recipe=jsonable(w.recipe), predictions=jsonable(w.predictions),
                              seed=seed))
            s.add(AuditRow(actor=actor, action="batch.propose", campaign_id=camp.id,
                           detail={"batch_id": row.id, "iso_week": iso_week,
                                   "generator": generator, "seed": seed,
                                   "replaced": [b.id for b in existing]}))
            s.flush()
            s.refresh(row)
            return self._batch_info(row, name)

    # --- measurements ---------------------------------------------------------------------
    def _locked_batch(self, s: Session, camp: CampaignRow, batch_id: int) -> BatchRow:
        """The campaign's active batch ``batch_id``, locked against other writers until commit."""
        batch = s.scalars(select(BatchRow).where(BatchRow.id == batch_id).with_for_update()).first()
        if batch is None or batch.campaign_id != camp.id or batch.status == "discarded":
            raise NotFoundError(f"campaign {camp.name!r} has no active batch {batch_id}.",
                                hint=f"List batches with `planner campaign show {camp.name}`.")
        return batch

    def ingest(self, name: str, parsed: ParsedPlate, *, batch_id: int,
               actor: str = "") -> IngestResult:
        """Store a validated plate file in one transaction (all of it or nothing).

        A file already uploaded (same SHA-256) changes nothing. A value equal to the current one
        for that well and quantity (same status, operator, instrument, time and note) is counted
        as unchanged; a different one is appended and supersedes the current one. Writers to the
        same plate are serialised, so concurrent uploads chain their corrections.
        """
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "chemist", actor, "upload results")
            batch = self._locked_batch(s, camp, batch_id)
            dup = s.scalar(select(UploadRow).where(UploadRow.campaign_id == camp.id,
                                                   UploadRow.sha256 == parsed.sha256))
            if dup is not None:
                retracted = s.scalar(select(AuditRow).where(
                    AuditRow.campaign_id == camp.id, AuditRow.action == "upload.retract",
                    AuditRow.detail["upload_id"].as_integer() == dup.id))
                if retracted is not None:
                    raise CampaignError(
                        f"{parsed.filename} is the file of upload {dup.id}, which was retracted "
                        f"on {retracted.at:%Y-%m-%d %H:%M}; nothing was stored.",
                        hint="Fix the file and upload the corrected one (a changed file is a new "
                        "upload), or correct single values with `planner data correct`.",
                    )
                return IngestResult(dup.batch_id, dup.id, 0, 0, len(parsed.records),
                                    already_uploaded=True, batch_status=batch.status)
            wells = {w.well: w for w in batch.wells}
            current = self._current_measurements(s, [w.id for w in wells.values()])
            upload = UploadRow(campaign_id=camp.id, batch_id=batch.id, filename=parsed.filename,
                               sha256=parsed.sha256, uploaded_by=actor)
            s.add(upload)
            s.flush()
            n_new = n_sup = n_same = 0
            changed: set[str] = set()
            for rec in parsed.records:
                well = wells.get(rec.well)
                if well is None:  # ingest validated the wells; this is a programming error
                    raise CampaignError(f"well {rec.well} is not on batch {batch.id}.")
                old = current.get((well.id, rec.quantity))
                if old is not None and _same(old, rec):
                    n_same += 1
                    continue
                s.add(MeasurementRow(
                    well_id=well.id, upload_id=upload.id, quantity=rec.quantity, value=rec.value,
                    unit=rec.unit, status=rec.status, operator=rec.operator,
                    instrument=rec.instrument, measured_at=rec.measured_at,
                    source_file_sha256=parsed.sha256, source_row=rec.source_row, note=rec.note,
                    supersedes_id=None if old is None else old.id))
                changed.add(rec.well)
                if old is None or old.status == RETRACTED:
                    n_new += 1
                else:
                    n_sup += 1
            upload.n_new, upload.n_superseding, upload.n_unchanged = n_new, n_sup, n_same
            s.flush()
            batch.status = self._batch_status(s, batch)
            s.add(AuditRow(actor=actor, action="measurements.ingest", campaign_id=camp.id,
                           detail={"upload_id": upload.id, "batch_id": batch.id,
                                   "filename": parsed.filename, "sha256": parsed.sha256,
                                   "new": n_new, "superseding": n_sup, "unchanged": n_same,
                                   # what the chemist accepted: atypical or confirmed values
                                   "warnings": [str(p) for p in parsed.warnings[:200]]}))
            return IngestResult(batch.id, upload.id, n_new, n_sup, n_same,
                                batch_status=batch.status, changed_wells=tuple(sorted(changed)))

    def correct_measurement(self, name: str, *, batch_id: int, well: str, quantity: str,
                            value: float | None, status: str = "ok", note: str | None = None,
                            actor: str = "") -> int:
        """Append a corrected value for one well and quantity; the old value is kept.

        ``value=None`` with a failure ``status`` records a failed well without a value. The
        value is checked against the column's possible range like an upload. ``note`` says why
        (it is stored with the value and in the audit log).

        Returns:
            The id of the new measurement row.
        """
        from campaigns.columns import COLUMNS
        from campaigns.sheet import STATUS_CODES

        spec = self.spec(name)
        if quantity not in spec.output_names:
            mean = did_you_mean(quantity, spec.output_names)
            raise CampaignError(
                f"{quantity!r} is not a measured quantity of campaign {name!r}.",
                hint=(f"{mean} " if mean else "") + f"Quantities: {', '.join(spec.output_names)}.")
        if status not in STATUS_CODES:
            raise CampaignError(f"status {status!r} is not one of {', '.join(STATUS_CODES)}.",
                                hint="Use ok, or a failure status such as failed_cell.")
        col = COLUMNS.get(quantity)
        if value is not None:
            if not math.isfinite(value):
                raise CampaignError(f"{value!r} is not a finite number.",
                                    hint="Retract the value instead if it was not measured.")
            if col is not None and not col.possible[0] <= value <= col.possible[1]:
                raise CampaignError(
                    f"{quantity} = {value:g} is outside the possible range "
                    f"{col.possible[0]:g}–{col.possible[1]:g} {col.unit}.",
                    hint="Check the value and its unit; values are never converted.")
        elif status == "ok":
            raise CampaignError("a correction needs a value, or a failure status.",
                                hint="Give --value, or --status failed_cell / failed_synthesis; "
                                "use `planner data retract-value` to withdraw a value.")
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "chemist", actor, "correct values")
            batch = self._locked_batch(s, camp, batch_id)
            row = self._well(batch, well)
            old = self._current_measurements(s, [row.id]).get((row.id, quantity))
            new = MeasurementRow(
                well_id=row.id, upload_id=None, quantity=quantity, value=value,
                unit="" if col is None else col.unit, status=status,
                operator=None if old is None else old.operator,
                instrument=None if old is None else old.instrument,
                measured_at=None if old is None else old.measured_at, note=note,
                supersedes_id=None if old is None else old.id)
            s.add(new)
            s.flush()
            batch.status = self._batch_status(s, batch)
            s.add(AuditRow(actor=actor, action="measurement.correct", campaign_id=camp.id,
                           detail={"batch_id": batch.id, "well": row.well, "quantity": quantity,
                                   "measurement_id": new.id,
                                   "before": None if old is None else _value_detail(old),
                                   "after": _value_detail(new), "reason": note}))
            return new.id

    def retract_value(self, name: str, *, batch_id: int, well: str, quantity: str, reason: str,
                      actor: str = "") -> int:
        """Withdraw the current value of one well and quantity (a new ``retracted`` row).

        Returns:
            The id of the retraction row.
        """
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "chemist", actor, "retract values")
            batch = self._locked_batch(s, camp, batch_id)
            row = self._well(batch, well)
            old = self._current_measurements(s, [row.id]).get((row.id, quantity))
            if old is None or old.status == RETRACTED:
                raise NotFoundError(
                    f"well {row.well} of batch {batch.id} has no current {quantity!r} value.",
                    hint=f"See its values with `planner export --campaign {name} --long`.")
            tomb = _retraction(old, reason)
            s.add(tomb)
            s.flush()
            batch.status = self._batch_status(s, batch)
            s.add(AuditRow(actor=actor, action="measurement.retract", campaign_id=camp.id,
                           detail={"batch_id": batch.id, "well": row.well, "quantity": quantity,
                                   "measurement_id": tomb.id, "before": _value_detail(old),
                                   "after": None, "reason": reason}))
            return tomb.id

    def retract_upload(self, name: str, upload_id: int, *, reason: str, actor: str = "") -> int:
        """Withdraw every value an upload stored that is still current (a wrong file).

        Values the upload stored that were corrected since stay as corrected; values it
        superseded do not come back (upload the right file, or correct them one by one).

        Returns:
            The number of values withdrawn.
        """
        if not reason.strip():
            raise CampaignError("a retraction needs a reason.",
                                hint='Say why, e.g. --reason "plate 10\'s sheet uploaded to 12".')
        with self._write() as s:
            camp = self._campaign(s, name)
            actor = self._authorize(s, camp, "chemist", actor, "retract uploads")
            upload = s.get(UploadRow, upload_id)
            if upload is None or upload.campaign_id != camp.id:
                raise NotFoundError(f"campaign {name!r} has no upload {upload_id}.",
                                    hint=f"List uploads with `planner data uploads -c {name}`.")
            if s.scalar(select(AuditRow.id).where(
                    AuditRow.campaign_id == camp.id, AuditRow.action == "upload.retract",
                    AuditRow.detail["upload_id"].as_integer() == upload_id)) is not None:
                raise CampaignError(f"upload {upload_id} was retracted already.",
                                    hint="Nothing to do.")
            batch = self._locked_batch(s, camp, upload.batch_id)
            ids = [w.id for w in batch.wells]
            current = self._current_measurements(s, ids)
            gone = [m for m in current.values() if m.upload_id == upload.id]
            for old in gone:
                s.add(_retraction(old, reason))
            s.flush()
            batch.status = self._batch_status(s, batch)
            s.add(AuditRow(actor=actor, action="upload.retract", campaign_id=camp.id,
                           detail={"upload_id": upload.id, "batch_id": batch.id,
                                   "filename": upload.filename, "sha256": upload.sha256,
                                   "retracted": len(gone), "reason": reason,
                                   "before": [_value_detail(m) for m in gone]}))
            return len(gone)

    def uploads(self, name: str) -> pd.DataFrame:
        """Every accepted upload of a campaign, newest last, with whether it was retracted."""
        with self._session() as s:
            camp = self._campaign(s, name)
            retracted = {int(a.detail["upload_id"]): a for a in s.scalars(select(AuditRow).where(
                AuditRow.campaign_id == camp.id, AuditRow.action == "upload.retract"))}
            rows = [{"upload_id": u.id, "batch_id": u.batch_id, "filename": u.filename,
                     "sha256": u.sha256, "uploaded_by": u.uploaded_by,
                     "uploaded_at": u.uploaded_at, "new": u.n_new,
                     "superseding": u.n_superseding, "unchanged": u.n_unchanged,
                     "retracted": u.id in retracted,
                     "retracted_by": retracted[u.id].actor if u.id in retracted else None}
                    for u in s.scalars(select(UploadRow).where(UploadRow.campaign_id == camp.id)
                                       .order_by(UploadRow.id))]
        return pd.DataFrame(rows, columns=[
            "upload_id", "batch_id", "filename", "sha256", "uploaded_by", "uploaded_at", "new",
            "superseding", "unchanged", "retracted", "retracted_by"])

    @staticmethod
    def _well(batch: BatchRow, well: str) -> WellRow:
        from campaigns.plate import normalize_well

        wanted = normalize_well(well)
        for w in batch.wells:
            if w.well == wanted:
                return w
        raise NotFoundError(f"batch {batch.id} has no well {well!r}.",
                            hint=f"Its wells are {batch.wells[0].well} … {batch.wells[-1].well}."
                            if batch.wells else "This batch has no wells.")

    @staticmethod
    def _current_measurements(s: Session,
                              well_ids: list[int]) -> dict[tuple[int, str], MeasurementRow]:
        """The last row of each (well, quantity) chain, retractions included."""
        if not well_ids:
            return {}
        rows = list(s.scalars(select(MeasurementRow).where(MeasurementRow.well_id.in_(well_ids))
                              .order_by(MeasurementRow.id)))
        superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
        return {(r.well_id, r.quantity): r for r in rows if r.id not in superseded}

    @classmethod
    def _batch_status(cls, s: Session, batch: BatchRow) -> str:
        current = cls._current_measurements(s, [w.id for w in batch.wells])
        measured = {well_id for (well_id, _), m in current.items() if m.status != RETRACTED}
        todo = [w for w in batch.wells if w.role != "control"]
        if todo and all(w.id in measured for w in todo):
            return "completed"
        return "running" if measured else "proposed"

    def measurements(self, name: str, *, include_superseded: bool = False) -> pd.DataFrame:
        """Long table of measurements with provenance (one row per stored value)."""
        with self._session() as s:
            camp = self._campaign(s, name)
            q = (select(MeasurementRow, WellRow, BatchRow, UploadRow)
                 .join(WellRow, MeasurementRow.well_id == WellRow.id)
                 .join(BatchRow, WellRow.batch_id == BatchRow.id)
                 .outerjoin(UploadRow, MeasurementRow.upload_id == UploadRow.id)
                 .where(BatchRow.campaign_id == camp.id).order_by(MeasurementRow.id))
            rows = []
            for m, w, b, u in s.execute(q):
                rows.append({
                    "measurement_id": m.id, "batch_id": b.id, "iso_week": b.iso_week,
                    "well": w.well, "role": w.role, "candidate_id": w.candidate_id,
                    "quantity": m.quantity, "value": m.value, "unit": m.unit, "status": m.status,
                    "operator": m.operator, "instrument": m.instrument,
                    "measured_at": m.measured_at, "source_file": None if u is None else u.filename,
                    "uploaded_by": None if u is None else u.uploaded_by,
                    "source_file_sha256": m.source_file_sha256, "source_row": m.source_row,
                    "note": m.note, "supersedes_id": m.supersedes_id, "ingested_at": m.ingested_at,
                    "generator": b.generator, "seed": w.seed, "data_revision": b.data_revision,
                })
        df = pd.DataFrame(rows, columns=[
            "measurement_id", "batch_id", "iso_week", "well", "role", "candidate_id", "quantity",
            "value", "unit", "status", "operator", "instrument", "measured_at", "source_file",
            "uploaded_by", "source_file_sha256", "source_row", "note", "supersedes_id",
            "ingested_at", "generator", "seed", "data_revision"])
        return df if include_superseded else current_only(df)

    def audit_log(self, name: str | None = None) -> pd.DataFrame:
        with self._session() as s:
            q = select(AuditRow).order_by(AuditRow.id)
            if name is not None:
                q = q.where(AuditRow.campaign_id == self._campaign(s, name).id)
            return pd.DataFrame([{"id": a.id, "at": a.at, "actor": a.actor, "action": a.action,
                                  "detail": a.detail} for a in s.scalars(q)])

    def library(self, name: str) -> pd.DataFrame | None:
        """A small library's candidates (``candidate_id`` + inputs); ``None`` for a recipe
        campaign or a big library (read that with :meth:`library_table`)."""
        spec = self.spec(name)
        if spec.library is None:
            return None
        with self._session() as s:
            camp = self._campaign(s, name)
            if s.scalar(select(LibraryTableRow.id).where(
                    LibraryTableRow.campaign_id == camp.id).limit(1)) is not None:
                return None
            rows = [{"candidate_id": c.candidate_id, **c.values} for c in s.scalars(
                select(CandidateRow).where(CandidateRow.campaign_id == camp.id)
                .order_by(CandidateRow.id))]
        df = pd.DataFrame(rows)
        for col in spec.library.inputs:
            if col not in df:
                df[col] = float("nan")
            elif col not in spec.library.categorical:
                df[col] = pd.to_numeric(df[col], errors="coerce")
        return df

    # --- snapshots ------------------------------------------------------------------------
    def snapshot(self, name: str) -> CampaignSnapshot:
        """Everything the planner needs, at the current data revision."""
        spec = self.spec(name)
        batches = self.batches(name)
        history = self.measurements(name, include_superseded=True)
        # The data revision is the newest row of any kind: a retraction changes the data too.
        revision = int(history["measurement_id"].max()) if not history.empty else 0
        meas = current_only(history)
        well_rows = []
        for b in batches:
            for w in b.wells:
                well_rows.append({"batch_id": b.id, "iso_week": b.iso_week, "well": w.well,
                                  "role": w.role, "candidate_id": w.candidate_id, **w.recipe})
        wells = pd.DataFrame(well_rows)
        outputs = spec.output_names
        base_cols = ["batch_id", "iso_week", "well", "role", "candidate_id", *spec.input_names]
        if wells.empty:
            empty = pd.DataFrame(columns=[*base_cols, *outputs, "status"])
            return CampaignSnapshot(spec, revision, empty, pd.DataFrame(columns=base_cols),
                                    self.library(name), self._batches_frame(batches),
                                    library_table=self.library_table(name))
        for col in base_cols:
            if col not in wells:
                wells[col] = None
        if meas.empty:
            values = pd.DataFrame(columns=["batch_id", "well", *outputs, "status"])
        else:
            vals = meas[meas["quantity"].isin(outputs)]
            values = vals.pivot_table(index=["batch_id", "well"], columns="quantity",
                                      values="value", aggfunc="last")
            values = values.reindex(columns=outputs)
            status = (meas.sort_values("measurement_id")
                      .groupby(["batch_id", "well"])["status"].last())
            values = values.join(status, how="outer").reset_index()
        merged = wells.merge(values, on=["batch_id", "well"], how="left")
        measured = merged["status"].notna()
        observations = merged[measured].reset_index(drop=True)
        for col in outputs:
            if col not in observations:
                observations[col] = float("nan")
            observations[col] = pd.to_numeric(observations[col], errors="coerce")
        pending = (merged[~measured & (merged["role"] != "control")][base_cols]
                   .reset_index(drop=True))
        return CampaignSnapshot(spec, revision, observations[[*base_cols, *outputs, "status"]],
                                pending, self.library(name), self._batches_frame(batches),
                                library_table=self.library_table(name))

    @staticmethod
    def _batches_frame(batches: list[BatchInfo]) -> pd.DataFrame:
        return pd.DataFrame([{"batch_id": b.id, "iso_week": b.iso_week, "status": b.status,
                              "generator": b.generator, "seed": b.seed,
                              "data_revision": b.data_revision, "created_at": b.created_at,
                              "n_warnings": len(b.warnings)} for b in batches],
                            columns=["batch_id", "iso_week", "status", "generator", "seed",
                                     "data_revision", "created_at", "n_warnings"])

    def export_frame(self, name: str) -> pd.DataFrame:
        """Wide table, one row per measured well: recipe, descriptors, targets, provenance."""
        snap = self.snapshot(name)
        meas = self.measurements(name)
        if snap.observations.empty:
            return snap.observations
        prov = (meas.sort_values("measurement_id").groupby(["batch_id", "well"])
                .agg(operator=("operator", "last"), instrument=("instrument", "last"),
                     measured_at=("measured_at", "last"), source_file=("source_file", "last"),
                     source_file_sha256=("source_file_sha256", "last"),
                     generator=("generator", "last"), seed=("seed", "last"),
                     data_revision=("data_revision", "last")).reset_index())
        return snap.observations.merge(prov, on=["batch_id", "well"], how="left")


_WRITE_OPTION = "planner_write"


def current_only(history: pd.DataFrame) -> pd.DataFrame:
    """The current values of a :meth:`Store.measurements` history: the last row of each chain,
    retractions left out (a retracted value has no current value)."""
    if history.empty:
        return history
    gone = set(history["supersedes_id"].dropna().astype(int))
    keep = ~history["measurement_id"].isin(gone) & (history["status"] != RETRACTED)
    return history[keep].reset_index(drop=True)





def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, start transactions (SQLAlchemy's documented
    recipe): DDL then runs inside the transaction, so a schema upgrade is all-or-nothing, and a
    write transaction can take the write lock up front with ``BEGIN IMMEDIATE``."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _retraction(old: MeasurementRow, reason: str) -> MeasurementRow:
    return MeasurementRow(well_id=old.well_id, upload_id=None, quantity=old.quantity, value=None,
                          unit=old.unit, status=RETRACTED, note=reason, supersedes_id=old.id)


def _value_detail(m: MeasurementRow) -> dict[str, Any]:
    """A measurement as the audit log records it (before/after of a change)."""
    return {"measurement_id": m.id, "value": m.value, "unit": m.unit, "status": m.status,
            "operator": m.operator, "instrument": m.instrument,
            "measured_at": None if m.measured_at is None else m.measured_at.isoformat(),
            "note": m.note, "upload_id": m.upload_id}


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    """Equal instants; a naive side (SQLite drops offsets) compares as wall-clock time."""
    if a is None or b is None:
        return a is None and b is None
    if (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def _same(old: MeasurementRow, rec: Any) -> bool:
    """True when ``rec`` would store nothing new: same value, status and provenance."""
    if old.status != rec.status:
        return False
    if (old.operator, old.instrument, old.note) != (rec.operator, rec.instrument, rec.note):
        return False  # a metadata-only correction is a correction too
    if not _same_time(old.measured_at, rec.measured_at):
        return False
    if old.value is None or rec.value is None:
        return old.value is None and rec.value is None
    return abs(old.value - rec.value) <= 1e-12 * max(1.0, abs(old.value))


__all__ = ["BatchInfo", "CampaignSummary", "IngestResult", "Store", "WellInfo", "current_only",
           "default_url", "IntegrityError"]
