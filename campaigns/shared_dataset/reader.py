"""Reading another lab's data package: validate, map columns and units, check every value.

:func:`read_package` is pure (no database). It validates a package with the ``frictionless``
library (one pass over the data, which also yields the typed rows), maps its columns to the
registry and its units to the registry's units (:mod:`campaigns.shared_dataset.units`), checks every
value against the physically possible range, and returns :class:`PackageContents`, or raises one
:class:`~campaigns.shared_dataset.errors.PackageError` listing every problem (resource, row, field,
value, reason).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from warnings import catch_warnings, simplefilter

from frictionless import FrictionlessException, Resource

from campaigns.columns import COLUMNS
from campaigns.errors import Problem
from campaigns.jsonable import jsonable
from campaigns.shared_dataset.errors import PackageError, UnitError
from campaigns.shared_dataset.package import (
    error_problem,
    is_zipped,
    iso_time,
    open_package,
    package_sha256,
    unpacked,
)
from campaigns.shared_dataset.schema import (
    CITATION_KEY,
    COLUMN_KEY,
    DOMAIN_KEY,
    KIND_KEY,
    RESOURCE_KINDS,
    ROLE_KEY,
    UNIT_KEY,
    header_index,
    infer_domain,
    provenance_name,
    row_id,
)
from campaigns.shared_dataset.units import Conversion, conversion, guess_conversion, unit_from_label

_EMPTY_HINT = ("Check that the file holds data rows under its header line, and that the "
               "descriptor's format, dialect (delimiter, header) and encoding match the file.")

#: Frictionless row errors that concern one row only: such a row can be quarantined.
ROW_ERRORS = ("type-error", "constraint-error", "missing-cell", "extra-cell", "blank-row")


@dataclass(frozen=True)
class FieldMapping:
    """How one field of a pulled package maps onto the shared dataset."""

    resource: str
    """Resource the field belongs to."""
    source_name: str
    """Field name in the package."""
    name: str
    """Name in the shared dataset: a registry column, a provenance field or the field's own."""
    role: str
    """``id``, ``value`` (science columns, converted) or ``provenance``."""
    type: str
    """Table Schema type."""
    unit: str | None = None
    """Unit of the stored values (the registry unit for registry columns)."""
    declared_unit: str | None = None
    """Unit the package declared (``None`` when it declared none)."""
    scale: float = 1.0
    """Stored value = package value × scale + offset."""
    offset: float = 0.0
    """See ``scale``."""
    assumed: bool = False
    """The conversion was guessed from a registry unit hint."""
    title: str = ""
    """Field title in the package."""
    description: str = ""
    """Field description in the package."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, stored with the source."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SharedRecord:
    """One row of a pulled package, in the shared dataset's terms."""

    row_id: str
    """Row identifier, unique within its source."""
    kind: str
    """``measurement`` or ``failed_synthesis``."""
    values: dict[str, Any]
    """Registry columns (canonical units) and other science columns; missing cells left out."""
    provenance: dict[str, Any]
    """Where the row came from (campaign, well, operator, reference …); JSON-friendly."""
    resource: str
    """Resource the row was read from."""
    source_row: int
    """Row number in the resource's file (header = 1)."""
    problems: tuple[Problem, ...] = ()
    """Why the row is quarantined (empty for accepted rows)."""


@dataclass(frozen=True)
class PackageContents:
    """A validated package, mapped onto the shared dataset (see :func:`read_package`)."""

    path: Path
    """The ``datapackage.json`` read, or the zipped package it came in."""
    sha256: str
    """Hex SHA-256 of ``datapackage.json`` and every resource file, in order."""
    descriptor: dict[str, Any]
    """``datapackage.json`` as written by its publisher."""
    name: str
    """Package name."""
    title: str
    """Package title."""
    domain: str
    """``hard-carbon``, ``electrolyte`` or ``other``."""
    licence: str
    """Licence identifier (``CC-BY-4.0``); empty when the package has none."""
    licence_url: str
    """Licence URL."""
    citation: str
    """How to cite the data."""
    contributors: tuple[dict[str, Any], ...]
    """Data Package contributors."""
    fields: tuple[FieldMapping, ...]
    """Field mappings of every resource."""
    records: tuple[SharedRecord, ...]
    """Accepted rows."""
    quarantined: tuple[SharedRecord, ...] = ()
    """Rows refused by validation (kept only when pulling with quarantine)."""
    warnings: tuple[Problem, ...] = field(default_factory=tuple)
    """Soft problems: assumed units, values outside typical ranges, missing licence."""


def read_package(path: Path, *, quarantine: bool = False) -> PackageContents:
    """Validate a package and map it onto the shared dataset, in canonical units.

    The package is untrusted: before frictionless reads it, it is checked against the size
    limits of :mod:`campaigns.limits` and for references outside its folder
    (:func:`~campaigns.shared_dataset.package.open_package`); nothing is ever fetched over the
    network.

    Args:
        path: Package folder, its ``datapackage.json``, or a zipped package.
        quarantine: Keep going when single rows are invalid (bad type, out of range, missing
            cells): such rows come back in ``quarantined`` with their problems. Problems with
            the package itself (bad JSON, a missing resource, an unknown unit, a bad header,
            duplicate row IDs, no rows at all) always refuse it.

    Raises:
        PackageError: listing every problem found, when the package is refused.
        LimitError: a file is larger, or unpacks to more, than the limits.
    """
    with unpacked(path) as target:
        return read_descriptor(target, quarantine=quarantine,
                               shown=Path(path) if is_zipped(Path(path)) else target)


def read_descriptor(target: Path, *, quarantine: bool = False,
                    shown: Path | None = None) -> PackageContents:
    """:func:`read_package` of an unpacked package's ``datapackage.json``.

    Args:
        target: The ``datapackage.json``.
        quarantine: See :func:`read_package`.
        shown: Path reported as the contents' ``path`` (the zip a package came in).
    """
    descriptor, package = open_package(target)
    sha = package_sha256(target)
    domain = descriptor.get(DOMAIN_KEY) or infer_domain(
        _resolve(f.name, f.title or "", header_index(None))[0]
        for r in package.resources for f in r.schema.fields)
    index = header_index(domain)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    records: list[SharedRecord] = []
    bad: list[SharedRecord] = []
    mappings: list[FieldMapping] = []
    empty: list[str] = []
    for resource in package.resources:
        fmap, fprob = _map_fields(resource, index)
        problems += fprob
        rows: list[Any] = []
        # One frictionless pass: the report holds file/header problems, rows their own errors.
        try:
            with catch_warnings():
                # frictionless (5.21) drops a compressed resource's file object unclosed when it
                # swaps in the unpacked stream; CPython closes it at once, with this warning.
                simplefilter("ignore", ResourceWarning)
                report = resource.validate(on_row=lambda row, rows=rows: rows.append(row),
                                           limit_errors=0)
        except FrictionlessException as exc:
            problems.append(Problem(None, None, None, f"{resource.name}: {exc.error.message}",
                                    "Check that the file is a CSV table as the descriptor "
                                    "declares it."))
            continue
        if not rows and not report.errors:
            empty.append(resource.name or "")
        id_fields = {fmap["row_id"].source_name} if "row_id" in fmap else set()
        for err in report.errors:
            if err.type in ROW_ERRORS or err.type == "primary-key" or (
                    err.type == "unique-error" and getattr(err, "field_name", "") in id_fields):
                continue  # per row (below), or a duplicate row ID (_duplicate_ids)
            problems.append(error_problem(resource.name or "", err))
        fmap = _guess_units(resource.name or "", fmap, rows, warnings)
        mappings += fmap.values()
        if problems:
            continue
        kind = _resource_kind(resource)
        hashed: dict[str, int] = {}  # row ID -> how many rows had it
        for row in rows:
            rec = _record(resource.name or "", kind, row, fmap)
            if "row_id" not in fmap:  # content-hash IDs: identical rows are replicates
                n = hashed[rec.row_id] = hashed.get(rec.row_id, 0) + 1
                rec = rec if n == 1 else replace(rec, row_id=f"{rec.row_id}-{n}")
            (bad if rec.problems else records).append(rec)
    problems += _duplicate_ids(records + bad)
    if not problems and not records and not bad:
        names = empty or [r.name or "" for r in package.resources]
        problems = [Problem(None, None, None, f"resource {name!r} reads as 0 rows.",
                            _EMPTY_HINT) for name in names]
        raise PackageError(f"package {target} was refused: it holds no rows; nothing was "
                           "stored.", problems=problems, hint=_EMPTY_HINT)
    warnings += [Problem(None, None, None, f"resource {name!r} reads as 0 rows.", _EMPTY_HINT,
                         severity="warning") for name in empty]
    if problems:
        raise PackageError(f"package {target} was refused: {len(problems)} problem(s); nothing "
                           "was stored.", problems=problems,
                           hint="Fix the package (or ask its publisher to), then pull it again.")
    if bad and not quarantine:
        raise PackageError(
            f"package {target} was refused: {len(bad)} invalid row(s); nothing was stored.",
            problems=[p for rec in bad for p in rec.problems],
            hint="Fix the rows, or pull with --quarantine to store the valid rows and keep the "
                 "invalid ones aside with their problems.")
    warnings += _typical_warnings(records)
    licence, url = _licence(descriptor, warnings)
    return PackageContents(
        path=shown or target, sha256=sha, descriptor=descriptor,
        name=str(descriptor.get("name") or ""),
        title=str(descriptor.get("title") or ""), domain=str(domain), licence=licence,
        licence_url=url, citation=_citation(descriptor),
        contributors=tuple(dict(c) for c in descriptor.get("contributors") or []),
        fields=tuple(mappings), records=tuple(records), quarantined=tuple(bad),
        warnings=tuple(warnings))


def _resource_kind(resource: Resource) -> str:
    kind = resource.custom.get(KIND_KEY)
    if kind in RESOURCE_KINDS.values():
        return str(kind)
    return RESOURCE_KINDS.get(resource.name or "", "measurement")


def _resolve(name: str, title: str, index: Any) -> tuple[str, str]:
    """``(name, role)`` of a package field in the shared dataset."""
    if name == "row_id":
        return name, "id"
    for text in (name, _strip_unit(name), _strip_unit(title)):
        col = index.resolve(text) if text else None
        if col is not None:
            return col, "value"
    prov = provenance_name(name) or provenance_name(_strip_unit(title) or "")
    return (prov, "provenance") if prov else (name, "")


def _strip_unit(text: str) -> str:
    unit = unit_from_label(text)
    return text[: text.rfind("[" if "[" in text else "(")].strip() if unit is not None else text


def _map_fields(resource: Resource, index: Any) -> tuple[dict[str, FieldMapping], list[Problem]]:
    out: dict[str, FieldMapping] = {}
    problems: list[Problem] = []
    key = list(resource.schema.primary_key or [])
    for f in resource.schema.fields:
        title, desc = f.title or "", f.description or ""
        name, role = _resolve(f.name, title, index)
        declared_role = f.custom.get(ROLE_KEY)
        if isinstance(f.custom.get(COLUMN_KEY), str):  # the publisher says what the field is
            name = f.custom[COLUMN_KEY]
            role = "value" if name in COLUMNS else ""
        if name != "row_id" and (declared_role in ("id", "provenance") or f.name in key):
            role = "provenance"
        if not role:  # neither registry nor provenance: numbers are data, text is provenance
            role = "value" if f.type in ("number", "integer") else "provenance"
        declared = f.custom.get(UNIT_KEY) or unit_from_label(title) or unit_from_label(f.name)
        if declared is None and f.name == name and name in COLUMNS:
            declared = COLUMNS[name].unit  # the registry name carries its unit
        unit, conv = None, Conversion("-", "-")
        if role == "value" and name in COLUMNS and COLUMNS[name].kind != "category":
            if declared is not None:
                try:
                    conv = conversion(name, declared)
                except UnitError as exc:
                    problems.append(Problem(None, f.name, str(declared),
                                            f"{resource.name}: {exc}", exc.hint))
            unit = COLUMNS[name].unit
        elif role == "value" and name not in COLUMNS:
            unit = declared
        if name in out:
            problems.append(Problem(None, f.name, None, f"{resource.name}: fields "
                                    f"{out[name].source_name!r} and {f.name!r} both map to "
                                    f"{name!r}.", "Drop or rename one of them."))
        out[name] = FieldMapping(resource.name or "", f.name, name, role, f.type, unit,
                                 declared, conv.scale, conv.offset, False, title, desc)
    if "row_id" not in out and key:
        out["row_id"] = FieldMapping(resource.name or "", "|".join(key), "row_id", "id", "string")
    return out, problems


def _guess_units(resource: str, fmap: dict[str, FieldMapping], rows: list[Any],
                 warnings: list[Problem]) -> dict[str, FieldMapping]:
    """Registry unit hints for value columns that declared no unit."""
    out = dict(fmap)
    for name, m in fmap.items():
        if m.role != "value" or m.declared_unit is not None or name not in COLUMNS:
            continue
        vals = [_number(row[m.source_name]) for row in rows]
        conv, message = guess_conversion(name, [v for v in vals if v is not None])
        if message:
            out[name] = FieldMapping(**{**m.to_dict(), "scale": conv.scale, "assumed": True})
            warnings.append(Problem(None, m.source_name, None, f"{resource}: {message}",
                                    f"Declare the unit of {m.source_name!r} to silence this.",
                                    severity="warning"))
    return out


def _parse_float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, Decimal | int | float):
        return float(v)
    return None


def _record(resource: str, kind: str, row: Any, fmap: dict[str, FieldMapping]) -> SharedRecord:
    problems: list[Problem] = []
    errored: set[str] = set()
    for e in row.errors:
        if e.type not in ROW_ERRORS:
            continue  # duplicate row IDs are a package problem (_duplicate_ids)
        fname = getattr(e, "field_name", None) or None
        errored.add(fname or "")
        problems.append(Problem(row.row_number, fname, getattr(e, "cell", None) or None,
                                f"{resource}: {_row_message(e)}", _error_hint(e.type)))
    cells = row.to_dict()
    values: dict[str, Any] = {}
    prov: dict[str, Any] = {}
    rid = None
    for m in fmap.values():
        v = cells.get(m.source_name)
        if m.source_name in errored:
            v = row.error_cells.get(m.source_name, v)
        if m.role == "id":
            parts = [cells.get(k) for k in m.source_name.split("|")]
            rid = None if any(p is None for p in parts) else "|".join(str(p) for p in parts)
            continue
        if v is None or v == "":
            continue
        if m.role == "value":
            num = _number(v)
            if (num is None and isinstance(v, str) and m.unit is not None and m.name in COLUMNS
                    and m.source_name not in errored):
                num = _parse_float(v)  # a number typed as text by the publisher
                if num is None:
                    problems.append(Problem(row.row_number, m.source_name, v,
                                            f"{resource}: is not a number.",
                                            f"{m.name} is a number in {m.unit}."))
                    errored.add(m.source_name)
            if num is not None and m.source_name not in errored:
                num = num * m.scale + m.offset
                problems += _range_problems(resource, row.row_number, m, num, v)
                values[m.name] = num
            else:
                values[m.name] = v if not isinstance(v, Decimal) else float(v)
        else:
            # provenance times in UTC, as every time in a package
            prov[m.name] = jsonable(iso_time(v) if isinstance(v, datetime) else v)
    if rid is None:
        rid = row_id(json.dumps(values, sort_keys=True, default=str),
                     json.dumps(prov, sort_keys=True, default=str))
    return SharedRecord(rid, kind, values, prov, resource, row.row_number, tuple(problems))


def _row_message(error: Any) -> str:
    note = str(getattr(error, "note", "") or "")
    if error.type == "type-error":
        wanted = note.removeprefix('type is "').split("/")[0].strip('"')
        return f"is not a valid {wanted}."
    if error.type == "constraint-error":
        return f"breaks the field's declared constraint ({note})."
    return {"missing-cell": "the row has no cell for this field.",
            "extra-cell": "the row has more cells than the header.",
            "blank-row": "the row is empty."}.get(error.type, error.message)


def _error_hint(kind: str) -> str:
    return {
        "type-error": "Write a value of the field's type (a plain number, no unit or comment).",
        "constraint-error": "Check the value, or the constraint the publisher declared.",
        "missing-cell": "Add the missing cells (empty ones are fine) or fix the quoting.",
        "extra-cell": "Remove the extra cells or fix the quoting.",
        "blank-row": "Delete empty rows.",
    }.get(kind, f"See the frictionless error type {kind}.")


def _range_problems(resource: str, row: int, m: FieldMapping, value: float,
                    raw: Any) -> list[Problem]:
    col = COLUMNS.get(m.name)
    if not math.isfinite(value):
        return [Problem(row, m.source_name, str(raw), f"{resource}: not a finite number.",
                        "Leave the cell empty when the value is unknown.")]
    if col is None:
        return []
    lo, hi = col.possible
    if lo <= value <= hi:
        return []
    conv = "" if m.scale == 1 and m.offset == 0 else (
        f" (converted from {raw} {m.declared_unit or 'undeclared unit'})")
    return [Problem(row, m.source_name, str(raw),
                    f"{resource}: {value:g} {col.unit}{conv} is outside the physically possible "
                    f"range {lo:g}–{hi:g} {col.unit} of {m.name}.",
                    "Check the value and the unit declared for the field.")]


def _duplicate_ids(records: list[SharedRecord]) -> list[Problem]:
    seen: dict[str, SharedRecord] = {}
    out = []
    for rec in records:
        first = seen.setdefault(rec.row_id, rec)
        if first is not rec:
            out.append(Problem(rec.source_row, "row_id", rec.row_id,
                               f"{rec.resource}: row ID {rec.row_id!r} repeats row "
                               f"{first.source_row} of {first.resource}.",
                               "Give every row its own ID; identical rows need an ID column."))
    return out


def _typical_warnings(records: list[SharedRecord]) -> list[Problem]:
    counts: dict[str, int] = {}
    for rec in records:
        for name, v in rec.values.items():
            col = COLUMNS.get(name)
            if col is not None and isinstance(v, float) and not (
                    col.typical[0] <= v <= col.typical[1]):
                counts[name] = counts.get(name, 0) + 1
    return [Problem(None, name, None, f"{n} value(s) of {name} lie outside the typical range "
                    f"{COLUMNS[name].typical[0]:g}–{COLUMNS[name].typical[1]:g} "
                    f"{COLUMNS[name].unit}.", "Accepted; worth a look.", severity="warning")
            for name, n in sorted(counts.items())]


def _licence(descriptor: Mapping[str, Any], warnings: list[Problem]) -> tuple[str, str]:
    lic = (descriptor.get("licenses") or [{}])[0]
    if not lic:
        warnings.append(Problem(None, "licenses", None, "the package declares no licence; the "
                                "terms of reuse are unknown.", "Ask the publisher for a "
                                "licence (CC-BY-4.0 or CC0-1.0).", severity="warning"))
    return str(lic.get("name") or lic.get("title") or ""), str(lic.get("path") or "")


def _citation(descriptor: Mapping[str, Any]) -> str:
    if descriptor.get(CITATION_KEY):
        return str(descriptor[CITATION_KEY])
    sources = descriptor.get("sources") or []
    return "; ".join(str(s.get("title") or s.get("path") or "") for s in sources)


