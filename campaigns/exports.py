"""Tables written for people to open in Excel: CSV and XLSX without formula injection.

Every CSV or XLSX the product writes (campaign and dataset exports, dashboard downloads, plate
sheets) goes through :func:`write_frame` or :func:`write_sheet`, so one rule holds everywhere:

- A text cell (header or value) that Excel or LibreOffice would read as a formula, i.e. one that
  starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, gets a leading single quote
  (OWASP's advice against CSV injection): a note ``=HYPERLINK("http://evil", "click")`` is shown
  as the text ``'=HYPERLINK(...`` instead of a live link. Text that is just a number
  (``"-3.5"``) or a lone ``"-"`` (the unit of a dimensionless quantity) cannot run anything and
  is left alone.
- Numbers are never touched: ``-3.5`` stays a number and a numeric column stays numeric.
- XLSX cells hold strings, never formulas; characters XML cannot store (control characters a
  CSV upload may carry) become ``"\\ufffd"`` instead of failing the whole export.
- Times are written in UTC without a time zone, which Excel cannot store.

Example:
    >>> frame = pd.DataFrame({"note": ["=1+1", "fine", "-3.5"], "value": [-3.5, 1.0, 2.0]})
    >>> excel_safe(frame)["note"].tolist(), excel_safe(frame)["value"].tolist()
    (["'=1+1", 'fine', '-3.5'], [-3.5, 1.0, 2.0])
"""

from __future__ import annotations

import datetime as dt
import re
from io import BytesIO
from pathlib import Path
from typing import IO, Literal

import pandas as pd

from campaigns.errors import CampaignError

Format = Literal["csv", "xlsx"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a text cell as a formula (OWASP)."""
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WRITE_HINT = "Check that the folder exists and the file is not open in Excel."


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet must show it: prefixed with ``'`` if it would start a formula.

    >>> neutralise("=cmd|' /C calc'!A0"), neutralise("@SUM(A1)"), neutralise("-"), neutralise("ok")
    ("'=cmd|' /C calc'!A0", "'@SUM(A1)", '-', 'ok')
    """
    if text.startswith(FORMULA_STARTS) and text != "-" and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unquote(text: str) -> str:
    """The text a neutralised cell stands for: the inverse of :func:`neutralise`, for readers.

    A reader of sheets this product wrote (a plate sheet coming back with results) calls it on
    every text cell, so ``'=HYPERLINK(...`` compares equal to the stored ``=HYPERLINK(...``.
    Excel and LibreOffice treat the quote the same way: a prefix that marks text, not content.
    (Text that itself began with a quote and a formula character reads back without the quote.)

    >>> unquote("'=1+1"), unquote("'-x"), unquote("'quoted"), unquote("it's")
    ('=1+1', '-x', "'quoted", "it's")
    """
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_STARTS:
        return text[1:]
    return text


def _cell(value: object, *, xlsx: bool) -> object:
    if isinstance(value, str):
        text = neutralise(value)
        if xlsx and _XML_ILLEGAL.search(text):
            text = _XML_ILLEGAL.sub("\ufffd", text)
        return text
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def excel_safe(frame: pd.DataFrame, *, xlsx: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` that is safe to open in a spreadsheet.

    Args:
        frame: Any table; its index is not written by :func:`write_frame` and is kept as is.
        xlsx: Also replace characters an XLSX file cannot hold (control characters) by
            ``"\\ufffd"``.

    Returns:
        The same shape and column order: text cells and headers neutralised (see the module
        docstring), time-zone-aware times converted to UTC and made naive, everything else
        (numbers, booleans, empty cells, naive times) unchanged, dtypes included.
    """
    out = frame.copy()
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out.isetitem(i, s.dt.tz_convert("UTC").dt.tz_localize(None))
        elif not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)
                  or pd.api.types.is_datetime64_any_dtype(s.dtype)):
            before = s.astype(object).tolist()
            after = [_cell(v, xlsx=xlsx) for v in before]
            # Reassigned only when a cell changed, so an untouched text column keeps its dtype.
            if any(a is not b for a, b in zip(after, before, strict=True)):
                out.isetitem(i, pd.Series(after, index=out.index, dtype=object))
    out.columns = pd.Index([_cell(c, xlsx=xlsx) for c in out.columns], dtype=object)
    return out


def write_sheet(writer: pd.ExcelWriter, frame: pd.DataFrame, *, sheet_name: str):  # noqa: ANN201
    """Write ``frame`` (made :func:`excel_safe`) as one sheet of an open openpyxl ``writer``.

    Returns:
        The openpyxl worksheet, for styling (bold headers, frozen panes, widths).
    """
    excel_safe(frame, xlsx=True).to_excel(writer, sheet_name=sheet_name, index=False)
    return writer.sheets[sheet_name]


def write_frame(frame: pd.DataFrame, target: str | Path | IO[bytes], *, fmt: Format,
                sheet_name: str = "Data", encoding: str = "utf-8") -> None:
    """Write ``frame`` without its index as a CSV or a one-sheet XLSX that is safe in Excel.

    Args:
        frame: The table; see :func:`excel_safe` for what is changed on the way out.
        target: File path, or a binary buffer (for a download).
        fmt: ``"csv"`` (comma-separated, ``\\r\\n`` line ends as in RFC 4180) or ``"xlsx"``.
        sheet_name: Name of the XLSX sheet.
        encoding: CSV text encoding; ``"utf-8-sig"`` adds the byte-order mark that makes Excel
            read ``°C`` correctly.

    Raises:
        CampaignError: ``fmt`` is unknown, or the file cannot be written (folder missing, file
            open in Excel), with a hint.
    """
    if fmt not in ("csv", "xlsx"):
        raise CampaignError(f"cannot write a table as {fmt!r}.", hint="Use a .csv or .xlsx file.")
    try:
        if fmt == "csv":
            # CRLF, as RFC 4180 and Excel write it: the csv module then also quotes a cell holding
            # a bare "\r", which would otherwise split its row in two when read back.
            excel_safe(frame).to_csv(target, index=False, encoding=encoding,
                                     lineterminator="\r\n")
        else:
            with pd.ExcelWriter(target, engine="openpyxl") as writer:
                write_sheet(writer, frame, sheet_name=sheet_name)
    except OSError as exc:
        where = target if isinstance(target, str | Path) else "the file"
        raise CampaignError(f"cannot write {where}: {exc.strerror or exc}.",
                            hint=_WRITE_HINT) from None


def frame_bytes(frame: pd.DataFrame, *, fmt: Format, sheet_name: str = "Data") -> bytes:
    """:func:`write_frame` into memory: the bytes of a CSV (UTF-8) or XLSX download."""
    buf = BytesIO()
    write_frame(frame, buf, fmt=fmt, sheet_name=sheet_name)
    return buf.getvalue()


def format_of(path: str | Path) -> Format:
    """``"csv"`` or ``"xlsx"`` from a file name.

    Raises:
        CampaignError: Any other suffix, with a hint naming both.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xlsx":
        return "xlsx"
    name = Path(path).name
    raise CampaignError(f"cannot export to {name}: the suffix {suffix or '(none)'!r} is neither "
                        ".csv nor .xlsx.", hint=f"Name the file {Path(path).stem}.csv or "
                        f"{Path(path).stem}.xlsx.")


__all__ = ["FORMULA_STARTS", "Format", "excel_safe", "format_of", "frame_bytes", "neutralise",
           "unquote", "write_frame", "write_sheet"]
