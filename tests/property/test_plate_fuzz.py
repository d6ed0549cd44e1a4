"""Fuzzing a real upload: a damaged plate sheet is refused with a CampaignError and changes nothing.

Start from a valid filled sheet (CSV and XLSX) of a real 96-well campaign in a fresh SQLite
store that already holds one upload, damage it (random cells in the Well, Batch, Role, result
and Status columns, unicode digits, 5,000-digit numbers, NA cells, duplicated rows, wrong batch
numbers, extra separators, flipped, inserted or deleted bytes, truncation, an empty file, a
binary blob) and hand it to :func:`campaigns.uploads.ingest_bytes`. It either stores the file
(whole: the store stays sound) or raises a :class:`~campaigns.errors.CampaignError` subclass,
never anything else, and after a refusal the database is exactly as before.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from campaigns.columns import column
from campaigns.errors import CampaignError
from campaigns.store import Store
from campaigns.uploads import ingest_bytes
from tests.integration._workers import (
    check_store,
    counts,
    current_values,
    new_campaign,
    simulated_sheet,
)

CAMPAIGN = "fuzz"
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

#: Cell texts that have broken number and well parsers elsewhere.
NASTY = [
    "²", "12²", "١٢", "٣.٥", "０", "１２", "Ⅻ", "½", "1" * 5000, "-" + "9" * 5000,
    "0." + "1" * 5000, "1e400", "-1e400", "1e-400", "NA", "n/a", "N/A", "#N/A", "nan", "NaN",
    "inf", "-inf", "∞", "", " ", "\u200b", "−5", "1,5", "1.2.3", "0x1F", "1_000", "A１", "a01",
    "A0", "Z99", "A13", "I1", "A" + "1" * 5000, "🧪", "'; DROP TABLE measurements; --", '"',
    "=1+1", "\t", "None", "null", "true", "failed", "ok", "retracted", "shorted", "??",
    "9" * 20, "-1", "0", "2147483648", "18446744073709551616",
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, dict]]:
    """A store with a 96-well hard-carbon plate and one upload; valid CSV and XLSX sheets."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    batch_id = new_campaign(url, CAMPAIGN)
    assert batch_id is not None
    with Store.open(url) as store:
        ingest_bytes(store, CAMPAIGN, simulated_sheet(url, CAMPAIGN, batch_id, seed=0),
                     filename="first.csv")
    frame = pd.read_csv(io.BytesIO(simulated_sheet(url, CAMPAIGN, batch_id, seed=1)),
                        dtype=str, keep_default_na=False)
    spec_outputs = [c for c in frame.columns if c not in ("Batch", "Well", "Role", "Status",
                                                           "Operator", "Instrument",
                                                           "Measured at", "Notes")]
    results = [c for c in spec_outputs if c in {column(q).label for q in _output_names(url)}]
    assert len(results) >= 4 and len(frame) == 96
    store = Store.open(url)
    yield store, url, {"frame": frame, "results": results, "batch_id": batch_id}
    store.close()


def _output_names(url: str) -> list[str]:
    with Store.open(url) as store:
        return list(store.spec(CAMPAIGN).output_names)


def _xlsx(frame: pd.DataFrame) -> bytes:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # A workbook cannot hold control characters (openpyxl refuses to write them).
    frame = frame.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
    frame.columns = [ILLEGAL_CHARACTERS_RE.sub("", str(c)) for c in frame.columns]
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    return buf.getvalue()


#: What an upload's damage is made of. Each kind also comes alone, so that a file with one
#: wrong thing in it gets past the checks that a second fault would trip first.
DAMAGE = ("reshape", "cells", "batch", "rows", "columns", "bytes", "everything")


@st.composite
def damaged_frames(draw: st.DrawFn, frame: pd.DataFrame, results: list[str], batch_id: int,
                   kinds: frozenset[str]) -> pd.DataFrame:
    """The sheet with new values in one result column, a subset of its rows in any order, and
    the damage of ``kinds``: cells, wrong batch numbers, duplicated rows, columns."""
    sheet = frame.copy()
    columns = ["Well", "Batch", "Role", "Status", *results]
    # New values for one result column: an upload that corrects the stored ones.
    col = draw(st.sampled_from(results))
    factor = draw(st.sampled_from([1.0, 1.001, 0.999, 1.01]))
    sheet[col] = [f"{float(v) * factor:.6g}" if v else v for v in sheet[col]]
    if "cells" in kinds:
        for _ in range(draw(st.integers(1, 5))):
            r = draw(st.integers(0, len(sheet) - 1))
            c = draw(st.sampled_from(columns))
            text = draw(st.sampled_from(NASTY) | st.text(max_size=8) | st.integers().map(str))
            sheet.iloc[r, sheet.columns.get_loc(c)] = text
    if "batch" in kinds:  # wrong batch numbers: one row, or all of them
        wrong = str(draw(st.sampled_from([batch_id + 1, 0, -batch_id, 2**31, 2**63, 10**30])))
        rows = slice(None) if draw(st.booleans()) else [draw(st.integers(0, len(sheet) - 1))]
        sheet.iloc[rows, sheet.columns.get_loc("Batch")] = wrong
    if "rows" in kinds:  # duplicated rows
        for _ in range(draw(st.integers(1, 3))):
            r = draw(st.integers(0, len(sheet) - 1))
            sheet = pd.concat([sheet, sheet.iloc[[r]]], ignore_index=True)
    if draw(st.booleans()):  # a partial sheet (allowed) in any order
        keep = draw(st.lists(st.integers(0, len(sheet) - 1), min_size=1, max_size=len(sheet),
                             unique=True))
        sheet = sheet.iloc[keep].reset_index(drop=True)
    if "columns" in kinds:
        if draw(st.booleans()):
            sheet = sheet.drop(columns=[draw(st.sampled_from(columns))])
        else:
            name = draw(st.sampled_from(["", "ICE [%]", "Extra", "Well", "Batch"]))
            sheet[name] = draw(st.sampled_from(NASTY))
    return sheet


def _serialize(draw: st.DrawFn, sheet: pd.DataFrame) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["csv", "csv", "csv", "xlsx"]))
    if kind == "xlsx":
        return _xlsx(sheet), "plate.xlsx"
    buf = io.StringIO()
    sheet.to_csv(buf, index=False, sep=draw(st.sampled_from([",", ";", "\t"])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return buf.getvalue().encode(encoding, errors="replace"), "plate.csv"


def _damage_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "separators"]))
        # A position as a fraction of the length: an XLSX's length varies with its time stamp,
        # and Hypothesis needs the same draws to mean the same thing on every run.
        at = draw(st.integers(0, 2**20)) * max(0, len(raw) - 1) // 2**20
        if how == "truncate":
            raw = raw[:at]
        elif how == "flip":
            if raw:
                raw = raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1:]
        elif how == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
        elif how == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 200)):]
        else:
            raw = raw[:at] + draw(st.sampled_from([b",", b";", b",,,", b"\t", b'"', b"\n", b"\r",
                                                   b";;\n"])) + raw[at:]
    return raw


@st.composite
def uploads(draw: st.DrawFn, fixture: dict) -> tuple[bytes, str]:
    whole = draw(st.integers(0, 15))
    if whole == 0:
        return b"", "empty.csv"
    if whole == 1:
        return draw(st.binary(max_size=3000)), "blob.csv"
    if whole == 2:
        head = draw(st.sampled_from([b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\x89PNG\r\n",
                                     b"\xff\xfe"]))
        return head + draw(st.binary(max_size=2000)), "blob.xlsx"
    kind = draw(st.sampled_from(DAMAGE))
    kinds = frozenset(DAMAGE if kind == "everything" else [kind])
    if kind == "everything":  # each kind of damage or not
        kinds = frozenset(k for k in DAMAGE if draw(st.booleans()))
    sheet = draw(damaged_frames(fixture["frame"], fixture["results"], fixture["batch_id"], kinds))
    raw, name = _serialize(draw, sheet)
    return (_damage_bytes(draw, raw) if "bytes" in kinds else raw), name


def _state(url: str) -> tuple[dict[str, int], dict]:
    return counts(url), current_values(url)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_undamaged_sheet_is_accepted(loaded, kind: str) -> None:  # noqa: ANN001
    # The fuzz starts from a sheet the store accepts: the damage is what gets refused. (CSV
    # supersedes the first upload's values; the XLSX holds the same values, all unchanged.)
    store, url, fixture = loaded
    frame = fixture["frame"]
    raw = _xlsx(frame) if kind == "xlsx" else frame.to_csv(index=False).encode()
    r = ingest_bytes(store, CAMPAIGN, raw, filename=f"plate.{kind}").result
    assert not r.already_uploaded, r
    assert r.n_new + r.n_superseding + r.n_unchanged >= 96 * len(fixture["results"]) // 2
    assert (r.n_superseding > 0) is (kind == "csv"), r
    assert check_store(url) == []


@FUZZ
@given(data=st.data())
def test_a_damaged_sheet_is_refused_cleanly_or_stored_whole(loaded, data) -> None:  # noqa: ANN001
    store, url, fixture = loaded
    raw, filename = data.draw(uploads(fixture))
    before = _state(url)
    try:
        outcome = ingest_bytes(store, CAMPAIGN, raw, filename=filename)
    except CampaignError as exc:
        event(f"refused: {type(exc).__name__}")
        assert str(exc)
        assert _state(url) == before, "a refused file changed the database"
        return
    event("stored" if not outcome.result.already_uploaded else "already uploaded")
    after_counts, _ = _state(url)
    r = outcome.result
    stored = 0 if r.already_uploaded else r.n_new + r.n_superseding
    assert after_counts["measurements"] - before[0]["measurements"] == stored
    assert after_counts["uploads"] - before[0]["uploads"] == (0 if r.already_uploaded else 1)
    assert check_store(url) == []
