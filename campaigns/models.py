"""Database tables (SQLAlchemy 2 declarative). Schema changes go through Alembic migrations.

Measurements are append-only: a correction is a new row whose ``supersedes_id`` points to the
row it replaces; nothing is ever updated in place or deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship

from campaigns.errors import StoreError

#: 64-bit integers on every engine (SQLite's INTEGER already is one; PostgreSQL's is 32-bit).
BigInt = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    spec_yaml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    batches: Mapped[list[BatchRow]] = relationship(back_populates="campaign",
                                                   order_by="BatchRow.id")


class CandidateRow(Base):
    """One already-made candidate of a library campaign."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("campaign_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    candidate_id: Mapped[str] = mapped_column(String(200))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)


class LibraryTableRow(Base):
    """A big library's candidate table, stored as a Parquet file next to the database
    (:mod:`campaigns.library_store`): the reference and checksum, never the rows. Each import
    appends a row; a campaign's table is its newest."""

    __tablename__ = "library_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    """The Parquet file: relative to the store's library folder when inside it, else absolute."""
    sha256: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(BigInt)
    size_bytes: Mapped[int] = mapped_column(BigInt)
    columns: Mapped[list[Any]] = mapped_column(JSON)
    """Input columns in spec order (the file also has ``candidate_id``)."""
    categorical: Mapped[list[Any]] = mapped_column(JSON, default=list)
    id_column: Mapped[str] = mapped_column(String(200))
    """The ID column's header in the source table."""
    source: Mapped[str] = mapped_column(String(500), default="")
    """Name of the imported file."""
    imported_by: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchRow(Base):
    """One plate: proposed, running (partly measured) or completed; discarded when regenerated."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    iso_week: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    generator: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(BigInt)
    """Random seed of the proposal: up to 2**32 - 1 by default, so 64-bit on every engine."""
    data_revision: Mapped[int] = mapped_column(Integer, default=0)
    model_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    campaign: Mapped[CampaignRow] = relationship(back_populates="batches")
    wells: Mapped[list[WellRow]] = relationship(back_populates="batch", order_by="WellRow.id")


class WellRow(Base):
    __tablename__ = "wells"
    __table_args__ = (UniqueConstraint("batch_id", "well"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    well: Mapped[str] = mapped_column(String(4))
    role: Mapped[str] = mapped_column(String(12))
    replicate_of: Mapped[str | None] = mapped_column(String(4), nullable=True)
    candidate_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    predictions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int | None] = mapped_column(BigInt, nullable=True)

    batch: Mapped[BatchRow] = relationship(back_populates="wells")


class UploadRow(Base):
    """One accepted plate file; its SHA-256 makes a second upload of the same file a no-op."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("campaign_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    n_new: Mapped[int] = mapped_column(Integer, default=0)
    n_superseding: Mapped[int] = mapped_column(Integer, default=0)
    n_unchanged: Mapped[int] = mapped_column(Integer, default=0)


#: Status of a measurement row that withdraws the value it supersedes (a retracted upload or
#: value): the well has no current value for that quantity any more.
RETRACTED = "retracted"


class MeasurementRow(Base):
    """One stored value. Rows of one (well, quantity) form a single chain through
    ``supersedes_id``; its last row is the current value.

    The database enforces the chain: one root per (well, quantity) (a partial unique index) and
    no row superseded twice (a unique index on ``supersedes_id``), so two writers racing on the
    same plate can never leave two current values.
    """

    __tablename__ = "measurements"
    __table_args__ = (
        Index("uq_measurements_root", "well_id", "quantity", unique=True,
              sqlite_where=text("supersedes_id IS NULL"),
              postgresql_where=text("supersedes_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    well_id: Mapped[int] = mapped_column(ForeignKey("wells.id"), index=True)
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"), nullable=True)
    quantity: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="ok")
    operator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    instrument: Mapped[str | None] = mapped_column(String(200), nullable=True)
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source_file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("measurements.id"), nullable=True, index=True, unique=True
    )
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(50))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- shared open dataset (campaigns/shared_dataset/) ---------------------------------------
class SharedSourceRow(Base):
    """One pulled data package: another lab's, a published campaign, or a seed data set.

    Pulling a newer version of the same source updates this row; the audit log keeps the previous
    title, licence, citation and origin (``shared.pull`` entries, ``previous``).
    """

    __tablename__ = "shared_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    domain: Mapped[str] = mapped_column(String(40), default="")
    licence: Mapped[str] = mapped_column(String(100), default="")
    licence_url: Mapped[str] = mapped_column(String(500), default="")
    citation: Mapped[str] = mapped_column(Text, default="")
    contributors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    package_sha256: Mapped[str] = mapped_column(String(64))
    descriptor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(Text, default="")
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pulled_by: Mapped[str] = mapped_column(String(200), default="")


class SharedDataRow(Base):
    """One version of one row of a pulled package, values in the registry's canonical units.

    Append-only, like measurements: a re-pull that changes a row adds a version whose
    ``supersedes_id`` points to the version it replaces; the current version is the one no row
    supersedes. The database enforces one chain per (source, row ID): one root
    (``supersedes_id IS NULL``, a partial unique index) and no version superseded twice (a unique
    index on ``supersedes_id``).

    ``state`` is ``accepted`` or ``quarantined`` (failed validation; ``problems`` says why).
    ``duplicate_of_id`` points to an earlier row of another source with identical values.
    """

    __tablename__ = "shared_rows"
    __table_args__ = (
        Index("uq_shared_rows_root", "source_id", "row_id", unique=True,
              sqlite_where=text("supersedes_id IS NULL"),
              postgresql_where=text("supersedes_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("shared_sources.id"), index=True)
    row_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="measurement")
    domain: Mapped[str] = mapped_column(String(40), default="", index=True)
    state: Mapped[str] = mapped_column(String(20), default="accepted")
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    values_sha256: Mapped[str] = mapped_column(String(64), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("shared_rows.id"), nullable=True, index=True
    )
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("shared_rows.id"), nullable=True, index=True, unique=True
    )
    """The version of the same (source, row ID) this one replaces; ``None`` for the first."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    """When this version was written."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    """Equal to ``created_at`` since rows are append-only (0004); kept for older databases."""


# --- one rule for text lengths on every engine -------------------------------------------------
_LABELS = {"operator": "Operator", "instrument": "Instrument", "filename": "file name",
           "uploaded_by": "user name", "actor": "user name", "pulled_by": "user name"}


def _check_lengths(_mapper: Mapper[Any], _conn: Any, target: Base) -> None:
    """Refuse text longer than its column, as PostgreSQL does and SQLite silently would not."""
    for col in target.__table__.columns:  # type: ignore[attr-defined]
        limit = getattr(col.type, "length", None)
        value = getattr(target, col.key, None)
        if limit is None or not isinstance(value, str) or len(value) <= limit:
            continue
        row = getattr(target, "source_row", None)
        where = f"Row {row}, " if isinstance(row, int) else ""
        label = _LABELS.get(col.key, col.key)
        raise StoreError(
            f"{where}{label}: {value[:40]!r}… is {len(value)} characters long; at most {limit} "
            f"fit ({target.__tablename__}.{col.key}). Nothing was written.",
            hint=f"Shorten the {label}; long free text belongs in Notes.",
        )


event.listen(Base, "before_insert", _check_lengths, propagate=True)
event.listen(Base, "before_update", _check_lengths, propagate=True)


# --- accounts, roles and the audit chain (campaigns/auth.py, campaigns/audit.py) ---------------
class UserRow(Base):
    """A person who signs in. While the table is empty the database is a single-user lab and
    nothing is checked; from the first user on, every write needs a signed-in user.

    ``password_hash`` is ``scrypt$n=…,r=…,p=…$<salt>$<key>`` (base64): the parameters are stored
    with each hash so they can be raised later without locking anyone out.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    """Site-wide: manages users and may do anything in any campaign."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class CampaignRoleRow(Base):
    """One user's role in one campaign: ``viewer``, ``chemist`` or ``owner``."""

    __tablename__ = "campaign_roles"
    __table_args__ = (UniqueConstraint("user_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_by: Mapped[str] = mapped_column(String(200), default="")
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditChainRow(Base):
    """The hash chain over the audit log: one row per audit entry, written in its transaction.

    ``sha256`` is SHA-256 of ``prev_sha256`` and the entry's canonical content
    (:func:`campaigns.audit.row_digest`); ``position`` orders the chain (1, 2, …), which on
    PostgreSQL need not follow the audit ids.
    """

    __tablename__ = "audit_chain"

    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id"), primary_key=True,
                                          autoincrement=False)
    position: Mapped[int] = mapped_column(BigInt, unique=True)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's newest link (one row, ``id`` 1); writers lock it, so the chain stays linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInt, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
