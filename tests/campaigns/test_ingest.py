"""Reading filled plate sheets: round trips, file formats, and every check of parse_plate."""

from __future__ import annotations

import codecs
import hashlib
import io
import math
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.errors import IngestError, Problem
from campaigns.ingest import (
    MeasurementRecord,
    ParsedPlate,
    normalize_status,
    parse_number,
    parse_plate,
)
from campaigns.plate import layout
from campaigns.readers import read_table
from campaigns.sheet import SheetWell, template_frame, write_template
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template

# --- helpers ---------------------------------------------------------------------------------


def _spec(template: str) -> CampaignSpec:
    return load_template(template)


def _expected_wells(spec: CampaignSpec) -> dict[str, str]:
    return {s.well: s.role for s in layout(spec.plate)}


def _filled(spec: CampaignSpec, batch_id: int = 4) -> pd.DataFrame:
    """A template with results in most wells, a few failures, metadata and empty wells."""
    controls = {c.well: c.recipe for c in spec.plate.controls}
    wells = [SheetWell(s.well, s.role, dict(controls.get(s.well, {}))) for s in layout(spec.plate)]
    frame = template_frame(spec, batch_id=batch_id, wells=wells)
    outputs = spec.output_columns()
    for i in range(len(frame) - 3):  # the last three wells stay empty (partial upload)
        for j, col in enumerate(outputs):
            if (i + j) % 5 == 4:  # some cells not measured
                continue
            lo, hi = col.typical
            step = ((7 * i + 3 * j) % 11) / 11
            frame.loc[i, col.label] = round(lo + (hi - lo) * (0.1 + 0.8 * step), 3)
    frame.loc[1, "Status"] = "outlier"
    frame.loc[2, [c.label for c in outputs]] = np.nan
    frame.loc[2, "Status"] = "failed_synthesis"
    frame.loc[3, [c.label for c in outputs]] = np.nan
    frame.loc[3, "Status"] = "shorted"
    frame.loc[0, ["Operator", "Instrument", "Measured at", "Notes"]] = [
        "mk", "Neware ch 3", "2025-03-14 15:30", "reference"
    ]
    frame.loc[4, "Measured at"] = "2025-03-15"
    return frame


def _expected_records(spec: CampaignSpec, frame: pd.DataFrame) -> list[MeasurementRecord]:
    """What parse_plate must return for a filled template, computed from the frame itself."""
    out: list[MeasurementRecord] = []
    spellings = {"shorted": "failed_cell"}
    for i, row in frame.iterrows():
        status = row["Status"] if isinstance(row["Status"], str) else "ok"
        status = spellings.get(status, status)
        when = row["Measured at"]
        common = {
            "well": row["Well"], "status": status,
            "operator": row["Operator"] if isinstance(row["Operator"], str) else None,
            "instrument": row["Instrument"] if isinstance(row["Instrument"], str) else None,
            "measured_at": datetime.fromisoformat(when) if isinstance(when, str) else None,
            "source_row": int(i) + 2,
            "note": row["Notes"] if isinstance(row["Notes"], str) else None,
        }
        found = False
        for col in spec.output_columns():
            if not pd.isna(row[col.label]):
                found = True
                value = float(row[col.label])
                out.append(
                    MeasurementRecord(quantity=col.name, value=value, unit=col.unit, **common)
                )
        if not found and status != "ok":
            out.append(MeasurementRecord(quantity="status", value=None, unit="", **common))
    return out


def _csv(frame: pd.DataFrame, **kwargs) -> bytes:
    encoding = kwargs.pop("encoding", "utf-8")
    return frame.to_csv(index=False, **kwargs).encode(encoding)


def _xlsx(frame: pd.DataFrame, tmp_path: Path) -> bytes:
    path = tmp_path / "plate.xlsx"
    write_template(frame, path)
    return path.read_bytes()


def _rows(text: str, header: str = "Well,ICE [%],Status") -> bytes:
    return (header + "\n" + text).encode()


HC = _spec("hard-carbon")
HC_WELLS = _expected_wells(HC)


def _parse(data: bytes, *, spec: CampaignSpec = HC, wells: dict[str, str] | None = None,
           filename: str = "plate.csv") -> ParsedPlate:
    wells = HC_WELLS if wells is None else wells
    return parse_plate(data, filename=filename, spec=spec, expected_wells=wells)


def _errors(data: bytes, **kwargs) -> list[Problem]:
    with pytest.raises(IngestError) as info:
        _parse(data, **kwargs)
    errors = [p for p in info.value.problems if p.severity == "error"]
    assert errors, "an IngestError must carry at least one error"
    return errors


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("template", ["hard-carbon", "electrolyte"])
def test_round_trip_returns_exactly_the_filled_records(template, fmt, tmp_path):
    spec = _spec(template)
    frame = _filled(spec)
    path = tmp_path / f"plate.{fmt}"
    write_template(frame, path)
    data = path.read_bytes()
    parsed = parse_plate(data, filename=path.name, spec=spec, expected_wells=_expected_wells(spec))
    expected = _expected_records(spec, frame)
    assert list(parsed.records) == expected
    statuses = {r.status for r in parsed.records}
    assert statuses == {"ok", "outlier", "failed_synthesis", "failed_cell"}
    assert parsed.batch_id == 4
    assert parsed.n_rows == len(frame)
    assert parsed.filename == path.name
    assert parsed.sha256 == hashlib.sha256(data).hexdigest()
    empty_wells = [p for p in parsed.warnings if "no result or status" in p.message]
    assert len(empty_wells) == 1
    assert all(w in empty_wells[0].message for w in frame["Well"].iloc[-3:])


# --- encodings and formats -------------------------------------------------------------------

FRAME = _filled(HC)
RECORDS = _expected_records(HC, FRAME)


@pytest.mark.parametrize(
    "encode",
    [
        lambda f, tmp: codecs.BOM_UTF8 + _csv(f),
        lambda f, tmp: _csv(f, encoding="latin-1"),
        lambda f, tmp: _csv(f, encoding="cp1252", lineterminator="\r\n"),
        lambda f, tmp: _csv(f, sep=";", decimal=","),
        lambda f, tmp: b"sep=;\n" + _csv(f, sep=";", decimal=","),
        lambda f, tmp: _csv(f, sep="\t"),
        lambda f, tmp: _csv(f, sep="\t", encoding="utf-16"),
        lambda f, tmp: _xlsx(f, tmp),
    ],
    ids=["utf8-bom", "latin1", "cp1252-crlf", "semicolon-decimal-comma", "excel-sep-line", "tab",
         "utf16-tab", "xlsx"],
)
def test_every_encoding_and_format_gives_the_same_records(encode, tmp_path):
    data = encode(FRAME, tmp_path)
    assert list(_parse(data).records) == RECORDS


def test_utf8_headers_garbled_by_excel_still_match():
    # Excel on Windows reads a BOM-less UTF-8 CSV as cp1252 and saves it back that way.
    text = FRAME.to_csv(index=False)
    garbled = text.encode("utf-8").decode("cp1252").encode("cp1252")
    assert "[mÂ²/g]".encode("cp1252") in garbled
    assert list(_parse(garbled).records) == RECORDS


def test_latin1_file_really_holds_latin1_degree_signs():
    data = _csv(FRAME, encoding="latin-1")
    assert b"[\xb0C]" in data
    table = read_table(data, filename="x.csv")
    assert "Carbonization temperature [°C]" in table.columns
    assert table.attrs["encoding"] == "cp1252"


def test_semicolon_file_really_uses_decimal_commas():
    data = _csv(FRAME, sep=";", decimal=",")
    assert b";0,3" in data  # d002 values like 0,372
    assert read_table(data, filename="x.csv").attrs["separator"] == ";"


# --- one report for many mistakes ------------------------------------------------------------

MISTAKES_CSV = """Batch,Well,Role,Reversable capacity [mAh/g],ICE [%],d002 [nm],Status
4,A1,control,300,0.85,3.71,
4,A2,sample,310,0.81,3.62,faild
4,A3,sample,305,inf,3.65,
4,a02,sample,290,0.79,3.70,
4,J13,sample,280,0.83,3.64,
"""


@pytest.fixture(scope="module")
def mistakes() -> IngestError:
    with pytest.raises(IngestError) as info:
        _parse(MISTAKES_CSV.encode())
    return info.value


@pytest.mark.parametrize(
    ("row", "column", "value", "fragment"),
    [
        (None, "Reversable capacity [mAh/g]", None, "Did you mean 'Reversible capacity [mAh/g]'?"),
        (None, "ICE [%]", "0.79 … 0.85", "multiply by 100"),
        (None, "d002 [nm]", "3.62 … 3.71", "in Å"),
        (3, "Status", "faild", "Did you mean"),
        (4, "ICE [%]", "inf", "Leave the cell empty"),
        (5, "Well", "a02", "rows 3 and 5"),
        (6, "Well", "J13", "not on this batch's plate"),
    ],
    ids=["misspelled-header", "ice-as-fraction", "d002-in-angstrom", "bad-status", "inf",
         "duplicate-well", "well-off-plate"],
)
def test_one_error_lists_every_mistake(mistakes, row, column, value, fragment):
    matching = [p for p in mistakes.problems
                if (p.row, p.column, p.value) == (row, column, value) and p.severity == "error"]
    assert len(matching) == 1, [str(p) for p in mistakes.problems]
    assert fragment in str(matching[0])
    assert matching[0].hint


def test_the_mistakes_report_has_nothing_else(mistakes):
    assert len([p for p in mistakes.problems if p.severity == "error"]) == 7
    assert "nothing was stored" in str(mistakes)
    assert "J13" in str(mistakes) and "faild" in str(mistakes)


# --- single checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal_comma", "value"),
    [("0.372", False, 0.372), (" 87 ", False, 87.0), ("-1.5e-3", False, -0.0015),
     ("\u22122", False, -2.0), ("0,372", False, 0.372), ("12,5", False, 12.5),
     ("1,300", True, 1.3), ("+.5", False, 0.5), ("1,5E-3", True, 0.0015)],
    ids=["point", "spaces", "exponent", "unicode-minus", "comma-leading-zero", "comma-two-digits",
         "comma-semicolon-file", "plus-dot", "comma-exponent"],
)
def test_parse_number_accepts(text, decimal_comma, value):
    assert parse_number(text, decimal_comma=decimal_comma) == value


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("nan", "finite"), ("NaN", "finite"), ("-inf", "finite"), ("#DIV/0!", "finite"),
     ("n/a", "missing value"), ("1e999", "finite"), ("1,300", "ambiguous"),
     ("1.300,5", "thousands"), ("1 300", "thousands"),
     ("87 %", "expected a number"), ("abc", "expected a number"), ("1_000", "expected a number")],
    ids=["nan", "NaN", "-inf", "div0", "n/a", "overflow", "ambiguous-comma", "thousands-both",
         "thousands-space", "unit-in-cell", "text", "underscore"],
)
def test_parse_number_rejects(text, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_number(text)
    assert info.value.hint


@pytest.mark.parametrize(
    ("text", "status"),
    [(None, "ok"), ("", "ok"), ("OK", "ok"), ("failed synthesis", "failed_synthesis"),
     ("FAILED_SYNTHESIS", "failed_synthesis"), ("Failed-Cell", "failed_cell"),
     ("short", "failed_cell"), ("Shorted", "failed_cell"), ("outlier", "outlier")],
    ids=["none", "empty", "upper-ok", "spaces", "upper", "dash", "short", "shorted", "outlier"],
)
def test_normalize_status_accepts_common_spellings(text, status):
    assert normalize_status(text) == status


def test_normalize_status_unknown_lists_allowed_and_closest():
    with pytest.raises(ValueError) as info:
        normalize_status("failed_synthsis")
    assert "ok, failed_synthesis, failed_cell, outlier" in str(info.value)
    assert "Did you mean 'failed_synthesis'" in info.value.hint


@pytest.mark.parametrize(
    "header", ["ICE [%]", "ICE (%)", "ice_pct", "Initial Coulombic Efficiency", "ice"],
    ids=["label", "parentheses", "name", "alias", "lower"],
)
def test_headers_match_labels_names_and_aliases(header):
    parsed = _parse(_rows("A2,85.5,\n", header=f"Well,{header},Status"))
    got = [(r.well, r.quantity, r.value, r.unit) for r in parsed.records]
    assert got == [("A2", "ice_pct", 85.5, "%")]


def test_header_unit_that_disagrees_with_the_registry_is_an_error():
    errors = _errors(_rows("A2,300\n", header="Well,Reversible capacity [Ah/g]"))
    assert [(e.row, e.column) for e in errors] == [(None, "Reversible capacity [Ah/g]")]
    assert "'Reversible capacity [mAh/g]'" in errors[0].hint


def test_equivalent_unit_spellings_in_headers_are_accepted():
    header = "Well,Reversible capacity (mAh g-1),BET SSA [m2 g-1]"
    parsed = _parse(_rows("A2,300,12\n", header=header))
    got = [r.quantity for r in parsed.records]
    assert got == ["reversible_capacity_mah_per_g", "bet_ssa_m2_per_g"]


def test_unrelated_extra_column_is_a_warning_and_ignored():
    parsed = _parse(_rows("A2,85,,looks fine\n", header="Well,ICE [%],Status,Comment"))
    assert [r.value for r in parsed.records] == [85.0]
    assert any(p.column == "Comment" and p.severity == "warning" for p in parsed.warnings)


def test_misspelled_recipe_header_is_only_a_warning():
    parsed = _parse(_rows("A2,85,lignn\n", header="Well,ICE [%],Precursr"))
    warning = next(p for p in parsed.warnings if p.column == "Precursr")
    assert "Did you mean 'Precursor'?" in warning.hint


def test_recipe_columns_are_ignored_without_expected_recipes():
    frame = FRAME.copy()
    frame["Carbonization temperature [°C]"] = 99999.0  # nonsense, but informational only
    frame["Precursor"] = "unobtainium"
    assert list(_parse(_csv(frame)).records) == RECORDS


def test_recipe_columns_are_checked_against_expected_recipes():
    recipes = {s.well: {} for s in layout(HC.plate)}
    recipes.update({c.well: c.recipe for c in HC.plate.controls})
    data = _csv(FRAME)
    parsed = parse_plate(data, filename="p.csv", spec=HC, expected_wells=HC_WELLS,
                         expected_recipes=recipes)
    assert list(parsed.records) == RECORDS
    frame = FRAME.copy()
    frame.loc[0, "Precursor"] = "unobtainium"  # A1 is a cellulose control
    with pytest.raises(IngestError) as info:
        parse_plate(_csv(frame), filename="p.csv", spec=HC, expected_wells=HC_WELLS,
                    expected_recipes=recipes)
    (error,) = [p for p in info.value.problems if p.severity == "error"]
    assert (error.row, error.column, error.value) == (2, "Precursor", "unobtainium")
    assert "'cellulose'" in error.message and "another plate" in error.hint


@pytest.mark.parametrize(
    ("header", "fragment"),
    [("Batch,ICE [%]", "required column is missing"), ("Well,Status,Notes", "no result column")],
    ids=["no-well", "no-results"],
)
def test_missing_required_columns(header, fragment):
    errors = _errors(_rows("A2,85\n" if "ICE" in header else "A2,ok,x\n", header=header))
    assert any(fragment in e.message and e.row is None for e in errors)


def test_misspelled_well_header_gets_did_you_mean_once():
    errors = _errors(_rows("A2,85,\nA3,86,\n", header="Wel,ICE [%],Status"))
    assert [(e.row, e.column) for e in errors] == [(None, "Wel")]
    assert "Did you mean 'Well'?" in errors[0].hint


def test_missing_well_column_is_reported_once_not_per_row():
    errors = _errors(_rows("85,\n86,\n", header="ICE [%],Status"))
    assert [(e.row, e.column, e.message) for e in errors] == [
        (None, "Well", "the required column is missing.")
    ]


def test_two_columns_for_one_quantity_are_an_error():
    errors = _errors(_rows("A2,85,86\n", header="Well,ICE [%],ice"))
    assert [(e.row, e.column) for e in errors] == [(None, "ice")]
    assert "'ICE [%]'" in errors[0].message


def test_role_that_disagrees_with_the_batch_is_a_warning():
    parsed = _parse(_rows("A1,sample,85\n", header="Well,Role,ICE [%]"))
    assert [r.value for r in parsed.records] == [85.0]
    roles = [p for p in parsed.warnings if p.column == "Role"]
    assert [p.row for p in roles] == [2] and "control" in roles[0].message


def test_library_campaign_sheet_round_trips_without_warnings_about_columns(tmp_path):
    spec = CampaignSpec.from_dict({
        "name": "lib",
        "library": {"inputs": ["bet_ssa_m2_per_g", "precursor"], "categorical": ["precursor"]},
        "targets": [{"name": "ice_pct"}, {"name": "reversible_capacity_mah_per_g"}],
        "plate": {"wells": 24},
    })
    wells = [SheetWell("A1", "sample", {"candidate_id": "HC-1", "precursor": "pitch"}),
             SheetWell("A2", "sample", {"candidate_id": "HC-2", "bet_ssa_m2_per_g": 8.0})]
    frame = template_frame(spec, batch_id=1, wells=wells)
    frame.loc[:, "ICE [%]"] = [84.0, 86.5]
    path = tmp_path / "lib.xlsx"
    write_template(frame, path)
    parsed = parse_plate(path.read_bytes(), filename=path.name, spec=spec,
                         expected_wells={"A1": "sample", "A2": "sample"})
    assert [(r.well, r.value) for r in parsed.records] == [("A1", 84.0), ("A2", 86.5)]
    assert parsed.warnings == ()


def test_wells_are_normalized():
    parsed = _parse(_rows(" a02 ,85,\nB03,86,\n"))
    assert [r.well for r in parsed.records] == ["A2", "B3"]


def test_missing_wells_are_a_warning_listing_them():
    wells = {"A1": "control", "A2": "sample", "A3": "sample"}
    parsed = _parse(_rows("A2,85,\n"), wells=wells)
    absent = next(p for p in parsed.warnings if "not in the file" in p.message)
    assert "A1, A3" in absent.message and absent.severity == "warning"


def test_failed_rows_record_their_status():
    parsed = _parse(_rows("A2,,failed synthesis\nA3,,short\nA4,,\nA5,,ok\nA6,,outlier\n"))
    assert [(r.well, r.quantity, r.value, r.status, r.source_row) for r in parsed.records] == [
        ("A2", "status", None, "failed_synthesis", 2),
        ("A3", "status", None, "failed_cell", 3),
        ("A6", "status", None, "outlier", 6),
    ]


def test_failed_row_with_results_keeps_them_and_warns():
    parsed = _parse(_rows("A2,55,failed_cell\n"))
    got = [(r.quantity, r.value, r.status) for r in parsed.records]
    assert got == [("ice_pct", 55.0, "failed_cell")]
    assert any(p.row == 2 and p.column == "Status" and "kept" in p.message for p in parsed.warnings)


def test_blank_rows_keep_spreadsheet_numbering():
    parsed = _parse(_rows("\n\nA2,85,\n\nA3,86,\n"))
    assert [r.source_row for r in parsed.records] == [4, 6]
    errors = _errors(_rows("\n\nA2,abc,\n"))
    assert [(e.row, e.column, e.value) for e in errors] == [(4, "ICE [%]", "abc")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [("4,A2,85\n5,A3,86\n4,A4,87\n", [(3, "5")]), ("4,A2,85\nfour,A3,86\n", [(3, "four")]),
     ("4.5,A2,85\n", [(2, "4.5")])],
    ids=["inconsistent", "text", "fraction"],
)
def test_batch_column_must_be_one_whole_number(rows, expected):
    errors = _errors(_rows(rows, header="Batch,Well,ICE [%]"))
    assert [(e.row, e.value) for e in errors] == expected
    assert all(e.column == "Batch" for e in errors)


def test_batch_id_is_none_without_batch_column():
    assert _parse(_rows("A2,85,\n")).batch_id is None
    assert _parse(_rows("4,A2,85\n,A3,86\n", header="Batch,Well,ICE [%]")).batch_id == 4


@pytest.mark.parametrize("when", ["2025-03-14", "2025-03-14 15:30", "2025-03-14T15:30:00Z"],
                         ids=["date", "datetime", "iso-utc"])
def test_measured_at_accepts_iso(when):
    record = _parse(_rows(f"A2,85,{when}\n", header="Well,ICE [%],Measured at")).records[0]
    assert record.measured_at == datetime.fromisoformat(when)


@pytest.mark.parametrize(
    "when", ["14/03/2025", "yesterday", "2025-13-01"], ids=["dmy", "word", "month-13"]
)
def test_measured_at_rejects_non_iso(when):
    errors = _errors(_rows(f"A2,85,{when}\n", header="Well,ICE [%],Measured at"))
    assert [(e.row, e.column, e.value) for e in errors] == [(2, "Measured at", when)]


def test_impossible_value_is_an_error_and_atypical_a_warning():
    errors = _errors(_rows("A2,120,\nA3,50,\n"))
    assert [(e.row, e.value) for e in errors] == [(2, "120")]
    parsed = _parse(_rows("A3,50,\nA4,85,\n"))
    got = [(p.row, p.value, p.severity) for p in parsed.warnings if p.column == "ICE [%]"]
    assert got == [(2, "50", "warning")]


def test_single_value_in_angstrom_among_nm_gets_the_unit_hint():
    errors = _errors(_rows("A2,0.37\nA3,3.7\n", header="Well,d002 [nm]"))
    assert [(e.row, e.value) for e in errors] == [(3, "3.7")]
    assert "Å" in errors[0].hint


def test_all_zero_column_is_not_a_unit_problem():
    parsed = _parse(_rows("A2,0\nA3,0\n", header="Well,Plateau capacity [mAh/g]"))
    assert [r.value for r in parsed.records] == [0.0, 0.0]


def test_unquoted_decimal_commas_in_a_comma_file_are_caught():
    errors = _errors(b"Well,ICE [%],Status\nA2,85,5,ok\nA3,86,\n")
    shifted = [e for e in errors if "more cells than the header" in e.message]
    assert [(e.row, e.value) for e in shifted] == [(2, "ok")]
    assert "decimal comma" in shifted[0].hint


def test_nan_strings_are_errors_in_semicolon_files_too():
    errors = _errors(b"Well;ICE [%]\nA2;NaN\nA3;87,5\n")
    assert [(e.row, e.value) for e in errors] == [(2, "NaN")]


def test_headerless_xlsx_column_is_a_warning(tmp_path):
    frame = pd.DataFrame({"Well": ["A2"], "ICE [%]": [85.0], "": ["stray"]})
    path = tmp_path / "p.xlsx"
    frame.to_excel(path, index=False)
    parsed = _parse(path.read_bytes(), filename="p.xlsx")
    assert [r.value for r in parsed.records] == [85.0]
    assert any("without a header" in p.message for p in parsed.warnings)


def test_xlsx_typed_cells_dates_and_numbers(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Batch", "Well", "ICE [%]", "Measured at"])
    sheet.append([4.0, "A2", 85, datetime(2025, 3, 14, 15, 30)])
    path = tmp_path / "typed.xlsx"
    book.save(path)
    parsed = _parse(path.read_bytes(), filename="typed.xlsx")
    assert parsed.batch_id == 4
    (record,) = parsed.records
    assert (record.value, record.measured_at) == (85.0, datetime(2025, 3, 14, 15, 30))


@pytest.mark.parametrize("text", ["n/a", "NA", "None"])
def test_xlsx_text_that_pandas_reads_as_missing_is_refused_like_in_a_csv(tmp_path, text):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Well", "ICE [%]"])
    sheet.append(["A2", text])
    path = tmp_path / "na.xlsx"
    book.save(path)
    csv_error, xlsx_error = (
        _errors(data, filename=name)[0]
        for data, name in ((_rows(f"A2,{text}", "Well,ICE [%]"), "na.csv"),
                           (path.read_bytes(), "na.xlsx"))
    )
    assert (xlsx_error.row, xlsx_error.column, xlsx_error.value) == (2, "ICE [%]", text)
    assert xlsx_error.message == csv_error.message


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(b"", "empty"), (b" \n\r\n ", "empty"), (bytes(range(256)) * 4, "neither a text table"),
     (bytes(range(1, 32)) * 40, "neither a text table"),  # control bytes, no NUL
     (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "legacy .xls"),
     (_zip_bytes(), "cannot be opened"),
     (b'Well,"ICE\nA2,85\n', "cannot be read")],
    ids=["empty", "blank", "binary", "controls", "xls", "zip-not-xlsx", "open-quote"],
)
def test_unreadable_files_are_one_file_level_problem(data, fragment):
    with pytest.raises(IngestError) as info:
        read_table(data, filename="upload.csv")
    (problem,) = info.value.problems
    assert problem.row is None and fragment in problem.message and problem.hint
    with pytest.raises(IngestError):
        _parse(data)


def test_read_table_keeps_text_and_row_numbers():
    table = read_table(b"\n Well , ICE [%]\nA1,0.870\n\nA2,\n", filename="x.csv")
    assert list(table.columns) == ["Well", "ICE [%]"]
    assert list(table.index) == [3, 5]
    assert table.loc[3, "ICE [%]"] == "0.870"
    assert math.isnan(table.loc[5, "ICE [%]"])
    assert table.attrs["header_row"] == 2


def test_parse_plate_is_pure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _parse(_csv(FRAME))
    assert list(tmp_path.iterdir()) == []
