"""`planner model cv`: any lab CSV in, a table (and JSON) out, never a stack trace."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli.model import app, read_table
from surrogates.errors import InputDataError

from .conftest import INPUTS

runner = CliRunner()


def _write(path, df: pd.DataFrame, *, sep=",", decimal=".", encoding="utf-8") -> str:
    df.to_csv(path, sep=sep, decimal=decimal, index=False, encoding=encoding)
    return str(path)


DIALECTS = {
    "comma": {"sep": ","},
    "semicolon-decimal-comma-bom": {"sep": ";", "decimal": ",", "encoding": "utf-8-sig"},
    "tab-cp1252": {"sep": "\t", "decimal": ",", "encoding": "cp1252"},
}


@pytest.mark.parametrize("dialect", list(DIALECTS), ids=list(DIALECTS))
def test_reader_understands_lab_dialects(tmp_path, hard_carbon, dialect):
    df = hard_carbon.head(12).assign(precursor="cellulose (süß)")
    path = tmp_path / "table.csv"
    read = read_table(path.parent / _write(path, df, **DIALECTS[dialect]))
    assert list(read.columns) == list(df.columns)
    assert read["bet_ssa_m2_per_g"].dtype == float
    pd.testing.assert_series_equal(
        read["carbonization_temperature_c"].reset_index(drop=True),
        df["carbonization_temperature_c"].reset_index(drop=True).astype(float),
    )
    assert read["precursor"].iloc[0] == "cellulose (süß)"
    assert read.index[0] == 2  # spreadsheet row numbers: the header is row 1


def test_cv_prints_table_and_writes_json(tmp_path, hard_carbon):
    data = _write(tmp_path / "hc.csv", hard_carbon, sep=";", decimal=",", encoding="utf-8-sig")
    out = tmp_path / "cv.json"
    result = runner.invoke(
        app,
        [
            "cv", data, "--inputs", ",".join(INPUTS), "--target", "ice_pct",
            "--target", "reversible_capacity_mah_per_g", "--categorical", "precursor",
            "--group", "paper", "--model", "rf", "--folds", "3", "--json", str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "grouped by paper" in result.output and "ice_pct" in result.output
    d = json.loads(out.read_text())
    assert set(d) == {"n_rows", "n_excluded", "models"} and d["n_rows"] == len(hard_carbon)
    assert set(d["models"]["rf"]) == {"ice_pct", "reversible_capacity_mah_per_g"}
    assert 0 < d["models"]["rf"]["ice_pct"]["r2"] <= 1


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--inputs", "carbonisation_temperature_c,precursor", "--target", "ice",
          "--categorical", "precursor"],
         "no input column 'carbonisation_temperature_c'", "Did you mean 'ice_pct'?"),
        (["--inputs", "carbonization_temperature_c,precursor", "--target", "ice_pct"],
         "Column 'precursor' holds text", "--categorical precursor"),
        (["--inputs", "carbonization_temperature_c", "--target", "ice_pct", "--group", "doi"],
         "no group column 'doi'", "Known columns"),
        (["--inputs", "carbonization_temperature_c", "--target", "ice_pct", "--model", "svm"],
         "Unknown model 'svm'", "--model gp|ensemble|rf|boosted|auto|all"),
    ],
    ids=["misspelled", "text-input", "unknown-group", "unknown-model"],
)
def test_cv_errors_are_messages_with_hints(tmp_path, hard_carbon, args, message, hint):
    data = _write(tmp_path / "hc.csv", hard_carbon)
    result = runner.invoke(app, ["cv", data, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert hint in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_missing_and_empty_files_are_reported(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("a;b\n")
    with pytest.raises(InputDataError, match="no rows"):
        read_table(tmp_path / "empty.csv")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(alphabet="ab1.,;\t \"-\n\xe9", max_size=12), min_size=1, max_size=8
    ).map("\n".join)
)
def test_reader_never_crashes_on_malformed_text(tmp_path, text):
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode("utf-8"))
    try:
        frame = read_table(path)
    except InputDataError as exc:
        assert str(exc) and exc.hint
    else:
        # spreadsheet rows: the first row after the header (blank lines counted, not kept)
        assert len(frame) > 0 and frame.index[0] > frame.attrs["header_row"]


def test_reader_is_the_plate_readers_decoder_for_workbooks_and_utf16(tmp_path, hard_carbon):
    """XLSX and UTF-16 (Excel's "Unicode text") are read too; a text cell is named by its row."""
    df = hard_carbon.head(12).copy()
    df["bet_ssa_m2_per_g"] = df["bet_ssa_m2_per_g"].astype(object)
    df.loc[df.index[4], "bet_ssa_m2_per_g"] = "n/a"
    df.to_excel(tmp_path / "hc.xlsx", index=False)
    (tmp_path / "hc.txt").write_bytes(df.to_csv(sep="\t", index=False).encode("utf-16"))
    for name in ("hc.xlsx", "hc.txt"):
        read = read_table(tmp_path / name)
        assert read["ice_pct"].dtype == float
        assert read["ice_pct"].tolist() == pytest.approx(df["ice_pct"].tolist())
        result = runner.invoke(
            app,
            ["cv", str(tmp_path / name), "--inputs", "bet_ssa_m2_per_g,d002_nm",
             "--target", "ice_pct"],
        )
        assert result.exit_code == 2, result.output
        # header = row 1, so the fifth data row is spreadsheet row 6
        assert "'n/a' in row 6" in result.output.replace("\n", " ")
