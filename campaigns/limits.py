"""Size limits for untrusted files: plate uploads, workbooks, data packages.

Every file a chemist or another lab hands us is checked against these limits *before* it is
parsed, so a zip bomb or a 400 MB sheet is refused in milliseconds with a hint, instead of
running for minutes and ending in a ``MemoryError``. Each limit is a setting: the defaults suit a
96-well plate and a shared dataset of a few hundred thousand rows, and an environment variable
(``PLANNER_MAX_UPLOAD_MB`` …) raises or lowers it for one lab.

Example:
    >>> limits = Limits.from_env({"PLANNER_MAX_UPLOAD_MB": "5"})
    >>> limits.max_upload_bytes
    5000000
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, fields

from campaigns.errors import CampaignError

_MB = 1_000_000


class LimitError(CampaignError):
    """A file is larger, or unpacks to more, than a configured limit; nothing was read from it."""


@dataclass(frozen=True)
class Limits:
    """Limits on untrusted input. All sizes in bytes."""

    max_upload_bytes: int = 50 * _MB
    """A plate upload (CSV or XLSX) as sent; the dashboard's own upload limit is the same."""
    max_unpacked_bytes: int = 200 * _MB
    """What all members of a zip container (an XLSX, a zipped data package) may unpack to."""
    max_member_bytes: int = 100 * _MB
    """What one member of a zip container (one sheet's XML, one resource) may unpack to."""
    max_compression_ratio: float = 100.0
    """Unpacked / packed size of a zip member above which it is treated as a zip bomb."""
    max_sheet_bytes: int = 10 * _MB
    """One worksheet's XML (or the shared strings) of an XLSX, unpacked. A 96-well plate sheet is
    about 100 kB; a 20,000-row table of numbers is 11 MB (1.7 s to read here), but other content
    parses far slower (a 205 MB sheet ran past 500 s), so bigger tables belong in CSV."""
    max_resource_bytes: int = 100 * _MB
    """One resource file of a data package, on disk."""
    max_json_depth: int = 32
    """Nesting depth of a JSON document (a data package descriptor, a Table Schema)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``PLANNER_MAX_UPLOAD_MB``, ``PLANNER_MAX_UNPACKED_MB``,
        ``PLANNER_MAX_MEMBER_MB``, ``PLANNER_MAX_SHEET_MB``, ``PLANNER_MAX_COMPRESSION_RATIO``,
        ``PLANNER_MAX_RESOURCE_MB`` and ``PLANNER_MAX_JSON_DEPTH``.

        Raises:
            LimitError: A variable is set to something that is not a positive number.
        """
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for f in fields(cls):
            stem = f.name.removeprefix("max_").removesuffix("_bytes").upper()
            in_mb = f.name.endswith("_bytes")
            var = f"PLANNER_MAX_{stem}" + ("_MB" if in_mb else "")
            text = env.get(var)
            if text is None or not text.strip():
                continue
            try:
                number = float(text)
            except ValueError:
                number = -1.0
            if not number > 0:
                raise LimitError(f"{var}={text!r} is not a positive number.",
                                 hint=f"Unset {var} or give it a number such as 50.")
            if in_mb:
                values[f.name] = int(number * _MB)
            elif f.type in ("int", int):
                values[f.name] = int(number)
            else:
                values[f.name] = number
        return cls(**values)  # type: ignore[arg-type]


def current() -> Limits:
    """The limits in force now (defaults plus environment overrides)."""
    return Limits.from_env()


def _size(n: float) -> str:
    return f"{n / _MB:.1f} MB" if n >= _MB / 10 else f"{n:,.0f} bytes"


def check_size(n_bytes: int, *, what: str, limit: int, setting: str) -> None:
    """Refuse ``what`` when it holds more than ``limit`` bytes.

    Raises:
        LimitError: naming the size, the limit and the setting that raises it.
    """
    if n_bytes > limit:
        raise LimitError(
            f"{what} is {_size(n_bytes)}, more than the limit of {_size(limit)}; nothing was read.",
            hint=f"Split the file, or raise the limit with {setting} if you trust it.",
        )


def check_zip(source: bytes | zipfile.ZipFile, *, what: str, limits: Limits | None = None) -> None:
    """Refuse a zip container (an XLSX workbook, a zipped package) that unpacks to too much.

    Only the zip's central directory is read (declared sizes); nothing is decompressed. A member
    that lies about its size is still bounded where it is read (:func:`read_member`).

    Raises:
        LimitError: the total or one member unpacks to more than the limits, or one member is
            compressed more than ``max_compression_ratio`` (a zip bomb).
    """
    limits = limits or current()
    if isinstance(source, zipfile.ZipFile):
        infos = source.infolist()
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(source)) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return  # not a readable zip: the reader reports it with its own hint
    total = sum(i.file_size for i in infos)
    check_size(total, what=f"{what} (unpacked)", limit=limits.max_unpacked_bytes,
               setting="PLANNER_MAX_UNPACKED_MB")
    for info in infos:
        check_size(info.file_size, what=f"{what}: {info.filename} (unpacked)",
                   limit=limits.max_member_bytes, setting="PLANNER_MAX_MEMBER_MB")
        packed = max(info.compress_size, 1)
        # Small members compress well legitimately (an empty sheet is 99 % zeros): only judge
        # the ratio of members that unpack to more than a megabyte.
        if info.file_size > _MB and info.file_size / packed > limits.max_compression_ratio:
            raise LimitError(
                f"{what}: {info.filename} unpacks {info.file_size / packed:,.0f} times larger than "
                f"it is packed ({_size(packed)} → {_size(info.file_size)}), which is how a zip "
                "bomb looks; nothing was read.",
                hint="Save the file again from Excel/LibreOffice, or raise "
                "PLANNER_MAX_COMPRESSION_RATIO if you trust it.",
            )


def check_workbook(data: bytes, *, what: str, limits: Limits | None = None) -> None:
    """:func:`check_zip` for an XLSX, plus ``max_sheet_bytes`` for each worksheet's XML.

    Raises:
        LimitError: as :func:`check_zip`, or a worksheet that would take minutes to parse.
    """
    limits = limits or current()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip(zf, what=what, limits=limits)
            for info in zf.infolist():
                name = info.filename
                if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                    check_size(info.file_size, what=f"{what}: {name} (unpacked)",
                               limit=limits.max_sheet_bytes, setting="PLANNER_MAX_SHEET_MB")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable zip: the reader reports it with its own hint


def read_member(zf: zipfile.ZipFile, name: str, *, what: str,
                limits: Limits | None = None) -> bytes:
    """Read one zip member, never more than ``max_member_bytes`` whatever its header claims.

    Raises:
        LimitError: the member unpacks to more than the limit.
    """
    limits = limits or current()
    cap = limits.max_member_bytes
    with zf.open(name) as fh:
        data = fh.read(cap + 1)
    check_size(len(data), what=f"{what}: {name} (unpacked)", limit=cap,
               setting="PLANNER_MAX_MEMBER_MB")
    return data


def json_depth(obj: object) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    depth, stack = 0, [(obj, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: list[object] = list(node.values())
        elif isinstance(node, list):
            children = list(node)
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children)
    return depth


def check_json_depth(obj: object, *, what: str, limits: Limits | None = None) -> None:
    """Refuse a JSON document nested deeper than ``max_json_depth``.

    Raises:
        LimitError: naming the depth found and the limit.
    """
    limits = limits or current()
    depth = json_depth(obj)
    if depth > limits.max_json_depth:
        raise LimitError(
            f"{what} is nested {depth} levels deep, more than the limit of "
            f"{limits.max_json_depth}; nothing was read.",
            hint="A data package descriptor is a few levels deep; check that this is one, or "
            "raise PLANNER_MAX_JSON_DEPTH if you trust it.",
        )


__all__ = ["LimitError", "Limits", "check_json_depth", "check_size", "check_workbook",
           "check_zip", "current",
           "json_depth", "read_member"]
