"""Frictionless Data Packages on disk: write one (validated), locate, open and validate one.

:func:`write_package` turns frames plus field descriptions into ``datapackage.json`` and CSV
resources and checks the result with the ``frictionless`` library. Reading another lab's
package into the shared dataset's terms is :mod:`campaigns.shared.reader`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from frictionless import FrictionlessException, Package, Resource, Schema

from campaigns.errors import Problem
from campaigns.shared.errors import PackageError
from campaigns.shared.schema import KIND_KEY, RESOURCE_KINDS, FieldSpec

DESCRIPTOR = "datapackage.json"


@dataclass(frozen=True)
class ResourceData:
    """One table to publish."""

    name: str
    """Resource name (``measurements``); the CSV is ``<name>.csv``."""
    frame: pd.DataFrame
    """The rows; columns named as the fields (missing ones are written empty)."""
    fields: tuple[FieldSpec, ...]
    """Column descriptions, in file order; the first is the primary key."""
    description: str = ""
    """What one row is."""


def write_package(out_dir: Path, *, name: str, title: str, description: str,
                  resources: Sequence[ResourceData], licence: Mapping[str, str],
                  contributors: Sequence[Mapping[str, Any]], created: datetime,
                  sources: Sequence[Mapping[str, str]] = (),
                  custom: Mapping[str, Any] | None = None) -> Path:
    """Write a validated Frictionless Data Package.

    Args:
        out_dir: Folder to write ``datapackage.json`` and one CSV per resource into (created).
        name: Package name (lower case, ``-._`` allowed).
        title: One-line title.
        description: What the data are, how they were measured.
        resources: The tables.
        licence: A ``licenses`` entry (``name``, ``path``, ``title``).
        contributors: ``title`` and optional ``email``, ``roles``, ``organization``.
        created: Time stamp of the data (kept stable so re-publishing unchanged data gives the
            same bytes).
        sources: Data Package ``sources`` (``title``, ``path``).
        custom: Extra top-level properties (``planner:domain``, ``planner:citation`` …).

    Returns:
        Path of ``datapackage.json``.

    Raises:
        PackageError: frictionless found the written package invalid (a bug; nothing to fix
            by the user, but the report says what).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fl_resources = []
    for res in resources:
        path = f"{res.name}.csv"
        _csv_frame(res.frame, res.fields).to_csv(out_dir / path, index=False, lineterminator="\n")
        schema = Schema.from_descriptor({
            "fields": [f.descriptor() for f in res.fields],
            "primaryKey": [res.fields[0].name],
        })
        resource = Resource(path=path, name=res.name, schema=schema,
                            description=res.description)
        resource.custom[KIND_KEY] = RESOURCE_KINDS.get(res.name, "measurement")
        fl_resources.append(resource)
    package = Package(name=name, title=title, description=description, resources=fl_resources,
                      licenses=[dict(licence)], contributors=[dict(c) for c in contributors],
                      sources=[dict(s) for s in sources], created=iso_time(created),
                      basepath=str(out_dir))
    for key, value in (custom or {}).items():
        package.custom[key] = value
    target = out_dir / DESCRIPTOR
    package.to_json(str(target))
    problems = validate_package(target)
    if problems:
        raise PackageError(f"the package written to {out_dir} does not validate.",
                           problems=problems, hint="Please report this as a bug.")
    return target


def _csv_frame(frame: pd.DataFrame, fields: Iterable[FieldSpec]) -> pd.DataFrame:
    """Cells as the CSV should hold them: floats in round-trip form, ISO times, JSON objects."""
    out = {}
    n = len(frame)
    for f in fields:
        col = frame[f.name] if f.name in frame else pd.Series([None] * n, index=frame.index)
        if f.type == "number":
            out[f.name] = pd.to_numeric(col, errors="coerce").astype(float)
        elif f.type == "integer":
            out[f.name] = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif f.type == "datetime":
            out[f.name] = col.map(lambda v: "" if _missing(v) else iso_time(pd.Timestamp(v)))
        elif f.type == "object":
            out[f.name] = col.map(
                lambda v: "" if not isinstance(v, dict) else json.dumps(v, sort_keys=True))
        else:
            out[f.name] = col.map(lambda v: "" if _missing(v) else str(v))
    return pd.DataFrame(out, index=frame.index)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def iso_time(ts: datetime | pd.Timestamp) -> str:
    """ISO 8601 in UTC; naive times are taken as UTC (SQLite drops the zone)."""
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.isoformat().replace("+00:00", "Z")


def locate(path: Path) -> Path:
    """The ``datapackage.json`` of a package folder, or the given descriptor file."""
    path = Path(path)
    target = path / DESCRIPTOR if path.is_dir() else path
    if not target.is_file():
        msg = f"no data package at {path}."
        hint = "Give the folder holding datapackage.json, or the datapackage.json file itself."
        raise PackageError(msg, problems=[Problem(None, None, str(path), msg, hint)], hint=hint)
    return target


def validate_package(path: Path) -> list[Problem]:
    """Every problem frictionless finds in a package (empty when it is valid)."""
    try:
        _, package = open_package(locate(path))
    except PackageError as exc:
        return list(exc.problems)
    report = package.validate(limit_errors=0)
    out = [Problem(None, None, None, e.message) for e in report.errors]
    for task in report.tasks:
        out += [error_problem(task.name, e) for e in task.errors]
    return out


def error_problem(resource: str, error: Any) -> Problem:
    """A frictionless error as a :class:`Problem` naming the resource, row, field and cell."""
    return Problem(getattr(error, "row_number", None), getattr(error, "field_name", None) or None,
                   getattr(error, "cell", None), f"{resource}: {error.message}")


def open_package(target: Path) -> tuple[dict[str, Any], Package]:
    """Parse ``datapackage.json``, check its resources are local files, build the Package.

    Raises:
        PackageError: bad JSON, no resources, a resource outside the folder or missing, a
            resource without a schema, or a descriptor frictionless rejects.
    """
    raw = target.read_bytes()
    try:
        descriptor = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        msg = f"{target.name} is not valid JSON{where}: {exc}."
        raise PackageError(f"package {target} was refused: {target.name} is not valid JSON.",
                           problems=[Problem(None, None, None, msg, "Check the file with a "
                                             "JSON linter; it may be truncated.")],
                           hint="The package cannot be read at all; nothing was stored.") from None
    resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    if not isinstance(resources, list) or not resources:
        raise PackageError(f"package {target} was refused: it lists no resources.", problems=[
            Problem(None, "resources", None, "the package has no resources.",
                    "A data package needs at least one CSV resource with a schema.")])
    problems: list[Problem] = []
    base = target.parent.resolve()
    for i, res in enumerate(resources):
        name = res.get("name", f"#{i + 1}") if isinstance(res, dict) else f"#{i + 1}"
        path = res.get("path") if isinstance(res, dict) else None
        if not isinstance(path, str):
            problems.append(Problem(None, None, None, f"resource {name!r} has no single local "
                                    "path.", "Give each resource one CSV file next to the "
                                    "package."))
            continue
        file = (base / path).resolve()
        if "://" in path or not file.is_relative_to(base):
            problems.append(Problem(None, None, path, f"resource {name!r} is outside the "
                                    "package folder.", "Download the files and point every "
                                    "resource path at a file inside the package folder."))
        elif not file.is_file():
            problems.append(Problem(None, None, path, f"resource {name!r}: file {path} is "
                                    "missing.", "Copy the whole package folder, not only "
                                    "datapackage.json."))
        if not isinstance(res.get("schema"), dict):
            problems.append(Problem(None, None, None, f"resource {name!r} has no inline table "
                                    "schema.", "Publish with a schema: field names, types, units."))
    if problems:
        raise PackageError(f"package {target} was refused: {len(problems)} problem(s); nothing "
                           "was stored.", problems=problems)
    try:
        package = Package(descriptor, basepath=str(base))
    except FrictionlessException as exc:
        errs = exc.reasons or [exc.error]
        raise PackageError(f"package {target} was refused: not a valid data package.", problems=[
            Problem(None, None, None, e.message) for e in errs],
            hint="Validate it with `frictionless validate`; nothing was stored.") from None
    return descriptor, package


def package_sha256(path: Path) -> str:
    """Hex SHA-256 of ``datapackage.json`` and every local resource file, in order.

    Two pulls with the same digest read the same bytes; missing files are skipped here and
    reported by :func:`open_package`.
    """
    target = locate(path)
    raw = target.read_bytes()
    digest = hashlib.sha256(raw)
    try:
        resources = json.loads(raw).get("resources") or []
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return digest.hexdigest()
    base = target.parent.resolve()
    for res in resources:
        path_ = res.get("path") if isinstance(res, dict) else None
        if isinstance(path_, str) and "://" not in path_:
            file = (base / path_).resolve()
            if file.is_relative_to(base) and file.is_file():
                digest.update(file.read_bytes())
    return digest.hexdigest()
