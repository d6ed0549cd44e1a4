"""The shared dataset in the database: pulled packages (sources) and their rows.

:class:`SharedDataset` is a small repository over the ``shared_sources`` and ``shared_rows``
tables, on the same engine as :class:`campaigns.store.Store`. Every write is one transaction: a
pull stores every row of a package or none.

Rows are append-only, like measurements: nothing is updated in place or deleted. Every read
(:meth:`~SharedDataset.rows`, :meth:`~SharedDataset.prior_for`, exports, the quarantine report,
the counts) sees the current version of each row only, unless it asks for the history.

De-duplication, applied when a row is written:

1. **Same source, same row ID** — the row is the same observation. Identical values and
   provenance: nothing changes (``unchanged``). Different: a new version is stored that
   supersedes the current one (``updated``; the old version is kept) and the audit log lists the
   changed row IDs. Rows missing from a newer version of the package stay current (``absent``).
2. **Another source, identical values** — domain, kind and every value (floats rounded to 10
   significant digits, after unit conversion) equal to an accepted row of another source: the row
   is stored, with its own provenance, and marked ``duplicate_of`` the earlier row. Reads leave
   duplicates out unless asked, so a model never counts one measurement twice; the first source
   pulled keeps the row.
3. Identical values within one source are kept: they are replicates.

A package whose ``datapackage.json`` and resources are byte-identical to the last pull of that
source changes nothing (``already_pulled``).

A source's title, licence and citation are never replaced by a package that merely has the same
name: a pull into an existing source from another origin (folder or zip) whose title, domain,
licence or citation differ is refused (:class:`SourceConflictError`) unless asked for with
``replace_source=True``; when the metadata legitimately change, the previous values are kept in
the audit log.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Engine, exists, func, insert, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from campaigns.auth import ADMIN, Identity, authorize
from campaigns.columns import COLUMNS
from campaigns.errors import CampaignError, NotFoundError, Problem
from campaigns.hints import did_you_mean
from campaigns.models import AuditRow, SharedDataRow, SharedSourceRow, utcnow
from campaigns.shared_dataset.errors import SourceConflictError
from campaigns.shared_dataset.package import (
    ResourceData,
    is_zipped,
    open_package,
    package_sha256,
    unpacked,
    write_package,
)
from campaigns.shared_dataset.reader import PackageContents, SharedRecord, read_descriptor
from campaigns.shared_dataset.schema import (
    DOMAIN_KEY,
    PROVENANCE,
    ROLE_KEY,
    ROW_ID,
    FieldSpec,
    package_name,
    provenance_field,
    science_field,
    values_digest,
)
from campaigns.store import Store, transaction

ACCEPTED, QUARANTINED = "accepted", "quarantined"
_INT_PROVENANCE = [n for n, (t, _, _) in PROVENANCE.items() if t == "integer"]


@dataclass(frozen=True)
class SourceInfo:
    """A pulled package as stored."""

    name: str
    title: str
    domain: str
    licence: str
    licence_url: str
    citation: str
    contributors: tuple[dict[str, Any], ...]
    package_sha256: str
    origin: str
    pulled_at: datetime
    pulled_by: str
    fields: tuple[dict[str, Any], ...]
    """Field mappings (name in the package, stored name, unit, declared unit, scale, offset)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Rows by ``measurement``, ``failed_synthesis``, ``quarantined``, ``duplicate``."""


@dataclass(frozen=True)
class PullResult:
    """What a pull changed."""

    source: str
    """Source name the rows were stored under."""
    already_pulled: bool = False
    """True when this exact package was the source's last pull: nothing changed."""
    n_new: int = 0
    """New accepted rows (quarantined ones are counted in ``n_quarantined`` only)."""
    n_updated: int = 0
    n_unchanged: int = 0
    n_duplicates: int = 0
    """New or updated rows whose values equal another source's row (stored, marked)."""
    n_quarantined: int = 0
    n_absent: int = 0
    """Rows stored from an earlier version of the source that the package no longer has."""
    warnings: tuple[Problem, ...] = ()
    metadata_changed: tuple[str, ...] = ()
    """Source metadata this pull changed (``title``, ``licence`` …); the audit log keeps the
    previous values."""


@dataclass(frozen=True)
class PriorRows:
    """Shared rows matching a campaign, shaped for a warm-started model."""

    X: pd.DataFrame
    """Inputs, the campaign's ``input_names`` (NaN where a source lacks a column)."""
    Y: pd.DataFrame
    """The campaign's modelled targets (NaN where a row lacks one); every row has one."""
    source: pd.Series
    """Source name of each row (a task of a multi-task GP)."""
    sources: dict[str, str]
    """Source name -> SHA-256 of the package it was pulled from (the prior's revision)."""
    missing_inputs: tuple[str, ...] = ()
    """Input columns no selected source has (they are imputed)."""

    def __len__(self) -> int:
        return len(self.X)


class SharedDataset:
    """Repository over the shared dataset tables.

    Args:
        engine: The campaign store (``Store.open(url)``), or its engine; the schema must be
            migrated, which ``Store.open`` does.
        identity: The signed-in user pulls are checked against and recorded under when the
            database has user accounts (default: the store's); pulling needs an admin, as the
            shared rows feed every campaign's warm start.

    Example::

        shared = SharedDataset(Store.open(url).engine)
        shared.pull(Path("other-lab/datapackage.json"))
        shared.rows(domain="electrolyte")
    """

    def __init__(self, engine: Engine | Store, *, identity: Identity | None = None) -> None:
        if isinstance(engine, Store):
            identity = identity if identity is not None else engine.identity
            engine = engine.engine
        self.engine = engine
        self.identity = identity
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    def _write(self) -> AbstractContextManager[Session]:
        return Store(self.engine, identity=self.identity)._write()

    def _authorize(self, s: Session, actor: str) -> str:
        return authorize(s, self.identity, None, ADMIN, actor=actor, what="pull shared data",
                         database=self.engine.url.render_as_string(hide_password=True))

    # --- writing --------------------------------------------------------------------------
    def pull(self, path: Path, *, name: str | None = None, quarantine: bool = False,
             actor: str = "", replace_source: bool = False) -> PullResult:
        """Validate a package (:func:`read_package`) and merge it, all or nothing.

        The package is untrusted: it is refused, before frictionless reads it, when it refers to
        anything outside its folder (nothing is fetched over the network) or when a file is
        larger, or unpacks to more, than the limits of :mod:`campaigns.limits`.

        Args:
            path: Package folder, its ``datapackage.json``, or a zipped package.
            name: Source name (default: the package's ``name``).
            quarantine: Store valid rows and set invalid ones aside (see :func:`read_package`).
            actor: Who pulls, for the audit log.
            replace_source: Let a package from another origin, with another title, licence or
                citation, replace source ``name``'s metadata (see :meth:`merge`).

        Raises:
            PackageError: the package was refused (every problem listed); nothing was stored.
            LimitError: a file is too large or unpacks to too much; nothing was read.
            SourceConflictError: source ``name`` holds another package (see :meth:`merge`).
        """
        with unpacked(path) as target:
            descriptor, _ = open_package(target)  # every safety check, before any data is read
            declared = descriptor.get("name")
            key = name or (declared if isinstance(declared, str) and declared else None)
            current = self._current_sha(key)
            if current is not None and current == package_sha256(target):
                return PullResult(key or "", already_pulled=True)
            contents = read_descriptor(target, quarantine=quarantine,
                                       shown=Path(path) if is_zipped(Path(path)) else target)
        return self.merge(contents, name=name, actor=actor, replace_source=replace_source)

    def _current_sha(self, name: str | None) -> str | None:
        if not name:
            return None
        with self._session() as s:
            return s.scalar(select(SharedSourceRow.package_sha256)
                            .where(SharedSourceRow.name == name))

    def merge(self, contents: PackageContents, *, name: str | None = None,
              actor: str = "", replace_source: bool = False) -> PullResult:
        """Store a validated package as source ``name`` (default: the package name).

        Applies the de-duplication rules of this module in one transaction; changed rows get a
        new version, the old one is kept.

        Args:
            contents: What :func:`read_package` returned.
            name: Source name (default: the package's ``name``).
            actor: Who pulls, for the audit log.
            replace_source: Allow a package from another origin whose title, domain, licence or
                citation differ from the stored source's to replace them (the audit log keeps
                the previous values). Without it such a pull is refused.

        Raises:
            SourceConflictError: source ``name`` holds a package from another origin with
                other metadata, and ``replace_source`` is false; nothing was stored.
        """
        name = name or contents.name or package_name(contents.title or contents.path.parent.name)
        origin = str(Path(contents.path).resolve())
        with self._write() as s:
            actor = self._authorize(s, actor)
            src = s.scalar(select(SharedSourceRow).where(SharedSourceRow.name == name))
            if src is not None and src.package_sha256 == contents.sha256:
                return PullResult(name, already_pulled=True,
                                  n_unchanged=len(contents.records) + len(contents.quarantined),
                                  warnings=contents.warnings)
            previous: dict[str, Any] = {}
            if src is None:
                src = SharedSourceRow(name=name)
                s.add(src)
            else:
                previous = _metadata(src)
                _check_identity(name, previous, contents, origin, replace_source)
            src.title, src.domain = contents.title, contents.domain
            src.licence, src.licence_url = contents.licence, contents.licence_url
            src.citation, src.contributors = contents.citation, list(contents.contributors)
            src.fields = [f.to_dict() for f in contents.fields]
            src.package_sha256, src.descriptor = contents.sha256, contents.descriptor
            src.origin, src.pulled_at, src.pulled_by = origin, utcnow(), actor
            changed = {k: v for k, v in previous.items() if _metadata(src)[k] != v}
            s.flush()
            counts = self._write_rows(s, src, contents)
            s.add(AuditRow(actor=actor, action="shared.pull", campaign_id=None, detail={
                "source": name, "origin": origin, "sha256": contents.sha256,
                "previous_sha256": previous.get("package_sha256"), "licence": contents.licence,
                "previous": changed, "replace_source": replace_source,
                **{k: v for k, v in counts.items() if k != "updated_ids"},
                "updated_row_ids": counts["updated_ids"][:1000]}))
        return PullResult(
            name, n_new=counts["new"], n_updated=counts["updated"],
            n_unchanged=counts["unchanged"], n_duplicates=counts["duplicates"],
            n_quarantined=counts["quarantined"], n_absent=counts["absent"],
            warnings=contents.warnings,
            metadata_changed=tuple(k for k in _IDENTITY + ("contributors",) if k in changed))

    @staticmethod
    def _write_rows(s: Session, src: SharedSourceRow, contents: PackageContents) -> dict[str, Any]:
        existing = {r.row_id: r for r in s.scalars(
            select(SharedDataRow).where(SharedDataRow.source_id == src.id, _is_current()))}
        canonical: dict[str, int] = {}
        for digest, rid in s.execute(
                select(SharedDataRow.values_sha256, SharedDataRow.id)
                .where(SharedDataRow.source_id != src.id, SharedDataRow.state == ACCEPTED,
                       SharedDataRow.duplicate_of_id.is_(None), _is_current())
                .order_by(SharedDataRow.id)):
            canonical.setdefault(digest, rid)
        counts: dict[str, Any] = dict.fromkeys(
            ("new", "updated", "unchanged", "duplicates", "quarantined"), 0)
        counts["updated_ids"] = []
        new_rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        now = utcnow()
        for rec in (*contents.records, *contents.quarantined):
            seen.add(rec.row_id)
            digest = values_digest(contents.domain, rec.kind, rec.values)
            state = QUARANTINED if rec.problems else ACCEPTED
            dup = canonical.get(digest) if state == ACCEPTED else None
            row = {"source_id": src.id, "row_id": rec.row_id, "kind": rec.kind,
                   "domain": contents.domain, "state": state, "values": rec.values,
                   "provenance": rec.provenance, "problems": _problems_json(rec),
                   "values_sha256": digest, "duplicate_of_id": dup}
            counts["quarantined"] += state == QUARANTINED
            old = existing.get(rec.row_id)
            if old is not None and _same(old, row):
                counts["unchanged"] += 1
                continue
            counts["duplicates"] += dup is not None
            # A changed row is a new version: the old one stays, superseded (append-only).
            new_rows.append({**row, "supersedes_id": None if old is None else old.id,
                             "created_at": now, "updated_at": now})
            if old is None:
                counts["new"] += state == ACCEPTED
            else:
                counts["updated"] += 1
                counts["updated_ids"].append(rec.row_id)
        if new_rows:
            s.execute(insert(SharedDataRow), new_rows)
        counts["absent"] = len(set(existing) - seen)
        return counts

    # --- reading --------------------------------------------------------------------------
    def sources(self) -> list[SourceInfo]:
        """Every pulled source, by name."""
        with self._session() as s:
            return [self._info(s, r) for r in s.scalars(
                select(SharedSourceRow).order_by(SharedSourceRow.name))]

    def source(self, name: str) -> SourceInfo:
        """One source by name."""
        with self._session() as s:
            return self._info(s, self._source(s, name))

    def is_empty(self) -> bool:
        """True when no package was ever pulled."""
        with self._session() as s:
            return not s.scalar(select(func.count(SharedSourceRow.id)))

    @staticmethod
    def _source(s: Session, name: str) -> SharedSourceRow:
        row = s.scalar(select(SharedSourceRow).where(SharedSourceRow.name == name))
        if row is None:
            names = list(s.scalars(select(SharedSourceRow.name)))
            raise NotFoundError(f"no shared source named {name!r}.", hint=(
                did_you_mean(name, names, cutoff=0.5)
                or "List sources with `planner dataset list`."))
        return row

    @staticmethod
    def _info(s: Session, r: SharedSourceRow) -> SourceInfo:
        q = (select(SharedDataRow.kind, SharedDataRow.state,
                    SharedDataRow.duplicate_of_id.is_not(None), func.count())
             .where(SharedDataRow.source_id == r.id, _is_current())
             .group_by(SharedDataRow.kind, SharedDataRow.state,
                       SharedDataRow.duplicate_of_id.is_not(None)))
        counts = {"measurement": 0, "failed_synthesis": 0, "quarantined": 0, "duplicate": 0}
        for kind, state, is_dup, n in s.execute(q):
            if state == QUARANTINED:
                counts["quarantined"] += n
            elif is_dup:
                counts["duplicate"] += n
            else:
                counts[kind] = counts.get(kind, 0) + n
        return SourceInfo(r.name, r.title, r.domain, r.licence, r.licence_url, r.citation,
                          tuple(r.contributors or []), r.package_sha256, r.origin, r.pulled_at,
                          r.pulled_by, tuple(r.fields or []), counts)

    def rows(self, *, source: str | None = None, domain: str | None = None,
             kind: str | None = "measurement", include_duplicates: bool = False,
             include_quarantined: bool = False,
             include_superseded: bool = False) -> pd.DataFrame:
        """Shared rows as one wide frame, values in canonical units.

        Args:
            source: Only this source.
            domain: Only this domain (``hard-carbon``, ``electrolyte``).
            kind: ``measurement``, ``failed_synthesis``, or ``None`` for both.
            include_duplicates: Keep rows marked as duplicates of another source's row.
            include_quarantined: Keep quarantined rows (their ``problems`` column says why).
            include_superseded: Every version of every row, oldest first, with a last column
                ``current`` (``False`` for versions a later pull replaced); by default only the
                current version of each row.

        Returns:
            Columns ``source``, ``row_id``, ``kind``, ``domain``, ``state``, ``duplicate_of``
            (``source:row_id``), the value columns (registry order first) and the provenance
            columns; ``measured_at`` as UTC timestamps.
        """
        with self._session() as s:
            q = (select(SharedDataRow, SharedSourceRow.name)
                 .join(SharedSourceRow, SharedDataRow.source_id == SharedSourceRow.id)
                 .order_by(SharedDataRow.id))
            if source is not None:
                q = q.where(SharedDataRow.source_id == self._source(s, source).id)
            if domain is not None:
                q = q.where(SharedDataRow.domain == domain)
            if kind is not None:
                q = q.where(SharedDataRow.kind == kind)
            if not include_duplicates:
                q = q.where(SharedDataRow.duplicate_of_id.is_(None))
            if not include_quarantined:
                q = q.where(SharedDataRow.state == ACCEPTED)
            if not include_superseded:
                q = q.where(_is_current())
            fetched = list(s.execute(q))
            replaced = set(s.scalars(select(SharedDataRow.supersedes_id).where(
                SharedDataRow.supersedes_id.is_not(None)))) if include_superseded else set()
            dup_ids = {r.duplicate_of_id for r, _ in fetched if r.duplicate_of_id}
            originals = {i: f"{n}:{rid}" for i, rid, n in s.execute(
                select(SharedDataRow.id, SharedDataRow.row_id, SharedSourceRow.name)
                .join(SharedSourceRow).where(SharedDataRow.id.in_(dup_ids)))} if dup_ids else {}
        meta = ["source", "row_id", "kind", "domain", "state", "duplicate_of"]
        records, value_keys, prov_keys = [], {}, {}
        for r, src in fetched:
            value_keys.update(dict.fromkeys(r.values))
            prov_keys.update(dict.fromkeys(r.provenance))
            rec = {"source": src, "row_id": r.row_id, "kind": r.kind, "domain": r.domain,
                   "state": r.state,
                   "duplicate_of": (None if r.duplicate_of_id is None
                                    else originals.get(r.duplicate_of_id)),
                   **r.values, **r.provenance}
            if include_quarantined:
                rec["problems"] = r.problems
            if include_superseded:
                rec["current"] = r.id not in replaced
            records.append(rec)
        values = [c for c in COLUMNS if c in value_keys] + [c for c in value_keys
                                                            if c not in COLUMNS]
        prov = [c for c in PROVENANCE if c in prov_keys] + [c for c in prov_keys
                                                            if c not in PROVENANCE]
        cols = meta + values + prov + (["problems"] if include_quarantined else []) + (
            ["current"] if include_superseded else [])
        frame = pd.DataFrame(records, columns=cols)
        # Other labs may write dates or batch numbers their own way: then the text is kept.
        if "measured_at" in frame:
            with suppress(ValueError, TypeError):
                frame["measured_at"] = pd.to_datetime(frame["measured_at"], utc=True,
                                                      format="ISO8601")
        for col in (c for c in _INT_PROVENANCE if c in frame):
            with suppress(ValueError, TypeError):
                frame[col] = pd.to_numeric(frame[col]).astype("Int64")
        return frame

    def prior_for(self, input_names: list[str], targets: list[str], *,
                  sources: tuple[str, ...] = ()) -> PriorRows:
        """Accepted, non-duplicate measurements that hold at least one of ``targets``.

        Rows whose ``status`` is not ``ok`` (outliers, failed cells) are left out.

        Args:
            input_names: the campaign's model inputs (registry names).
            targets: the campaign's modelled targets.
            sources: only these sources (``()``: all). An unknown name is an error.

        Returns:
            A :class:`PriorRows` (possibly empty).
        """
        # rows() raises NotFoundError (with the known names) for an unknown source.
        frames = [self.rows(source=name) for name in sources] if sources else [self.rows()]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        present = [t for t in targets if t in rows]
        if rows.empty or not present:
            empty = pd.DataFrame(columns=input_names)
            return PriorRows(empty, pd.DataFrame(columns=targets), pd.Series([], dtype=object),
                             {}, tuple(input_names))
        Y = rows.reindex(columns=targets).apply(pd.to_numeric, errors="coerce")
        keep = Y.notna().any(axis=1).to_numpy(copy=True)
        if "status" in rows:  # outliers and failed cells teach a model nothing (as at home)
            keep &= rows["status"].isna().to_numpy() | (rows["status"] == "ok").to_numpy()
        rows, Y = rows[keep].reset_index(drop=True), Y[keep].reset_index(drop=True)
        missing = tuple(c for c in input_names if c not in rows or rows[c].isna().all())
        X = rows.reindex(columns=input_names)
        with self._session() as s:
            shas = dict(s.execute(
                select(SharedSourceRow.name, SharedSourceRow.package_sha256)
                .where(SharedSourceRow.name.in_(sorted(set(rows["source"]))))
                .order_by(SharedSourceRow.name)).all())
        return PriorRows(X, Y, rows["source"].astype(str), shas, missing)

    def quarantine(self, source: str) -> pd.DataFrame:
        """Problems of a source's quarantined rows: ``row_id``, ``row``, ``field``, ``value``,
        ``reason``, ``hint``."""
        frame = self.rows(source=source, kind=None, include_quarantined=True,
                          include_duplicates=True)
        frame = frame[frame["state"] == QUARANTINED]
        out = [{"row_id": rid, **p} for rid, probs in zip(frame["row_id"], frame["problems"],
                                                          strict=True) for p in probs]
        return pd.DataFrame(out, columns=["row_id", "row", "field", "value", "reason", "hint"])

    def export_package(self, source: str, out_dir: Path) -> Path:
        """Write a source's accepted rows back out as a data package, in canonical units.

        Keeps the source's licence, contributors and citation, so the data can be passed on
        under the same terms. Pulling the result elsewhere gives the same rows.
        """
        info = self.source(source)
        with self._session() as s:
            descriptor = dict(self._source(s, source).descriptor or {})
        resources = []
        for kind, res_name in (("measurement", "measurements"),
                               ("failed_synthesis", "failed_syntheses")):
            frame = self.rows(source=source, kind=kind, include_duplicates=True)
            if frame.empty:
                continue
            fields = _export_fields(info, descriptor, frame)
            resources.append(ResourceData(res_name, frame, fields))
        if not resources:
            raise CampaignError(f"source {source!r} has no accepted rows to export.")
        licence = (descriptor.get("licenses") or [{}])[0] or {
            "name": info.licence or "unknown", "path": info.licence_url}
        custom = {k: v for k, v in descriptor.items() if k.startswith("planner:")}
        custom[DOMAIN_KEY] = info.domain
        return write_package(
            out_dir, name=package_name(info.name), title=info.title or info.name,
            description=str(descriptor.get("description") or "") + " Re-exported from the shared "
            "dataset of battery-bo-planner; values in the registry's canonical units.",
            resources=resources, licence=licence, contributors=info.contributors,
            created=pd.Timestamp(descriptor.get("created") or info.pulled_at).to_pydatetime(),
            sources=descriptor.get("sources") or [], custom=custom)


def _export_fields(info: SourceInfo, descriptor: dict[str, Any],
                   frame: pd.DataFrame) -> tuple[FieldSpec, ...]:
    roles = {f.get("name"): f.get(ROLE_KEY) for r in descriptor.get("resources") or []
             for f in (r.get("schema") or {}).get("fields") or [] if isinstance(f, dict)}
    mapped = {f["name"]: f for f in info.fields}
    out = [ROW_ID]
    for col in frame.columns[6:]:
        m = mapped.get(col, {})
        role = roles.get(m.get("source_name")) or ("provenance" if m.get("role") == "provenance"
                                                   else "value")
        if col in PROVENANCE and m.get("role") != "value":
            out.append(provenance_field(col))
        elif col in COLUMNS:
            out.append(science_field(col, role))
        else:
            out.append(FieldSpec(col, m.get("type") or "string", role, m.get("title") or "",
                                 m.get("description") or "", m.get("unit")))
    return tuple(out)


def _problems_json(rec: SharedRecord) -> list[dict[str, Any]]:
    return [{"row": p.row, "field": p.column, "value": p.value, "reason": p.message,
             "hint": p.hint} for p in rec.problems]


def _is_current() -> ColumnElement[bool]:
    """SQL condition: no later version supersedes this ``shared_rows`` row."""
    newer = aliased(SharedDataRow)
    return ~exists().where(newer.supersedes_id == SharedDataRow.id)


#: Source metadata that tells one package from another that merely has the same name.
_IDENTITY = ("title", "domain", "licence", "licence_url", "citation")


def _metadata(src: SharedSourceRow) -> dict[str, Any]:
    return {"title": src.title, "domain": src.domain, "licence": src.licence,
            "licence_url": src.licence_url, "citation": src.citation,
            "contributors": list(src.contributors or []), "origin": src.origin,
            "package_sha256": src.package_sha256}


def _check_identity(name: str, stored: dict[str, Any], contents: PackageContents, origin: str,
                    replace_source: bool) -> None:
    """Refuse a package from another origin that would replace source ``name``'s metadata."""
    new = {"title": contents.title, "domain": contents.domain, "licence": contents.licence,
           "licence_url": contents.licence_url, "citation": contents.citation}
    differ = [k for k in _IDENTITY if stored[k] != new[k]]
    old_origin = stored["origin"] or ""
    same_origin = old_origin == origin or (old_origin and str(Path(old_origin).resolve())
                                           == origin)
    if not differ or same_origin or replace_source:
        return
    what = "; ".join(f"{k} {_short(stored[k])!r} → {_short(new[k])!r}" for k in differ)
    raise SourceConflictError(
        f"source {name!r} already holds another package, pulled from {old_origin or 'elsewhere'}"
        f"; this one comes from {origin} and differs in {what}. Nothing was stored.",
        hint="Pull it under a name of its own with --as NAME. If it really is a new version of "
             "the same data, pull it again with --replace-source: the previous title, licence "
             "and citation stay in the audit log.")


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _same(old: SharedDataRow, new: dict[str, Any]) -> bool:
    return (old.values == new["values"] and old.provenance == new["provenance"]
            and old.state == new["state"] and old.kind == new["kind"])


__all__ = ["ACCEPTED", "QUARANTINED", "PriorRows", "PullResult", "SharedDataset", "SourceInfo"]
