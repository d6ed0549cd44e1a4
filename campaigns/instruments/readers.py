"""Raw instrument files in, one pattern or spectrum out: two-column text and vendor formats.

Formats read (the content decides, the file name only breaks ties):

* **Two-column text** (``.xy``, ``.csv``, ``.txt``, ``.dat``, ``.asc``): 2θ or Raman shift and
  intensity, separated by spaces, tabs, commas or semicolons, with or without header or comment
  lines (``#``, ``;``, ``%``, ``'``, ``!``, or any line that is not two numbers before the data).
  A decimal comma is read when the separator is not a comma. More than two columns: the first
  two are used. Rows in descending order (Raman exports) are sorted.
* **PANalytical XRDML** (``.xrdml``), **Bruker BRML** (``.brml``), **Bruker RAW v4** (``.raw``)
  and **Rigaku RASX** (``.rasx``) through ``fairmat-readers-xrd`` (FAIRmat-NFDI, Apache-2.0).
  An XRDML file's declared Kα1 wavelength is kept.
* **Renishaw WiRE** (``.wdf``) through ``renishaw-wdf`` (Renishaw's own reader, Apache-2.0);
  the first spectrum of the file is used (a map's other spectra are counted in a warning).

Every failure is an :class:`InstrumentFileError` (an :class:`~campaigns.errors.IngestError`)
whose problems name the file, the line, the column and the value, with a hint, as plate uploads
do. Files are bounded by :mod:`campaigns.limits` before any parser sees them.

Example:
    >>> s = read_spectrum(b"2theta intensity\\n10 5\\n10.5 6\\n11 7\\n", name="A1.xy",
    ...                   min_points=3)
    >>> s.x.tolist(), s.y.tolist(), s.format
    ([10.0, 10.5, 11.0], [5.0, 6.0, 7.0], 'text')
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import math
import os
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from campaigns.errors import IngestError, Problem
from campaigns.limits import LimitError, Limits, check_size, check_zip, current

logger = logging.getLogger(__name__)

MIN_POINTS = 20
"""Fewest data points a pattern or spectrum may have."""

XRD_SUFFIXES = (".xrdml", ".brml", ".raw", ".rasx")
"""Vendor XRD formats (read through ``fairmat-readers-xrd``)."""
RAMAN_SUFFIXES = (".wdf",)
"""Vendor Raman formats (read through ``renishaw-wdf``)."""
TEXT_SUFFIXES = (".xy", ".csv", ".txt", ".dat", ".asc", ".tsv", ".xye")
"""Two-column text files."""

_COMMENT = ("#", ";", "%", "'", "!", "//", "*")
_SEPARATORS = ("\t", ";", ",")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TEXT_HINT = ("Export the pattern or spectrum as two columns of numbers (2θ [°] or Raman shift "
              "[cm⁻¹], then intensity), one point per line.")
_CUT_OFF_HINT = "Copy or export the file again; it looks cut off."


class InstrumentFileError(IngestError):
    """An instrument file (pattern or spectrum) cannot be read or fitted; nothing was stored.

    ``problems`` name the file in each message, with the line, column and value where known.
    """


def file_error(name: str, message: str, hint: str, *, row: int | None = None,
               column: str | None = None, value: str | None = None) -> InstrumentFileError:
    """One-problem :class:`InstrumentFileError` about file ``name``."""
    problem = Problem(row=row, column=column, value=value, message=f"{name}: {message}",
                      hint=hint)
    where = f"line {row}: " if row is not None else ""
    return InstrumentFileError(f"{name}: {where}{message}", problems=[problem], hint=hint)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One XRD pattern or Raman spectrum as read from a file, ``x`` ascending."""

    name: str
    """File name (for messages)."""
    x: np.ndarray
    """``n`` positions: 2θ in degrees (XRD) or Raman shift in cm⁻¹."""
    y: np.ndarray
    """``n`` intensities (counts or arbitrary units)."""
    format: str
    """``text``, ``xrdml``, ``brml``, ``raw``, ``rasx`` or ``wdf``."""
    sha256: str
    """Hex SHA-256 of the raw bytes."""
    kind: str | None = None
    """``xrd`` or ``raman`` when the format says so; ``None`` for text (guessed from ``x``)."""
    wavelength_nm: float | None = None
    """X-ray wavelength the file declares (XRDML Kα1), if any."""
    laser_nm: float | None = None
    """Raman excitation wavelength the file declares (WDF), if any."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Soft remarks about the reading (extra columns, unsorted rows, other spectra)."""


def read_spectrum(data: bytes, *, name: str, limits: Limits | None = None,
                  min_points: int = MIN_POINTS) -> Spectrum:
    """Read one instrument file.

    Args:
        data: Raw bytes of the file.
        name: File name; its suffix picks a vendor reader when the content does not.
        limits: Size limits (default :func:`campaigns.limits.current`): a file larger than
            ``max_upload_bytes`` is refused unread.
        min_points: Fewest points accepted.

    Returns:
        The pattern or spectrum, ``x`` ascending, every value finite.

    Raises:
        InstrumentFileError: Empty, too large, binary of an unknown format, a vendor file that
            cannot be opened, a text cell that is not a number (its line and column named),
            too few points, or non-finite values.
    """
    limits = limits or current()
    try:
        check_size(len(data), what="the file", limit=limits.max_upload_bytes,
                   setting="PLANNER_MAX_UPLOAD_MB")
    except LimitError as exc:
        raise file_error(name, str(exc), exc.hint or _TEXT_HINT) from None
    if not data.strip():
        raise file_error(name, "the file is empty.", _TEXT_HINT)
    sha = hashlib.sha256(data).hexdigest()
    suffix = os.path.splitext(name)[1].lower()
    if data.startswith(b"WDF1") or suffix in RAMAN_SUFFIXES:
        spectrum = _read_wdf(data, name, sha)
    elif suffix in XRD_SUFFIXES or data.startswith((b"RAW4", b"PK\x03\x04")) or (
            b"<xrdMeasurements" in data[:4096]):
        spectrum = _read_xrd_vendor(data, name, sha, suffix, limits)
    else:
        spectrum = _read_text(data, name, sha)
    return _checked(spectrum, min_points)


# --- two-column text ---------------------------------------------------------------------------
def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    if "\x00" in sample:
        return True
    return len(_CONTROL.findall(sample)) > max(2, len(sample) // 100)


def _split(line: str) -> tuple[list[str], str]:
    """Cells of a data line and the separator used (``" "`` for runs of whitespace)."""
    tokens = line.split()
    if len(tokens) >= 2 and all(_number(t, True) is not None for t in tokens):
        return tokens, " "
    for sep in _SEPARATORS:
        if sep in line:
            cells = [c.strip() for c in line.split(sep)]
            return [c for c in cells if c != ""] if sep == "\t" else cells, sep
    return tokens, " "


def _number(cell: str, decimal_comma: bool) -> float | None:
    text = cell.strip().strip('"').replace("\u2212", "-")
    if decimal_comma and "," in text and "." not in text:
        text = text.replace(",", ".")
    if _NUMBER.fullmatch(text):
        return float(text)
    return None


def _read_text(data: bytes, name: str, sha: str) -> Spectrum:
    text = _decode(data)
    if _looks_binary(text):
        raise file_error(name, "the file is neither a text table nor a pattern/spectrum format "
                         "this planner reads (XRDML, BRML, RAW v4, RASX, WDF).", _TEXT_HINT)
    lines = text.splitlines()
    headers: list[str] = []
    first = None
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith(_COMMENT):
            continue
        cells, sep = _split(line)
        values = [_number(c, sep != ",") for c in cells]
        if len(values) >= 2 and values[0] is not None and values[1] is not None:
            first = number
            break
        headers = [c.strip().strip('"') for c in cells]
    if first is None:
        raise file_error(name, "the file holds no data lines (two numbers per line).", _TEXT_HINT)
    width = len(cells)
    fast = _fast_table(lines[first:], sep, width)
    if fast is None:  # a bad line somewhere: find it, and say which
        fast = _slow_table(lines, first, headers, text, name)
    x, y = fast
    notes = (f"{width} columns per line; the first two were used.",) if width > 2 else ()
    return Spectrum(name=name, x=x, y=y, format="text", sha256=sha, notes=notes)


def _fast_table(body: list[str], sep: str, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """All data lines parsed at once; ``None`` when any line is not ``width`` finite numbers."""
    kept = [line for line in body if line.strip() and not line.lstrip().startswith(_COMMENT)]
    joined = "\n".join(kept)
    if sep != " ":
        joined = joined.replace(sep, " ")
    if sep != ",":
        joined = joined.replace(",", ".")
    tokens = joined.split()
    if len(tokens) != width * len(kept):
        return None
    try:
        table = np.array(tokens, dtype=float).reshape(len(kept), width)
    except ValueError:
        return None
    if not np.isfinite(table[:, :2]).all():
        return None
    return table[:, 0].copy(), table[:, 1].copy()


def _slow_table(lines: list[str], first: int, headers: list[str], text: str,
                name: str) -> tuple[np.ndarray, np.ndarray]:
    """Line by line from ``first``: raises :class:`InstrumentFileError` at the first bad line."""
    xs: list[float] = []
    ys: list[float] = []
    for number, raw in enumerate(lines[first:], start=first + 1):
        line = raw.strip()
        if not line or line.startswith(_COMMENT):
            continue
        cells, sep = _split(line)
        values = [_number(c, sep != ",") for c in cells]
        if len(cells) < 2:
            if number == len(lines) and not text.endswith(("\n", "\r")):
                raise file_error(name, "the last line has one value and no line break: the file "
                                 "looks cut off.", _CUT_OFF_HINT, row=number, value=line[:40])
            raise file_error(name, "expected two numbers (position and intensity) on this line.",
                             _TEXT_HINT, row=number, value=line[:40])
        for pos in (0, 1):
            value = values[pos]
            if value is None or not math.isfinite(value):
                column = headers[pos] if pos < len(headers) and headers[pos] else str(pos + 1)
                raise file_error(
                    name, f"column {pos + 1} holds {cells[pos][:40]!r}, which is not a "
                    "(finite) number.",
                    "Delete the line, or leave out text and units inside the data; "
                    + _TEXT_HINT, row=number, column=column, value=cells[pos][:40])
        xs.append(float(values[0]))  # type: ignore[arg-type]
        ys.append(float(values[1]))  # type: ignore[arg-type]
    return np.asarray(xs, float), np.asarray(ys, float)


# --- vendor formats ----------------------------------------------------------------------------
def _read_xrd_vendor(data: bytes, name: str, sha: str, suffix: str, limits: Limits) -> Spectrum:
    if data.startswith(b"RAW4"):
        fmt = "raw"
    elif b"<xrdMeasurements" in data[:4096]:
        fmt = "xrdml"
    elif data.startswith(b"PK\x03\x04"):
        fmt = suffix.lstrip(".") if suffix in (".brml", ".rasx") else ""
        if not fmt:
            raise file_error(name, "this is a zip archive, not one pattern or spectrum.",
                             "Upload the files inside it, or name a Bruker file .brml and a "
                             "Rigaku file .rasx.")
        try:
            check_zip(data, what=name, limits=limits)
        except LimitError as exc:
            raise file_error(name, str(exc), exc.hint or _TEXT_HINT) from None
    else:
        fmt = suffix.lstrip(".")
    try:
        from fairmat_readers_xrd import readers as fairmat
    except ImportError:  # pragma: no cover - a runtime dependency
        raise file_error(name, f"reading .{fmt} files needs the package fairmat-readers-xrd.",
                         "pip install fairmat-readers-xrd") from None
    reader = {"xrdml": fairmat.read_panalytical_xrdml, "brml": fairmat.read_bruker_brml,
              "raw": fairmat.read_bruker_raw, "rasx": fairmat.read_rigaku_rasx}[fmt]
    with tempfile.TemporaryDirectory() as tmp:  # the vendor reader opens paths only
        path = os.path.join(tmp, "pattern." + fmt)
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            out = reader(path)
        except Exception as exc:  # untrusted bytes: XML, zip and struct errors of every kind
            out = _xrdml_scan(data) if fmt == "xrdml" else None
            if out is not None:
                logger.info("%s: fairmat-readers-xrd failed (%s); read the XRDML scan directly",
                            name, exc)
            if out is None:
                raise file_error(name, f"the .{fmt} file cannot be read ({type(exc).__name__}: "
                                 f"{str(exc)[:120]}).",
                                 f"Export the scan again from the instrument software, or as "
                                 f"a two-column .xy file. {_TEXT_HINT}") from None
    if not isinstance(out, dict):
        raise file_error(name, f"the .{fmt} file cannot be read (the reader found no scan).",
                         "Export the scan again from the instrument software, or as a two-column "
                         ".xy file. " + _TEXT_HINT)
    two_theta, intensity = _magnitude(out.get("2Theta")), _magnitude(out.get("intensity"))
    if two_theta is None or intensity is None:
        raise file_error(name, f"the .{fmt} file holds no 2θ scan (a reciprocal-space map or "
                         "another axis).", "Export a 2θ (or 2θ-ω) line scan.")
    if two_theta.size == 1 and intensity.size > 1:
        raise file_error(name, "the 2θ axis has one position only.",
                         "Export a 2θ (or 2θ-ω) line scan.")
    wavelength = None
    metadata = out.get("metadata")
    source = metadata.get("source") if isinstance(metadata, dict) else None
    source = source if isinstance(source, dict) else {}
    k_alpha1 = _magnitude(source.get("kAlpha1"), unit="nm")
    if k_alpha1 is not None and k_alpha1.size == 1 and 0.01 < float(k_alpha1[0]) < 1.0:
        wavelength = float(k_alpha1[0])
    x = np.asarray(two_theta, float).ravel()
    y = np.asarray(intensity, float).ravel()
    if x.size != y.size:
        raise file_error(name, f"the .{fmt} file holds {x.size} 2θ positions but {y.size} "
                         "intensities (several scans?).", "Export one 2θ line scan per file.")
    return Spectrum(name=name, x=x, y=y, format=fmt, sha256=sha, kind="xrd",
                    wavelength_nm=wavelength)


def _xrdml_scan(data: bytes) -> dict[str, object] | None:
    """2θ and intensities of an XRDML file's single scan, read with the standard library: the
    fallback when the vendor reader trips over a metadata element (a unit it does not know)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
        ns = {"x": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {"x": ""}
        scans = root.findall("x:xrdMeasurement/x:scan", ns)
        if len(scans) != 1:
            return None
        points = scans[0].find("x:dataPoints", ns)
        values = points.find("x:intensities", ns) if points is not None else None
        if values is None and points is not None:
            values = points.find("x:counts", ns)
        if points is None or values is None or not values.text:
            return None
        y = np.array(values.text.split(), dtype=float)
        for axis in points.findall("x:positions", ns):
            if axis.get("axis") != "2Theta":
                continue
            listed = axis.find("x:listPositions", ns)
            start, end = axis.find("x:startPosition", ns), axis.find("x:endPosition", ns)
            if listed is not None and listed.text:
                x = np.array(listed.text.split(), dtype=float)
            elif start is not None and end is not None and start.text and end.text:
                x = np.linspace(float(start.text), float(end.text), y.size)
            else:
                return None
            k_alpha1 = root.find("x:xrdMeasurement/x:usedWavelength/x:kAlpha1", ns)
            source = {}
            if k_alpha1 is not None and k_alpha1.text and k_alpha1.get("unit") == "Angstrom":
                source["kAlpha1"] = np.array([float(k_alpha1.text) / 10.0])
            return {"2Theta": x, "intensity": y, "metadata": {"source": source}}
    except (ET.ParseError, ValueError, TypeError):
        return None
    return None


def _magnitude(value: object, unit: str | None = None) -> np.ndarray | None:
    """A pint quantity (or a list of one) as a plain array, converted to ``unit`` if given."""
    if isinstance(value, list):
        if len(value) != 1:
            return None
        value = value[0]
    if value is None:
        return None
    if unit is not None and hasattr(value, "to"):
        try:
            value = value.to(unit)
        except Exception:  # noqa: BLE001 - a unit pint cannot convert: no wavelength
            return None
    magnitude = getattr(value, "magnitude", value)
    try:
        return np.atleast_1d(np.asarray(magnitude, dtype=float))
    except (TypeError, ValueError):
        return None


def _wdf_sections_ok(data: bytes) -> bool:
    """Whether the WDF block chain is walkable: every block at least a header long, inside the
    file (the reader would loop forever on a zero-sized block)."""
    pos, seen = 0, 0
    while pos + 16 <= len(data):
        _id, _uid, size = struct.unpack_from("<IIQ", data, pos)
        if size < 16 or pos + size > len(data):
            return False
        pos += size
        seen += 1
    return seen >= 1 and pos == len(data)


def _read_wdf(data: bytes, name: str, sha: str) -> Spectrum:
    hint = "Export the spectrum again from WiRE, or as a two-column .txt file."
    if not data.startswith(b"WDF1") or len(data) < 512 or not _wdf_sections_ok(data):
        raise file_error(name, "this is not a complete Renishaw .wdf file (its blocks are "
                         "damaged or cut off).", hint)
    try:
        from wdf import Wdf
    except ImportError:  # pragma: no cover - a runtime dependency
        raise file_error(name, "reading .wdf files needs the package renishaw-wdf.",
                         "pip install renishaw-wdf") from None
    try:
        reader = Wdf()
        reader.open_fd(io.BytesIO(data))
        n_spectra = len(reader)
        if n_spectra < 1:
            raise ValueError("no spectrum")
        x = np.asarray(reader.xlist(), float)
        y = np.asarray(reader.spectrum(0), float)
        laser = float(reader.hdr.laser_wavenumber)
    except Exception as exc:  # untrusted bytes: struct, enum and EOF errors of every kind
        raise file_error(name, f"the .wdf file cannot be read ({type(exc).__name__}).",
                         hint) from None
    notes = (f"the file holds {n_spectra} spectra; the first was used.",) if n_spectra > 1 else ()
    laser_nm = 1e7 / laser if math.isfinite(laser) and laser > 1000 else None
    return Spectrum(name=name, x=x, y=y, format="wdf", sha256=sha, kind="raman",
                    laser_nm=laser_nm, notes=notes)


def _checked(s: Spectrum, min_points: int) -> Spectrum:
    if s.x.size < min_points:
        raise file_error(s.name, f"the file holds {s.x.size} data point(s); at least "
                         f"{min_points} are needed for a fit.", _TEXT_HINT)
    bad = ~(np.isfinite(s.x) & np.isfinite(s.y))
    if bad.any():
        i = int(np.argmax(bad))
        raise file_error(s.name, f"point {i + 1} is not a finite number "
                         f"({s.x[i]!r}, {s.y[i]!r}).", _TEXT_HINT, value=f"{s.x[i]}, {s.y[i]}")
    order = np.argsort(s.x, kind="stable")
    notes = s.notes
    if not np.all(order == np.arange(order.size)):
        notes = (*notes, "the rows were not in ascending order; they were sorted.")
    x, y = s.x[order], s.y[order]
    if np.ptp(x) <= 0:
        raise file_error(s.name, "every point has the same position.", _TEXT_HINT)
    return Spectrum(name=s.name, x=x, y=y, format=s.format, sha256=s.sha256, kind=s.kind,
                    wavelength_nm=s.wavelength_nm, laser_nm=s.laser_nm, notes=notes)


def zip_members(data: bytes, *, name: str, limits: Limits | None = None) -> dict[str, bytes]:
    """The files of a zip archive (folders, hidden files and ``__MACOSX`` left out).

    Raises:
        InstrumentFileError: Not a zip, a zip bomb or larger than the limits, or two members
            with the same name in different folders.
    """
    from campaigns.limits import read_member

    limits = limits or current()
    hint = "Zip the instrument files, one per well, named by well (A1.xy, B03_raman.txt)."
    try:
        check_size(len(data), what=name, limit=limits.max_upload_bytes,
                   setting="PLANNER_MAX_UPLOAD_MB")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip(zf, what=name, limits=limits)
            out: dict[str, bytes] = {}
            for info in zf.infolist():
                base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if info.is_dir() or not base or base.startswith((".", "~$")) or (
                        "__MACOSX" in info.filename):
                    continue
                if base in out:
                    raise file_error(name, f"two files are named {base!r} (in different "
                                     "folders).", "Give every file its own name.")
                out[base] = read_member(zf, info.filename, what=name, limits=limits)
    except LimitError as exc:
        raise file_error(name, str(exc), exc.hint or hint) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise file_error(name, f"the archive cannot be opened ({type(exc).__name__}).",
                         hint) from None
    if not out:
        raise file_error(name, "the archive holds no files.", hint)
    return out


__all__ = ["InstrumentFileError", "MIN_POINTS", "RAMAN_SUFFIXES", "Spectrum", "TEXT_SUFFIXES",
           "XRD_SUFFIXES", "file_error", "read_spectrum", "zip_members"]
