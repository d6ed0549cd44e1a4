"""Frictionless Data Packages on disk: write one (validated), locate, open and validate one.

:func:`write_package` turns frames plus field descriptions into ``datapackage.json`` and CSV
resources and checks the result with the ``frictionless`` library. Reading another lab's
package into the shared dataset's terms is :mod:`campaigns.shared_dataset.reader`.
"""

from __future__ import annotations

import hashlib
import json
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from frictionless import FrictionlessException, Package, Resource, Schema

from campaigns.errors import Problem
from campaigns.limits import LimitError, Limits, check_size, check_zip, current, read_member
from campaigns.shared_dataset.errors import PackageError
from campaigns.shared_dataset.safety import (
    check_resource_sizes,
    load_descriptor,
    remote_references,
    resource_problems,
)
from campaigns.shared_dataset.schema import KIND_KEY, RESOURCE_KINDS, FieldSpec

DESCRIPTOR = "datapackage.json"
#: Files a zipped package may hold (a package is a descriptor and a few CSV files).
MAX_PACKAGE_FILES = 1000


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
    """The ``datapackage.json`` of a package folder, or the given descriptor file.

    Raises:
        PackageError: there is none, or it is a symbolic link to a file outside its folder.
    """
    path = Path(path)
    target = path / DESCRIPTOR if path.is_dir() else path
    if not target.is_file():
        msg = f"no data package at {path}."
        hint = "Give the folder holding datapackage.json, or the datapackage.json file itself."
        raise PackageError(msg, problems=[Problem(None, None, str(path), msg, hint)], hint=hint)
    if not target.resolve().is_relative_to(target.parent.resolve()):
        msg = f"{target} is a link to {target.resolve()}, outside the package folder."
        raise PackageError(f"package {path} was refused: {msg}", problems=[
            Problem(None, None, str(target), msg, "Copy the package into one folder.")])
    return target


def is_zipped(path: Path) -> bool:
    """True for a zipped package (a ``.zip`` file rather than a folder or a descriptor)."""
    path = Path(path)
    return path.is_file() and (path.suffix.lower() == ".zip" or (
        path.name != DESCRIPTOR and zipfile.is_zipfile(path)))


@contextmanager
def unpacked(path: Path, *, limits: Limits | None = None) -> Iterator[Path]:
    """The ``datapackage.json`` of a package folder, descriptor file or zipped package.

    A zipped package is checked first (:func:`campaigns.limits.check_zip`: declared sizes and
    compression ratios, from the central directory only), then its members are read, each
    bounded by :func:`campaigns.limits.read_member`, into a temporary folder that is removed when
    the ``with`` block ends. Members outside the folder holding ``datapackage.json`` (such as
    ``__MACOSX/``) are skipped; a member whose name leaves the folder, or a link, is refused.

    Raises:
        LimitError: the zip is larger, holds more members, or unpacks to more than the limits.
        PackageError: no ``datapackage.json`` (in the folder or the zip), or a bad member name.
    """
    path = Path(path)
    if not is_zipped(path):
        yield locate(path)
        return
    limits = limits or current()
    check_size(path.stat().st_size, what=f"zipped package {path.name}",
               limit=limits.max_unpacked_bytes, setting="PLANNER_MAX_UNPACKED_MB")
    with tempfile.TemporaryDirectory(prefix="pkg-") as tmp:
        try:
            with zipfile.ZipFile(path) as zf:
                check_zip(zf, what=f"zipped package {path.name}", limits=limits)
                target = _extract(zf, path, Path(tmp), limits)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # a damaged or forged zip
            msg = f"{path.name} is not a readable zip file: {exc}."
            raise PackageError(f"package {path} was refused: {msg}", problems=[
                Problem(None, None, str(path), msg, "Zip the package folder again, or pull the "
                        "folder itself.")]) from None
        yield target


def _extract(zf: zipfile.ZipFile, path: Path, dest: Path, limits: Limits) -> Path:
    files = [i for i in zf.infolist() if not i.is_dir()]
    if len(files) > MAX_PACKAGE_FILES:
        raise LimitError(f"zipped package {path.name} holds {len(files):,} files, more than "
                         f"{MAX_PACKAGE_FILES:,}; nothing was read.",
                         hint="A data package is a descriptor and a few CSV files; zip only the "
                         "package folder.")
    descriptors = sorted((i.filename for i in files
                          if PurePosixPath(i.filename).name == DESCRIPTOR),
                         key=lambda n: (n.count("/"), n))
    if not descriptors:
        msg = f"{path.name} holds no {DESCRIPTOR}."
        raise PackageError(f"package {path} was refused: {msg}", problems=[
            Problem(None, None, str(path), msg, "Zip the folder that holds datapackage.json "
                    "and its CSV files.")])
    prefix = descriptors[0][: -len(DESCRIPTOR)]
    problems = []
    for info in files:
        if not info.filename.startswith(prefix):
            continue
        rel = PurePosixPath(info.filename[len(prefix):])
        link = stat.S_ISLNK(info.external_attr >> 16)
        if link or rel.is_absolute() or ".." in rel.parts or "\\" in info.filename or (
                ":" in rel.parts[0]):
            problems.append(Problem(None, None, info.filename, f"{path.name}: member "
                                    f"{info.filename!r} is " + ("a link" if link else
                                                                "outside the package folder")
                                    + ".", "Zip plain files inside one folder."))
            continue
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_member(zf, info.filename, what=f"zipped package {path.name}",
                                       limits=limits))
    if problems:
        raise PackageError(f"package {path} was refused: {len(problems)} problem(s); nothing "
                           "was stored.", problems=problems)
    return dest / DESCRIPTOR


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


def open_package(target: Path, *, limits: Limits | None = None
                 ) -> tuple[dict[str, Any], Package]:
    """Check an untrusted ``datapackage.json`` and build the Package.

    Nothing reaches frictionless before the descriptor is within the size and nesting limits,
    refers to nothing outside the package folder (no URL, no other package, no file elsewhere)
    and every resource is one CSV file in the folder within the size limits (the checks are in
    :mod:`campaigns.shared_dataset.safety`).

    Raises:
        PackageError: bad JSON, no resources, a remote reference, a resource outside the folder
            or missing or not CSV, a resource without a schema, or a descriptor frictionless
            rejects.
        LimitError: the descriptor or a resource is too large, too deeply nested, or unpacks to
            too much.
    """
    limits = limits or current()
    descriptor = load_descriptor(target, limits=limits)
    base = target.parent.resolve()
    problems = remote_references(descriptor)
    if problems:
        raise PackageError(f"package {target} was refused: it refers to {len(problems)} "
                           "thing(s) outside its folder; nothing was read from them and nothing "
                           "was stored.", problems=problems, hint=problems[0].hint)
    problems = resource_problems(descriptor, base)
    if problems:
        raise PackageError(f"package {target} was refused: {len(problems)} problem(s); nothing "
                           "was stored.", problems=problems)
    check_resource_sizes(descriptor, base, limits=limits)
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
    except (ValueError, AttributeError, RecursionError):
        return digest.hexdigest()
    base = target.parent.resolve()
    for res in resources if isinstance(resources, list) else []:
        path_ = res.get("path") if isinstance(res, dict) else None
        if isinstance(path_, str) and "://" not in path_:
            file = (base / path_).resolve()
            if file.is_relative_to(base) and file.is_file():
                with file.open("rb") as fh:  # in chunks: a resource may be 200 MB
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
    return digest.hexdigest()
