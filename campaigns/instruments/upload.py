"""Instrument files per well → campaign measurements, all or nothing.

A lab uploads its XRD patterns and Raman spectra for a plate as one zip (or as several files)
and, optionally, the plate sheet with the other results. Which file belongs to which well:

* **by name**: ``A1.xy``, ``B03_raman.txt``, ``C12-xrd.xrdml`` — the well opens the file name;
  ``xrd`` or ``raman`` in the name (or a vendor suffix: ``.xrdml``, ``.wdf`` …) gives the kind,
  else the axis range does;
* **by the sheet**: a column of file names in the plate sheet (``XRD file``, ``Raman file``, or
  ``File``), one name per well; the zip then holds those files, named as the sheet says.

Every file is read and fitted (:func:`campaigns.instruments.characterize`); the derived values
(``d002_nm``, ``lc_nm``, ``la_nm``, ``raman_id_ig`` — those the campaign records) go through the
same checks as a plate's values (:func:`campaigns.uploads.preview_frame`: wells, ranges) and are
stored with the sheet's values by :meth:`campaigns.store.Store.ingest`, in one transaction. One
bad file, an unknown well, a file named in the sheet but missing from the zip, or a value
outside its possible range rejects the whole upload, with every problem named by file.

Provenance: the upload's SHA-256 (and each value's ``source_file_sha256``) digests the sheet,
every instrument file and the fit settings, so fitting the same files with other settings is a
new upload that supersedes the old values. Each derived value's ``instrument`` is ``XRD`` or
``Raman``, and its ``note`` is JSON (:func:`provenance_of` reads it back): the raw file's name
and SHA-256, the value's standard deviation, the method, the settings, the fitted parameters and
fit statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from campaigns.columns import COLUMNS, HeaderIndex, normalize_header
from campaigns.errors import IngestError, Problem
from campaigns.hints import did_you_mean
from campaigns.ingest import MeasurementRecord, ParsedPlate, plate_batch
from campaigns.instruments.characterize import characterize
from campaigns.instruments.fit import Characterization
from campaigns.instruments.readers import (
    RAMAN_SUFFIXES,
    XRD_SUFFIXES,
    InstrumentFileError,
    zip_members,
)
from campaigns.instruments.settings import CharacterizeSettings
from campaigns.limits import LimitError, Limits, check_size, current
from campaigns.plate import normalize_well
from campaigns.readers import read_table
from campaigns.store import IngestResult, Store
from campaigns.uploads import preview_frame, preview_upload

logger = logging.getLogger(__name__)

PROVENANCE_TAG = "planner-instrument-fit/1"
"""``format`` of the JSON a derived value's note holds."""
#: Sheet headers that hold instrument file names → the kind they hold (case, spaces and
#: punctuation are ignored, as for every header).
FILE_COLUMNS: dict[str, str | None] = {
    "xrd file": "xrd", "xrd files": "xrd", "xrd file name": "xrd", "xrd filename": "xrd",
    "xrd pattern": "xrd", "xrd": "xrd",
    "raman file": "raman", "raman files": "raman", "raman file name": "raman",
    "raman filename": "raman", "raman spectrum": "raman", "raman": "raman",
    "file": None, "files": None, "file name": None, "filename": None,
}
_FILE_KEYS = {normalize_header(k): v for k, v in FILE_COLUMNS.items()}
_WELL_NAME = re.compile(r"^([A-Pa-p])0*([1-9][0-9]?)(?![0-9])")
_KIND_WORD = re.compile(r"(?<![a-z])(xrd|raman)(?![a-z])", re.IGNORECASE)
_NAME_HINT = ("Name each file after its well (A1.xy, B03_raman.txt, C12-xrd.xrdml), or list the "
              "file names in the plate sheet's 'XRD file' / 'Raman file' column.")


@dataclass(frozen=True)
class WellFile:
    """One instrument file of an upload and what its fit gave."""

    well: str
    """Canonical well ID."""
    kind: str
    """``xrd`` or ``raman``."""
    name: str
    """File name."""
    characterization: Characterization
    """The fit: values, uncertainties, settings, curves."""


@dataclass(frozen=True)
class InstrumentPreview:
    """A validated instrument upload, not stored yet."""

    parsed: ParsedPlate
    """The sheet's records (if a sheet was given) and the derived values, as one upload."""
    batch_id: int
    """The plate they belong to."""
    files: tuple[WellFile, ...]
    """Every instrument file with its fit, in well order."""


@dataclass(frozen=True)
class InstrumentUploadOutcome:
    """What a stored instrument upload changed."""

    result: IngestResult
    """Counts of new, superseding and unchanged values, the plate and its status."""
    warnings: tuple[Problem, ...]
    """Soft problems of the sheet, the files and their fits."""
    files: tuple[WellFile, ...]
    """Every instrument file with its fit."""


def well_of_name(name: str) -> str | None:
    """The well a file name starts with (``"B03_raman.txt"`` → ``"B3"``), or ``None``.

    >>> well_of_name("B03_raman.txt"), well_of_name("plate/C12-xrd.xrdml"), well_of_name("x.xy")
    ('B3', 'C12', None)
    """
    base = os.path.basename(name.replace("\\", "/"))
    m = _WELL_NAME.match(base)
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


def kind_of_name(name: str) -> str | None:
    """``xrd`` or ``raman`` when the file name or its suffix says so, else ``None``."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in XRD_SUFFIXES:
        return "xrd"
    if suffix in RAMAN_SUFFIXES:
        return "raman"
    found = {m.lower() for m in _KIND_WORD.findall(os.path.splitext(os.path.basename(name))[0])}
    return found.pop() if len(found) == 1 else None


def provenance_of(note: str | None) -> dict[str, Any] | None:
    """The fit a derived value's note records (file, SHA-256, std, settings …), or ``None``
    for a value typed in by hand."""
    if not note or not note.startswith("{"):
        return None
    try:
        data = json.loads(note)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("format") == PROVENANCE_TAG else None


def _file_columns(table: pd.DataFrame) -> dict[str, str | None]:
    """Header → kind of the sheet's columns that hold instrument file names."""
    out: dict[str, str | None] = {}
    for header in table.columns:
        key = normalize_header(_stem(header))
        if key in _FILE_KEYS:
            out[str(header)] = _FILE_KEYS[key]
    return out


def _stem(header: object) -> str:
    """A header without its unit: ``"d002 [nm]"`` → ``"d002"``."""
    return re.sub(r"\s*[\[(].*[\])]\s*$", "", str(header))


def _sheet_assignments(table: pd.DataFrame, columns: Mapping[str, str | None],
                       members: Mapping[str, bytes], files_name: str,
                       problems: list[Problem], *,
                       check_wells: bool) -> list[tuple[str, str | None, str, int]]:
    """(well, kind, member, sheet row) for every file the sheet names; ``check_wells``: name
    the rows whose well is missing or not a well ID (else the sheet's own checks do)."""
    well_keys = {normalize_header(k) for k in ("well", "well id", "well position")}
    well_col = next((c for c in table.columns if normalize_header(str(c)) in well_keys), None)
    folded = {name.casefold(): name for name in members}
    out = []
    for row, cells in table.iterrows():
        well_text = cells.get(well_col) if well_col is not None else None
        for header, kind in columns.items():
            value = cells.get(header)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            wanted = os.path.basename(str(value).strip().replace("\\", "/"))
            member = wanted if wanted in members else folded.get(wanted.casefold())
            if member is None:
                mean = did_you_mean(wanted, members)
                problems.append(Problem(int(row), header, str(value),
                                        f"{files_name} holds no file of this name.",
                                        (f"{mean} " if mean else "") + "Add the file to the zip "
                                        "or correct the name in the sheet."))
                continue
            if well_text is None or (isinstance(well_text, float) and math.isnan(well_text)):
                if check_wells:
                    problems.append(Problem(int(row), "Well", None, f"the row names {wanted} "
                                            "but no well.", "Fill in the Well column."))
                continue
            try:
                well = normalize_well(str(well_text))
            except ValueError:
                if check_wells:
                    problems.append(Problem(int(row), "Well", str(well_text)[:40],
                                            "is not a well ID.", "Write wells as A1 … H12."))
                continue
            out.append((well, kind or kind_of_name(member), member, int(row)))
    return out


def _fit_all(assignments: list[tuple[str, str | None, str, int | None]],
             members: Mapping[str, bytes], settings: CharacterizeSettings, limits: Limits,
             problems: list[Problem]) -> list[WellFile]:
    fitted: list[WellFile] = []
    for well, kind, member, _row in assignments:
        try:
            c = characterize(members[member], name=member, kind=kind, settings=settings,
                             limits=limits)
        except InstrumentFileError as exc:
            problems.extend(exc.problems)
            continue
        fitted.append(WellFile(well, c.kind, member, c))
    return fitted


def _note(c: Characterization, key: str, std: float) -> str:
    record = {"format": PROVENANCE_TAG, **c.provenance(), "value": key,
              "std": std if math.isfinite(std) else None}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def preview_instrument_upload(
    store: Store, campaign: str, files: bytes | Mapping[str, bytes], *,
    files_name: str = "instrument files", sheet: bytes | None = None,
    sheet_name: str = "plate sheet", batch_id: int | None = None,
    settings: CharacterizeSettings | None = None, confirm_unusual: bool = False,
    limits: Limits | None = None,
) -> InstrumentPreview:
    """Read and fit every instrument file and validate the upload, storing nothing.

    Args:
        store: The store holding the campaign.
        campaign: Campaign name.
        files: A zip archive's bytes, or file name → bytes.
        files_name: Name of the zip (or of the set of files), for messages and the upload list.
        sheet: The filled plate sheet (CSV or XLSX), if it comes along; its Batch column then
            decides the plate, as for ``planner ingest``.
        sheet_name: Name of the sheet, for messages.
        batch_id: The plate; ``None``: the sheet's Batch column, else the newest plate.
        settings: Fit settings (default :class:`CharacterizeSettings`).
        confirm_unusual: As for plate uploads: values that look like a wrong unit are stored.
        limits: Size limits (default :func:`campaigns.limits.current`).

    Raises:
        InstrumentFileError: Any file is unreadable or its fit fails, a file's well cannot be
            told or is not on the plate, two files give the same well and kind, a file the
            sheet names is missing, a derived value is impossible, or the sheet and a file both
            give a value; ``problems`` lists every one, naming the file.
        IngestError: The sheet itself was rejected (as ``planner ingest`` would).
        NotFoundError: No such campaign or plate.
    """
    settings = settings or CharacterizeSettings()
    limits = limits or current()
    if isinstance(files, bytes):
        members = zip_members(files, name=files_name, limits=limits)
    else:
        members = dict(files)
        total = sum(len(v) for v in members.values())
        try:
            check_size(total, what=files_name, limit=limits.max_unpacked_bytes,
                       setting="PLANNER_MAX_UNPACKED_MB")
        except LimitError as exc:
            raise InstrumentFileError(f"{files_name}: {exc}", problems=[Problem(
                None, None, None, f"{files_name}: {exc}", exc.hint)], hint=exc.hint) from None
    spec = store.spec(campaign)
    problems: list[Problem] = []
    sheet_parsed: ParsedPlate | None = None
    sheet_rows: dict[str, int] = {}
    file_columns: dict[str, str | None] = {}
    assignments: list[tuple[str, str | None, str, int | None]] = []
    if sheet is not None:
        table = read_table(sheet, filename=sheet_name)
        file_columns = _file_columns(table)
        index = HeaderIndex.for_columns(spec.output_columns())
        if file_columns and not any(index.resolve(_stem(h)) for h in table.columns):
            # a sheet that only says which file belongs to which well: no results to check
            if batch_id is None:
                batch_id = plate_batch(sheet, filename=sheet_name)
            bid = store.batch(campaign, batch_id).id
        else:
            sheet_parsed, bid = preview_upload(store, campaign, sheet, filename=sheet_name,
                                               batch_id=batch_id,
                                               confirm_unusual=confirm_unusual)
            sheet_rows = {r.well: r.source_row for r in sheet_parsed.records}
        if file_columns:
            assignments.extend(_sheet_assignments(table, file_columns, members, files_name,
                                                  problems, check_wells=sheet_parsed is None))
    else:
        bid = store.batch(campaign, batch_id).id
    batch = store.batch(campaign, bid)
    on_plate = {w.well for w in batch.wells}
    warnings: list[Problem] = []
    if not file_columns:
        for member in members:
            well = well_of_name(member)
            if well is None:
                problems.append(Problem(None, None, member, f"{member}: the file name does not "
                                        "start with a well ID.", _NAME_HINT))
                continue
            assignments.append((well, kind_of_name(member), member, sheet_rows.get(well)))
    else:
        named = {a[2] for a in assignments}
        for member in members:
            if member not in named:
                warnings.append(Problem(None, None, member, f"{member}: the sheet names no "
                                        "well for this file; it was ignored.",
                                        "List it in the sheet's file column, or leave it out "
                                        "of the zip.", "warning"))
    for well, _kind, member, row in assignments:
        if well not in on_plate:
            problems.append(Problem(row, None if row is None else "Well",
                                    member if row is None else well,
                                    f"{member}: well {well} is not on plate "
                                    f"{bid}.", f"Plate {bid} has wells {batch.wells[0].well} … "
                                    f"{batch.wells[-1].well}; check the name, or upload to the "
                                    "plate it belongs to." if batch.wells else
                                    "This plate has no wells."))
    fitted = _fit_all([a for a in assignments if a[0] in on_plate], members, settings, limits,
                      problems)
    seen: dict[tuple[str, str], str] = {}
    for f in fitted:
        other = seen.setdefault((f.well, f.kind), f.name)
        if other != f.name:
            problems.append(Problem(None, None, f.name, f"{f.name}: well {f.well} already has "
                                    f"{'an XRD' if f.kind == 'xrd' else 'a Raman'} file "
                                    f"({other}).", "Keep one file per well and kind."))
    derived = _derived(fitted, spec.output_names, problems, warnings)
    if sheet_parsed is not None:
        typed = {(r.well, r.quantity): r for r in sheet_parsed.records if r.value is not None}
        for (well, quantity), (_value, f) in derived.items():
            rec = typed.get((well, quantity))
            if rec is not None:
                problems.append(Problem(rec.source_row, COLUMNS[quantity].label, f"{rec.value:g}",
                                        f"the sheet gives {quantity} of well {well}, and so does "
                                        f"{f.name}.", "Leave the cell empty to use the file, or "
                                        "leave the file out of the zip."))
    if problems:
        raise _rejected(files_name, problems, warnings)
    for well, _kind, _member, row in assignments:
        if row is not None:
            sheet_rows.setdefault(well, row)
    parsed = _derived_plate(store, campaign, derived, bid, files_name,
                            None if sheet is None else sheet_name, sheet_parsed, sheet_rows,
                            confirm_unusual, settings, sheet, members, file_columns, warnings,
                            fitted)
    return InstrumentPreview(parsed=parsed, batch_id=bid,
                             files=tuple(sorted(fitted, key=lambda f: (f.well, f.kind))))


def _derived(fitted: list[WellFile], outputs: tuple[str, ...] | list[str],
             problems: list[Problem], warnings: list[Problem],
             ) -> dict[tuple[str, str], tuple[float, WellFile]]:
    """(well, registry column) → (value, file) for the values the campaign records."""
    out: dict[tuple[str, str], tuple[float, WellFile]] = {}
    unused: set[str] = set()
    for f in fitted:
        for w in f.characterization.warnings:
            warnings.append(Problem(None, None, f.name, f"{f.name}: {w}", "Check the fit's plot.",
                                    "warning"))
        for column, (value, _std) in f.characterization.descriptors().items():
            if column not in outputs:
                unused.add(column)
                continue
            col = COLUMNS[column]
            if not col.possible[0] <= value <= col.possible[1]:
                problems.append(Problem(None, col.label, f"{value:.4g}",
                                        f"{f.name}: the fit gives {column} = {value:.4g} "
                                        f"{col.unit}, outside the possible range "
                                        f"{col.possible[0]:g}–{col.possible[1]:g}.",
                                        "Check the file's kind and the wavelength setting, and "
                                        "the fit's plot (planner characterize FILE)."))
                continue
            out[(f.well, column)] = (value, f)
    if fitted and not out and not problems:
        wanted = ", ".join(sorted({c for f in fitted for c in f.characterization.descriptors()}))
        problems.append(Problem(None, None, None, f"the campaign records none of the values "
                                f"the files give ({wanted or 'none could be derived'}).",
                                "Add d002_nm, lc_nm, la_nm or raman_id_ig to the campaign's "
                                "descriptors (planner campaign show lists them)."))
    for column in sorted(unused):
        warnings.append(Problem(None, None, None, f"the files give {column}, which this "
                                "campaign does not record; it was not stored.",
                                "Add it to the campaign's descriptors to keep it.", "warning"))
    return out


def _derived_plate(store: Store, campaign: str,
                   derived: dict[tuple[str, str], tuple[float, WellFile]], bid: int,
                   files_name: str, sheet_name: str | None, sheet_parsed: ParsedPlate | None,
                   sheet_rows: Mapping[str, int], confirm_unusual: bool,
                   settings: CharacterizeSettings, sheet: bytes | None,
                   members: Mapping[str, bytes], file_columns: Mapping[str, str | None],
                   warnings: list[Problem], fitted: list[WellFile]) -> ParsedPlate:
    """The derived values as records (through the plate checks) joined to the sheet's."""
    wells = sorted({w for w, _ in derived}, key=lambda w: (w[0], int(w[1:])))
    columns = sorted({c for _, c in derived})
    frame = pd.DataFrame({"Well": wells, **{
        COLUMNS[c].label: [derived[(w, c)][0] if (w, c) in derived else None for w in wells]
        for c in columns}})
    records: list[MeasurementRecord] = []
    frame_warnings: tuple[Problem, ...] = ()
    if wells:
        try:
            frame_parsed, _ = preview_frame(store, campaign, frame, filename=files_name,
                                            batch_id=bid, confirm_unusual=confirm_unusual)
        except IngestError as exc:
            files_of_row = {i + 2: sorted({f.name for (w, _), (_, f) in derived.items()
                                           if w == well}) for i, well in enumerate(wells)}
            remapped = [Problem(None, p.column, p.value,
                                f"{', '.join(files_of_row.get(p.row or 0, [files_name]))}: "
                                f"{p.message}", p.hint, p.severity) for p in exc.problems]
            raise InstrumentFileError(f"{files_name} was rejected; nothing was stored: "
                                      + "; ".join(str(p) for p in remapped[:5]),
                                      problems=remapped, hint=exc.hint) from None
        for rec in frame_parsed.records:
            value, f = derived[(rec.well, rec.quantity)]
            key = next(k for k, col in (("d002_nm", "d002_nm"), ("lc_nm", "lc_nm"),
                                        ("la_nm", "la_nm"), ("id_ig", "raman_id_ig"))
                       if col == rec.quantity)
            std = float(f.characterization.stds.get(key, math.nan))
            records.append(replace(rec, instrument="XRD" if f.kind == "xrd" else "Raman",
                                   note=_note(f.characterization, key, std),
                                   source_row=sheet_rows.get(rec.well, rec.source_row)))
        # the batch's other wells are the sheet's business, or simply not measured yet
        frame_warnings = tuple(p for p in frame_parsed.warnings if p.column != "Well")
    sheet_warnings: tuple[Problem, ...] = ()
    if sheet_parsed is not None:
        sheet_warnings = tuple(p for p in sheet_parsed.warnings if p.column not in file_columns)
    digest = hashlib.sha256()
    digest.update(b"planner-instrument-upload/1\0")
    digest.update((sheet_parsed.sha256 if sheet_parsed is not None else
                   hashlib.sha256(sheet).hexdigest() if sheet is not None else "").encode())
    for name in sorted(members):
        if any(f.name == name for f in fitted):
            digest.update(f"\0{name}\0{hashlib.sha256(members[name]).hexdigest()}".encode())
    digest.update(json.dumps(settings.as_dict(), sort_keys=True).encode())
    name = files_name if sheet_name is None else f"{sheet_name} + {files_name}"
    return ParsedPlate(
        filename=name[:500], sha256=digest.hexdigest(),
        batch_id=sheet_parsed.batch_id if sheet_parsed is not None else bid,
        n_rows=(sheet_parsed.n_rows if sheet_parsed is not None else 0) + len(fitted),
        records=(*(sheet_parsed.records if sheet_parsed is not None else ()), *records),
        warnings=(*sheet_warnings, *frame_warnings, *warnings))


def _rejected(files_name: str, problems: list[Problem],
              warnings: list[Problem]) -> InstrumentFileError:
    lines = [str(p) for p in problems] + [f"(warning) {p}" for p in warnings]
    shown = lines[:30] + ([f"… and {len(lines) - 30} more"] if len(lines) > 30 else [])
    return InstrumentFileError(
        f"{files_name} was rejected with {len(problems)} error(s); nothing was stored:\n  - "
        + "\n  - ".join(shown), problems=[*problems, *warnings],
        hint="Fix or remove each file listed and upload the whole set again.")


def ingest_instruments(store: Store, campaign: str, files: bytes | Mapping[str, bytes], *,
                       files_name: str = "instrument files", sheet: bytes | None = None,
                       sheet_name: str = "plate sheet", batch_id: int | None = None,
                       settings: CharacterizeSettings | None = None,
                       confirm_unusual: bool = False, actor: str = "",
                       limits: Limits | None = None) -> InstrumentUploadOutcome:
    """Fit every instrument file and store the derived values (and the sheet's): all or nothing.

    Arguments as :func:`preview_instrument_upload`; ``actor`` is recorded with the upload.
    """
    preview = preview_instrument_upload(
        store, campaign, files, files_name=files_name, sheet=sheet, sheet_name=sheet_name,
        batch_id=batch_id, settings=settings, confirm_unusual=confirm_unusual, limits=limits)
    result = store.ingest(campaign, preview.parsed, batch_id=preview.batch_id, actor=actor)
    return InstrumentUploadOutcome(result, preview.parsed.warnings, preview.files)


__all__ = ["FILE_COLUMNS", "InstrumentPreview", "InstrumentUploadOutcome", "PROVENANCE_TAG",
           "WellFile", "ingest_instruments", "kind_of_name", "preview_instrument_upload",
           "provenance_of", "well_of_name"]
