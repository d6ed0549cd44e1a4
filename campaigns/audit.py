"""The audit log as a hash chain: who did what, and proof that nobody rewrote it unnoticed.

Every audit entry (:class:`campaigns.models.AuditRow`) gets a link in ``audit_chain`` written in
the same transaction: ``sha256 = SHA-256(previous link's sha256 + "\\n" + canonical content)``,
where the canonical content is the entry's id, time (UTC, microseconds), actor, action,
campaign id and detail as sorted, compact JSON (:func:`row_digest`). ``audit_head`` holds the
newest link; every write transaction locks it first (PostgreSQL ``SELECT … FOR UPDATE``; SQLite
write transactions start with ``BEGIN IMMEDIATE``), so the chain stays one line however many
people write at once.

:func:`verify_audit` walks the chain and names the first entry that was edited, deleted or
inserted behind the planner's back. What it cannot see on its own is a forger who rewrites the
whole chain from the edited entry on: note the head hash :func:`verify_audit` reports (a lab
notebook, an e-mail) and pass it as ``expect`` later; a rewritten chain no longer holds it.

The link is written by an ORM event, so every ``AuditRow`` added through a session is chained
whoever adds it; rows inserted with plain SQL are not, and :func:`verify_audit` reports them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Table, event, select, update
from sqlalchemy.orm import Mapper, Session

from campaigns.errors import StoreError
from campaigns.models import AuditChainRow, AuditHeadRow, AuditRow, CampaignRow

if TYPE_CHECKING:
    from campaigns.store import Store

logger = logging.getLogger(__name__)

#: The ``prev_sha256`` of the first link.
GENESIS = "0" * 64
_HEAD_ID = 1

_AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]
_CHAIN: Table = AuditChainRow.__table__  # type: ignore[assignment]
_HEAD: Table = AuditHeadRow.__table__  # type: ignore[assignment]
_CONTENT = (_AUDIT.c.id, _AUDIT.c.at, _AUDIT.c.actor, _AUDIT.c.action, _AUDIT.c.campaign_id,
            _AUDIT.c.detail)


# --- the digest --------------------------------------------------------------------------------
def _utc(at: Any) -> str | None:
    if at is None:
        return None
    if isinstance(at, str):  # a value read without type processing
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:  # SQLite keeps no offset; the store writes UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(audit_id: int, at: Any, actor: str | None, action: str | None,
              campaign_id: int | None, detail: Any) -> str:
    """An audit entry as the one text its hash covers (sorted, compact JSON)."""
    return json.dumps({"id": audit_id, "at": _utc(at), "actor": actor, "action": action,
                       "campaign_id": campaign_id, "detail": detail},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_digest(prev_sha256: str, audit_id: int, at: Any, actor: str | None, action: str | None,
               campaign_id: int | None, detail: Any) -> str:
    """SHA-256 (hex) of the previous link and an entry's canonical content."""
    text = prev_sha256 + "\n" + canonical(audit_id, at, actor, action, campaign_id, detail)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- writing the chain ---------------------------------------------------------------------------
def _insert_head(conn: Connection) -> None:
    """Create the head (position 0) if it is missing and the chain is empty; no-op if present."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(_HEAD).values(id=_HEAD_ID, position=0, sha256=GENESIS)
                     .on_conflict_do_nothing(index_elements=["id"]))
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(_HEAD).values(id=_HEAD_ID, position=0, sha256=GENESIS)
                     .on_conflict_do_nothing(index_elements=["id"]))
    else:  # pragma: no cover - other engines are not supported by the store
        conn.execute(_HEAD.insert().values(id=_HEAD_ID, position=0, sha256=GENESIS))


def _head(conn: Connection) -> tuple[int, str]:
    """The newest link (position, sha256), locked until the transaction ends."""
    row = conn.execute(select(_HEAD.c.position, _HEAD.c.sha256)
                       .where(_HEAD.c.id == _HEAD_ID).with_for_update()).first()
    if row is None:
        if conn.scalar(select(_CHAIN.c.position).limit(1)) is not None:
            raise StoreError(
                "the audit log's chain head (table audit_head) is missing, but the chain is "
                "not empty: someone removed it. Nothing was written.",
                hint="Run `planner audit verify`, and restore the database from a backup "
                "(`planner db restore`) if it reports tampering.")
        _insert_head(conn)
        row = conn.execute(select(_HEAD.c.position, _HEAD.c.sha256)
                           .where(_HEAD.c.id == _HEAD_ID).with_for_update()).one()
    return int(row[0]), str(row[1])


def lock_head(session: Session) -> None:
    """Take the chain's lock at the start of a write transaction (PostgreSQL).

    Every writer takes it first, before any row of its own, so writers never wait for each
    other in two orders (no deadlock) and the chain stays linear. SQLite needs nothing: a write
    transaction starts with ``BEGIN IMMEDIATE``, which locks the whole database.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        _head(conn)


def _link(_mapper: Mapper[Any], conn: Connection, target: AuditRow) -> None:
    """After an audit entry is inserted: add its link and move the head, same transaction."""
    # Read back what the database stored, so the digest matches what verify_audit will read.
    content = conn.execute(select(*_CONTENT).where(_AUDIT.c.id == target.id)).one()
    position, prev = _head(conn)
    digest = row_digest(prev, *content)
    conn.execute(_CHAIN.insert().values(audit_id=target.id, position=position + 1,
                                        prev_sha256=prev, sha256=digest))
    conn.execute(update(_HEAD).where(_HEAD.c.id == _HEAD_ID)
                 .values(position=position + 1, sha256=digest))


event.listen(AuditRow, "after_insert", _link)


def chain_existing(conn: Connection) -> int:
    """Link every audit entry that has no link yet, oldest id first (the 0005 upgrade).

    Returns:
        How many entries were linked.
    """
    linked = set(conn.scalars(select(_CHAIN.c.audit_id)))
    position, prev = _head(conn)
    n = 0
    for content in conn.execute(select(*_CONTENT).order_by(_AUDIT.c.id)):
        if content[0] in linked:
            continue
        position += 1
        digest = row_digest(prev, *content)
        conn.execute(_CHAIN.insert().values(audit_id=content[0], position=position,
                                            prev_sha256=prev, sha256=digest))
        prev, n = digest, n + 1
    conn.execute(update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(position=position,
                                                                     sha256=prev))
    return n


def record(store: Store, action: str, *, campaign: str | None, role: str, what: str,
           detail: dict[str, Any], actor: str = "") -> str:
    """Write one audit entry for a write that happens outside the database (a published
    package), after checking the store's user may ``what`` (``role`` in ``campaign``).

    Returns:
        The name recorded as the actor.
    """
    from campaigns.auth import authorize

    with store._write() as s:
        camp = None if campaign is None else store._campaign(s, campaign)
        actor = authorize(s, store.identity, camp, role, database=store.url, actor=actor,
                          what=what)
        s.add(AuditRow(actor=actor, action=action, campaign_id=None if camp is None else camp.id,
                       detail=detail))
    return actor


# --- checking it ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditProblem:
    """One place where the audit log differs from what the planner wrote."""

    audit_id: int | None
    """The audit entry concerned (``None`` when it is gone)."""
    position: int | None
    """Its place in the chain (``None`` for an entry outside the chain)."""
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class AuditCheck:
    """What :func:`verify_audit` found."""

    n_entries: int
    """Audit entries in the database."""
    n_linked: int
    """Links in the chain."""
    head_position: int
    head_sha256: str
    """The newest link's hash: note it somewhere else to detect a rewrite of the whole chain."""
    problems: tuple[AuditProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> AuditProblem | None:
        """The earliest problem in chain order (the first entry that cannot be trusted)."""
        return self.problems[0] if self.problems else None


def _store_conn(store: Store) -> Any:
    return store.engine.connect()


def verify_audit(store: Store, *, expect: str | None = None) -> AuditCheck:
    """Recompute the audit chain and report every entry that was changed, removed or added.

    Args:
        store: The campaign store.
        expect: A head hash noted earlier (:attr:`AuditCheck.head_sha256`): reported as a
            problem unless the chain still holds it.

    Returns:
        The check; ``check.ok`` is true when the chain is whole, ``check.first_broken`` names
        the first entry that is not.
    """
    problems: list[AuditProblem] = []
    with _store_conn(store) as conn:
        entries = {r[0]: tuple(r) for r in conn.execute(select(*_CONTENT))}
        links = conn.execute(select(_CHAIN.c.audit_id, _CHAIN.c.position, _CHAIN.c.prev_sha256,
                                    _CHAIN.c.sha256).order_by(_CHAIN.c.position)).all()
        head = conn.execute(select(_HEAD.c.position, _HEAD.c.sha256)).first()
    prev, expected_pos, seen = GENESIS, 1, set()
    hashes = set()
    for audit_id, position, link_prev, sha in links:
        seen.add(audit_id)
        hashes.add(sha)
        if position != expected_pos:
            problems.append(AuditProblem(audit_id, position, (
                f"audit chain: links {expected_pos}–{position - 1} are missing before entry "
                f"{audit_id}: entries were deleted together with their links.")))
        elif link_prev != prev:
            problems.append(AuditProblem(audit_id, position, (
                f"audit entry {audit_id} (link {position}) does not follow the link before it: "
                "the chain was cut or re-linked here.")))
        content = entries.get(audit_id)
        if content is None:
            problems.append(AuditProblem(audit_id, position, (
                f"audit entry {audit_id} (link {position}) was deleted from the audit log.")))
        elif row_digest(link_prev, *content) != sha:
            problems.append(AuditProblem(audit_id, position, (
                f"audit entry {audit_id} (link {position}, {content[3]} by {content[2]!r}) was "
                "changed after it was written.")))
        prev, expected_pos = sha, position + 1
    last_pos = expected_pos - 1
    if head is None:
        if links:
            problems.append(AuditProblem(None, None, "the chain head (audit_head) is missing."))
    elif (int(head[0]), str(head[1])) != (last_pos, prev):
        problems.append(AuditProblem(None, int(head[0]), (
            f"the chain ends at link {last_pos}, but its head says {int(head[0])}: the newest "
            "entries were deleted, or the chain was re-linked.")))
    for audit_id in sorted(set(entries) - seen):
        content = entries[audit_id]
        problems.append(AuditProblem(audit_id, None, (
            f"audit entry {audit_id} ({content[3]} by {content[2]!r}) is not in the chain: it "
            "was inserted outside the planner.")))
    if expect and expect.strip().lower() not in hashes:
        problems.append(AuditProblem(None, None, (
            f"the chain no longer holds the head hash {expect.strip()[:16]}… noted earlier: it "
            "was rewritten, or this is another database.")))
    return AuditCheck(len(entries), len(links), last_pos, prev, tuple(problems))


# --- reading it ----------------------------------------------------------------------------------
AUDIT_COLUMNS = ["id", "at", "actor", "action", "campaign", "summary", "detail"]


def _summary(action: str, detail: dict[str, Any]) -> str:
    """One line a person reads: which plate, well, file or user an entry is about."""
    d = detail or {}
    parts = []
    for key in ("batch_id", "iso_week", "well", "quantity", "filename", "upload_id", "user",
                "role", "source", "reason"):
        if d.get(key) not in (None, "", []):
            label = {"batch_id": "batch", "upload_id": "upload"}.get(key, key)
            parts.append(f"{label} {d[key]}")
    before, after = d.get("before"), d.get("after")
    if isinstance(before, dict) or isinstance(after, dict):
        def value(x: Any) -> str:
            return "—" if not isinstance(x, dict) else f"{x.get('value')} ({x.get('status')})"

        parts.append(f"{value(before)} → {value(after)}")
    for key in ("new", "superseding", "retracted"):
        if isinstance(d.get(key), int) and d[key]:
            parts.append(f"{d[key]} {key}")
    return ", ".join(parts)


def audit_entries(store: Store, *, campaign: str | None = None, user: str | None = None,
                  action: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> pd.DataFrame:
    """The audit log, newest last, filtered; for the audit page and ``planner audit list``.

    Args:
        campaign: Only entries about this campaign.
        user: Only entries whose actor is this user.
        action: Only this action (``measurements.ingest``), or a family ending in a dot
            (``measurement.`` matches ``measurement.correct`` and ``measurement.retract``).
        since, until: Only entries written in ``[since, until)``.

    Returns:
        One row per entry: ``id``, ``at`` (UTC), ``actor``, ``action``, ``campaign``,
        ``summary`` (one line: plate, well, file, before → after) and ``detail`` (everything
        the store recorded, before/after values included).
    """
    q = (select(AuditRow, CampaignRow.name).outerjoin(CampaignRow,
                                                       AuditRow.campaign_id == CampaignRow.id)
         .order_by(AuditRow.id))
    if campaign is not None:
        q = q.where(CampaignRow.name == campaign)
    if user is not None:
        q = q.where(AuditRow.actor == user)
    if action is not None:
        q = q.where(AuditRow.action.startswith(action) if action.endswith(".")
                    else AuditRow.action == action)
    if since is not None:
        q = q.where(AuditRow.at >= since)
    if until is not None:
        q = q.where(AuditRow.at < until)
    with Session(store.engine) as s:
        rows: Iterable[Any] = s.execute(q).all()
        out = [{"id": a.id, "at": pd.Timestamp(_utc(a.at)), "actor": a.actor,
                "action": a.action, "campaign": name, "summary": _summary(a.action, a.detail),
                "detail": a.detail} for a, name in rows]
    return pd.DataFrame(out, columns=AUDIT_COLUMNS)


def audit_table(frame: pd.DataFrame) -> pd.DataFrame:
    """An :func:`audit_entries` frame ready to export: the detail as JSON text.

    Write it with :func:`campaigns.exports.write_frame` (CSV or XLSX), which neutralises cells
    that would start a spreadsheet formula (user names and file names are user input).
    """
    out = frame.copy()
    out["detail"] = [json.dumps(d, sort_keys=True, ensure_ascii=False, default=str)
                     for d in out["detail"]]
    out["at"] = [None if pd.isna(t) else t.isoformat() for t in out["at"]]
    return out


__all__ = ["AUDIT_COLUMNS", "GENESIS", "AuditCheck", "AuditProblem", "audit_table",
           "audit_entries", "canonical", "chain_existing", "lock_head", "record", "row_digest",
           "verify_audit"]
