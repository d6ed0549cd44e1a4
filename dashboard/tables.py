"""Tables the pages show and offer for download: the upload review, labelled frames, exports.

Presentation only: validation is :func:`campaigns.uploads.preview_upload`'s job, plate sheets are
:mod:`campaigns.sheet`'s. These functions take bytes and frames and return frames, styles and
bytes, so they are tested without a browser.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from campaigns.columns import column
from campaigns.errors import IngestError, Problem
from campaigns.exports import frame_bytes
from campaigns.ingest import ParsedPlate, UnusualValuesError
from campaigns.readers import read_table
from campaigns.sheet import SheetWell, template_frame, write_template
from campaigns.spec import CampaignSpec
from campaigns.store import BatchInfo, Store
from campaigns.uploads import preview_upload

if TYPE_CHECKING:
    from campaigns.shared_dataset import PublishResult

ERROR_CELL = "background-color: #ffb3b3; color: #5c0000; font-weight: 600"
ERROR_LINE = "background-color: #ffe3e3"
WARNING_CELL = "background-color: #ffe08a; color: #4d3800"
WARNING_LINE = "background-color: #fff5d6"


# --- upload review -------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadReview:
    """What the upload page shows before anything is stored."""

    filename: str
    """Name of the uploaded file."""
    table: pd.DataFrame | None
    """The sheet as read (index = spreadsheet row numbers, header = row 1), or ``None`` when
    the file could not be decoded at all."""
    problems: tuple[Problem, ...]
    """Every error and warning, errors first."""
    parsed: ParsedPlate | None
    """The validated plate, ``None`` when the file was rejected."""
    batch_id: int | None
    """The plate the file belongs to (when accepted)."""
    message: str | None = None
    """The rejection's headline, when rejected."""
    needs_confirmation: bool = False
    """Rejected only for values that look like a wrong unit: confirming them stores the file."""

    @property
    def accepted(self) -> bool:
        return self.parsed is not None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]


def review_upload(store: Store, campaign: str, data: bytes, *, filename: str,
                  batch_id: int | None = None, confirm_unusual: bool = False) -> UploadReview:
    """Validate an uploaded plate without storing it, keeping every problem for display.

    ``batch_id`` is the plate the user chose (``None``: the file's Batch column decides);
    ``confirm_unusual`` accepts values that look like a wrong unit (see
    :func:`campaigns.uploads.preview_upload`).

    Raises:
        CampaignError: Not about the file (no such campaign or plate).
    """
    try:
        table: pd.DataFrame | None = read_table(data, filename=filename)
    except IngestError:
        table = None  # preview_upload reports the same decoding problem below
    try:
        parsed, bid = preview_upload(store, campaign, data, filename=filename, batch_id=batch_id,
                                     confirm_unusual=confirm_unusual)
    except IngestError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        warnings_ = [p for p in exc.problems if p.severity != "error"]
        headline = str(exc).split("\n", 1)[0]
        return UploadReview(filename, table, tuple(errors + warnings_), None, None, headline,
                            needs_confirmation=isinstance(exc, UnusualValuesError))
    return UploadReview(filename, table, tuple(parsed.warnings), parsed, bid)


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """The problem list: severity, row, column, value, problem, hint."""
    rows = [{"": "error" if p.severity == "error" else "warning",
             "Row": "" if p.row is None else str(p.row), "Column": p.column or "",
             "Value": "" if p.value is None else str(p.value), "Problem": p.message,
             "Hint": p.hint or ""} for p in problems]
    return pd.DataFrame(rows, columns=["", "Row", "Column", "Value", "Problem", "Hint"])


def display_sheet(table: pd.DataFrame) -> pd.DataFrame:
    """The sheet with unique column names (a repeated header gets " (2)") and a ``Row`` index."""
    seen: dict[str, int] = {}
    names = []
    for c in table.columns:
        name = str(c) or "(no header)"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    out = table.astype(object).where(table.notna(), "")  # empty cells read as empty
    out.columns = names
    out.index = out.index.rename("Row")
    return out


def problem_styles(table: pd.DataFrame, problems: Sequence[Problem]) -> pd.DataFrame:
    """CSS per cell of :func:`display_sheet` that marks where each problem is.

    A problem with a row and a column colours that cell; with only a row, the row; with only a
    column, the column. Errors are red, warnings amber; an error wins over a warning.
    """
    styles = pd.DataFrame("", index=range(len(table)), columns=range(table.shape[1]))
    rank = pd.DataFrame(0, index=range(len(table)), columns=range(table.shape[1]))
    positions = {int(r): i for i, r in enumerate(table.index)}
    headers = [str(c) for c in table.columns]

    def mark(rows: Iterable[int], cols: Iterable[int], css: str, level: int) -> None:
        for i in rows:
            for j in cols:
                if rank.iat[i, j] < level:
                    styles.iat[i, j], rank.iat[i, j] = css, level

    all_rows, all_cols = range(len(table)), range(table.shape[1])
    for p in problems:
        error = p.severity == "error"
        cols = [j for j, h in enumerate(headers) if p.column is not None and h == p.column]
        row = positions.get(p.row) if p.row is not None else None
        if row is not None and cols:
            mark([row], cols, ERROR_CELL if error else WARNING_CELL, 4 if error else 3)
        elif row is not None:
            mark([row], all_cols, ERROR_LINE if error else WARNING_LINE, 2 if error else 1)
        elif cols:
            mark(all_rows, cols, ERROR_LINE if error else WARNING_LINE, 2 if error else 1)
    styles.index, styles.columns = display_sheet(table).index, display_sheet(table).columns
    return styles


def column_order(table: pd.DataFrame, problems: Sequence[Problem]) -> list[int]:
    """Column positions with ``Batch``/``Well``/``Role`` first, then every column a problem
    names, then the rest: each marked cell is in view without scrolling sideways."""
    headers = [str(c) for c in table.columns]
    named = {p.column for p in problems if p.column}
    first = [j for j, h in enumerate(headers) if h in ("Batch", "Well", "Role")]
    flagged = [j for j, h in enumerate(headers) if h in named and j not in first]
    return first + flagged + [j for j in range(len(headers)) if j not in first and j not in flagged]


def flagged_rows(table: pd.DataFrame, problems: Sequence[Problem]) -> list[int]:
    """Spreadsheet rows of ``table`` named by a problem (rows with something to fix)."""
    named = {p.row for p in problems if p.row is not None}
    return [int(r) for r in table.index if int(r) in named]


# --- plate sheets and exports ------------------------------------------------------------------
def sheet_frame(spec: CampaignSpec, batch: BatchInfo) -> pd.DataFrame:
    """The empty plate sheet of a batch, as :func:`campaigns.sheet.template_frame` builds it."""
    def recipe(w) -> dict:  # a stored well
        if spec.library is not None and w.candidate_id:
            return {**w.recipe, spec.library.id_column: w.candidate_id}
        return dict(w.recipe)

    wells = [SheetWell(w.well, w.role, recipe(w)) for w in batch.wells]
    return template_frame(spec, batch_id=batch.id, wells=wells)


def sheet_bytes(spec: CampaignSpec, batch: BatchInfo, fmt: str) -> bytes:
    """The plate sheet as ``csv`` or ``xlsx`` bytes (XLSX with its Instructions sheet)."""
    frame = sheet_frame(spec, batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plate.{fmt}"
        write_template(frame, path)
        return path.read_bytes()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a frame, without the index, safe to open in Excel
    (:func:`campaigns.exports.excel_safe`)."""
    return frame_bytes(frame, fmt="csv")


def xlsx_bytes(frame: pd.DataFrame, *, sheet: str = "Data") -> bytes:
    """An XLSX workbook of a frame, safe to open in Excel (text cells never formulas, times in
    UTC without the time zone Excel cannot store)."""
    return frame_bytes(frame, fmt="xlsx", sheet_name=sheet)


META_LABELS = {
    "batch_id": "Plate", "iso_week": "Week", "well": "Well", "role": "Role",
    "candidate_id": "Candidate", "status": "Status", "replicate_of": "Replicate of",
    "measurement_id": "Measurement", "quantity": "Quantity", "value": "Value", "unit": "Unit",
    "operator": "Operator", "instrument": "Instrument", "measured_at": "Measured at",
    "source_file": "Source file", "source_file_sha256": "Source SHA-256",
    "uploaded_by": "Uploaded by", "recorded_by": "Recorded by",
    "source_row": "Source row",
    "note": "Note", "supersedes_id": "Supersedes", "ingested_at": "Stored at",
    "generator": "Generator", "seed": "Seed", "data_revision": "Data revision",
    "superseded": "Superseded",
}
"""Headers of the bookkeeping columns, as the pages show them."""


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Human headers: registry labels with units for quantities (``carbonization_temperature_c``
    → ``Carbonization temperature [°C]``), :data:`META_LABELS` for bookkeeping columns. Columns
    that are empty everywhere (``candidate_id`` outside library mode) are dropped."""
    from campaigns.columns import COLUMNS

    empty = [c for c in frame.columns if c in META_LABELS and frame[c].isna().all()]
    out = frame.drop(columns=empty)
    names = {c: column(c).label for c in out.columns if c in COLUMNS}
    names |= {c: META_LABELS[c] for c in out.columns if c in META_LABELS}
    return out.rename(columns=names)


def with_recorded_by(measurements: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """The long measurements table with ``recorded_by``: who stored each value.

    An uploaded value names its upload's user (``uploaded_by``); a correction or a withdrawn
    value names the author of its audit entry (``measurement.correct``, ``measurement.retract``);
    a value withdrawn with its whole upload names who retracted the upload (``upload.retract``).

    Args:
        measurements: :meth:`campaigns.store.Store.measurements` (``include_superseded=True``).
        audit: :func:`campaigns.audit.audit_entries` of the campaign (these actions suffice).
    """
    by_row: dict[int, str] = {}  # measurement id -> who wrote that row
    by_withdrawn: dict[int, str] = {}  # id of a value withdrawn with its upload -> who did it
    for action, actor, detail in audit[["action", "actor", "detail"]].itertuples(index=False):
        d = detail if isinstance(detail, dict) else {}
        if action in ("measurement.correct", "measurement.retract") and d.get("measurement_id"):
            by_row[int(d["measurement_id"])] = actor
        elif action == "upload.retract":
            for old in d.get("before") or []:
                if isinstance(old, dict) and old.get("measurement_id"):
                    by_withdrawn[int(old["measurement_id"])] = actor
    out = measurements.copy()
    who: list[str | None] = []
    for mid, uploader, status, supersedes in out[
            ["measurement_id", "uploaded_by", "status", "supersedes_id"]].itertuples(index=False):
        if isinstance(uploader, str) and uploader:
            who.append(uploader)
        elif int(mid) in by_row:
            who.append(by_row[int(mid)])
        elif status == "retracted" and pd.notna(supersedes) and int(supersedes) in by_withdrawn:
            who.append(by_withdrawn[int(supersedes)])
        else:
            who.append(None)
    at = list(out.columns).index("uploaded_by") + 1 if "uploaded_by" in out else len(out.columns)
    out.insert(at, "recorded_by", who)
    return out


# --- the audit log -----------------------------------------------------------------------------
AUDIT_SHOWN = ["id", "at", "actor", "action", "campaign", "summary", "before", "after"]


def _value(x: object) -> str:
    """A measurement as an audit entry records it: ``81.2 % (ok)``; ``—`` for none."""
    if not isinstance(x, dict):
        return "—"
    value, unit = x.get("value"), x.get("unit")
    if value is None:
        return f"no value ({x.get('status')})"
    number = f"{value:g}" if isinstance(value, int | float) else str(value)
    unit = f" {unit}" if unit and unit != "-" else ""
    return f"{number}{unit} ({x.get('status')})"


def _before_after(action: str, detail: object) -> tuple[str, str]:
    d = detail if isinstance(detail, dict) else {}
    if action in ("measurement.correct", "measurement.retract"):
        after = d.get("after")
        return _value(d.get("before")), "withdrawn" if after is None else _value(after)
    if action == "upload.retract":
        return f"{len(d.get('before') or [])} current value(s)", "withdrawn"
    if action in ("role.grant", "role.revoke"):
        return d.get("before") or "no role", d.get("role") or "no role"
    if action == "campaign.update_spec":
        return "old spec", "new spec (see the entry's changes)"
    return "", ""


def audit_view(frame: pd.DataFrame) -> pd.DataFrame:
    """An :func:`campaigns.audit.audit_entries` frame as the audit page lists it, newest first:
    ``before`` and ``after`` in words (a corrected value, a role, a spec) next to the summary."""
    pairs = [_before_after(a, d) for a, d in zip(frame["action"], frame["detail"], strict=True)]
    out = frame.assign(before=[b for b, _ in pairs], after=[a for _, a in pairs])
    return out[AUDIT_SHOWN].iloc[::-1].reset_index(drop=True)


def spec_change(detail: object) -> str | None:
    """The unified diff of a ``campaign.update_spec`` entry's old and new YAML (``None`` for
    other entries)."""
    import difflib

    d = detail if isinstance(detail, dict) else {}
    old, new = d.get("old_spec_yaml"), d.get("new_spec_yaml")
    if not isinstance(old, str) or not isinstance(new, str):
        return None
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after",
                                 lineterm="", n=2)
    return "\n".join(lines) or "(no change)"


def publish_zip(store: Store, campaign: str, *, licence: str, contributors: Sequence[str],
                title: str | None = None,
                citation: str | None = None) -> tuple[PublishResult, bytes]:
    """Publish a campaign as a data package and zip it.

    :func:`campaigns.shared_dataset.publish_campaign` writes the folder in a temporary place.

    Returns:
        The ``PublishResult`` and the bytes of a ZIP holding the package folder.
    """
    import zipfile

    from campaigns.shared_dataset import parse_contributor, publish_campaign

    people = [parse_contributor(c) for c in contributors if c.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"{campaign}-package"
        result = publish_campaign(store, campaign, folder, licence=licence, contributors=people,
                                  title=title or None, citation=citation or None)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(folder.parent).as_posix())
    return result, buf.getvalue()


def filter_frame(frame: pd.DataFrame, *, weeks: Sequence[str] = (), statuses: Sequence[str] = (),
                 quantities: Sequence[str] = (), wells: str = "") -> pd.DataFrame:
    """Rows matching every given criterion; an empty criterion keeps everything.

    Args:
        frame: Measurements (long) or the per-well export (wide).
        weeks: ISO weeks to keep.
        statuses: Statuses to keep.
        quantities: Quantities to keep (long tables only).
        wells: Comma-separated well IDs or row letters (``"A1, B"`` keeps A1 and row B).
    """
    mask = pd.Series(True, index=frame.index)
    if weeks and "iso_week" in frame:
        mask &= frame["iso_week"].isin(list(weeks))
    if statuses and "status" in frame:
        mask &= frame["status"].isin(list(statuses))
    if quantities and "quantity" in frame:
        mask &= frame["quantity"].isin(list(quantities))
    tokens = [t.strip().upper() for t in wells.split(",") if t.strip()]
    if tokens and "well" in frame:
        w = frame["well"].astype(str).str.upper()
        hit = pd.Series(False, index=frame.index)
        for t in tokens:
            if any(ch.isdigit() for ch in t):
                hit |= w == t
            else:  # a row letter
                hit |= w.str.match(rf"^{re.escape(t)}\d+$")
        mask &= hit
    return frame[mask].reset_index(drop=True)
