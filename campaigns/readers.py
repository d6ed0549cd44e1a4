"""Raw decoding of uploaded plate files: bytes in, a table of text cells out.

This module knows file formats, encodings and separators, and nothing about campaigns. Every
failure becomes an :class:`~campaigns.errors.IngestError` carrying one file-level
:class:`~campaigns.errors.Problem` (``row=None``) with a hint, so a chemist never sees a stack
trace from a decoder.

The content decides the format, not the file name: an ``.xlsx`` renamed ``.csv`` still opens.

Untrusted bytes are bounded before any parser sees them (:mod:`campaigns.limits`): a file larger
than ``max_upload_bytes``, or a workbook whose zip directory declares too much unpacked XML or a
zip-bomb compression ratio, is refused in milliseconds. A file that looks cut off (a last line
without line break and with fewer cells than the rows before it, an unterminated quote, a
character cut in half) is refused too: its last row would otherwise be read as a shorter row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings

import pandas as pd

from campaigns.errors import IngestError, Problem
from campaigns.exports import unquote
from campaigns.limits import LimitError, Limits, check_size, check_workbook, current

_XLSX_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
_SEPARATORS = (";", "\t", ",")
_SEP_NAMES = {";": "semicolon", "\t": "tab", ",": "comma"}
_SEP_LINE = re.compile(r"^\s*sep=(.)\s*$")
_SAVE = "save the sheet as .xlsx or as CSV (UTF-8) from Excel/LibreOffice and upload it again."
_UPLOAD_TEMPLATE = "Upload the filled plate template (.csv or .xlsx)."


_CUT_OFF_HINT = ("Save or copy the whole file again and upload it; a file cut off while copying or "
                 "downloading loses its last rows.")


def _fail(filename: str, message: str, hint: str, *, row: int | None = None) -> IngestError:
    problem = Problem(row=row, column=None, value=None, message=message, hint=hint)
    where = f"row {row}: " if row is not None else ""
    return IngestError(f"{filename}: {where}{message}", problems=[problem], hint=hint)


def check_upload(data: bytes, *, filename: str, limits: Limits | None = None) -> None:
    """Refuse an upload that is too large, or a workbook that unpacks to too much, unread.

    Only the length of ``data`` and, for an XLSX, the zip's central directory are looked at.

    Raises:
        IngestError: One file-level problem naming the size, the limit and the setting
            (``PLANNER_MAX_UPLOAD_MB`` …) that raises it.
    """
    try:
        limits = limits or current()
        check_size(len(data), what="the file", limit=limits.max_upload_bytes,
                   setting="PLANNER_MAX_UPLOAD_MB")
        if data.startswith(_XLSX_MAGIC):
            check_workbook(data, what="the workbook", limits=limits)
    except LimitError as exc:
        raise _fail(filename, str(exc), exc.hint or _UPLOAD_TEMPLATE) from None


def read_table(data: bytes, *, filename: str, limits: Limits | None = None) -> pd.DataFrame:
    """Decode an uploaded plate file into a table of text cells.

    Accepts CSV text in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"),
    cp1252 or Latin-1, separated by ``,``, ``;`` or tabs (detected from the header line, or from
    an Excel ``sep=`` first line), and XLSX workbooks (first sheet only).

    Args:
        data: Raw bytes of the upload.
        filename: Name of the upload, used in messages only.
        limits: Size limits checked before parsing (:func:`check_upload`); default
            :func:`campaigns.limits.current`.

    Returns:
        Frame whose columns are the header cells as written (stripped; ``""`` for an empty
        header; duplicates kept) and whose cells are ``str`` or NaN for empty cells. The index
        holds spreadsheet row numbers (header = the first non-empty row, usually 1); blank rows
        and blank unnamed columns are dropped. ``attrs`` holds ``format`` (``"csv"`` or
        ``"xlsx"``), ``separator`` (CSV only), ``encoding`` (CSV only) and ``header_row``.

    Raises:
        IngestError: The file is empty, too large (or a zip bomb), binary garbage, a
            legacy/encrypted workbook, a damaged XLSX, cut off, or holds no header row.
    """
    check_upload(data, filename=filename, limits=limits)
    if not data or not data.strip():
        raise _fail(filename, "the file is empty.", _UPLOAD_TEMPLATE)
    if data.startswith(_XLSX_MAGIC):
        rows, attrs = _xlsx_rows(data, filename)
    elif data.startswith(_OLE2_MAGIC):
        raise _fail(
            filename,
            "this is a legacy .xls workbook or a password-protected file, which cannot be read.",
            "Remove any password and " + _SAVE,
        )
    else:
        rows, attrs = _csv_rows(data, filename)
    return _frame(rows, attrs, filename)


def _xlsx_rows(data: bytes, filename: str) -> tuple[list[list[object]], dict[str, object]]:
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (data validation, styles); harmless here.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
            # na_filter=False: "n/a" or "NA" typed in a cell stays text, as in a CSV, so the
            # plate parser refuses it by name instead of it vanishing into an empty cell.
            sheet = pd.read_excel(
                io.BytesIO(data), sheet_name=0, header=None, dtype=str, engine="openpyxl",
                na_filter=False,
            )
    except Exception as exc:  # untrusted bytes: zipfile, XML and openpyxl errors of every kind
        raise _fail(
            filename,
            f"the file looks like a workbook but cannot be opened ({type(exc).__name__}).",
            "If it is an .ods or damaged file, open it and " + _SAVE,
        ) from None
    rows: list[list[object]] = [[None if pd.isna(v) else str(v) for v in row]
                                for row in sheet.itertuples(index=False)]
    return rows, {"format": "xlsx"}


def _decode(data: bytes, filename: str) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            if exc.reason == "truncated data" and len(data) % 2 == 1:
                raise _cut_character(filename) from None
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as exc:
        # UTF-8 characters (a template's "°C") up to a last character missing its final
        # byte(s): the file was cut off. A cp1252 file with a non-ASCII character before its
        # last one fails earlier; an ASCII file ending in "é" is cp1252 and read as such.
        if (exc.reason == "unexpected end of data" and exc.end == len(data)
                and max(data[: exc.start], default=0) >= 0x80):
            raise _cut_character(filename) from None
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    return data.decode("latin-1"), "latin-1"  # never fails: every byte is a character


def _cut_character(filename: str) -> IngestError:
    return _fail(filename, "the file ends in the middle of a character: it looks cut off.",
                 _CUT_OFF_HINT)


#: Characters :func:`_looks_binary` inspects: enough to tell a table from binary data, and a
#: 100,000-row library is not scanned character by character (13 s for 17 million).
_BINARY_SAMPLE = 65536


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:_BINARY_SAMPLE]
    controls = sum(
        1
        for ch in sample
        if ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Cs", "Co")
    )
    return controls > max(2, len(sample) // 100)


def _csv_rows(data: bytes, filename: str) -> tuple[list[list[object]], dict[str, object]]:
    text, encoding = _decode(data, filename)
    if _looks_binary(text):
        raise _fail(
            filename,
            "the file is neither a text table (CSV) nor an Excel workbook.",
            "Upload the filled plate template; " + _SAVE,
        )
    ends_with_break = text.endswith(("\n", "\r"))
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise _fail(filename, "the file is empty.", _UPLOAD_TEMPLATE)
    declared = _SEP_LINE.match(lines[first])
    if declared:  # Excel's "sep=;" line: Excel hides it, so rows are numbered without it
        sep = declared.group(1)
        text = "\n".join(lines[first + 1 :])
    else:
        header = lines[first]
        # The header holds no numbers, so it is the one line where a comma cannot be a decimal
        # comma: the separator it uses most is the file's separator.
        sep = max(_SEPARATORS, key=header.count)
        if header.count(sep) == 0:
            sep = ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
        rows: list[list[object]] = [list(r) for r in reader]
    except csv.Error as exc:
        raise _fail(
            filename,
            f"the file cannot be read as a {_SEP_NAMES.get(sep, repr(sep))}-separated table "
            f"({exc}).",
            "Check for unbalanced quotes; " + _SAVE,
        ) from None
    if not ends_with_break:
        _check_last_row(rows, filename)
    return rows, {"format": "csv", "separator": sep, "encoding": encoding}


def _check_last_row(rows: list[list[object]], filename: str) -> None:
    """A last line without a line break and with fewer cells than the row above was cut off.

    Spreadsheet programs end every line with a line break and write every separator, so a file
    that ends in the middle of a line, short of cells, is one whose copy or download stopped.
    """
    filled = [i for i, row in enumerate(rows) if any(str(v).strip() for v in row)]
    if len(filled) < 2 or filled[-1] != len(rows) - 1:
        return
    header, above, last = rows[filled[0]], rows[filled[-2]], rows[filled[-1]]
    if len(last) < min(len(header), len(above)):
        raise _fail(
            filename,
            f"the last line has {len(last)} cell(s) where the rows above have "
            f"{min(len(header), len(above))}, and the file ends without a line break: the file "
            "looks cut off in the middle of that line.",
            _CUT_OFF_HINT, row=len(rows),
        )


def _frame(rows: list[list[object]], attrs: dict[str, object], filename: str) -> pd.DataFrame:
    cleaned = [[_clean(v) for v in row] for row in rows]
    numbered = [(i + 1, row) for i, row in enumerate(cleaned) if any(v is not None for v in row)]
    if not numbered:
        raise _fail(filename, "the file holds no table.", _UPLOAD_TEMPLATE)
    (header_row, header), body = numbered[0], numbered[1:]
    width = max(len(row) for _, row in numbered)
    headers = [(header[i] if i < len(header) else None) or "" for i in range(width)]
    cells = [row + [None] * (width - len(row)) for _, row in body]
    frame = pd.DataFrame(cells, columns=range(width), dtype="str")
    frame.columns = pd.Index(headers, dtype=object)
    frame.index = pd.Index([n for n, _ in body], dtype="int64", name="row")
    keep = [h != "" or frame.iloc[:, i].notna().any() for i, h in enumerate(headers)]
    frame = frame.loc[:, keep]
    frame.attrs.update(attrs, header_row=header_row)
    return frame


def _clean(value: object) -> str | None:
    """A cell as text; the quote our exports put before formula-like text is taken off again
    (``'@LiFSI`` in a plate sheet stands for the stored ``@LiFSI``)."""
    if value is None:
        return None
    text = unquote(str(value).replace("\u00a0", " ").strip())
    return text or None
