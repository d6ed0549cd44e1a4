"""Malformed plate files never crash parse_plate: it returns a ParsedPlate or raises IngestError.

Three sources of bad input: random bytes, random CSV-like text built from plausible pieces, and
random mutations of a valid filled template (garbage cells, duplicated rows, dropped columns,
mangled headers). Whatever comes back must also be internally consistent.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from campaigns.errors import IngestError
from campaigns.ingest import ParsedPlate, parse_plate
from campaigns.plate import layout
from campaigns.sheet import SheetWell, template_frame
from campaigns.templates import load_template

SPEC = load_template("hard-carbon")
EXPECTED = {s.well: s.role for s in layout(SPEC.plate)}
OUTPUTS = {c.name: c for c in SPEC.output_columns()}
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _valid_frame() -> pd.DataFrame:
    wells = [SheetWell(s.well, s.role, {}) for s in layout(SPEC.plate)][:24]
    frame = template_frame(SPEC, batch_id=9, wells=wells)
    for i in range(len(frame)):
        for j, col in enumerate(OUTPUTS.values()):
            lo, hi = col.typical
            frame.loc[i, col.label] = round(lo + (hi - lo) * ((3 * i + j) % 7 + 1) / 8, 3)
    frame.loc[2, "Status"] = "failed_cell"
    frame.loc[3, "Measured at"] = "2025-03-14"
    return frame


VALID = _valid_frame()


def _check_outcome(data: bytes, filename: str = "upload.csv") -> None:
    try:
        parsed = parse_plate(data, filename=filename, spec=SPEC, expected_wells=EXPECTED)
    except IngestError as exc:
        event("rejected")
        assert exc.problems, "an IngestError must name at least one problem"
        assert any(p.severity == "error" for p in exc.problems)
        assert all(p.row is None or p.row >= 1 for p in exc.problems)
        assert str(exc) and exc.hint
        return
    event("parsed")
    assert isinstance(parsed, ParsedPlate)
    assert all(p.severity == "warning" for p in parsed.warnings)
    wells = [(r.well, r.quantity) for r in parsed.records]
    assert len(wells) == len(set(wells)), "a well reports a quantity twice"
    for r in parsed.records:
        assert r.well in EXPECTED
        assert r.status in ("ok", "failed_synthesis", "failed_cell", "outlier")
        assert r.source_row >= 2
        if r.quantity == "status":
            assert r.value is None and r.status != "ok"
        else:
            col = OUTPUTS[r.quantity]
            assert r.value is not None and math.isfinite(r.value)
            assert col.possible[0] <= r.value <= col.possible[1]
            assert r.unit == col.unit


@PROPERTY_SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(data):
    _check_outcome(data)


_PIECES = st.one_of(
    st.sampled_from(["Well", "well", "ICE [%]", "ICE (%)", "d002 [nm]", "Status", "Batch",
                     "Measured at", "Role", "Notes", "Comment", "ICE [fraction]", "BET SSA [m²/g]",
                     "A1", "a01", "H12", "J13", "B3", "0.372", "0,372", "1,300", "87.5", "nan",
                     "inf", "-1", "1e999", "ok",
                     "shorted", "failed synthesis", "???", "2025-03-14", "14/03/2025", "9", "", " ",
                     '"', '""', "sep=;", "°C", "\u00a0"]),
    st.text(max_size=8),
)


@st.composite
def _csvish(draw) -> bytes:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    n_rows = draw(st.integers(1, 12))
    lines = [sep.join(draw(st.lists(_PIECES, min_size=1, max_size=8))) for _ in range(n_rows)]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")


@PROPERTY_SETTINGS
@given(_csvish())
def test_random_csv_like_text_never_crashes(data):
    _check_outcome(data)


_GARBAGE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["nan", "inf", "-0", "1e308", "1,5", "#N/A", "∞"]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _printable(text: str) -> str:
    """XLSX (XML) cannot hold control characters; Excel never writes them."""
    return "".join(ch for ch in text if ch.isprintable() or ch in "\t\n")


@st.composite
def _mutated(draw) -> tuple[bytes, str]:
    frame = VALID.copy().astype(object)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["cell", "cell", "duplicate", "drop", "header", "well",
                                   "status"]))
        if op == "cell" or (op in ("well", "status") and len(frame) == 0):
            if len(frame) and len(frame.columns):
                i = draw(st.integers(0, len(frame) - 1))
                j = draw(st.integers(0, len(frame.columns) - 1))
                frame.iat[i, j] = draw(_GARBAGE)
        elif op == "duplicate" and len(frame):
            i = draw(st.integers(0, len(frame) - 1))
            frame = pd.concat([frame, frame.iloc[[i]]], ignore_index=True)
        elif op == "drop" and len(frame.columns) > 1:
            frame = frame.drop(columns=frame.columns[draw(st.integers(0, len(frame.columns) - 1))])
        elif op == "header" and len(frame.columns):
            j = draw(st.integers(0, len(frame.columns) - 1))
            old = str(frame.columns[j])
            k = draw(st.integers(0, len(old)))
            new = old[:k] + draw(st.text(max_size=3)) + old[k + draw(st.integers(0, 2)):]
            frame.columns = [new if n == j else c for n, c in enumerate(frame.columns)]
        elif op == "well" and "Well" in frame.columns:
            i = draw(st.integers(0, len(frame) - 1))
            frame.iat[i, list(frame.columns).index("Well")] = draw(
                st.sampled_from(["J13", "a01", "", "Z0", "A01", "B 3", "H12"]))
        elif op == "status" and "Status" in frame.columns:
            i = draw(st.integers(0, len(frame) - 1))
            frame.iat[i, list(frame.columns).index("Status")] = draw(
                st.sampled_from(["short", "FAILED_SYNTHESIS", "faild", "outlier", "", "ok?"]))
    fmt = draw(st.sampled_from(["csv", "csv", "csv", "semicolon", "xlsx"]))
    if fmt == "xlsx":
        buf = io.BytesIO()
        frame = frame.map(lambda v: _printable(v) if isinstance(v, str) else v)
        frame = frame.replace([np.inf, -np.inf], "inf")
        frame.columns = [_printable(str(c)) for c in frame.columns]
        frame.to_excel(buf, index=False)
        return buf.getvalue(), "upload.xlsx"
    text = frame.to_csv(index=False, sep=";" if fmt == "semicolon" else ",")
    return text.encode("utf-8", errors="replace"), "upload.csv"


@PROPERTY_SETTINGS
@given(_mutated())
def test_mutated_templates_never_crash(case):
    data, filename = case
    _check_outcome(data, filename)


def test_the_unmutated_template_parses():
    data = VALID.to_csv(index=False).encode()
    parsed = parse_plate(data, filename="ok.csv", spec=SPEC, expected_wells=EXPECTED)
    assert len(parsed.records) == 24 * len(OUTPUTS)  # the failed_cell row keeps its results
    assert {r.status for r in parsed.records if r.well == "A3"} == {"failed_cell"}
