"""The columnar library store: import, read back, refuse bad tables with nothing left behind.

Tables are small (tens to hundreds of rows) but imported in chunks of a few rows, so every
chunk boundary the 10-million-row import has (IDs repeated across chunks, problems in a later
chunk, row positions across row groups) is exercised here.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.errors import CampaignError
from campaigns.library_store import (
    CandidateTable,
    FrameTable,
    LibraryImportError,
    LibraryStoreError,
    LibraryTable,
    import_library,
)
from campaigns.plate import PlannedWell
from campaigns.spec import CampaignSpec
from campaigns.store import Store

SPEC = CampaignSpec.from_dict({
    "name": "lib", "library": {"id_column": "material", "inputs": ["x", "y", "family"],
                               "categorical": ["family"]},
    "targets": [{"name": "ice_pct", "threshold": 80.0}]})


def frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "material": [f"M{i:04d}" for i in range(n)],
        "x": np.round(rng.normal(size=n), 4),
        "note": ["ignored"] * n,  # columns the spec does not name are not stored
        "y": np.round(rng.uniform(0, 10, n), 4),
        "family": rng.choice(["oxide", "sulfide", "nitride"], n),
    })
    out.loc[3, "x"] = np.nan
    out.loc[5, "family"] = None
    return out


def csv_bytes(df: pd.DataFrame, sep: str = ",") -> bytes:
    return df.to_csv(index=False, sep=sep).encode()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def df() -> pd.DataFrame:
    return frame()


@pytest.fixture
def stored(tmp_path: Path, df: pd.DataFrame) -> LibraryTable:
    return import_library(io.BytesIO(csv_bytes(df)), spec=SPEC, dest_dir=tmp_path / "libs",
                          chunk_rows=7)


# --- reading back ------------------------------------------------------------------------
def test_import_round_trips_values_ids_and_missing(stored: LibraryTable, df: pd.DataFrame
                                                   ) -> None:
    assert stored.n_rows == 50 and stored.columns == ("x", "y", "family")
    assert stored.id_column == "material" and stored.categorical == ("family",)
    back = stored.to_frame()
    assert list(back.columns) == ["candidate_id", "x", "y", "family"]
    assert back["candidate_id"].tolist() == df["material"].tolist()
    np.testing.assert_array_equal(back["x"].to_numpy(), df["x"].to_numpy())  # NaN at row 3
    assert pd.isna(back["family"].iloc[5]) and back["family"].iloc[6] == df["family"].iloc[6]
    assert stored.missing() == {"x": 1, "y": 0, "family": 1}
    assert pq.ParquetFile(stored.path).metadata.num_row_groups == 8  # 7 rows per group
    assert stored.sha256 == hashlib.sha256(stored.path.read_bytes()).hexdigest()


def test_batches_carry_global_positions(stored: LibraryTable, df: pd.DataFrame) -> None:
    batches = list(stored.iter_batches(["candidate_id", "y"], batch_rows=12))
    assert [b.attrs["row_offset"] for b in batches] == [0, 12, 24, 36, 48]
    assert batches[2].index.tolist() == list(range(24, 36))
    joined = pd.concat(batches)
    assert joined.index.tolist() == list(range(50))
    assert joined["y"].tolist() == df["y"].tolist()
    assert list(batches[0].columns) == ["candidate_id", "y"]


def test_take_ids_and_positions(stored: LibraryTable, df: pd.DataFrame) -> None:
    rows = stored.take([41, 2, 41, 13], columns=["candidate_id", "x"])
    assert rows.index.tolist() == [41, 2, 41, 13]
    assert rows["candidate_id"].tolist() == ["M0041", "M0002", "M0041", "M0013"]
    assert rows["x"].tolist() == df["x"].iloc[[41, 2, 41, 13]].tolist()
    assert stored.ids_at([0, 49]).tolist() == ["M0000", "M0049"]
    assert stored.positions_of(["M0049", "nope", "M0007"]).tolist() == [49, -1, 7]
    with pytest.raises(CampaignError, match="outside the library"):
        stored.take([50])
    with pytest.raises(CampaignError, match="no column"):
        stored.take([1], columns=["z"])


def test_bounds_and_levels_come_from_the_footer(stored: LibraryTable, df: pd.DataFrame
                                                ) -> None:
    bounds = stored.bounds()
    assert bounds["x"] == (df["x"].min(), df["x"].max())
    assert bounds["y"] == (df["y"].min(), df["y"].max())
    assert stored.categories() == {"family": tuple(sorted(df["family"].dropna().unique()))}


def test_frame_table_answers_like_the_stored_table(stored: LibraryTable, df: pd.DataFrame
                                                   ) -> None:
    small = FrameTable.of(stored.to_frame(), SPEC)
    assert isinstance(small, CandidateTable) and isinstance(stored, CandidateTable)
    assert small.n_rows == stored.n_rows
    assert small.bounds() == stored.bounds() and small.categories() == stored.categories()
    pos = [3, 30, 0]
    pd.testing.assert_frame_equal(small.take(pos), stored.take(pos))
    assert small.positions_of(["M0030", "zz"]).tolist() == [30, -1]
    assert [b.attrs["row_offset"] for b in small.iter_batches(None, 20)] == [0, 20, 40]


def test_parquet_and_semicolon_csv_give_the_same_table(tmp_path: Path, df: pd.DataFrame,
                                                       stored: LibraryTable) -> None:
    source = tmp_path / "lib.parquet"
    df.to_parquet(source)
    from_parquet = import_library(source, spec=SPEC, dest_dir=tmp_path / "b", chunk_rows=9)
    from_semicolons = import_library(io.BytesIO(csv_bytes(df, sep=";")), spec=SPEC,
                                     dest_dir=tmp_path / "c")
    for other in (from_parquet, from_semicolons):
        pd.testing.assert_frame_equal(other.to_frame(), stored.to_frame())


def test_progress_reports_rows(tmp_path: Path, df: pd.DataFrame) -> None:
    seen: list[tuple[int, int | None]] = []
    import_library(io.BytesIO(csv_bytes(df)), spec=SPEC, dest_dir=tmp_path,
                   chunk_rows=20, progress=lambda done, total: seen.append((done, total)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] == 20 and seen[-1] == (50, 50)
    assert all(t is not None and t >= d for d, t in seen)


# --- bad tables: a clear error, nothing left behind ---------------------------------------
def _bad(df: pd.DataFrame, case: str) -> bytes:
    text = csv_bytes(df)
    if case == "cut_off":
        return text[: text.rindex(b",")]  # the last row loses its last cell and line break
    if case == "text_column":
        df = df.copy()
        df["y"] = df["y"].astype(object)
        df.loc[33, "y"] = "n/d"
        df.loc[44, "y"] = "about 3"
        return csv_bytes(df)
    if case == "duplicate_id":
        df = df.copy()
        df.loc[40, "material"] = "M0002"  # repeats a row of another chunk
        return csv_bytes(df)
    if case == "empty_id":
        df = df.copy()
        df.loc[9, "material"] = None
        return csv_bytes(df)
    if case == "extra_cells":
        lines = text.split(b"\n")
        lines[11] += b",surplus"
        return b"\n".join(lines)
    if case == "infinite":
        df = df.copy()
        df.loc[20, "x"] = np.inf
        return csv_bytes(df)
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "row", "column", "value", "words"), [
    pytest.param("cut_off", 51, None, None, "cut off", id="cut-off-mid-row"),
    pytest.param("text_column", 35, "y", "n/d", "not a number", id="text-in-numeric-column"),
    pytest.param("duplicate_id", 42, "material", "M0002", "repeats the ID of row 4",
                 id="duplicated-id"),
    pytest.param("empty_id", 11, "material", None, "ID is empty", id="empty-id"),
    pytest.param("extra_cells", 12, None, None, "cells, the header has", id="extra-cells"),
    pytest.param("infinite", 22, "x", "inf", "finite", id="infinite-value"),
])
def test_bad_tables_are_refused_with_row_column_value_and_hint(
        tmp_path: Path, df: pd.DataFrame, case: str, row: int, column: str | None,
        value: str | None, words: str) -> None:
    dest = tmp_path / "libs"
    with pytest.raises(LibraryImportError) as caught:
        import_library(io.BytesIO(_bad(df, case)), spec=SPEC, dest_dir=dest, chunk_rows=7,
                       name="lib.csv")
    err = caught.value
    first = err.problems[0]
    assert (first.row, first.column) == (row, column)
    if value is not None:
        assert first.value == value
    assert words in str(first) and first.hint
    assert "nothing was stored" in str(err) and "lib.csv" in str(err)
    assert leftovers(dest) == []  # no partial file, no stored file


def test_every_bad_value_is_reported_in_one_pass(tmp_path: Path, df: pd.DataFrame) -> None:
    with pytest.raises(LibraryImportError) as caught:
        import_library(io.BytesIO(_bad(df, "text_column")), spec=SPEC, dest_dir=tmp_path,
                       chunk_rows=7)
    assert [(p.row, p.value) for p in caught.value.problems] == [(35, "n/d"), (46, "about 3")]
    assert "categorical" in (caught.value.hint or "")


def test_a_missing_column_gets_did_you_mean(tmp_path: Path, df: pd.DataFrame) -> None:
    with pytest.raises(LibraryImportError, match=r"lacks column\(s\) \['family'\]") as caught:
        import_library(io.BytesIO(csv_bytes(df.rename(columns={"family": "famliy"}))),
                       spec=SPEC, dest_dir=tmp_path)
    assert "famliy" in (caught.value.hint or "")
    assert leftovers(tmp_path) == []


def test_a_truncated_parquet_file_is_refused(tmp_path: Path, df: pd.DataFrame) -> None:
    source = tmp_path / "lib.parquet"
    df.to_parquet(source)
    data = source.read_bytes()
    with pytest.raises(LibraryImportError, match="cut off"):
        import_library(io.BytesIO(data[: len(data) // 2]), spec=SPEC, dest_dir=tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


def test_a_text_column_in_parquet_is_named(tmp_path: Path, df: pd.DataFrame) -> None:
    bad = df.copy()
    bad["x"] = bad["x"].astype(str)
    bad.loc[17, "x"] = "high"
    source = tmp_path / "lib.parquet"
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), source)
    with pytest.raises(LibraryImportError) as caught:
        import_library(source, spec=SPEC, dest_dir=tmp_path / "d", chunk_rows=8)
    assert (caught.value.problems[0].row, caught.value.problems[0].value) == (19, "high")


# --- the stored file is checked against its reference -------------------------------------
def test_a_changed_file_is_noticed(stored: LibraryTable) -> None:
    assert stored.open(full=True) is stored
    data = bytearray(stored.path.read_bytes())
    data[100] ^= 0xFF  # same size, same footer: only the checksum sees it
    stored.path.write_bytes(bytes(data))
    stored.open()
    with pytest.raises(LibraryStoreError, match="SHA-256"):
        stored.open(full=True)
    stored.path.write_bytes(bytes(data[:-10]))
    with pytest.raises(LibraryStoreError, match="bytes"):
        stored.open()
    stored.path.unlink()
    with pytest.raises(LibraryStoreError, match="cannot be read"):
        stored.open()


# --- the database references the table --------------------------------------------------
def test_store_references_a_big_library_and_snapshots_stream_it(tmp_path: Path,
                                                                df: pd.DataFrame) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        assert store.library_dir == tmp_path / "lab.libraries"
        table = import_library(io.BytesIO(csv_bytes(df)), spec=SPEC, dest_dir=store.library_dir)
        store.create_campaign(SPEC, library_table=table)
        assert store.library("lib") is None
        back = store.library_table("lib", full_check=True)
        assert back is not None
        assert (back.path, back.sha256, back.n_rows) == (table.path, table.sha256, 50)
        snap = store.snapshot("lib")
        assert snap.library is None and snap.library_table == back
        assert snap.candidate_table() is snap.library_table

        # A plate uses two candidates; a new table without one of them is refused.
        recipe = {"x": 0.0, "y": 1.0, "family": "oxide"}
        wells = [PlannedWell(well=w, role="sample", recipe=recipe, predictions={},
                             candidate_id=c) for w, c in (("A1", "M0001"), ("A2", "M0002"))]
        store.save_batch("lib", iso_week="2026-W10", wells=wells, generator="test", seed=1,
                         data_revision=0)
        smaller = import_library(io.BytesIO(csv_bytes(df.drop(index=2))), spec=SPEC,
                                 dest_dir=store.library_dir)
        with pytest.raises(CampaignError, match="M0002"):
            store.attach_library("lib", smaller)
        assert store.library_table("lib") == back
        bigger = import_library(io.BytesIO(csv_bytes(frame(60))), spec=SPEC,
                                dest_dir=store.library_dir)
        store.attach_library("lib", bigger, source="v2.csv")
        assert store.library_table("lib").n_rows == 60  # type: ignore[union-attr]
        actions = store.audit_log("lib")["action"].tolist()
        assert actions.count("library.import") == 1
        table.path.unlink()  # the old file is no longer the campaign's
        bigger.path.unlink()
        with pytest.raises(LibraryStoreError, match="cannot be read") as caught:
            store.snapshot("lib")
        assert "import the table again" in (caught.value.hint or "")
    finally:
        store.close()


def test_small_libraries_stay_database_rows(tmp_path: Path, df: pd.DataFrame) -> None:
    from campaigns.library import load_library

    store = Store.open(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        store.create_campaign(SPEC, library=load_library(SPEC, base_dir=tmp_path, frame=df))
        snap = store.snapshot("lib")
        assert snap.library_table is None and len(snap.library) == 50
        table = snap.candidate_table()
        assert isinstance(table, FrameTable) and table.n_rows == 50
        assert table.positions_of(["M0010"]).tolist() == [10]
    finally:
        store.close()


def test_a_partial_file_of_a_killed_import_is_removed_later(tmp_path: Path, df: pd.DataFrame
                                                            ) -> None:
    import os

    old = tmp_path / ".lib.partial-0123456789ab.parquet"
    fresh = tmp_path / ".lib.partial-ba9876543210.parquet"  # an import running right now
    old.write_bytes(b"PAR1")
    fresh.write_bytes(b"PAR1")
    os.utime(old, (1e9, 1e9))
    table = import_library(io.BytesIO(csv_bytes(df)), spec=SPEC, dest_dir=tmp_path)
    assert leftovers(tmp_path) == sorted([fresh.name, table.path.name])


# --- any cut of a file: a clean refusal or a true prefix, never a crash or a stray file -------
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=2000), chunk=st.integers(min_value=1, max_value=12))
def test_a_file_cut_anywhere_is_refused_or_a_prefix(tmp_path: Path, cut: int,
                                                    chunk: int) -> None:
    full = frame(40)
    data = csv_bytes(full)
    dest = tmp_path / uuid.uuid4().hex  # one folder per example
    try:
        table = import_library(io.BytesIO(data[: min(cut, len(data) - 1)]), spec=SPEC,
                               dest_dir=dest, chunk_rows=chunk)
    except LibraryImportError as exc:
        assert exc.problems and exc.hint
        assert leftovers(dest) == []
        return
    back = table.to_frame()
    n = table.n_rows
    assert 0 < n <= 40 and leftovers(dest) == [table.path.name]
    expect = full.iloc[:n].reset_index(drop=True)
    assert back["candidate_id"].iloc[: n - 1].tolist() == expect["material"].iloc[: n - 1].tolist()
    # Every row but the last is exact; the last may have lost the end of its last value.
    pd.testing.assert_series_equal(back["y"].iloc[: n - 1].reset_index(drop=True),
                                   expect["y"].iloc[: n - 1], check_names=False)
