"""Reading a filled plate sheet: validate every cell once, report every problem in one pass.

:func:`parse_plate` turns the bytes of an upload into :class:`MeasurementRecord` objects, or
raises one :class:`~campaigns.errors.IngestError` listing every problem of the file with its
spreadsheet row (header = 1), column, value, what was expected and what to do. It is pure: no
database, no file writes. Storing the records is :class:`campaigns.store.Store`'s job.
:func:`parse_plate_frame` does the same for a DataFrame (the Python API's ``add_results``),
through the same checks.

Rules every upload follows:

* **The file's own Batch column is authoritative.** Uploading it to another batch (``batch_id``
  that disagrees) is refused, naming the column and its value. When the stored plate's recipes
  are given (``expected_recipes``), a recipe cell that differs from the plate's recipe for that
  well is refused too: the sheet probably belongs to another plate. Numbers match when they agree
  to the precision written in the cell (``1300`` matches 1300.4, not 1301; ``0.37`` matches
  0.3712); text matches ignoring case; an empty recipe cell always matches. The same holds for
  the ``Furnace run`` column of a campaign with furnace runs: a number other than the run the
  plate puts the well in is refused (empty always matches).
* **Values are never converted silently.** A value that looks like a wrong unit (it lies in a
  :attr:`~campaigns.columns.Column.unit_hints` window of its column, outside the typical range:
  ICE 0.85 when ICE is in %, conductivity in S/cm) is an error whose hint says how to convert,
  unless the chemist confirms such values (``confirm_unusual=True``, ``planner ingest
  --confirm-unusual``, the checkbox on the dashboard's Upload page): they are then stored as
  written, with a warning. :class:`UnusualValuesError` marks a file whose only errors are such
  values. A value outside the column's possible range is always an error; outside the typical
  range, a warning.
* **A missing value is an empty cell.** Text that stands for "not available" in a result cell —
  ``NA``, ``n/a``, ``N/A``, ``n.a.``, ``none``, ``null``, ``-``, ``--``, ``?``, in any case — is
  refused, naming the cell, with the hint to leave it empty; so are ``NaN``, infinities and
  spreadsheet errors (``#DIV/0!``). CSV and XLSX follow the same rule: an XLSX cell holding the
  text ``NA`` is read as text, never as an empty cell.
* **A damaged file is refused as a whole**: too large or a zip bomb, cut off (see
  :mod:`campaigns.readers`), or any well ID (``A²``, a number of 5,000 digits) that is not one.

Example:
    >>> from campaigns.templates import load_template
    >>> spec = load_template("hard-carbon")
    >>> data = b"Well,ICE [%],Status\\nA2,84.5,\\nA3,,shorted\\n"
    >>> parsed = parse_plate(data, filename="week12.csv", spec=spec,
    ...                      expected_wells={"A2": "sample", "A3": "sample"})
    >>> [(r.well, r.quantity, r.value, r.status) for r in parsed.records]
    [('A2', 'ice_pct', 84.5, 'ok'), ('A3', 'status', None, 'failed_cell')]
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from campaigns.columns import Column, HeaderIndex, UnitHint, normalize_header
from campaigns.errors import IngestError, Problem
from campaigns.exports import unquote
from campaigns.hints import closest
from campaigns.jsonable import plain
from campaigns.plate import normalize_well
from campaigns.readers import read_table
from campaigns.sheet import (
    FURNACE_RUN_COLUMN,
    STATUS_CODES,
    SheetWell,
    furnace_runs,
    recipe_columns,
)
from campaigns.spec import CampaignSpec

STATUS_SPELLINGS: dict[str, str] = {
    **{code: code for code in STATUS_CODES},
    **dict.fromkeys(("okay", "good", "pass", "passed", "valid", "measured"), "ok"),
    **dict.fromkeys(
        ("failed_synth", "synthesis_failed", "synthesis_failure", "no_material"), "failed_synthesis"
    ),
    **dict.fromkeys(
        ("cell_failed", "cell_failure", "short", "shorted", "short_circuit", "shorted_cell",
         "cell_short", "dead_cell"),
        "failed_cell",
    ),
    **dict.fromkeys(("outliers", "suspect"), "outlier"),
}
"""Accepted spellings of a status (lower-cased; spaces, dashes, dots → ``_``) → status code."""

_FIXED_HEADERS: dict[str, tuple[str, ...]] = {
    "Batch": ("batch id", "batch no", "batch number"),
    "Well": ("well id", "well position"),
    "Role": (),
    FURNACE_RUN_COLUMN: ("furnace", "furnace run no", "furnace run number"),
    "Status": (),
    "Operator": ("operated by", "analyst"),
    "Instrument": ("device",),
    "Measured at": ("measured on", "measurement date", "date", "timestamp"),
    "Notes": ("note",),
}
_FIXED_KEYS = {
    normalize_header(alias): name
    for name, aliases in _FIXED_HEADERS.items()
    for alias in (name, *aliases)
}
_HEADER_UNIT = re.compile(r"^(?P<stem>.*?)\s*[\[(](?P<unit>[^\[\]()]*)[\])]\s*$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA_NUMBER = re.compile(r"(?P<sign>[+-]?)(?P<int>\d*),(?P<frac>\d+)(?P<exp>[eE][+-]?\d+)?")
_SEPARATED_NUMBER = re.compile(r"[+-]?[\d.,' ]*\d[\d.,' ]*")
_WELL = re.compile(r"[A-Z][0-9]+")
_NOT_A_NUMBER = {"nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
                 "∞", "+∞", "-∞"}
MISSING_MARKERS = frozenset({"na", "n/a", "n.a.", "n.a", "none", "null", "-", "--", "?"})
"""Texts (lower-cased) that stand for "not available"; refused in result cells: leave them empty."""
_EMPTY_HINT = "Leave the cell empty if it was not measured."
_MAX_BATCH = 2**31 - 1
_CONFIRM_HOW = ("if it is correct as written, confirm it: `planner ingest … --confirm-unusual`, "
                "or tick \"I confirm the flagged unusual values are correct\" on the Upload page")
_FAILED = ("failed_synthesis", "failed_cell")


@dataclass(frozen=True)
class MeasurementRecord:
    """One measured value (or one failure) of one well, as read from a plate file."""

    well: str
    """Canonical well ID (``"A1"``)."""
    quantity: str
    """Column name (``"ice_pct"``), or ``"status"`` for a failure recorded without results."""
    value: float | None
    """The number in ``unit``; ``None`` for a status-only record."""
    unit: str
    """Unit of ``value`` as in the column registry (``"%"``); ``""`` for status records."""
    status: str
    """``ok``, ``failed_synthesis``, ``failed_cell`` or ``outlier``."""
    operator: str | None
    """Who measured it, if given."""
    instrument: str | None
    """Instrument or channel, if given."""
    measured_at: datetime | None
    """When it was measured, if given (timezone-aware only if the file gave an offset)."""
    source_row: int
    """Spreadsheet row the value came from (header = 1)."""
    note: str | None
    """Free-text note of the row, if given."""


@dataclass(frozen=True)
class ParsedPlate:
    """A validated plate file: its records and the warnings found while reading it."""

    filename: str
    """Name of the upload."""
    sha256: str
    """Hex SHA-256 of the raw bytes (detects repeated uploads)."""
    batch_id: int | None
    """Batch number from the ``Batch`` column, or ``None`` when the file has none."""
    n_rows: int
    """Non-blank data rows in the file."""
    records: tuple[MeasurementRecord, ...]
    """Measured values and status-only failures, in row then column order."""
    warnings: tuple[Problem, ...]
    """Soft problems (``severity="warning"``): atypical values, ignored columns, missing wells."""


class _CellError(ValueError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def parse_number(text: str, *, decimal_comma: bool = False) -> float:
    """Read a number as a chemist writes it in a spreadsheet cell.

    ``"0.372"``, ``"-1.5e-3"`` and ``"−2"`` (Unicode minus) are numbers. A decimal comma is
    accepted when ``decimal_comma`` is true (``;``-separated files) or when it cannot be a
    thousands separator (``"0,372"``, ``"12,5"``); ``"1,300"`` is ambiguous and rejected, and
    thousands separators (``"1.300,5"``, ``"1 300"``) are never guessed.

    Raises:
        ValueError: With a message and a ``hint`` attribute saying what to write instead.
    """
    t = text.strip().replace("\u2212", "-")
    if _NUMBER.fullmatch(t):
        value = float(t)
    elif t.lower() in MISSING_MARKERS:
        raise _CellError("stands for a missing value; a missing value is an empty cell.",
                         _EMPTY_HINT)
    elif t.lower() in _NOT_A_NUMBER or t.startswith("#"):
        raise _CellError("is not a finite number (NaN, infinity or a spreadsheet error).",
                         _EMPTY_HINT)
    elif (m := _COMMA_NUMBER.fullmatch(t)) is not None:
        if not (decimal_comma or len(m["frac"]) != 3 or m["int"] in ("", "0")):
            raise _CellError(
                f"is ambiguous: the comma may be a decimal comma ({m['int']}.{m['frac']}) or a "
                f"thousands separator ({m['int']}{m['frac']}).",
                "Write the number with a decimal point and no thousands separator.",
            )
        value = float(f"{m['sign']}{m['int'] or '0'}.{m['frac']}{m['exp'] or ''}")
    elif _SEPARATED_NUMBER.fullmatch(t):
        raise _CellError("expected a number; thousands separators are not accepted.",
                         "Write the number without thousands separators, e.g. 1300.5.")
    else:
        raise _CellError("expected a number.",
                         "Write only the number; the unit belongs in the header. " + _EMPTY_HINT)
    if not math.isfinite(value):
        raise _CellError("is not a finite number.", _EMPTY_HINT)
    return value


def normalize_status(text: str | None) -> str:
    """Status code of a ``Status`` cell: empty → ``"ok"``, ``"Shorted"`` → ``"failed_cell"``.

    Raises:
        ValueError: Unknown status; the message lists the allowed codes, the hint the closest.
    """
    if text is None or not text.strip():
        return "ok"
    key = re.sub(r"[\s\-/.]+", "_", text.strip().lower()).strip("_")
    if key in STATUS_SPELLINGS:
        return STATUS_SPELLINGS[key]
    close = closest(key, STATUS_SPELLINGS, n=3)
    codes = list(dict.fromkeys(STATUS_SPELLINGS[k] for k in close))
    mean = f"Did you mean {' or '.join(repr(c) for c in codes)}? " if codes else ""
    raise _CellError(f"is not a status; allowed: {', '.join(STATUS_CODES)}.",
                     f"{mean}Leave Status empty when the measurement is fine.")


def _parse_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise _CellError(
            "is not a date; expected an ISO date or date and time.",
            "Write 2025-03-14 or 2025-03-14 15:30 (day/month orders are ambiguous).",
        ) from None


def _norm_unit(unit: str) -> str:
    """Unit spelling for comparison: ``"m² g⁻1"``, ``"m2/g"`` and ``"m2 g-1"`` compare equal."""
    # "â" is what "°", "²", "³" gain when Excel reads a UTF-8 file as cp1252 ("mÂ²/g").
    u = unit.strip().lower().replace("â", "")
    for old, new in (("²", "2"), ("³", "3"), ("µ", "u"), ("μ", "u"), ("°", ""), ("deg", "")):
        u = u.replace(old, new)
    if u in ("", "-", "–", "1", "a.u.", "au", "none", "unitless", "dimensionless", "ratio"):
        return "-"
    u = u.replace("percent", "%").replace("pct", "%")
    u = re.sub(r"(?:[-−]|⁻)1\b|⁻¹", "", u)
    return re.sub(r"[\s.·*^/]", "", u)


def _range_text(bounds: tuple[float, float], unit: str) -> str:
    lo, hi = bounds
    unit = "" if unit == "-" else f" {unit}"
    if math.isinf(hi):
        return f"≥ {lo:g}{unit}"
    if math.isinf(lo):
        return f"≤ {hi:g}{unit}"
    return f"{lo:g}–{hi:g}{unit}"


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


@dataclass(frozen=True)
class _Col:
    """How one column of the file is read."""

    pos: int
    header: str
    kind: str  # "fixed" (Well, Status, ...), "output", "recipe" or "ignored"
    name: str = ""
    column: Column | None = None
    unit_ok: bool = True
    suggestion: str | None = None


class _Report:
    """Problems collected in one pass, sorted by row and column position when read."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, Problem]] = []
        self.unusual: list[Problem] = []  # errors that confirm_unusual would turn into warnings

    def add(self, row: int | None, pos: int, column: str | None, value: str | None,
            message: str, hint: str | None = None, *, warning: bool = False,
            unusual: bool = False) -> None:
        problem = Problem(row, column, value, message, hint, "warning" if warning else "error")
        self.items.append((row or 0, pos, problem))
        if unusual and not warning:
            self.unusual.append(problem)

    def problems(self, severity: str) -> list[Problem]:
        ordered = sorted(self.items, key=lambda item: item[:2])
        return [p for _, _, p in ordered if p.severity == severity]


class _Headers:
    """Resolves headers as labs write them to the campaign's columns."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.outputs = {c.name: c for c in spec.output_columns()}
        self.recipe = [c for _, c in recipe_columns(spec)]
        self.out_index = HeaderIndex.for_columns(list(self.outputs.values()))
        self.rec_index = HeaderIndex.for_columns(self.recipe)
        self.display = dict(_FIXED_KEYS)  # normalized spelling → header to suggest
        for c in [*self.outputs.values(), *self.recipe]:
            for key in (c.name, c.label, *c.aliases):
                self.display.setdefault(normalize_header(key), c.label)

    def resolve(self, pos: int, header: str, report: _Report) -> _Col:
        m = _HEADER_UNIT.match(header)
        for candidate in (header, m["stem"]) if m else (header,):
            key = normalize_header(candidate)
            if key in _FIXED_KEYS:
                return _Col(pos, header, "fixed", _FIXED_KEYS[key])
            if (name := self.out_index.lookup.get(key)) is not None:
                c = self.outputs[name]
                given = m["unit"] if m else None
                unit = None if given is None else _norm_unit(given)
                ok = unit is None or unit == _norm_unit(c.unit) or (c.unit == "-" and unit != "%")
                if not ok:
                    report.add(None, pos, header, None,
                               f"the header gives the unit {given!r} but {c.label} is "
                               f"recorded in {c.unit}.",
                               f"Convert the values to {c.unit} and name the column {c.label!r}; "
                               "values are never converted silently.")
                return _Col(pos, header, "output", name, c, ok)
            if (name := self.rec_index.lookup.get(key)) is not None:
                return _Col(pos, header, "recipe", name)
        return self._unknown(pos, header, m, report)

    def _unknown(self, pos: int, header: str, m: re.Match[str] | None, report: _Report) -> _Col:
        keys = {normalize_header(header)} | ({normalize_header(m["stem"])} if m else set())
        close = [c for k in keys for c in closest(k, self.display, n=3, cutoff=0.8)]
        if not close:
            report.add(None, pos, header, None, "is not a column of this campaign; it was ignored.",
                       "Delete the column or move its content to Notes.", warning=True)
            return _Col(pos, header, "ignored")
        def score(candidate: str) -> float:
            return max(difflib.SequenceMatcher(None, k, candidate).ratio() for k in keys)

        suggestion = self.display[max(close, key=score)]
        harmless = suggestion in {c.label for c in self.recipe}  # recipe columns are informational
        report.add(None, pos, header, None, "is not a column of this campaign"
                   + (" (recipe columns are ignored)." if harmless else "."),
                   f"Did you mean {suggestion!r}? Rename the column.", warning=harmless)
        return _Col(pos, header, "ignored", suggestion=suggestion)


def _map_headers(table: pd.DataFrame, spec: CampaignSpec, report: _Report) -> list[_Col]:
    headers = _Headers(spec)
    cols = [_Col(pos, h, "ignored") if h == "" else headers.resolve(pos, h, report)
            for pos, h in enumerate(table.columns)]
    first: dict[str, _Col] = {}
    for col in cols:
        if col.kind in ("fixed", "output") and col.name in first:
            report.add(None, col.pos, col.header, None,
                       f"is a second column for {first[col.name].header!r}; the value to use is "
                       "unclear.", "Delete one of the two columns.")
        elif col.kind in ("fixed", "output"):
            first[col.name] = col
    suggested = {c.suggestion for c in cols}  # "did you mean" already covers a missing column
    if "Well" not in first and "Well" not in suggested:
        report.add(None, -1, "Well", None, "the required column is missing.",
                   "Add a column 'Well' with IDs like A1; start from the plate template.")
    labels = [c.label for c in headers.outputs.values()]
    if not any(c.kind == "output" for c in cols) and not suggested & set(labels):
        report.add(None, -1, None, None, "the file has no result column; expected at least one of "
                   + ", ".join(repr(label) for label in labels) + ".",
                   "Use the headers of the plate template.")
    return cols


class UnusualValuesError(IngestError):
    """A plate file whose only errors are values that look like a wrong unit.

    Confirming them (``confirm_unusual=True``) stores them as written, with a warning each.
    """


def parse_plate(data: bytes, *, filename: str, spec: CampaignSpec,
                expected_wells: Mapping[str, str],
                expected_recipes: Mapping[str, Mapping[str, object]] | None = None,
                batch_id: int | None = None, confirm_unusual: bool = False) -> ParsedPlate:
    """Validate an uploaded plate file against a campaign and the batch's wells.

    Args:
        data: Raw bytes of the upload (CSV or XLSX; see :func:`campaigns.readers.read_table`).
        filename: Name of the upload, for messages and the result.
        spec: The campaign's spec: decides result columns, units and ranges.
        expected_wells: Well ID → role (``sample``/``control``/``replicate``) of the batch the
            file belongs to. Wells of the batch absent from the file are a warning (partial
            upload is allowed).
        expected_recipes: Well ID → the stored recipe of that well (input name, or the library's
            candidate ID column → value). When given, a recipe cell of the sheet that differs
            from it is an error (the sheet probably belongs to another plate); ``None`` ignores
            the recipe columns.
        batch_id: The batch the file is uploaded to. A Batch column that names another batch
            refuses the file with that one problem (checking the wells of the wrong plate would
            only add noise).
        confirm_unusual: The chemist confirmed values that look like a wrong unit: they become
            warnings instead of errors.

    Returns:
        The records and warnings of a file without errors.

    Raises:
        UnusualValuesError: The only errors are values that look like a wrong unit.
        IngestError: Anything is wrong; ``problems`` lists every error (then every warning) of
            the file at once, rows numbered as in a spreadsheet (header = 1).
    """
    table = read_table(data, filename=filename)
    return _check_plate_table(table, filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                              spec=spec, expected_wells=expected_wells,
                              expected_recipes=expected_recipes, batch_id=batch_id,
                              confirm_unusual=confirm_unusual)


def _batch_number(text: str) -> int:
    """The batch number of a Batch cell; raises :class:`_CellError` unless it is one."""
    try:
        number = parse_number(text)
    except _CellError:
        number = math.nan
    if not (number.is_integer() and 1 <= number <= _MAX_BATCH):
        raise _CellError("expected a batch number (a whole number from 1).",
                         "Leave the Batch column as the template wrote it.")
    return int(number)


def _batch_position(headers: list[str]) -> int | None:
    """Position of the first header that names the Batch column, if any."""
    for pos, header in enumerate(headers):
        m = _HEADER_UNIT.match(header)
        for candidate in (header, m["stem"]) if m else (header,):
            if _FIXED_KEYS.get(normalize_header(candidate)) == "Batch":
                return pos
    return None


def _table_batch(table: pd.DataFrame) -> tuple[int, int, str, str] | None:
    """(batch, first row, cell text, header) of the batch most rows name, or ``None``."""
    pos = _batch_position([str(h) for h in table.columns])
    if pos is None:
        return None
    found: dict[int, tuple[int, str]] = {}
    counts: Counter[int] = Counter()
    for row, value in zip(table.index, table.iloc[:, pos], strict=True):
        if (text := _text(value)) is None:
            continue
        try:
            number = _batch_number(text)
        except _CellError:
            continue  # reported by parse_plate, row by row
        counts[number] += 1
        found.setdefault(number, (int(row), text))
    if not counts:
        return None
    number = counts.most_common(1)[0][0]
    return number, *found[number], str(table.columns[pos])


def plate_batch(data: bytes, *, filename: str) -> int | None:
    """The batch a plate file names in its Batch column (the one most rows name), if any.

    Raises:
        IngestError: The file cannot be read at all (see :func:`campaigns.readers.read_table`).
    """
    found = _table_batch(read_table(data, filename=filename))
    return None if found is None else found[0]


def _check_declared_batch(table: pd.DataFrame, batch_id: int, filename: str) -> None:
    found = _table_batch(table)
    if found is None or found[0] == batch_id:
        return
    number, row, text, header = found
    problem = Problem(
        row, header, text,
        f"the file says batch {number}, but it is being uploaded to batch {batch_id}.",
        f"The file's Batch column decides: upload it to batch {number} (planner ingest "
        f"--batch {number}, or choose plate {number} on the Upload page), or fix its Batch "
        f"column if it really holds the results of batch {batch_id}.",
    )
    raise IngestError(f"{filename} was rejected; nothing was stored: {problem}",
                      problems=[problem], hint=problem.hint)


@dataclass(frozen=True)
class _Row:
    row: int
    well: str | None  # set only for a valid, expected, first-seen well
    status: str
    values: tuple[object, ...]


class _RowChecker:
    """Checks rows one by one, collecting problems; builds records once the file is clean."""

    def __init__(self, table: pd.DataFrame, cols: list[_Col], expected_wells: Mapping[str, str],
                 expected_recipes: Mapping[str, Mapping[str, object]] | None,
                 report: _Report, spec: CampaignSpec) -> None:
        self.report = report
        self.fixed = {c.name: c for c in reversed(cols) if c.kind == "fixed"}  # first one wins
        self.outputs = [c for c in cols if c.kind == "output"]
        self.recipe_cols = [c for c in cols if c.kind == "recipe"]
        self.recipes = {normalize_well(w): r for w, r in (expected_recipes or {}).items()}
        self.foreign: dict[str, None] = {}  # wells whose recipe cells differ, in row order
        self.runs = _expected_runs(spec, expected_wells, expected_recipes)
        self.stray = [c for c in cols if c.kind == "ignored" and c.header == ""]
        self.expected = {normalize_well(w): role for w, role in expected_wells.items()}
        self.separator = table.attrs.get("separator")  # None for XLSX
        self.numbers: dict[int, list[tuple[int, str, float]]] = {c.pos: [] for c in self.outputs}
        self.rows: list[_Row] = []
        self.first_row: dict[str, int] = {}
        self.batches: list[tuple[int, int, str]] = []
        self.bad_columns: set[int] = set()

    def cell(self, values: tuple[object, ...], name: str) -> str | None:
        col = self.fixed.get(name)
        return None if col is None else _text(values[col.pos])

    def add(self, row: int, name: str, value: str | None, message: str, hint: str | None = None,
            *, warning: bool = False) -> None:
        col = self.fixed.get(name)
        self.report.add(row, col.pos if col else -1, col.header if col else name, value, message,
                        hint, warning=warning)

    def check(self, row: int, values: tuple[object, ...]) -> None:
        """Check one data row (spreadsheet number ``row``)."""
        texts = {c.pos: _text(values[c.pos]) for c in self.outputs}
        has_results = any(t is not None for t in texts.values())
        self._check_stray(row, values)
        status_text = self.cell(values, "Status")
        try:
            status = normalize_status(status_text)
        except _CellError as e:
            self.add(row, "Status", status_text, e.message, e.hint)
            status = "?"
        well = self._check_well(row, values, has_results or status_text is not None)
        if (batch := self.cell(values, "Batch")) is not None:
            try:
                self.batches.append((row, _batch_number(batch), batch))
            except _CellError as e:
                self.add(row, "Batch", batch, e.message, e.hint)
        if well is not None and well in self.recipes:
            self._check_recipe(row, well, values)
        if well is not None and well in self.runs:
            self._check_furnace_run(row, well, values)
        for c in self.outputs:
            if (t := texts[c.pos]) is None:
                continue
            try:
                value = parse_number(t, decimal_comma=self.separator == ";")
                self.numbers[c.pos].append((row, t, value))
            except _CellError as e:
                self.report.add(row, c.pos, c.header, t, e.message, e.hint)
        if (when := self.cell(values, "Measured at")) is not None:
            try:
                _parse_datetime(when)
            except _CellError as e:
                self.add(row, "Measured at", when, e.message, e.hint)
        if well is not None and status in _FAILED and has_results:
            self.add(row, "Status", status_text,
                     f"the row has results and status {status}; the results are kept and marked "
                     f"{status}.", "Clear the results if the measurement is meaningless.",
                     warning=True)
        self.rows.append(_Row(row, well, status, values))

    def _check_recipe(self, row: int, well: str, values: tuple[object, ...]) -> None:
        """Recipe cells must be the plate's recipe for the well (or empty)."""
        stored = self.recipes[well]
        for c in self.recipe_cols:
            text = _text(values[c.pos])
            if text is None or text.strip().lower() in MISSING_MARKERS:
                continue
            want = stored.get(c.name)
            if _same_recipe_value(text, want, decimal_comma=self.separator == ";"):
                continue
            shown = "no value" if _is_missing(want) else repr(plain(want))
            self.foreign[well] = None
            self.report.add(
                row, c.pos, c.header, text,
                f"differs from the recipe stored for well {well} on this plate ({shown}).",
                "The sheet probably belongs to another plate: check its Batch column and the "
                "plate you upload it to. Recipe columns are for reference only; if this cell was "
                "edited by mistake, restore it or clear it.",
            )

    def _check_furnace_run(self, row: int, well: str, values: tuple[object, ...]) -> None:
        """A Furnace run cell must be the run the plate puts the well in (or empty)."""
        text = self.cell(values, FURNACE_RUN_COLUMN)
        if text is None:
            return
        want = self.runs[well]
        try:
            same = want is not None and parse_number(text) == want
        except _CellError:
            same = False
        if same:
            return
        self.foreign[well] = None
        shown = f"run {want}" if want is not None else "none"
        self.add(row, FURNACE_RUN_COLUMN, text,
                 f"differs from the furnace run of well {well} on this plate ({shown}).",
                 "The sheet probably belongs to another plate: check its Batch column and the "
                 "plate you upload it to. The furnace run is for reference only; if this cell "
                 "was edited by mistake, restore it or clear it.")

    def _check_stray(self, row: int, values: tuple[object, ...]) -> None:
        if self.separator is None:  # XLSX: cells cannot shift; reported once in finish()
            return
        for c in self.stray:
            if (t := _text(values[c.pos])) is not None:
                hint = ("A decimal comma in a comma-separated file splits a number in two: use "
                        "decimal points, or save the file with ';' as separator."
                        if self.separator == "," else
                        "Remove the extra cells or give the column a header.")
                self.report.add(row, c.pos, None, t, "this row has more cells than the header; "
                                "its values may have shifted.", hint)

    def _check_well(self, row: int, values: tuple[object, ...], has_data: bool) -> str | None:
        text = self.cell(values, "Well")
        if text is None:
            if has_data and "Well" in self.fixed:  # a missing column is reported once
                self.add(row, "Well", None, "this row has results or a status but no well ID.",
                         "Write the well ID (e.g. B3) in the row.")
            return None
        well = normalize_well(text)
        if not _WELL.fullmatch(well):
            self.add(row, "Well", _shorten(text), "is not a well ID.", "Use IDs like A1 … H12.")
        elif well not in self.expected:
            self.add(row, "Well", _shorten(text),
                     f"well {_shorten(well)} is not on this batch's plate.",
                     _plate_hint(self.expected))
        elif well in self.first_row:
            self.add(row, "Well", text,
                     f"well {well} appears twice, in rows {self.first_row[well]} and {row}.",
                     "Keep one row per well; correct a result later by uploading it again.")
        else:
            self.first_row[well] = row
            role = self.cell(values, "Role")
            if role is not None and role.strip().lower() != str(self.expected[well]).lower():
                self.add(row, "Role", role, f"this batch has well {well} as a "
                         f"{self.expected[well]}.", "Check that the file belongs to this batch.",
                         warning=True)
            return well
        return None

    def finish(self, *, confirm_unusual: bool = False) -> int | None:
        """Column-wide checks (units, ranges, one batch); returns the batch number, if any."""
        if self.separator is None:
            for c in self.stray:
                self.report.add(None, c.pos, None, None, "a column without a header holds values; "
                                "it was ignored.", "Give it a header or delete it.", warning=True)
        self.bad_columns = {c.pos for c in self.outputs if not c.unit_ok}
        self.bad_columns |= _check_ranges(self.outputs, self.numbers, self.report,
                                          confirm_unusual=confirm_unusual)
        counts = Counter(b for _, b, _ in self.batches)
        batch_id = counts.most_common(1)[0][0] if counts else None
        for row, b, text in self.batches:
            if b != batch_id:
                self.add(row, "Batch", text, f"differs from batch {batch_id} in the other rows; "
                         "a file holds one batch.",
                         "Split the file by batch, or fix the Batch column.")
        return batch_id

    def records(self) -> list[MeasurementRecord]:
        """Records of a file without errors, in row then column order."""
        value_at = {(row, pos): x for pos, vals in self.numbers.items() for row, _, x in vals}
        records: list[MeasurementRecord] = []
        for r in self.rows:
            if r.well is None:
                continue
            when = self.cell(r.values, "Measured at")
            status_only = MeasurementRecord(
                well=r.well, quantity="status", value=None, unit="", status=r.status,
                operator=self.cell(r.values, "Operator"),
                instrument=self.cell(r.values, "Instrument"),
                measured_at=None if when is None else _parse_datetime(when),
                source_row=r.row, note=self.cell(r.values, "Notes"),
            )
            measured = [
                replace(status_only, quantity=c.name, value=value_at[r.row, c.pos],
                        unit=c.column.unit)
                for c in self.outputs
                if c.column is not None
                and c.pos not in self.bad_columns
                and (r.row, c.pos) in value_at
            ]
            records += measured or ([status_only] if r.status != "ok" else [])
        return records

    def report_foreign_recipes(self, batch_id: int | None) -> None:
        """One line first when many wells' recipes differ: the whole sheet is another plate's."""
        if len(self.foreign) < 2:
            return
        wells = list(self.foreign)
        shown = ", ".join(wells[:6]) + (" …" if len(wells) > 6 else "")
        plate = f"batch {batch_id}" if batch_id is not None else "this batch"
        self.report.add(None, -1, None, None,
                        f"the recipes of {len(wells)} of {len(self.first_row)} well(s) ({shown}) "
                        f"differ from those stored for {plate}: the sheet probably belongs to "
                        "another plate.",
                        "Upload it to the plate it was made for (planner ingest --batch N, or "
                        "choose that plate on the Upload page); sheets from the plate template "
                        "carry a Batch column that picks the plate for you.")

    def report_missing_wells(self, measured: set[str]) -> None:
        """Warn about the batch's wells this file says nothing about (a partial upload is fine)."""
        absent = [w for w in self.expected if w not in self.first_row]
        empty = [w for w in self.expected if w in self.first_row and w not in measured]
        cases = ((absent, "are not in the file"), (empty, "have no result or status yet"))
        for wells, what in cases:
            if wells:
                self.report.add(None, -1, "Well", None,
                                f"{len(wells)} well(s) of this batch {what}: {', '.join(wells)}.",
                                "Fine for a partial upload; they stay pending.", warning=True)


def _shorten(text: str, limit: int = 40) -> str:
    """A cell as quoted in a message: a 5,000-character well ID is cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _half_unit(text: str) -> float:
    """Half the last written digit of a number's text: ``"0.37"`` → 0.005, ``"1.3E3"`` → 50."""
    t = text.strip().replace(",", ".")
    mantissa, _, exponent = t.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    try:
        shift = int(exponent) if exponent else 0
    except ValueError:  # more digits than Python reads: such a number failed to parse anyway
        shift = 0
    return 0.5 * 10.0 ** min(max(shift - decimals, -400), 300)  # "0e999" must not overflow


def _same_recipe_value(text: str, want: object, *, decimal_comma: bool) -> bool:
    """Whether a recipe cell agrees with a stored recipe value (see the module docstring)."""
    if _is_missing(want):
        return False
    want = plain(want)
    if " ".join(text.split()).casefold() == " ".join(str(want).split()).casefold():
        return True
    if isinstance(want, bool) or not isinstance(want, int | float | str):
        return False
    try:
        x = parse_number(text, decimal_comma=decimal_comma)
        y = float(want) if not isinstance(want, str) else parse_number(want)
    except (_CellError, ValueError, OverflowError):
        return False
    return abs(x - y) <= max(_half_unit(text), 1e-9 * max(abs(y), 1.0))


def _expected_runs(spec: CampaignSpec, expected_wells: Mapping[str, str],
                   expected_recipes: Mapping[str, Mapping[str, object]] | None,
                   ) -> dict[str, int | None]:
    """Well → the furnace run its sheet shows (:func:`campaigns.sheet.furnace_runs`, wells in the
    batch's order); empty when the recipes are not given or the campaign has no furnace runs."""
    if expected_recipes is None or spec.plate.furnace_runs is None:
        return {}
    recipes = {normalize_well(w): r for w, r in expected_recipes.items()}
    wells = [SheetWell(normalize_well(w), role, dict(recipes.get(normalize_well(w), {})))
             for w, role in expected_wells.items()]
    return dict(zip([w.well for w in wells], furnace_runs(spec, wells), strict=True))


def _plate_hint(expected: Mapping[str, str]) -> str:
    if not expected:
        return "This batch has no wells; check that you chose the right batch."
    wells = list(expected)
    return (f"This batch has {len(wells)} well(s), {wells[0]} … {wells[-1]}; check the well ID, "
            "or upload the file to the batch it belongs to.")


def _unit_window(col: Column, x: float) -> UnitHint | None:
    """The wrong-unit pattern ``x`` fits, if it is not a plausible value as written."""
    if x == 0 or col.typical[0] <= x <= col.typical[1]:  # 0 is 0 in every unit
        return None
    return next((h for h in col.unit_hints if h.when[0] <= x <= h.when[1]), None)


def _check_ranges(outputs: list[_Col], numbers: dict[int, list[tuple[int, str, float]]],
                  report: _Report, *, confirm_unusual: bool = False) -> set[int]:
    """Unit and range checks per result column; returns positions of columns in a wrong unit.

    A value outside ``possible`` is an error; one that looks like a wrong unit an error unless
    ``confirm_unusual`` (then a warning); one outside ``typical`` a warning.
    """
    wrong_unit: set[int] = set()
    for c in outputs:
        col, values = c.column, numbers[c.pos]
        if col is None or not c.unit_ok or not values:
            continue
        xs = [v for _, _, v in values]
        for hint in col.unit_hints:
            lo, hi = hint.when
            # An all-zero column (dead cells, non-porous carbons) says nothing about the unit.
            if not (all(lo <= x <= hi for x in xs) and any(x != 0 for x in xs)):
                continue
            # Confirming helps only if every value is possible as written.
            possible = all(col.possible[0] <= x <= col.possible[1] for x in xs)
            what = (f"all {len(xs)} value(s) lie in {lo:g}–{hi:g}, which suggests the wrong unit "
                    f"(expected {col.unit}, typically {_range_text(col.typical, col.unit)})")
            shown = f"{min(xs):g} … {max(xs):g}"
            if possible and confirm_unusual:
                report.add(None, c.pos, c.header, shown, f"{what}; stored as written, as "
                           "confirmed.", "Check the values and their unit.", warning=True)
            else:
                report.add(None, c.pos, c.header, shown, f"{what}.",
                           f"{hint.hint} Values are never converted silently: fix them in the "
                           "file" + (f", or, {_CONFIRM_HOW}." if possible else "."),
                           unusual=possible)
                wrong_unit.add(c.pos)
            break
        else:
            _check_values(c, col, values, report, confirm_unusual=confirm_unusual)
    return wrong_unit


def _check_values(c: _Col, col: Column, values: list[tuple[int, str, float]], report: _Report,
                  *, confirm_unusual: bool) -> None:
    for row, text, x in values:
        window = _unit_window(col, x)
        if not col.possible[0] <= x <= col.possible[1]:
            report.add(row, c.pos, c.header, text, "is outside the possible range "
                       f"{_range_text(col.possible, col.unit)}.",
                       window.hint if window else "Check the value and its unit.")
        elif window is not None:
            what = (f"looks like a wrong unit: it lies in {window.when[0]:g}–{window.when[1]:g}, "
                    f"while {col.label} is typically {_range_text(col.typical, col.unit)}")
            if confirm_unusual:
                report.add(row, c.pos, c.header, text, f"{what}; stored as written, as "
                           "confirmed.", "Check the value and its unit.", warning=True)
            else:
                report.add(row, c.pos, c.header, text, f"{what}.",
                           f"{window.hint} Values are never converted silently: fix the value, "
                           f"or, {_CONFIRM_HOW}.", unusual=True)
        elif not col.typical[0] <= x <= col.typical[1]:
            report.add(row, c.pos, c.header, text, "is outside the typical range "
                       f"{_range_text(col.typical, col.unit)}; accepted.",
                       "Check the value and its unit.", warning=True)


def _check_plate_table(table: pd.DataFrame, *, filename: str, sha256: str, spec: CampaignSpec,
                       expected_wells: Mapping[str, str],
                       expected_recipes: Mapping[str, Mapping[str, object]] | None,
                       batch_id: int | None, confirm_unusual: bool) -> ParsedPlate:
    """The checks of :func:`parse_plate` on a table of text cells (a file's, or a DataFrame's)."""
    if batch_id is not None:
        _check_declared_batch(table, batch_id, filename)
    report = _Report()
    checker = _RowChecker(table, _map_headers(table, spec, report), expected_wells,
                          expected_recipes, report, spec)
    for row, values in zip(table.index, table.itertuples(index=False, name=None), strict=True):
        checker.check(int(row), values)
    found_batch = checker.finish(confirm_unusual=confirm_unusual)
    checker.report_foreign_recipes(batch_id)
    errors = report.problems("error")
    if not errors:
        records = checker.records()
        checker.report_missing_wells({r.well for r in records})
        return ParsedPlate(filename=filename, sha256=sha256,
                           batch_id=found_batch, n_rows=len(table), records=tuple(records),
                           warnings=tuple(report.problems("warning")))
    soft = report.problems("warning")
    lines = [str(p) for p in errors] + [f"(warning) {p}" for p in soft]
    only_unusual = all(p in report.unusual for p in errors)
    error_type = UnusualValuesError if only_unusual else IngestError
    raise error_type(
        f"{filename} was rejected with {len(errors)} error(s) and {len(soft)} warning(s); "
        "nothing was stored:\n  - " + "\n  - ".join(lines),
        problems=errors + soft,
        hint="Check the values listed; if they are correct as written, confirm them and upload "
        "the file again (planner ingest --confirm-unusual, or the checkbox on the Upload page)."
        if only_unusual else "Fix every row listed and upload the whole file again.",
    )


# --- DataFrames: results added from Python (planner.api's Campaign.add_results) --------------
_UNNAMED = re.compile(r"^Unnamed: \d+(?:_level_\d+)?$")
FRAME_FORMAT = "dataframe"
"""``attrs["format"]`` of a table made by :func:`frame_table`."""


def _frame_header(name: object) -> str:
    """A column name as a header cell: pandas' ``Unnamed: 3`` (an empty header) becomes ``""``."""
    parts = name if isinstance(name, tuple) else (name,)
    texts = [t for p in parts if (t := _frame_cell(p)) is not None and not _UNNAMED.match(t)]
    return " ".join(texts)


def _frame_cell(value: object) -> str | None:
    """A cell as the text a spreadsheet would show: ``None``, NaN, NaT and blanks are empty.

    Numbers are written by ``str`` (shortest round-trip form: ``84.5``, ``0.1`` for a float32
    0.1); the quote exports put before formula-like text is taken off, as the file reader does.
    """
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    text = unquote(str(value).replace("\u00a0", " ").strip())
    return text or None


def frame_table(frame: pd.DataFrame, *, filename: str = "dataframe") -> pd.DataFrame:
    """A DataFrame of results as the table of text cells a plate file is read into.

    The same shape :func:`campaigns.readers.read_table` gives a CSV or XLSX, so the same checks
    apply to both: columns are the headers as written (``""`` for pandas' ``Unnamed: N``), cells
    are text or NaN (``None``, NaN and NaT are empty cells; ``"NA"`` stays text and is refused in
    a result cell, as in a file), and the index holds spreadsheet row numbers: the frame's first
    row is row 2, under a header in row 1. Blank rows and blank unnamed columns are left out. A
    named index (``df.set_index("Well")``) is read as the first column(s); an unnamed one is
    ignored. Like an XLSX, a frame has no separator: cells cannot shift.

    Args:
        frame: One row per well, headers as in the plate sheet (``Well``, ``ICE [%]`` …).
        filename: Name used in messages.

    Raises:
        IngestError: ``frame`` is not a DataFrame, or has no columns.
    """
    if not isinstance(frame, pd.DataFrame):
        raise _frame_error(filename, f"expected a pandas DataFrame, got {type(frame).__name__}.",
                           "Pass the filled plate sheet as a DataFrame, one row per well.")
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    headers = [_frame_header(c) for c in frame.columns]
    if not headers:
        raise _frame_error(filename, "the table has no columns.",
                           "Start from the plate sheet: campaign.plate_sheet().")
    rows = [[_frame_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    numbered = [(i + 2, row) for i, row in enumerate(rows) if any(v is not None for v in row)]
    table = pd.DataFrame([row for _, row in numbered], columns=range(len(headers)), dtype="str")
    table.columns = pd.Index(headers, dtype=object)
    table.index = pd.Index([n for n, _ in numbered], dtype="int64", name="row")
    keep = [h != "" or table.iloc[:, i].notna().any() for i, h in enumerate(headers)]
    table = table.loc[:, keep]
    table.attrs.update(format=FRAME_FORMAT, header_row=1)
    return table


def _frame_error(filename: str, message: str, hint: str) -> IngestError:
    problem = Problem(None, None, None, message, hint)
    return IngestError(f"{filename}: {message}", problems=[problem], hint=hint)


def frame_sha256(table: pd.DataFrame) -> str:
    """Hex SHA-256 of a :func:`frame_table` table in a canonical form (repeated uploads).

    The form is JSON of the headers and of every row's number and cell texts, so the same
    results give the same digest whatever the frame's dtypes (``84.5`` as a float or as text),
    and no file's bytes share it (it starts with a format tag).
    """
    payload = {
        "format": "planner-dataframe/1",
        "columns": [str(c) for c in table.columns],
        "rows": [[int(row), *(_text(v) for v in values)]
                 for row, values in zip(table.index, table.itertuples(index=False, name=None),
                                        strict=True)],
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def frame_batch(frame: pd.DataFrame, *, filename: str = "dataframe") -> int | None:
    """The batch a frame names in its Batch column (the one most rows name), if any."""
    found = _table_batch(frame_table(frame, filename=filename))
    return None if found is None else found[0]


def parse_plate_frame(frame: pd.DataFrame, *, filename: str = "dataframe", spec: CampaignSpec,
                      expected_wells: Mapping[str, str],
                      expected_recipes: Mapping[str, Mapping[str, object]] | None = None,
                      batch_id: int | None = None, confirm_unusual: bool = False) -> ParsedPlate:
    """Validate a DataFrame of results exactly as :func:`parse_plate` validates a file.

    The frame becomes the table of text cells a file is read into (:func:`frame_table`) and goes
    through the same checks: headers, units, wells, recipes, the Batch column, ranges, statuses,
    all problems in one pass. Rows in messages are numbered as in a spreadsheet: row ``N`` is
    ``frame.iloc[N - 2]``. ``ParsedPlate.sha256`` is :func:`frame_sha256`, so adding the same
    results twice is recognised as a repeat.

    Arguments as :func:`parse_plate`, with ``frame`` instead of the bytes of a file.

    Raises:
        UnusualValuesError: The only errors are values that look like a wrong unit; the hint
            says to pass ``confirm_unusual=True`` if they are correct.
        IngestError: Anything else is wrong; ``problems`` lists every error and warning.

    Example:
        >>> from campaigns.templates import load_template
        >>> spec = load_template("hard-carbon")
        >>> df = pd.DataFrame({"Well": ["A2", "A3"], "ICE [%]": [84.5, None],
        ...                    "Status": [None, "shorted"]})
        >>> parsed = parse_plate_frame(df, spec=spec,
        ...                            expected_wells={"A2": "sample", "A3": "sample"})
        >>> [(r.well, r.quantity, r.value, r.status) for r in parsed.records]
        [('A2', 'ice_pct', 84.5, 'ok'), ('A3', 'status', None, 'failed_cell')]
    """
    table = frame_table(frame, filename=filename)
    try:
        return _check_plate_table(table, filename=filename, sha256=frame_sha256(table),
                                  spec=spec, expected_wells=expected_wells,
                                  expected_recipes=expected_recipes, batch_id=batch_id,
                                  confirm_unusual=confirm_unusual)
    except UnusualValuesError as exc:
        raise UnusualValuesError(
            str(exc), problems=exc.problems,
            hint="Check the values listed; if they are correct as written, add the results "
            "again with confirm_unusual=True.") from None
