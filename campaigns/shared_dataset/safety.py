"""Checks that make another lab's package safe to open: no network, no file outside its folder,
bounded sizes.

A data package is untrusted input, and ``frictionless`` follows what a descriptor tells it to: a
``dialect``, ``profile`` or resource ``path`` that is a URL is fetched over the network, a
resource compressed 200-fold is unpacked in full, a descriptor nested 100,000 levels deep ends in
a ``RecursionError``. Every check here runs *before* frictionless sees the package, reads only
the descriptor and the files' sizes (or a compressed file's declared or streamed size), and
reports what it refuses with a hint:

* :func:`load_descriptor` reads ``datapackage.json`` within the size and nesting limits of
  :mod:`campaigns.limits`;
* :func:`remote_references` lists every reference frictionless could open that is not a file in
  the package folder: URLs, profiles other than the standard ones, descriptors kept in other
  files, foreign keys into other packages;
* :func:`resource_problems` requires each resource to be one CSV (or TSV) file inside the folder,
  compressed at most with zip, gz, bz2 or xz;
* :func:`check_resource_sizes` refuses a resource larger than ``max_resource_bytes`` on disk or
  unpacked, and a compressed one that looks like a bomb.

Metadata that frictionless never opens may hold URLs: licence, contributor and source entries,
free text (``title``, ``description``, ``planner:citation`` …), ``homepage``, ``id`` and the
standard ``datapackage.org`` profile URLs, which frictionless knows without fetching them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from campaigns.errors import Problem
from campaigns.limits import LimitError, Limits, check_json_depth, check_size, check_zip
from campaigns.shared_dataset.errors import PackageError
from campaigns.shared_dataset.schema import CITATION_KEY

_MB = 1_000_000

#: A string that is a URL: ``scheme://…``, or a scheme frictionless/fsspec open without ``//``.
_URL = re.compile(r"^\s*(?:[a-z][a-z0-9+.\-]*://|(?:file|https?|ftps?|sftp|s3|gs|data|smb):)",
                  re.IGNORECASE)
#: Keys whose values are free text or metadata frictionless never opens.
_TEXT_KEYS = frozenset({"title", "description", "homepage", "email", "rdfType", "example",
                        "keywords", "created", "version", "image", "id", CITATION_KEY,
                        "planner:notice"})
#: Lists of metadata entries (their ``path`` is a web page for people, never opened).
_METADATA_LISTS = frozenset({"licenses", "contributors", "sources"})
_STANDARD_PROFILES = frozenset({"data-package", "tabular-data-package", "data-resource",
                                "tabular-data-resource"})
_STANDARD_PROFILE_URL = re.compile(
    r"^https://datapackage\.org/profiles/\d+\.\d+/(datapackage|dataresource|tabledialect|"
    r"tableschema)\.json$")
TABLE_FORMATS = ("csv", "tsv")
COMPRESSIONS = ("zip", "gz", "bz2", "xz")
_OPENERS: dict[str, Callable[[Path], io.BufferedIOBase]] = {
    "gz": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}

_OFFLINE_HINT = ("A pulled package is read from its own folder only, never from the network: "
                 "download what the reference points to into the package folder and refer to "
                 "it there (dialect and schema inline in datapackage.json).")


def load_descriptor(target: Path, *, limits: Limits) -> dict[str, Any]:
    """Parse ``datapackage.json`` within the size and nesting limits.

    Raises:
        LimitError: the file is larger than ``max_resource_bytes`` or nested deeper than
            ``max_json_depth``.
        PackageError: the file is not JSON, or not a JSON object.
    """
    check_size(target.stat().st_size, what=f"{target.name}", limit=limits.max_resource_bytes,
               setting="PLANNER_MAX_RESOURCE_MB")
    raw = target.read_bytes()
    try:
        descriptor = json.loads(raw)
    except RecursionError:
        raise LimitError(
            f"{target.name} is nested more deeply than can be read (the limit is "
            f"{limits.max_json_depth} levels); nothing was read.",
            hint="A data package descriptor is a few levels deep; check that this is one.",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (f" (line {exc.lineno}, column {exc.colno})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        msg = f"{target.name} is not valid JSON{where}: {exc}."
        raise PackageError(f"package {target} was refused: {target.name} is not valid JSON.",
                           problems=[Problem(None, None, None, msg, "Check the file with a "
                                             "JSON linter; it may be truncated.")],
                           hint="The package cannot be read at all; nothing was stored.") from None
    check_json_depth(descriptor, what=target.name, limits=limits)
    if not isinstance(descriptor, dict):
        msg = f"{target.name} holds a JSON {type(descriptor).__name__}, not an object."
        raise PackageError(f"package {target} was refused: {msg}", problems=[
            Problem(None, None, None, msg, "A data package descriptor is one JSON object.")])
    return descriptor


def _where(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def remote_references(descriptor: dict[str, Any]) -> list[Problem]:
    """Every reference in a descriptor that frictionless would open outside the package folder.

    Walks the whole descriptor (resources, schemas, dialects, nested objects): a string value
    that is a URL is refused wherever it is, except in the metadata listed in the module
    docstring. ``dialect`` or ``schema`` given as a file name, a non-standard ``profile`` /
    ``$schema``, a ``$ref`` and a foreign key into another package are refused too.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(descriptor, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
            continue
        if isinstance(node, str):
            if _URL.match(node):
                problems.append(_remote(path, node, "a URL, which would be fetched over the "
                                        "network"))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            here = (*path, str(key))
            if key in _TEXT_KEYS or (key in _METADATA_LISTS and isinstance(value, list)):
                continue
            if key in ("profile", "$schema"):
                if not (isinstance(value, str) and (value in _STANDARD_PROFILES
                                                    or _STANDARD_PROFILE_URL.match(value))):
                    problems.append(_remote(here, value, "not a standard Data Package profile; "
                                            "frictionless would fetch it to check the package"))
                continue
            if key == "$ref":
                problems.append(_remote(here, value, "a reference to another document"))
                continue
            if key in ("dialect", "schema") and isinstance(value, str):
                problems.append(_remote(here, value, f"a {key} kept in another file"))
                continue
            if key == "reference" and isinstance(value, dict) and "package" in value:
                problems.append(_remote((*here, "package"), value["package"],
                                        "a foreign key into another data package"))
                continue
            stack.append((value, here))
    problems.sort(key=lambda p: p.column or "")
    return problems


def _remote(path: tuple[str | int, ...], value: Any, what: str) -> Problem:
    shown = value if isinstance(value, str) else json.dumps(value)[:200]
    return Problem(None, _where(path), shown, f"{_where(path)} is {what}; remote references "
                   "are refused.", _OFFLINE_HINT)


def _format_and_compression(res: dict[str, Any], path: str) -> tuple[str, str]:
    suffixes = [s.lstrip(".").lower() for s in PurePosixPath(path).suffixes]
    compression = str(res.get("compression") or "").lower()
    if not compression and suffixes and suffixes[-1] in COMPRESSIONS:
        compression = suffixes[-1]
    if suffixes and suffixes[-1] == compression:
        suffixes = suffixes[:-1]
    fmt = str(res.get("format") or (suffixes[-1] if suffixes else "")).lower()
    return fmt, compression


def resource_problems(descriptor: dict[str, Any], base: Path) -> list[Problem]:
    """Problems with the resources' files: each one CSV file inside ``base``, with a schema.

    ``base`` is the resolved package folder; a path that leaves it (``..``, an absolute path, a
    symbolic link pointing elsewhere) is refused.
    """
    resources = descriptor.get("resources")
    if not isinstance(resources, list) or not resources:
        return [Problem(None, "resources", None, "the package has no resources.",
                        "A data package needs at least one CSV resource with a schema.")]
    problems: list[Problem] = []
    for i, res in enumerate(resources):
        if not isinstance(res, dict):
            problems.append(Problem(None, f"resources[{i}]", None, f"resource #{i + 1} is not "
                                    "an object.", "Describe each resource inline: name, path, "
                                    "schema."))
            continue
        name = res.get("name", f"#{i + 1}")
        path = res.get("path")
        for key in ("data", "extrapaths"):
            if key in res:
                problems.append(Problem(None, f"resources[{i}].{key}", None, f"resource "
                                        f"{name!r} has {key!r}; only one CSV file per resource "
                                        "can be pulled.", "Give each resource one CSV file "
                                        "next to the package."))
        if res.get("scheme") not in (None, "file"):
            problems.append(Problem(None, f"resources[{i}].scheme", str(res.get("scheme")),
                                    f"resource {name!r} is read with scheme "
                                    f"{res.get('scheme')!r}, not from a file; remote "
                                    "references are refused.", _OFFLINE_HINT))
        if not isinstance(path, str):
            problems.append(Problem(None, None, None, f"resource {name!r} has no single local "
                                    "path.", "Give each resource one CSV file next to the "
                                    "package."))
        else:
            problems += _file_problems(res, name, path, base)
        if not isinstance(res.get("schema"), dict):
            problems.append(Problem(None, None, None, f"resource {name!r} has no inline table "
                                    "schema.", "Publish with a schema: field names, types, units."))
    return problems


def _file_problems(res: dict[str, Any], name: str, path: str, base: Path) -> list[Problem]:
    file = (base / path).resolve()
    if _URL.match(path) or not file.is_relative_to(base):
        return [Problem(None, None, path, f"resource {name!r} is outside the package folder.",
                        "Download the files and point every resource path at a file inside "
                        "the package folder.")]
    if not file.is_file():
        return [Problem(None, None, path, f"resource {name!r}: file {path} is missing.",
                        "Copy the whole package folder, not only datapackage.json.")]
    fmt, compression = _format_and_compression(res, path)
    out = []
    if fmt not in TABLE_FORMATS:
        out.append(Problem(None, None, path, f"resource {name!r} is a {fmt or 'file of unknown'}"
                           " format; only CSV (or TSV) tables can be pulled.",
                           'Publish each table as a CSV file, or declare "format": "csv".'))
    if compression and compression not in COMPRESSIONS:
        out.append(Problem(None, None, path, f"resource {name!r} is compressed with "
                           f"{compression!r}.", "Use an uncompressed CSV, or zip/gz."))
    return out


def check_resource_sizes(descriptor: dict[str, Any], base: Path, *, limits: Limits) -> None:
    """Refuse a resource that is, or unpacks to, more than ``max_resource_bytes``.

    A zipped resource is judged by its central directory (:func:`campaigns.limits.check_zip`),
    a gz/bz2/xz one by streaming it without keeping the output, stopping at the limit. Call after
    :func:`resource_problems` found nothing.

    Raises:
        LimitError: naming the resource, its size and the setting that raises the limit.
        PackageError: a compressed resource cannot be unpacked.
    """
    for res in descriptor["resources"]:
        path = res["path"]
        file = (base / path).resolve()
        what = f"resource {res.get('name', path)!r} ({path})"
        check_size(file.stat().st_size, what=what, limit=limits.max_resource_bytes,
                   setting="PLANNER_MAX_RESOURCE_MB")
        _, compression = _format_and_compression(res, path)
        if compression == "zip":
            _check_zipped(file, res, what, limits)
        elif compression:
            _check_stream(file, path, compression, what, limits)


def _broken(what: str, path: str, compression: str, reason: object) -> PackageError:
    msg = f"{what} cannot be unpacked as {compression}: {reason}."
    return PackageError(f"{msg} Nothing was stored.", problems=[
        Problem(None, None, path, msg, "Check the file, or publish the CSV uncompressed.")])


def _check_zipped(file: Path, res: dict[str, Any], what: str, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(file) as zf:
            check_zip(zf, what=what, limits=limits)
            infos = [i for i in zf.infolist() if not i.is_dir()]
            inner = res.get("innerpath")
            member = next((i for i in infos if i.filename == inner), None) if inner else (
                infos[0] if infos else None)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _broken(what, res["path"], "zip", exc) from None
    if member is None:
        raise _broken(what, res["path"], "zip", f"it holds no member {inner!r}" if inner
                      else "it is empty")
    check_size(member.file_size, what=f"{what}: {member.filename} (unpacked)",
               limit=limits.max_resource_bytes, setting="PLANNER_MAX_RESOURCE_MB")


def _check_stream(file: Path, path: str, compression: str, what: str, limits: Limits) -> None:
    """Stream-unpack a gz/bz2/xz file, keeping nothing, up to the limits (their headers can lie)."""
    packed = max(file.stat().st_size, 1)
    # Past this size the ratio alone refuses the file: stop reading there.
    ratio_cap = max(_MB, int(limits.max_compression_ratio * packed))
    cap = min(limits.max_resource_bytes, ratio_cap)
    total = 0
    try:
        with _OPENERS[compression](file) as fh:
            while total <= cap:
                chunk = fh.read(_MB)
                if not chunk:
                    break
                total += len(chunk)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise _broken(what, path, compression, exc) from None
    if total > ratio_cap:
        raise LimitError(
            f"{what} unpacks more than {total / packed:,.0f} times larger than it is packed, "
            "which is how a compression bomb looks; nothing was read.",
            hint="Publish the CSV uncompressed, or raise PLANNER_MAX_COMPRESSION_RATIO if you "
            "trust it.")
    check_size(total, what=f"{what} (unpacked)", limit=limits.max_resource_bytes,
               setting="PLANNER_MAX_RESOURCE_MB")


__all__ = ["COMPRESSIONS", "TABLE_FORMATS", "check_resource_sizes", "load_descriptor",
           "remote_references", "resource_problems"]
