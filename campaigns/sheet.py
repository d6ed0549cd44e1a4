"""The plate sheet a lab fills in each week: one row per well, recipe first, results after.

Columns, left to right:

- ``Batch``, ``Well``, ``Role`` (:data:`META_COLUMNS`);
- ``Furnace run`` (:data:`FURNACE_RUN_COLUMN`), only when the campaign groups its wells into
  furnace runs (``plate.furnace_runs``): the run (1, 2, …) whose temperature program makes the
  well's sample, empty for controls (:func:`furnace_runs`). For reference, like the recipe;
- the recipe, for reference only (registry labels with units, e.g.
  ``"Carbonization temperature [°C]"``; in library mode the candidate ID column and the library
  inputs). Editing them changes nothing: the stored recipe is what was proposed;
- one empty column per measured quantity, descriptors then targets (``"d002 [nm]"``,
  ``"ICE [%]"``), to be filled with numbers in the unit of the header;
- :data:`TRAILING_COLUMNS`: ``Status`` (:data:`STATUS_CODES`; empty means ``ok`` when results
  are given), ``Operator``, ``Instrument``, ``Measured at`` (ISO date, ``2025-03-14`` or
  ``2025-03-14 15:30``) and ``Notes``.

:func:`campaigns.ingest.parse_plate` reads the filled sheet back.

Example:
    >>> from campaigns.templates import load_template
    >>> spec = load_template("hard-carbon", name="demo")
    >>> frame = template_frame(spec, batch_id=1, wells=[SheetWell("B2", "sample", {"dwell_h": 2})])
    >>> list(frame.columns[:5]), float(frame.loc[0, "Dwell time [h]"])
    (['Batch', 'Well', 'Role', 'Furnace run', 'Precursor'], 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.styles import Alignment, Font

from campaigns.columns import Column
from campaigns.errors import CampaignError
from campaigns.exports import write_frame, write_sheet
from campaigns.hints import closest
from campaigns.plate import normalize_well, well_names
from campaigns.spec import CampaignSpec

META_COLUMNS = ("Batch", "Well", "Role")
"""First columns of every plate sheet."""
FURNACE_RUN_COLUMN = "Furnace run"
"""Column after ``Role`` in the sheet of a campaign with furnace runs (``plate.furnace_runs``)."""
TRAILING_COLUMNS = ("Status", "Operator", "Instrument", "Measured at", "Notes")
"""Last columns of every plate sheet."""
ROLES = ("sample", "control", "replicate")
"""What a well is for."""
STATUS_CODES: dict[str, str] = {
    "ok": "measured normally (also what an empty Status means when results are given)",
    "failed_synthesis": "nothing usable was made: the recipe may be infeasible "
    "(results may stay empty)",
    "failed_cell": "the material exists but the cell failed, e.g. shorted (results may stay empty)",
    "outlier": "measured, but the lab does not trust the result",
}
"""Allowed values of the ``Status`` column and what they mean."""

_META_HELP = {
    "Batch": "Batch number. Leave as written: a file holds one batch.",
    "Well": "Well ID (A1 … H12). Leave as written; rows may be deleted for a partial upload.",
    "Role": "sample, control (reference material) or replicate (repeats another well's recipe).",
    FURNACE_RUN_COLUMN: "Furnace run (1, 2, …) that makes the well's sample: wells with the same "
    "number share one temperature program and go into the furnace together. Empty for controls. "
    "Leave as written.",
    "Status": "One of: " + ", ".join(STATUS_CODES) + ". Empty = ok.",
    "Operator": "Who measured the well (optional).",
    "Instrument": "Instrument or cycler channel (optional).",
    "Measured at": "Date or date and time, ISO format: 2025-03-14 or 2025-03-14 15:30 (optional).",
    "Notes": "Free text (optional).",
}


@dataclass(frozen=True)
class SheetWell:
    """One row of a plate sheet: a well and what goes in it."""

    well: str
    """Well ID (``"A1"``)."""
    role: str
    """``"sample"``, ``"control"`` or ``"replicate"``."""
    recipe: dict[str, object]
    """Input name → value (recipe mode), or the candidate ID column and inputs (library mode)."""


def recipe_columns(spec: CampaignSpec) -> list[tuple[str, Column]]:
    """(input name, column) pairs shown before the results; outputs win a header clash."""
    outputs = set(spec.output_names)
    pairs = [(c.name, c) for c in spec.input_columns() if c.name not in outputs]
    if spec.library is not None:
        id_col = spec.library.id_column
        pairs.insert(0, (id_col, Column(name=id_col, label=id_col, unit="-", kind="category")))
    return pairs


def furnace_runs(spec: CampaignSpec, wells: Sequence[SheetWell]) -> list[int | None]:
    """Furnace run of each well of a plate, as its sheet shows it.

    Wells that are not controls are numbered by :meth:`CampaignSpec.furnace_run_numbers` in the
    order given (1 for the first program met, …); controls (reference materials, not made in the
    plate's runs) and wells without a full program get ``None``, and so does every well when the
    campaign declares no furnace runs.

    >>> from campaigns.templates import load_template
    >>> spec = load_template("hard-carbon")
    >>> hot = {"carbonization_temperature_c": 1500, "heating_rate_c_per_min": 5, "dwell_h": 2}
    >>> furnace_runs(spec, [SheetWell("A1", "control", hot),
    ...                     SheetWell("A2", "sample", {**hot, "dwell_h": 1}),
    ...                     SheetWell("A3", "sample", hot), SheetWell("A4", "replicate", hot)])
    [None, 1, 2, 2]
    """
    if spec.plate.furnace_runs is None:
        return [None] * len(wells)
    made = [w for w in wells if w.role != "control"]
    numbers = iter(spec.furnace_run_numbers([dict(w.recipe) for w in made]))
    return [None if w.role == "control" else next(numbers) for w in wells]


def _check_wells(spec: CampaignSpec, wells: Sequence[SheetWell], recipe_names: set[str]) -> None:
    on_plate = set(well_names(spec.plate.wells))
    problems: list[str] = []
    seen: set[str] = set()
    for i, w in enumerate(wells):
        name = normalize_well(w.well)
        if name not in on_plate:
            problems.append(f"wells[{i}]: {w.well!r} is not on a {spec.plate.wells}-well plate")
        if name in seen:
            problems.append(f"wells[{i}]: well {name} appears twice")
        seen.add(name)
        if w.role not in ROLES:
            problems.append(
                f"wells[{i}] ({name}): role {w.role!r} is not one of {', '.join(ROLES)}"
            )
        for key in sorted(set(w.recipe) - recipe_names):
            close = closest(key, sorted(recipe_names))
            mean = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"wells[{i}] ({name}): recipe names unknown input {key!r}{mean}")
    if problems:
        raise CampaignError(
            "cannot build the plate sheet:\n  - " + "\n  - ".join(problems),
            hint=f"Use wells of a {spec.plate.wells}-well plate once each, roles "
            f"{', '.join(ROLES)}, and the campaign's input names as recipe keys.",
        )


def template_frame(
    spec: CampaignSpec, *, batch_id: int, wells: Sequence[SheetWell]
) -> pd.DataFrame:
    """Build the plate sheet for one batch: one row per well, empty result columns.

    Args:
        spec: The campaign's spec; decides the recipe and result columns and their units.
        batch_id: Batch number written in every row's ``Batch`` cell.
        wells: Wells of the batch in sheet order, each with its role and recipe (keys are input
            names; missing inputs leave the cell empty).

    Returns:
        ``len(wells) x (3 + f + r + m + 5)`` frame: :data:`META_COLUMNS`, ``f = 1`` column
        :data:`FURNACE_RUN_COLUMN` (:func:`furnace_runs`; integers, empty for controls) when the
        campaign has ``plate.furnace_runs`` (else ``f = 0``), ``r`` recipe columns,
        ``m`` empty result columns (one per ``spec.output_columns()``, descriptors then
        targets), :data:`TRAILING_COLUMNS`. Headers are registry labels with units. ``attrs``
        records which headers are recipe and result columns, for :func:`write_template`.

    Raises:
        CampaignError: A well is off the plate or repeated, a role is unknown, or a recipe key is
            not an input of the campaign.
    """
    recipe = recipe_columns(spec)
    _check_wells(spec, wells, {name for name, _ in recipe})
    n = len(wells)
    data: dict[str, object] = {
        "Batch": np.full(n, int(batch_id), dtype="int64"),
        "Well": pd.Series([normalize_well(w.well) for w in wells], dtype="str"),
        "Role": pd.Series([w.role for w in wells], dtype="str"),
    }
    if spec.plate.furnace_runs is not None:
        data[FURNACE_RUN_COLUMN] = pd.Series(furnace_runs(spec, wells), dtype="Int64")
    for name, col in recipe:
        values = [w.recipe.get(name) for w in wells]
        if col.kind == "category" or any(isinstance(v, str) for v in values):
            text = [None if v is None else str(v) for v in values]
            data[col.label] = pd.Series(text, dtype="str")
        else:
            numbers = [math.nan if v is None else v for v in values]
            data[col.label] = pd.Series(numbers, dtype="float64")
    outputs = spec.output_columns()
    for col in outputs:
        data[col.label] = np.full(n, np.nan)
    for name in TRAILING_COLUMNS:
        data[name] = pd.Series([None] * n, dtype="object")
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    frame.attrs["sheet_columns"] = {
        "recipe": [_describe(col) for _, col in recipe],
        "output": [_describe(col) for col in outputs],
    }
    return frame


def _describe(col: Column) -> dict[str, object]:
    def rng(bounds: tuple[float, float]) -> str:
        lo, hi = bounds
        if math.isinf(lo) and math.isinf(hi):
            return ""
        if math.isinf(hi):
            return f"≥ {lo:g}"
        if math.isinf(lo):
            return f"≤ {hi:g}"
        return f"{lo:g} – {hi:g}"

    return {"header": col.label, "unit": col.unit, "typical": rng(col.typical),
            "possible": rng(col.possible), "description": col.description}


_INSTRUCTION_COLUMNS = ["Column", "Unit", "What to enter", "Typical range", "Allowed range"]
_NUMBERS_HELP = (
    "Numbers use a decimal point (a decimal comma is accepted in ';'-separated files). Values "
    "outside the typical range are accepted with a warning; outside the allowed range the file "
    "is rejected. Leave a cell empty if it was not measured; never write NaN or 0 for 'missing'."
)


def _instructions(frame: pd.DataFrame) -> pd.DataFrame:
    kinds = frame.attrs.get("sheet_columns", {})
    described = {d["header"]: ("recipe", d) for d in kinds.get("recipe", [])}
    described |= {d["header"]: ("result", d) for d in kinds.get("output", [])}
    rows: list[list[object]] = []
    for header in frame.columns:
        kind, d = described.get(header, ("", {}))
        if header in _META_HELP:
            what = _META_HELP[header]
        elif kind == "recipe":
            what = "Recipe, for reference. Do not edit: the stored recipe counts."
        elif kind == "result":
            what = f"Enter the measured value in {d['unit']} (number only). Empty = not measured."
        else:
            what = "Extra column."
        if d.get("description"):
            what += f" {d['description']}"
        rows.append([header, d.get("unit", ""), what, d.get("typical", ""), d.get("possible", "")])
    rows.append(["", "", "", "", ""])
    rows += [[f"Status = {code}", "", meaning, "", ""] for code, meaning in STATUS_CODES.items()]
    rows.append(["Numbers", "", _NUMBERS_HELP, "", ""])
    return pd.DataFrame(rows, columns=_INSTRUCTION_COLUMNS)


def write_template(frame: pd.DataFrame, path: Path) -> None:
    """Write a plate sheet built by :func:`template_frame` to ``path``.

    ``.csv`` is written as UTF-8 with commas. ``.xlsx`` gets the sheet "Plate" (bold, frozen
    header row; Batch/Well/Role frozen too) and a sheet "Instructions" listing every column with
    its unit, typical and allowed range, and the status codes. Both are safe to open in Excel
    (:mod:`campaigns.exports`): a text cell that would start a formula gets a leading ``'``.

    Args:
        frame: The sheet, usually from :func:`template_frame`.
        path: Target file; its suffix picks the format.

    Raises:
        CampaignError: The suffix is neither ``.csv`` nor ``.xlsx``, or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise CampaignError(
            f"cannot write a plate sheet as {suffix or 'a file without suffix'!r} ({path.name}).",
            hint=f"Name the file {path.stem}.xlsx (Excel, with instructions) or {path.stem}.csv.",
        )
    if suffix == ".csv":
        # A byte-order mark makes Excel read "°C" and "m²/g" correctly; ingest accepts both.
        write_frame(frame, path, fmt="csv", encoding="utf-8-sig")
        return
    try:
        _write_xlsx(frame, path)
    except OSError as exc:
        raise CampaignError(
            f"cannot write the plate sheet to {path}: {exc.strerror or exc}.",
            hint="Check that the folder exists and the file is not open in Excel.",
        ) from None


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    bold = Font(bold=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        plate = write_sheet(writer, frame, sheet_name="Plate")
        notes = write_sheet(writer, _instructions(frame), sheet_name="Instructions")
        for sheet in (plate, notes):
            for cell in sheet[1]:
                cell.font = bold
        plate.freeze_panes = "D2"
        notes.freeze_panes = "A2"
        for cell in plate[1]:
            width = max(10, len(str(cell.value)) + 2)
            plate.column_dimensions[cell.column_letter].width = min(width, 40)
        for letter, width in zip("ABCDE", (32, 10, 90, 16, 16), strict=True):
            notes.column_dimensions[letter].width = width
        for row in notes.iter_rows(min_row=2, min_col=3, max_col=3):
            row[0].alignment = Alignment(wrap_text=True, vertical="top")
