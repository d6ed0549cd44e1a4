"""Plate sheets: columns, values, and the CSV/XLSX files a lab fills in."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from campaigns.errors import CampaignError, IngestError
from campaigns.ingest import parse_plate
from campaigns.plate import layout
from campaigns.sheet import (
    META_COLUMNS,
    STATUS_CODES,
    TRAILING_COLUMNS,
    SheetWell,
    furnace_runs,
    template_frame,
    write_template,
)
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template

HARD_CARBON_HEADERS = [
    "Batch", "Well", "Role", "Furnace run",
    "Precursor", "Carbonization temperature [°C]", "Heating rate [°C/min]", "Dwell time [h]",
    "N doping [at%]", "S doping [at%]",
    "d002 [nm]", "La [nm]", "Lc [nm]", "BET SSA [m²/g]", "Raman ID/IG [-]",
    "ICE [%]", "Reversible capacity [mAh/g]", "Plateau capacity [mAh/g]",
    "Status", "Operator", "Instrument", "Measured at", "Notes",
]
ELECTROLYTE_HEADERS = [
    "Batch", "Well", "Role",
    "Salt", "Salt molality [mol/kg]", "FEC [wt%]", "VC [wt%]", "Temperature [°C]",
    "EC fraction [-]", "PC fraction [-]", "DMC fraction [-]", "EMC fraction [-]",
    "DEC fraction [-]", "DME fraction [-]", "Diglyme fraction [-]",
    "Ionic conductivity [mS/cm]", "Coulombic efficiency [%]",
    "Status", "Operator", "Instrument", "Measured at", "Notes",
]


def _wells(spec: CampaignSpec) -> list[SheetWell]:
    controls = {c.well: c.recipe for c in spec.plate.controls}
    return [SheetWell(s.well, s.role, dict(controls.get(s.well, {}))) for s in layout(spec.plate)]


@pytest.mark.parametrize(
    ("template", "headers"),
    [("hard-carbon", HARD_CARBON_HEADERS), ("electrolyte", ELECTROLYTE_HEADERS)],
    ids=["hard-carbon", "electrolyte"],
)
def test_template_frame_headers_are_registry_labels_in_sheet_order(template, headers):
    spec = load_template(template)
    frame = template_frame(spec, batch_id=7, wells=_wells(spec))
    assert list(frame.columns) == headers
    assert tuple(frame.columns[:3]) == META_COLUMNS
    assert ("Furnace run" in headers) == (spec.plate.furnace_runs is not None)
    assert tuple(frame.columns[-5:]) == TRAILING_COLUMNS
    assert len(frame) == spec.plate.wells
    assert (frame["Batch"] == 7).all()


def test_template_frame_places_recipes_and_leaves_results_empty():
    spec = load_template("hard-carbon")
    wells = [
        SheetWell("A1", "control", {"precursor": "cellulose", "carbonization_temperature_c": 1300}),
        SheetWell("b02", "sample", {"precursor": "pitch", "dwell_h": 2.5}),
        SheetWell("H12", "replicate", {}),
    ]
    frame = template_frame(spec, batch_id=3, wells=wells)
    assert list(frame["Well"]) == ["A1", "B2", "H12"]
    assert list(frame["Role"]) == ["control", "sample", "replicate"]
    assert frame.loc[0, "Carbonization temperature [°C]"] == 1300
    assert frame.loc[1, "Precursor"] == "pitch"
    assert frame.loc[1, "Dwell time [h]"] == 2.5
    assert pd.isna(frame.loc[2, "Precursor"])
    results = [c.label for c in spec.output_columns()]
    assert frame[results].isna().all().all()
    assert frame[list(TRAILING_COLUMNS)].isna().all().all()


def test_template_frame_library_mode_shows_candidate_id_and_inputs():
    spec = CampaignSpec.from_dict({
        "name": "lib",
        "library": {"inputs": ["d002_nm", "bet_ssa_m2_per_g", "precursor"],
                    "categorical": ["precursor"]},
        "descriptors": [{"name": "d002_nm"}],
        "targets": [{"name": "ice_pct"}],
        "plate": {"wells": 24},
    })
    recipe = {"candidate_id": "HC-17", "bet_ssa_m2_per_g": 12.0, "precursor": "pitch"}
    wells = [SheetWell("A1", "sample", recipe)]
    frame = template_frame(spec, batch_id=1, wells=wells)
    # d002 is both a library input and a measured descriptor: one column, to be filled.
    assert list(frame.columns) == [
        "Batch", "Well", "Role", "candidate_id", "BET SSA [m²/g]", "Precursor",
        "d002 [nm]", "ICE [%]", *TRAILING_COLUMNS,
    ]
    assert frame.loc[0, "candidate_id"] == "HC-17"
    assert pd.isna(frame.loc[0, "d002 [nm]"])


@pytest.mark.parametrize(
    ("wells", "fragment"),
    [
        ([SheetWell("J13", "sample", {})], "not on a 96-well plate"),
        ([SheetWell("A1", "sample", {}), SheetWell("a01", "sample", {})], "appears twice"),
        ([SheetWell("A1", "blank", {})], "role 'blank'"),
        ([SheetWell("A1", "sample", {"dwell_hours": 2})], "did you mean 'dwell_h'"),
    ],
    ids=["off-plate", "duplicate", "bad-role", "unknown-input"],
)
def test_template_frame_rejects_bad_wells(wells, fragment):
    spec = load_template("hard-carbon")
    with pytest.raises(CampaignError) as info:
        template_frame(spec, batch_id=1, wells=wells)
    assert fragment in str(info.value)
    assert info.value.hint


def test_write_template_csv_is_utf8_with_bom_and_comma_and_reads_back(tmp_path: Path):
    spec = load_template("hard-carbon")
    frame = template_frame(spec, batch_id=2, wells=_wells(spec))
    path = tmp_path / "plate.csv"
    write_template(frame, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows "°C" correctly
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(HARD_CARBON_HEADERS)
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert list(back.columns) == HARD_CARBON_HEADERS
    assert list(back["Well"]) == list(frame["Well"])
    assert back.loc[0, "Carbonization temperature [°C]"] == 1300


def test_write_template_xlsx_has_bold_frozen_header_and_instructions(tmp_path: Path):
    spec = load_template("hard-carbon")
    frame = template_frame(spec, batch_id=2, wells=_wells(spec))
    path = tmp_path / "plate.xlsx"
    write_template(frame, path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Plate", "Instructions"]
    plate = book["Plate"]
    assert [c.value for c in plate[1]] == HARD_CARBON_HEADERS
    assert all(c.font.bold for c in plate[1])
    assert plate.freeze_panes == "D2"
    assert plate["B2"].value == "A1"
    notes = pd.read_excel(path, sheet_name="Instructions", dtype=str).fillna("")
    by_column = notes.set_index("Column")
    assert by_column.loc["ICE [%]", "Unit"] == "%"
    assert by_column.loc["ICE [%]", "Typical range"] == "60 – 92"
    assert by_column.loc["ICE [%]", "Allowed range"] == "0 – 100"
    assert "Do not edit" in by_column.loc["Precursor", "What to enter"]
    for code in STATUS_CODES:
        assert f"Status = {code}" in by_column.index
    assert "failed_synthesis" in by_column.loc["Status", "What to enter"]


def test_write_template_xlsx_reads_back_with_pandas(tmp_path: Path):
    spec = load_template("electrolyte")
    frame = template_frame(spec, batch_id=5, wells=_wells(spec))
    path = tmp_path / "plate.xlsx"
    write_template(frame, path)
    back = pd.read_excel(io.BytesIO(path.read_bytes()), sheet_name=0)
    assert list(back.columns) == ELECTROLYTE_HEADERS
    assert back.loc[0, "Salt"] == "LiPF6"


@pytest.mark.parametrize(
    "name", ["plate.ods", "plate.txt", "plate"], ids=["ods", "txt", "no-suffix"]
)
def test_write_template_refuses_other_formats(tmp_path: Path, name):
    spec = load_template("hard-carbon")
    frame = template_frame(spec, batch_id=1, wells=_wells(spec)[:2])
    with pytest.raises(CampaignError) as info:
        write_template(frame, tmp_path / name)
    assert ".xlsx" in info.value.hint and ".csv" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_write_template_unwritable_path_is_a_campaign_error(tmp_path: Path):
    spec = load_template("hard-carbon")
    frame = template_frame(spec, batch_id=1, wells=_wells(spec)[:2])
    with pytest.raises(CampaignError) as info:
        write_template(frame, tmp_path / "missing-folder" / "plate.csv")
    assert "folder exists" in info.value.hint


# --- furnace runs -------------------------------------------------------------------------------
PROGRAM = {"carbonization_temperature_c": 1300.0, "heating_rate_c_per_min": 5.0, "dwell_h": 2.0}


def _furnace_plate() -> list[SheetWell]:
    """A control, then samples in two programs (the hotter one first) and a replicate."""
    hot = {**PROGRAM, "carbonization_temperature_c": 1600.0}
    return [
        SheetWell("A1", "control", {"precursor": "cellulose", **PROGRAM}),
        SheetWell("A2", "sample", {"precursor": "pitch", **hot}),
        SheetWell("A3", "sample", {"precursor": "cellulose", **PROGRAM}),
        SheetWell("A4", "sample", {"precursor": "lignin", **hot, "n_doping_at_pct": 2.0}),
        SheetWell("A5", "replicate", {"precursor": "cellulose", **PROGRAM}),
    ]


def test_the_sheet_numbers_each_wells_furnace_run_after_role():
    spec = load_template("hard-carbon")
    assert spec.plate.furnace_runs == 4
    frame = template_frame(spec, batch_id=4, wells=_furnace_plate())
    assert list(frame.columns[:5]) == ["Batch", "Well", "Role", "Furnace run", "Precursor"]
    # runs in order of first appearance; the control (a reference material) is in none, even
    # with the program of run 2; the replicate shares its original's run
    assert frame["Furnace run"].tolist() == [pd.NA, 1, 2, 1, 2]
    assert furnace_runs(spec, _furnace_plate()) == [None, 1, 2, 1, 2]


def test_a_campaign_without_furnace_runs_has_no_furnace_column():
    spec = load_template("hard-carbon")
    data = spec.to_dict()
    data["plate"].update(furnace_runs=None, furnace_parameters=[])
    plain = CampaignSpec.from_dict(data)
    frame = template_frame(plain, batch_id=4, wells=_furnace_plate())
    assert "Furnace run" not in frame.columns
    assert furnace_runs(plain, _furnace_plate()) == [None] * 5


def test_the_furnace_run_column_is_explained_and_written_as_whole_numbers(tmp_path: Path):
    spec = load_template("hard-carbon")
    frame = template_frame(spec, batch_id=4, wells=_furnace_plate())
    write_template(frame, tmp_path / "plate.xlsx")
    write_template(frame, tmp_path / "plate.csv")
    rows = (tmp_path / "plate.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[3] for line in rows] == ["Furnace run", "", "1", "2", "1", "2"]
    notes = pd.read_excel(tmp_path / "plate.xlsx", sheet_name="Instructions", dtype=str)
    what = notes.set_index("Column").loc["Furnace run", "What to enter"]
    assert "share one temperature program" in what and "controls" in what


def _filled(frame: pd.DataFrame, fmt: str, tmp_path: Path) -> tuple[bytes, str]:
    frame = frame.copy()
    frame["ICE [%]"] = [80.0, 81.0, 82.0, 83.0, 84.0]
    path = tmp_path / f"filled.{fmt}"
    write_template(frame, path)
    return path.read_bytes(), path.name


def _expected(wells: list[SheetWell]) -> dict:
    return {"expected_wells": {w.well: w.role for w in wells},
            "expected_recipes": {w.well: w.recipe for w in wells}}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_filled_sheet_with_furnace_runs_reads_back_without_warnings(tmp_path: Path, fmt):
    spec = load_template("hard-carbon")
    wells = _furnace_plate()
    data, name = _filled(template_frame(spec, batch_id=4, wells=wells), fmt, tmp_path)
    parsed = parse_plate(data, filename=name, spec=spec, batch_id=4, **_expected(wells))
    assert parsed.warnings == ()
    assert [(r.well, r.value) for r in parsed.records] == [
        ("A1", 80.0), ("A2", 81.0), ("A3", 82.0), ("A4", 83.0), ("A5", 84.0)]


def test_a_furnace_run_that_differs_from_the_plates_is_refused(tmp_path: Path):
    spec = load_template("hard-carbon")
    wells = _furnace_plate()
    frame = template_frame(spec, batch_id=4, wells=wells)
    frame["Furnace run"] = pd.array([None, 1, 1, 1, 2], dtype="Int64")  # A3 is in run 2
    data, name = _filled(frame, "csv", tmp_path)
    with pytest.raises(IngestError) as info:
        parse_plate(data, filename=name, spec=spec, batch_id=4, **_expected(wells))
    (problem,) = info.value.problems
    assert (problem.row, problem.column, problem.value) == (4, "Furnace run", "1")
    assert "well A3" in problem.message and "run 2" in problem.message
    assert "another plate" in problem.hint
    # a cleared cell is fine, and without the plate's recipes the column is not checked
    frame["Furnace run"] = pd.array([None, 1, None, 1, 2], dtype="Int64")
    data, name = _filled(frame, "csv", tmp_path)
    assert parse_plate(data, filename=name, spec=spec, **_expected(wells)).warnings == ()
    frame["Furnace run"] = pd.array([3, 1, 1, 1, 2], dtype="Int64")
    data, name = _filled(frame, "csv", tmp_path)
    parse_plate(data, filename=name, spec=spec, expected_wells=_expected(wells)["expected_wells"])
    with pytest.raises(IngestError) as info:  # a control is in no run
        parse_plate(data, filename=name, spec=spec, **_expected(wells))
    assert {(p.row, p.value) for p in info.value.problems if p.severity == "error"
            and p.row is not None} == {(2, "3"), (4, "1")}
