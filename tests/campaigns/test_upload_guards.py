"""Uploads that cannot land on the wrong plate, and plate files that never crash the reader.

Each test names a way a real upload went wrong (issue 19): a sheet stored over another plate,
a wrong-unit value stored with only a warning, a file cut off mid-line, ``NA`` text, well names
that crashed the reader, and workbooks that took minutes and gigabytes to open.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from campaigns.errors import IngestError, NotFoundError, Problem
from campaigns.ingest import UnusualValuesError, parse_plate, plate_batch
from campaigns.limits import Limits
from campaigns.plate import fill_layout, layout, normalize_well
from campaigns.readers import read_table
from campaigns.sheet import SheetWell, template_frame, write_template
from campaigns.store import BatchInfo, Store
from campaigns.templates import load_template
from campaigns.uploads import ingest_bytes, preview_upload
from planner.design import space_filling_design

HC = load_template("hard-carbon", name="demo")
WELLS = {s.well: s.role for s in layout(HC.plate)}


# --- helpers -----------------------------------------------------------------------------------


def _store_with_two_plates(url: str) -> tuple[Store, BatchInfo, BatchInfo]:
    store = Store.open(url)
    store.create_campaign(HC)
    plates = []
    for seed, week in ((0, "2026-W48"), (1, "2026-W49")):
        recipes = space_filling_design(HC, HC.sample_well_count, seed=seed)
        plates.append(store.save_batch("demo", iso_week=week, generator="test", seed=seed,
                                       wells=fill_layout(HC.plate, recipes.to_dict("records")),
                                       data_revision=0))
    return store, plates[0], plates[1]


@pytest.fixture
def two_plates(tmp_path: Path):
    store, first, second = _store_with_two_plates(f"sqlite:///{tmp_path / 'guards.db'}")
    yield store, first, second
    store.close()


def _sheet(batch: BatchInfo) -> pd.DataFrame:
    """The batch's plate sheet with an ICE value in every well (what the lab sends back)."""
    wells = [SheetWell(w.well, w.role, dict(w.recipe)) for w in batch.wells]
    frame = template_frame(HC, batch_id=batch.id, wells=wells)
    frame["ICE [%]"] = [70.0 + (i % 20) for i in range(len(frame))]
    return frame


def _bytes(frame: pd.DataFrame, fmt: str, tmp_path: Path) -> bytes:
    path = tmp_path / f"sheet.{fmt}"
    write_template(frame, path)
    return path.read_bytes()


def _rows(body: str, header: str = "Well,ICE [%]") -> bytes:
    return (header + "\n" + body).encode()


def _parse(data: bytes, filename: str = "plate.csv", **kwargs):
    return parse_plate(data, filename=filename, spec=HC, expected_wells=WELLS, **kwargs)


def _errors(exc: IngestError) -> list[Problem]:
    return [p for p in exc.problems if p.severity == "error"]


# --- 1. the file's Batch column decides the plate ----------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_sheet_uploaded_to_another_batch_is_refused_and_nothing_stored(two_plates, fmt,
                                                                         tmp_path):
    store, first, second = two_plates
    data = _bytes(_sheet(second), fmt, tmp_path)
    with pytest.raises(IngestError) as info:
        ingest_bytes(store, "demo", data, filename=f"plate{second.id}.{fmt}", batch_id=first.id)
    (problem,) = info.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "Batch", str(second.id))
    assert f"the file says batch {second.id}" in problem.message
    assert f"batch {first.id}" in problem.message
    assert f"upload it to batch {second.id}" in problem.hint and "Batch column" in problem.hint
    assert store.measurements("demo", include_superseded=True).empty


def test_without_a_chosen_batch_the_files_batch_column_decides(two_plates, tmp_path):
    store, first, second = two_plates
    assert store.batch("demo").id == second.id  # the newest is not the file's plate
    data = _bytes(_sheet(first), "csv", tmp_path)
    assert plate_batch(data, filename="p.csv") == first.id
    outcome = ingest_bytes(store, "demo", data, filename="p.csv")
    assert outcome.result.batch_id == first.id
    stored = store.measurements("demo")
    assert len(stored) == len(first.wells) and set(stored["well"]) == {w.well for w in first.wells}


def test_a_batch_the_campaign_does_not_have_is_named(two_plates, tmp_path):
    store, first, _ = two_plates
    frame = _sheet(first)
    frame["Batch"] = 77
    with pytest.raises(IngestError) as info:
        preview_upload(store, "demo", _bytes(frame, "csv", tmp_path), filename="p.csv")
    (problem,) = info.value.problems
    assert (problem.column, problem.value) == ("Batch", "77") and "no batch 77" in problem.message
    with pytest.raises(NotFoundError):  # a batch the user typed is not a problem of the file
        preview_upload(store, "demo", _bytes(frame, "csv", tmp_path), filename="p.csv",
                       batch_id=10**40)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_without_batch_column_another_plates_recipes_are_refused(two_plates, fmt, tmp_path):
    store, first, second = two_plates
    frame = _sheet(first).drop(columns=["Batch"])
    data = _bytes(frame, fmt, tmp_path)
    with pytest.raises(IngestError) as info:  # the newest plate is the second one
        ingest_bytes(store, "demo", data, filename=f"p.{fmt}")
    summary, *errors = _errors(info.value)
    assert summary.row is None and f"differ from those stored for batch {second.id}" in (
        summary.message) and "another plate" in summary.message
    # The six recipe columns follow Well, Role and (hard carbon) Furnace run.
    start = list(frame.columns).index("Furnace run") + 1
    assert errors and all(e.column in set(frame.columns[start:start + 6]) for e in errors)
    by_cell = {(e.row, e.column): e for e in errors}
    well = first.wells[1]  # a sample well: its recipes differ between the two plates
    other = next(w for w in second.wells if w.well == well.well)
    e = by_cell[(3, "Carbonization temperature [°C]")]
    assert float(e.value) == pytest.approx(well.recipe["carbonization_temperature_c"])
    assert repr(other.recipe["carbonization_temperature_c"]) in e.message
    assert f"well {well.well}" in e.message and "another plate" in e.hint
    assert (2, "Carbonization temperature [°C]") not in by_cell  # A1 is the same control
    assert store.measurements("demo", include_superseded=True).empty
    outcome = ingest_bytes(store, "demo", data, filename=f"p.{fmt}", batch_id=first.id)
    assert outcome.result.batch_id == first.id  # the right plate accepts it


def test_recipe_cells_match_to_the_precision_written_and_ignoring_case(two_plates):
    store, first, _ = two_plates
    frame = _sheet(first).astype(object)
    temps = "Carbonization temperature [°C]"
    rates = "Heating rate [°C/min]"
    for i, w in enumerate(first.wells):
        frame.loc[i, temps] = f"{w.recipe['carbonization_temperature_c']:.0f}"  # rounded
        frame.loc[i, rates] = f"{w.recipe['heating_rate_c_per_min']:.1f}"
    frame["Precursor"] = frame["Precursor"].str.upper()
    frame.loc[5, "Dwell time [h]"] = None  # an empty recipe cell is fine
    data = frame.to_csv(index=False).encode()
    parsed, bid = preview_upload(store, "demo", data, filename="p.csv")
    assert bid == first.id and len(parsed.records) == len(first.wells)
    # one degree off is no longer the same recipe
    frame.loc[0, temps] = "1301"  # control A1 is 1300 °C
    with pytest.raises(IngestError) as info:
        preview_upload(store, "demo", frame.to_csv(index=False).encode(), filename="p.csv")
    assert [(e.row, e.column, e.value) for e in _errors(info.value)] == [(2, temps, "1301")]
    assert "1300.0" in _errors(info.value)[0].message


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_library_plate_accepts_its_own_sheet_and_refuses_another_candidate(fmt, tmp_path):
    import numpy as np

    from campaigns.spec import CampaignSpec

    spec = CampaignSpec.from_dict({
        "name": "lib", "library": {"inputs": ["bet_ssa_m2_per_g", "precursor"],
                                   "categorical": ["precursor"]},
        "targets": [{"name": "ice_pct"}], "plate": {"wells": 24, "replicates": 0}})
    library = pd.DataFrame({"candidate_id": [f"HC-{i}" for i in range(30)],
                            "bet_ssa_m2_per_g": [np.nan if i % 4 == 0 else 5.0 + i / 3
                                                 for i in range(30)],
                            "precursor": [None if i % 5 == 0 else "pitch" for i in range(30)]})
    with Store.open(f"sqlite:///{tmp_path / 'lib.db'}") as store:
        store.create_campaign(spec, library=library)
        recipes = library.iloc[: spec.sample_well_count].to_dict("records")
        batch = store.save_batch("lib", iso_week="2026-W48", generator="test", seed=0,
                                 wells=fill_layout(spec.plate, recipes), data_revision=0)
        wells = [SheetWell(w.well, w.role, {**w.recipe, "candidate_id": w.candidate_id})
                 for w in batch.wells]
        frame = template_frame(spec, batch_id=batch.id, wells=wells)
        frame["ICE [%]"] = 80.0
        parsed, _ = preview_upload(store, "lib", _bytes(frame, fmt, tmp_path), filename="l")
        assert len(parsed.records) == len(batch.wells)
        frame.loc[0, "candidate_id"] = "HC-29"
        with pytest.raises(IngestError) as info:
            preview_upload(store, "lib", _bytes(frame, fmt, tmp_path), filename="l")
    (error,) = _errors(info.value)
    assert (error.row, error.column, error.value) == (2, "candidate_id", "HC-29")


@pytest.mark.parametrize(
    ("text", "stored", "same"),
    [("1300", 1300.4, True), ("1301", 1300.0, False), ("0.37", 0.3712, True),
     ("0.37", 0.376, False), ("1.3E+03", 1320.0, True), ("0,372", 0.372, True),
     ("Cellulose", "cellulose", True), ("lignin", "cellulose", False), ("5", None, False)],
    ids=["int-rounds", "int-off", "decimals", "decimals-off", "exponent", "decimal-comma",
         "case", "other-text", "plate-has-none"],
)
def test_recipe_value_tolerance(text, stored, same):
    from campaigns.ingest import _same_recipe_value

    assert _same_recipe_value(text, stored, decimal_comma=True) is same


# --- 2. values that look like a wrong unit need a confirmation ----------------------------------


def test_a_single_fraction_among_percentages_is_an_error_until_confirmed():
    data = _rows("A2,85\nA3,0.85\nA4,79\n")
    with pytest.raises(UnusualValuesError) as info:
        _parse(data)
    (error,) = _errors(info.value)
    assert (error.row, error.column, error.value) == (3, "ICE [%]", "0.85")
    assert "wrong unit" in error.message and "multiply by 100" in error.hint
    assert "--confirm-unusual" in error.hint and "I confirm" in error.hint
    assert "--confirm-unusual" in info.value.hint
    parsed = _parse(data, confirm_unusual=True)
    assert [r.value for r in parsed.records] == [85.0, 0.85, 79.0]
    (warning,) = [p for p in parsed.warnings if p.column == "ICE [%]"]
    assert (warning.row, warning.severity) == (3, "warning") and "confirmed" in warning.message


def test_a_whole_column_of_fractions_is_confirmable_too():
    data = _rows("A2,0.85\nA3,0.81\n")
    with pytest.raises(UnusualValuesError) as info:
        _parse(data)
    (error,) = _errors(info.value)
    assert (error.row, error.column) == (None, "ICE [%]") and "--confirm-unusual" in error.hint
    assert [r.value for r in _parse(data, confirm_unusual=True).records] == [0.85, 0.81]


@pytest.mark.parametrize(
    ("body", "header"),
    [("A2,3.7\nA3,3.6\n", "Well,d002 [nm]"), ("A2,0.37\nA3,3.7\n", "Well,d002 [nm]"),
     ("A2,120\n", "Well,ICE [%]")],
    ids=["angstrom-column", "angstrom-cell", "impossible"],
)
def test_impossible_values_are_never_confirmable(body, header):
    for confirm in (False, True):
        with pytest.raises(IngestError) as info:
            _parse(_rows(body, header), confirm_unusual=confirm)
        assert not isinstance(info.value, UnusualValuesError)
        assert all("--confirm-unusual" not in (e.hint or "") for e in _errors(info.value))


def test_a_wrong_unit_value_next_to_another_error_is_a_plain_rejection():
    with pytest.raises(IngestError) as info:
        _parse(_rows("A2,0.85\nA3,85\nA4,abc\n"))
    assert not isinstance(info.value, UnusualValuesError)
    assert {(e.row, e.value) for e in _errors(info.value)} == {(2, "0.85"), (4, "abc")}


def test_zero_and_atypical_values_stay_warnings():
    parsed = _parse(_rows("A2,0\nA3,50\nA4,85\n"))
    got = [(p.row, p.value) for p in parsed.warnings if p.column == "ICE [%]"]
    assert got == [(2, "0"), (3, "50")]
    assert all("typical range" in p.message for p in parsed.warnings if p.column == "ICE [%]")


# --- 3. a file cut off mid-line -----------------------------------------------------------------


def test_a_plate_file_cut_off_mid_line_is_refused(tmp_path):
    data = _bytes(_sheet_frame(), "csv", tmp_path)
    cut = data[: data.rindex(b"\n", 0, len(data) - 1) + 15]  # 14 bytes into the last line
    assert not cut.endswith(b"\n")
    with pytest.raises(IngestError) as info:
        _parse(cut)
    (problem,) = info.value.problems
    assert problem.row == len(WELLS) + 1 and "cut off" in problem.message and problem.hint
    assert len(_parse(data).records) == len(WELLS)  # the whole file is fine


def _sheet_frame() -> pd.DataFrame:
    wells = [SheetWell(s.well, s.role, {}) for s in layout(HC.plate)]
    frame = template_frame(HC, batch_id=1, wells=wells)
    frame["ICE [%]"] = 80.0
    return frame


@pytest.mark.parametrize(
    ("data", "ok"),
    [(b"Well,ICE [%],Status\nA2,85,\nA3,8", False),
     (b"sep=;\nWell;ICE [%];Status\nA2;85;\nA3;8", False),
     (b"Well,ICE [%],Status\r\nA2,85,\r\nA3,86,", True),  # a last line without break, complete
     (b"Well,ICE [%]\nA2,85\nA3,86\n", True)],
    ids=["comma", "sep-line", "no-final-break-but-complete", "complete"],
)
def test_only_a_short_unterminated_last_line_counts_as_cut_off(data, ok):
    if ok:
        assert len(_parse(data).records) == 2
    else:
        with pytest.raises(IngestError, match="cut off") as info:
            _parse(data)
        assert info.value.problems[0].row == 3


def test_a_character_cut_in_half_is_a_cut_off_file():
    utf8 = "Well,T [°C],Notes\nA2,850,ok\nA3,860,20 °C".encode()
    with pytest.raises(IngestError, match="middle of a character"):
        read_table(utf8[:-2], filename="p.csv")  # "°" is two bytes; the first is left
    latin = "Well,ICE [%],Notes\nA2,85,ok\nA3,86,café".encode("cp1252")  # no UTF-8 before
    assert read_table(latin, filename="p.csv").loc[3, "Notes"] == "café"
    utf16 = "Well\tICE [%]\nA2\t85\n".encode("utf-16")
    with pytest.raises(IngestError, match="middle of a character"):
        read_table(utf16[:-1], filename="p.csv")


# --- 4. NA and friends in result cells: one rule for CSV and XLSX ------------------------------

MISSING = ["NA", "n/a", "N/A", "none", "None", "null", "NULL", "-"]


def _xlsx(rows: list[list[object]], tmp_path: Path) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / "na.xlsx"
    book.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("text", MISSING)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_missing_value_text_in_a_result_cell_is_refused_by_name(text, fmt, tmp_path):
    rows = [["Well", "ICE [%]", "Notes"], ["A2", 85, "NA"], ["A3", text, "n/a"]]
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        data = buf.getvalue().encode()
    else:
        data = _xlsx(rows, tmp_path)
    with pytest.raises(IngestError) as info:
        _parse(data, filename=f"na.{fmt}")
    (error,) = _errors(info.value)  # the Notes column may say anything
    assert (error.row, error.column, error.value) == (3, "ICE [%]", text)
    assert "missing value" in error.message and "Leave the cell empty" in error.hint


def test_an_empty_result_cell_is_simply_not_measured(tmp_path):
    data = _xlsx([["Well", "ICE [%]"], ["A2", 85], ["A3", None]], tmp_path)
    assert [r.well for r in _parse(data, filename="p.xlsx").records] == ["A2"]


# --- 5. no well name crashes the reader ---------------------------------------------------------


@pytest.mark.parametrize("text", ["A²", "A" + "7" * 5000, "A١٢", "Ⅻ1", "ｂ3", "\u0000", ""],
                         ids=["superscript", "5000-digits", "arabic-digits", "roman", "fullwidth",
                              "nul", "empty"])
def test_odd_well_names_are_refused_by_name(text):
    assert isinstance(normalize_well(text), str)
    data = _rows(f"{text},85\nA2,85\n")
    try:
        _parse(data)
    except IngestError as exc:
        assert all(len(p.value or "") <= 40 for p in exc.problems)  # long IDs are shortened
    else:
        raise AssertionError(f"{text[:10]!r} was accepted as a well")


WELL_SETTINGS = settings(max_examples=120, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


@WELL_SETTINGS
@given(st.text(max_size=40)
       | st.builds(lambda row, digits, n: row + digits * n, st.sampled_from("AhZé"),
                   st.sampled_from(["0", "7", "²", "٣"]), st.integers(1, 6000)))
def test_normalize_well_never_raises(text):
    well = normalize_well(text)
    assert isinstance(well, str)
    assert normalize_well(well) == well  # canonical IDs stay as they are


@WELL_SETTINGS
@given(st.lists(st.text(max_size=30) | st.from_regex(r"[A-Ha-h]0*\d{1,6}", fullmatch=True),
                min_size=1, max_size=5))
def test_any_text_in_the_well_column_is_a_result_or_an_ingest_error(names):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Well", "ICE [%]"])
    writer.writerows([name, "85"] for name in names)
    try:
        parsed = _parse(buf.getvalue().encode("utf-8"))
    except IngestError as exc:
        assert exc.problems and all(p.row is None or p.row >= 1 for p in exc.problems)
        return
    assert all(r.well in WELLS for r in parsed.records)


# --- 6. bounded uploads -------------------------------------------------------------------------


def _workbook_with_sheet(sheet_xml: bytes) -> bytes:
    """A real workbook whose first sheet's XML is replaced by ``sheet_xml`` (deflated)."""
    book = openpyxl.Workbook()
    book.active.append(["Well", "ICE [%]"])
    buf = io.BytesIO()
    book.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = sheet_xml if info.filename == "xl/worksheets/sheet1.xml" else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


@pytest.fixture
def no_parsing(monkeypatch):
    """Fail the test if a workbook reaches pandas/openpyxl: limits must refuse it first."""
    def parse(*_args, **_kwargs):
        raise AssertionError("the workbook was parsed")

    monkeypatch.setattr(pd, "read_excel", parse)
    monkeypatch.setattr(openpyxl, "load_workbook", parse)


def test_an_over_compressed_workbook_is_refused_unparsed(no_parsing):
    bomb = _workbook_with_sheet(b"<x/>" * 2_000_000)  # 8 MB of XML in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(IngestError) as info:
        _parse(bomb, filename="bomb.xlsx")
    (problem,) = info.value.problems
    assert problem.row is None and "zip bomb" in problem.message
    assert "xl/worksheets/sheet1.xml" in problem.message
    assert "PLANNER_MAX_COMPRESSION_RATIO" in problem.hint


def test_a_workbook_unpacking_past_the_limit_is_refused_unparsed(no_parsing, monkeypatch):
    monkeypatch.setenv("PLANNER_MAX_MEMBER_MB", "0.2")
    sheet = os.urandom(150_000).hex().encode()  # 300 kB that do not compress much
    with pytest.raises(IngestError) as info:
        read_table(_workbook_with_sheet(sheet), filename="big.xlsx")
    (problem,) = info.value.problems
    assert "more than the limit of 0.2 MB" in problem.message
    assert "PLANNER_MAX_MEMBER_MB" in problem.hint


def test_a_worksheet_too_big_to_parse_quickly_is_refused_unparsed(no_parsing, monkeypatch):
    monkeypatch.setenv("PLANNER_MAX_SHEET_MB", "0.1")
    sheet = os.urandom(60_000).hex().encode()  # 120 kB, under the member and ratio limits
    with pytest.raises(IngestError) as info:
        read_table(_workbook_with_sheet(sheet), filename="wide.xlsx")
    (problem,) = info.value.problems
    assert "sheet1.xml (unpacked) is 0.1 MB, more than the limit of 0.1 MB" in problem.message
    assert "PLANNER_MAX_SHEET_MB" in problem.hint


def test_a_file_larger_than_the_upload_limit_is_refused(monkeypatch, two_plates, tmp_path):
    store, first, _ = two_plates
    data = _bytes(_sheet(first), "csv", tmp_path)
    limits = Limits(max_upload_bytes=len(data) - 1)
    with pytest.raises(IngestError, match="more than the limit"):
        read_table(data, filename="p.csv", limits=limits)
    assert len(read_table(data, filename="p.csv", limits=Limits())) == len(first.wells)
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", str((len(data) - 1) / 1e6))
    with pytest.raises(IngestError) as info:
        ingest_bytes(store, "demo", data, filename="p.csv")
    (problem,) = info.value.problems
    assert problem.row is None and "PLANNER_MAX_UPLOAD_MB" in problem.hint
    assert store.measurements("demo", include_superseded=True).empty


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_refuses_wrong_batch_and_stores_confirmed_values(tmp_path, monkeypatch):
    from planner.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    _store_with_two_plates(url)[0].close()
    monkeypatch.setenv("PLANNER_DB_URL", url)
    runner = CliRunner()
    with Store.open(url) as store:
        first, second = store.batches("demo")
    path = tmp_path / "plate.csv"
    frame = _sheet(second)
    frame.loc[3, "ICE [%]"] = 0.85
    frame.to_csv(path, index=False)

    wrong = runner.invoke(app, ["ingest", str(path), "--campaign", "demo", "--batch",
                                str(first.id)])
    text = " ".join(wrong.output.split())
    assert wrong.exit_code == 2 and f"the file says batch {second.id}" in text
    assert "Traceback" not in wrong.output

    unusual = runner.invoke(app, ["ingest", str(path), "--campaign", "demo"])
    text = " ".join(unusual.output.split())
    assert unusual.exit_code == 2 and "wrong unit" in text and "--confirm-unusual" in text

    stored = runner.invoke(app, ["ingest", str(path), "--campaign", "demo", "--confirm-unusual"])
    assert stored.exit_code == 0, stored.output
    with Store.open(url) as store:
        values = store.measurements("demo").set_index("well")["value"]
        audit = store.audit_log("demo")
    assert values[frame.loc[3, "Well"]] == 0.85 and len(values) == len(second.wells)
    # The confirmation is on record with the upload.
    detail = audit[audit["action"] == "measurements.ingest"]["detail"].iloc[-1]
    assert any("0.85" in w and "confirmed" in w for w in detail["warnings"])
