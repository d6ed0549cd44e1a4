"""The columnar store of big candidate libraries: one checksummed Parquet file per import.

A library campaign's candidate table can hold up to ~10 million rows x ~20 descriptor columns,
far more than the database's ``candidates`` rows or one DataFrame should hold. Such a table is
imported once, in chunks, by :func:`import_library`: every chunk is validated (the usual
row/column/value/hint problems, every problem of the file in one pass) and appended to a Parquet
file under a temporary name; only when the whole file passed is it renamed into place and its
SHA-256 computed. The database then holds a reference (path, SHA-256, row count, size:
``library_tables``, see :meth:`campaigns.store.Store.library_table`), never the rows; measured
rows stay in the database with their provenance, as for every campaign.

**Which table a campaign uses** (the rule the planner codes against):

* up to :data:`SMALL_LIBRARY_ROWS` rows, the candidates are database rows as before and
  ``CampaignSnapshot.library`` is a DataFrame (``candidate_id`` + inputs);
* above it, ``CampaignSnapshot.library`` is ``None`` and ``CampaignSnapshot.library_table`` is a
  :class:`LibraryTable`;
* ``CampaignSnapshot.candidate_table()`` returns either one as a :class:`CandidateTable`
  (a :class:`FrameTable` wraps the small DataFrame), so a screening stage can stream every
  library the same way.

The file (always the same layout, whatever the source's headers):

* column ``candidate_id`` (string, never empty, unique), then the spec's ``library.inputs`` in
  spec order: numeric inputs as ``float64`` (missing values are nulls, read back as NaN),
  categorical inputs as strings (missing: null, read back as NaN);
* row groups of ``chunk_rows`` rows; row *positions* (0-based, in file order) are the global
  handle of a candidate in every method below;
* footer key ``planner.library``: JSON with the source's ID header, the categorical inputs, each
  numeric input's finite min/max and missing count, and each categorical input's levels.

Example:
    >>> import io, tempfile
    >>> from campaigns.spec import CampaignSpec
    >>> spec = CampaignSpec.from_dict({"name": "lib", "library": {"inputs": ["x", "kind"],
    ...     "categorical": ["kind"], "id_column": "id"}, "targets": [{"name": "ice_pct"}]})
    >>> csv = b"id,x,kind\\nA,1.5,p\\nB,,q\\nC,3,p\\n"
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     table = import_library(io.BytesIO(csv), spec=spec, dest_dir=Path(tmp))
    ...     print(table.n_rows, table.columns, table.bounds()["x"], table.categories())
    ...     print(table.take([2, 0])["candidate_id"].tolist(), table.positions_of(["C", "Z"]))
    3 ('x', 'kind') (1.5, 3.0) {'kind': ('p', 'q')}
    ['C', 'A'] [ 2 -1]
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from campaigns.errors import CampaignError, IngestError, Problem
from campaigns.hints import did_you_mean
from campaigns.spec import CampaignSpec

logger = logging.getLogger(__name__)

#: Libraries with more rows than this live in the columnar store; smaller ones stay database
#: rows (``PLANNER_SMALL_LIBRARY_ROWS`` changes it for one lab).
SMALL_LIBRARY_ROWS = 20_000

#: Rows per Parquet row group and per validated chunk of an import.
DEFAULT_CHUNK_ROWS = 500_000

#: Rows per frame :meth:`LibraryTable.iter_batches` yields by default.
DEFAULT_BATCH_ROWS = 100_000

#: Problems listed in full in an import error (the rest are counted).
MAX_LISTED_PROBLEMS = 20

#: Most levels a categorical library input may have.
MAX_LEVELS = 10_000

#: Longest candidate ID (the database's ``candidate_id`` columns hold 200 characters).
MAX_ID_LENGTH = 200

ID = "candidate_id"
_META_KEY = b"planner.library"
_FORMAT = 1
_CUT_OFF_HINT = ("Export or copy the whole table again; a file cut off while copying or "
                 "downloading loses its last rows. Nothing was stored.")
_TEXT_HINT = ("Leave missing values empty, fix the value, or list the column under "
              "library.categorical if it holds names rather than numbers.")

Progress = Callable[[int, int | None], None]
"""``progress(rows_done, rows_total)``: ``rows_total`` is exact for Parquet, an estimate from the
bytes read for CSV (``None`` when the size is unknown); the last call has both equal."""


def small_library_rows() -> int:
    """:data:`SMALL_LIBRARY_ROWS`, or ``$PLANNER_SMALL_LIBRARY_ROWS`` when set."""
    raw = os.environ.get("PLANNER_SMALL_LIBRARY_ROWS", "").strip()
    if not raw:
        return SMALL_LIBRARY_ROWS
    try:
        return max(0, int(raw))
    except ValueError:
        raise CampaignError(f"PLANNER_SMALL_LIBRARY_ROWS={raw!r} is not a whole number.",
                            hint="Unset it or give a row count such as 20000.") from None


class LibraryImportError(IngestError):
    """A candidate table was rejected; no file was left behind. ``problems`` lists them."""


class LibraryStoreError(CampaignError):
    """A stored library file is missing, changed or damaged."""


# ------------------------------------------------------------------------------- the table API
@runtime_checkable
class CandidateTable(Protocol):
    """What a screening stage reads from a library, small or big (positions are 0-based)."""

    @property
    def n_rows(self) -> int: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def categorical(self) -> tuple[str, ...]: ...

    def iter_batches(self, columns: Sequence[str] | None = None,
                     batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pd.DataFrame]: ...

    def take(self, positions: Sequence[int] | np.ndarray,
             columns: Sequence[str] | None = None) -> pd.DataFrame: ...

    def ids_at(self, positions: Sequence[int] | np.ndarray) -> np.ndarray: ...

    def positions_of(self, ids: Iterable[str]) -> np.ndarray: ...

    def bounds(self) -> dict[str, tuple[float, float]]: ...

    def categories(self) -> dict[str, tuple[str, ...]]: ...


def _as_positions(positions: Sequence[int] | np.ndarray, n_rows: int) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if pos.size and (pos.min() < 0 or pos.max() >= n_rows):
        bad = int(pos[(pos < 0) | (pos >= n_rows)][0])
        raise CampaignError(f"row position {bad} is outside the library (0..{n_rows - 1}).",
                            hint="Positions come from iter_batches' index or positions_of.")
    return pos


@dataclass(frozen=True)
class LibraryTable:
    """A stored, validated candidate table (a Parquet file written by :func:`import_library`).

    Attributes:
        path: The Parquet file.
        sha256: SHA-256 of the file's bytes (hex).
        n_rows: Number of candidates.
        columns: The input columns in spec order (``candidate_id`` is always there too).
        id_column: The ID column's header in the source file (the file calls it
            ``candidate_id``).
        categorical: Which of ``columns`` are categorical (strings); the others are floats.
        size_bytes: Size of the file, for the cheap check of :meth:`open`.
    """

    path: Path
    sha256: str
    n_rows: int
    columns: tuple[str, ...]
    id_column: str = ID
    categorical: tuple[str, ...] = ()
    size_bytes: int = 0
    _meta: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # --- opening ---------------------------------------------------------------------------
    def open(self, *, full: bool = False) -> LibraryTable:
        """Check the file still is the one imported, and return the table ready to read.

        The cheap check (default) compares the size and the Parquet footer (row count, column
        names); ``full=True`` also recomputes the SHA-256 of every byte (about a second per GB).

        Raises:
            LibraryStoreError: The file is missing, its size, footer or checksum changed.
        """
        where = f"candidate library file {self.path}"
        hint = ("Restore the file from a backup, or import the table again with "
                "`planner library import CAMPAIGN FILE`.")
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise LibraryStoreError(f"{where} cannot be read: {exc.strerror or exc}.",
                                    hint=hint) from None
        if self.size_bytes and size != self.size_bytes:
            raise LibraryStoreError(f"{where} has {size:,} bytes, {self.size_bytes:,} were "
                                    "imported: it was changed or damaged.", hint=hint)
        try:
            meta = pq.read_metadata(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise LibraryStoreError(f"{where} is not a readable Parquet file: {exc}.",
                                    hint=hint) from None
        names = tuple(meta.schema.names)
        if meta.num_rows != self.n_rows or names != (ID, *self.columns):
            raise LibraryStoreError(f"{where} holds {meta.num_rows:,} rows and columns "
                                    f"{list(names)}; the database expects {self.n_rows:,} rows "
                                    f"and {[ID, *self.columns]}.", hint=hint)
        if full and file_sha256(self.path) != self.sha256:
            raise LibraryStoreError(f"{where} does not match its SHA-256 checksum: it was "
                                    "changed or damaged after the import.", hint=hint)
        raw = (meta.metadata or {}).get(_META_KEY)
        info = json.loads(raw) if raw else {}
        self._meta.clear()
        self._meta.update(info)
        return self

    @classmethod
    def from_file(cls, path: Path, *, sha256: str | None = None, full: bool = True
                  ) -> LibraryTable:
        """The table stored in ``path`` (its checksum computed, or checked against ``sha256``)."""
        meta = pq.read_metadata(path)
        raw = (meta.metadata or {}).get(_META_KEY)
        if raw is None:
            raise LibraryStoreError(f"{path} was not written by `planner library import`.",
                                    hint="Import the source table with `planner library "
                                    "import CAMPAIGN FILE`.")
        info = json.loads(raw)
        digest = file_sha256(path) if (full or sha256 is None) else sha256
        if sha256 is not None and digest != sha256:
            raise LibraryStoreError(f"{path} does not match its SHA-256 checksum.",
                                    hint="Import the table again.")
        table = cls(path=Path(path), sha256=digest, n_rows=meta.num_rows,
                    columns=tuple(meta.schema.names)[1:], id_column=info.get("id_column", ID),
                    categorical=tuple(info.get("categorical", ())),
                    size_bytes=Path(path).stat().st_size)
        return table.open()

    def _info(self) -> dict[str, Any]:
        if not self._meta:
            self.open()
        return self._meta

    def _file(self) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise LibraryStoreError(f"candidate library file {self.path} cannot be read: {exc}.",
                                    hint="Import the table again.") from None

    def _columns(self, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return [ID, *self.columns]
        unknown = [c for c in columns if c != ID and c not in self.columns]
        if unknown:
            hints = [h for c in unknown if (h := did_you_mean(c, self.columns))]
            raise CampaignError(f"the candidate library has no column(s) {unknown}.",
                                hint=" ".join([*hints, f"Columns: {[ID, *self.columns]}."]))
        return list(columns)

    # --- reading ---------------------------------------------------------------------------
    def iter_batches(self, columns: Sequence[str] | None = None,
                     batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """Stream the table in frames of at most ``batch_rows`` rows, in file order.

        Args:
            columns: Columns to read (default ``candidate_id`` and every input).
            batch_rows: Rows per frame; memory is bounded by one frame.

        Yields:
            Frames whose index is the global row position (a ``RangeIndex`` starting at the
            frame's first row; also in ``frame.attrs["row_offset"]``). Numeric inputs are
            floats, categoricals and ``candidate_id`` strings (pandas' string dtype); missing
            values are NaN.
        """
        cols = self._columns(columns)
        offset = 0
        for batch in self._file().iter_batches(batch_size=max(1, int(batch_rows)),
                                               columns=cols, use_threads=False):
            frame = _to_pandas(batch)
            frame.index = pd.RangeIndex(offset, offset + len(frame))
            frame.attrs["row_offset"] = offset
            offset += len(frame)
            yield frame

    def take(self, positions: Sequence[int] | np.ndarray,
             columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows at ``positions`` (in that order; repeats allowed), index = the positions.

        Reads only the row groups that hold them, one at a time.
        """
        cols = self._columns(columns)
        pos = _as_positions(positions, self.n_rows)
        if pos.size == 0:
            return _empty_frame(cols, self.categorical)
        pf = self._file()
        starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows
                                  for i in range(pf.metadata.num_row_groups)])
        group_of = np.searchsorted(starts, pos, side="right") - 1
        parts: list[pd.DataFrame] = []
        slots: list[np.ndarray] = []
        for g in np.unique(group_of):
            where = np.flatnonzero(group_of == g)
            rows = pf.read_row_group(int(g), columns=cols).take(pa.array(pos[where] - starts[g]))
            parts.append(_to_pandas(rows))
            slots.append(where)
        frame = pd.concat(parts, ignore_index=True)
        order = np.empty(pos.size, dtype=np.int64)
        order[np.concatenate(slots)] = np.arange(pos.size)
        out = frame.iloc[order].reset_index(drop=True)
        out.index = pd.Index(pos)
        return out

    def ids_at(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """``candidate_id`` of the rows at ``positions`` (an object array of ``str``)."""
        return self.take(positions, [ID])[ID].to_numpy(dtype=object)

    def positions_of(self, ids: Iterable[str]) -> np.ndarray:
        """Row position of each ID, in the order given; ``-1`` for an ID not in the library.

        Streams the ID column once (about a second per 10 million rows).
        """
        wanted = pd.Index([str(i) for i in ids])
        found = np.full(len(wanted), -1, dtype=np.int64)
        if len(wanted) == 0:
            return found
        lookup = pd.Series(np.arange(len(wanted)), index=wanted)
        for frame in self.iter_batches([ID], batch_rows=DEFAULT_CHUNK_ROWS):
            hit = frame[ID].isin(wanted).to_numpy()
            if hit.any():
                for position, cid in zip(frame.index[hit], frame[ID].to_numpy()[hit],
                                         strict=True):
                    found[np.atleast_1d(lookup.loc[cid]).astype(np.int64)] = position
        return found

    def bounds(self) -> dict[str, tuple[float, float]]:
        """Finite ``(min, max)`` of each numeric input (``(nan, nan)`` when all missing)."""
        stats = self._info().get("numeric", {})
        return {c: (float(stats[c]["min"]), float(stats[c]["max"])) if c in stats
                else (math.nan, math.nan) for c in self.columns if c not in self.categorical}

    def categories(self) -> dict[str, tuple[str, ...]]:
        """Levels of each categorical input, sorted."""
        levels = self._info().get("levels", {})
        return {c: tuple(levels.get(c, ())) for c in self.categorical}

    def missing(self) -> dict[str, int]:
        """Number of missing values per input."""
        return {c: int(v) for c, v in self._info().get("missing", {}).items()}

    def to_frame(self) -> pd.DataFrame:
        """The whole table as one frame: only for small tables (tests, exports)."""
        parts = list(self.iter_batches(batch_rows=DEFAULT_CHUNK_ROWS))
        if not parts:
            return _empty_frame([ID, *self.columns], self.categorical)
        return pd.concat(parts)


@dataclass(frozen=True)
class FrameTable:
    """A small library held as a DataFrame, behind the same interface as :class:`LibraryTable`.

    ``frame`` has ``candidate_id`` and the input columns (as ``campaigns.library.load_library``
    and ``Store.library`` return it); row positions are ``0..n-1`` in its order.
    """

    frame: pd.DataFrame
    columns: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    @classmethod
    def of(cls, frame: pd.DataFrame, spec: CampaignSpec) -> FrameTable:
        lib = spec.library
        inputs = tuple(lib.inputs) if lib is not None else tuple(c for c in frame if c != ID)
        cat = tuple(lib.categorical) if lib is not None else ()
        return cls(frame.reset_index(drop=True), inputs, cat)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def _cols(self, columns: Sequence[str] | None) -> list[str]:
        return [ID, *self.columns] if columns is None else list(columns)

    def iter_batches(self, columns: Sequence[str] | None = None,
                     batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pd.DataFrame]:
        cols = self._cols(columns)
        step = max(1, int(batch_rows))
        for start in range(0, self.n_rows, step):
            part = self.frame.iloc[start:start + step][cols].copy()
            part.attrs["row_offset"] = start
            yield part

    def take(self, positions: Sequence[int] | np.ndarray,
             columns: Sequence[str] | None = None) -> pd.DataFrame:
        pos = _as_positions(positions, self.n_rows)
        out = self.frame.iloc[pos][self._cols(columns)].copy()
        out.index = pd.Index(pos)
        return out

    def ids_at(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.take(positions, [ID])[ID].astype(str).to_numpy(dtype=object)

    def positions_of(self, ids: Iterable[str]) -> np.ndarray:
        index = pd.Index(self.frame[ID].astype(str))
        return np.asarray(index.get_indexer([str(i) for i in ids]), dtype=np.int64)

    def bounds(self) -> dict[str, tuple[float, float]]:
        out = {}
        for c in self.columns:
            if c in self.categorical:
                continue
            v = pd.to_numeric(self.frame[c], errors="coerce").to_numpy(float)
            v = v[np.isfinite(v)]
            out[c] = (float(v.min()), float(v.max())) if v.size else (math.nan, math.nan)
        return out

    def categories(self) -> dict[str, tuple[str, ...]]:
        return {c: tuple(sorted(self.frame[c].dropna().astype(str).unique()))
                for c in self.categorical}


def _to_pandas(data: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    return data.to_pandas(types_mapper=None, split_blocks=True, self_destruct=False)


def _empty_frame(cols: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == ID or c in categorical else float)
                         for c in cols})


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 8 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


# -------------------------------------------------------------------------------- the import
class _Problems:
    """Every problem of one import: the first few in full, the rest counted per kind."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.counts: dict[str, int] = {}

    def add(self, kind: str, problem: Problem) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(problem)

    def count(self, kind: str, n: int) -> None:
        if n > 0:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def __bool__(self) -> bool:
        return bool(self.counts)

    def total(self) -> int:
        return sum(self.counts.values())

    def error(self, name: str) -> LibraryImportError:
        n = self.total()
        shown = "\n".join(f"  - {p}" for p in self.listed)
        more = n - len(self.listed)
        kinds = ", ".join(f"{k}: {v:,}" for k, v in self.counts.items())
        tail = f"\n  … and {more:,} more ({kinds})" if more > 0 else ""
        first = self.listed[0] if self.listed else None
        return LibraryImportError(
            f"the candidate library {name} was rejected ({n:,} problem(s)); nothing was "
            f"stored:\n{shown}{tail}",
            problems=list(self.listed),
            hint=(first.hint if first and first.hint else "Fix the table and import it again."),
        )


class _CountingReader(io.RawIOBase):
    """A read-only stream that counts the bytes read and remembers the last one."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.n = 0
        self.last = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        k = len(data)
        buffer[:k] = data
        self.n += k
        if k:
            self.last = data[-1:]
        return k


@dataclass
class _Plan:
    """What to read from the source and how: the spec's columns by their source headers."""

    id_column: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def wanted(self) -> list[str]:
        return [self.id_column, *self.inputs]

    def schema(self, info: dict[str, Any] | None = None) -> pa.Schema:
        fields = [pa.field(ID, pa.string(), nullable=False)]
        fields += [pa.field(c, pa.string() if c in self.categorical else pa.float64())
                   for c in self.inputs]
        return pa.schema(fields)


@dataclass
class _State:
    """Running results of the chunk checks."""

    rows: int = 0
    hashes: list[np.ndarray] = field(default_factory=list)
    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    levels: dict[str, set[str]] = field(default_factory=dict)


def _check_header(names: Sequence[str], plan: _Plan, source: str) -> None:
    missing = [c for c in plan.wanted if c not in names]
    if missing:
        hints = [f"{m!r}: {h}" for m in missing if (h := did_you_mean(m, names))]
        raise LibraryImportError(
            f"the candidate library {source} lacks column(s) {missing}; nothing was stored.",
            problems=[Problem(None, m, None, "column missing") for m in missing],
            hint=" ".join([*hints, f"Columns present: {list(names)[:30]}."]))
    dup = sorted({c for c in names if list(names).count(c) > 1} & set(plan.wanted))
    if dup:
        raise LibraryImportError(
            f"the candidate library {source} has column(s) {dup} more than once.",
            problems=[Problem(None, d, None, "header repeats") for d in dup],
            hint="Give every column its own header.")


def _check_chunk(table: pa.Table, plan: _Plan, state: _State, problems: _Problems,
                 first_row: int) -> pa.Table:
    """Validate one chunk (spreadsheet row of its first row: ``first_row``) and return it in the
    stored layout; record problems instead of stopping at the first."""
    n = table.num_rows
    ids = table.column(plan.id_column)
    if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
        ids = pc.cast(ids, pa.string())
    null = ids.is_null()
    empty = pc.or_(null, pc.equal(pc.utf8_length(ids.fill_null("")), 0))
    n_empty = pc.sum(empty).as_py() or 0
    if n_empty:
        rows = np.flatnonzero(empty.to_numpy(zero_copy_only=False))
        for r in rows[:MAX_LISTED_PROBLEMS]:
            problems.add("empty ID", Problem(first_row + int(r), plan.id_column, None,
                                            "the candidate ID is empty.",
                                            "Give every candidate its own ID."))
        problems.count("empty ID", max(0, len(rows) - MAX_LISTED_PROBLEMS))
    long = pc.greater(pc.utf8_length(ids.fill_null("")), MAX_ID_LENGTH)
    if pc.any(long).as_py():
        rows = np.flatnonzero(long.to_numpy(zero_copy_only=False))
        for r in rows[:3]:
            problems.add("long ID", Problem(first_row + int(r), plan.id_column,
                                            str(ids[int(r)].as_py())[:40] + "…",
                                            f"the ID is longer than {MAX_ID_LENGTH} characters.",
                                            "Use shorter IDs."))
    id_values = ids.fill_null("").to_numpy(zero_copy_only=False)
    state.hashes.append(pd.util.hash_array(id_values.astype(object), categorize=False))
    arrays: list[pa.Array | pa.ChunkedArray] = [ids]
    for col in plan.inputs:
        arr = table.column(col)
        if col in plan.categorical:
            if not pa.types.is_string(arr.type):
                arr = pc.cast(arr, pa.string())
            seen = state.levels.setdefault(col, set())
            if len(seen) <= MAX_LEVELS:
                seen.update(v for v in pc.unique(arr).to_pylist() if v is not None)
            state.missing[col] = state.missing.get(col, 0) + arr.null_count
            arrays.append(arr)
            continue
        arr = _numeric(arr, col, plan, problems, first_row)
        state.missing[col] = state.missing.get(col, 0) + arr.null_count
        finite = pc.is_finite(arr)
        if (pc.sum(pc.invert(finite.fill_null(True))).as_py() or 0):
            bad = np.flatnonzero(~finite.fill_null(True).to_numpy(zero_copy_only=False))
            for r in bad[:3]:
                problems.add("not finite", Problem(
                    first_row + int(r), col, str(arr[int(r)].as_py()),
                    "is not a finite number.", "Leave missing values empty."))
            problems.count("not finite", max(0, len(bad) - 3))
        mm = pc.min_max(pc.filter(arr, finite.fill_null(False)))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None:
            state.lo[col] = min(state.lo.get(col, math.inf), lo)
            state.hi[col] = max(state.hi.get(col, -math.inf), hi)
        arrays.append(arr)
    state.rows += n
    return pa.Table.from_arrays(arrays, schema=plan.schema())


def _numeric(arr: pa.ChunkedArray, col: str, plan: _Plan, problems: _Problems,
             first_row: int) -> pa.ChunkedArray:
    """A numeric input as float64 (NaN -> null); every value that is not a number a problem."""
    typ = arr.type
    if pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ) \
            or pa.types.is_boolean(typ) or pa.types.is_null(typ):
        out = pc.cast(arr, pa.float64())
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        try:
            out = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
        except pa.ArrowInvalid:
            text = arr.to_pandas()
            num = pd.to_numeric(text.str.strip(), errors="coerce")
            bad = np.flatnonzero((text.notna() & (text.str.strip() != "") & num.isna())
                                 .to_numpy())
            for r in bad[:MAX_LISTED_PROBLEMS]:
                problems.add(f"text in {col}", Problem(
                    first_row + int(r), col, str(text.iloc[int(r)]), "is not a number.",
                    _TEXT_HINT))
            problems.count(f"text in {col}", max(0, len(bad) - MAX_LISTED_PROBLEMS))
            out = pa.chunked_array([pa.array(num.to_numpy(float), pa.float64(),
                                             from_pandas=True)])
    else:
        problems.add(f"type of {col}", Problem(None, col, None,
                                              f"holds {typ} values, not numbers.", _TEXT_HINT))
        return pa.chunked_array([pa.nulls(len(arr), pa.float64())])
    # NaN stored as a missing value (null): Parquet statistics and readers agree on nulls.
    return pc.if_else(pc.is_nan(out).fill_null(False), pa.scalar(None, pa.float64()), out)


def _plan(spec: CampaignSpec) -> _Plan:
    lib = spec.library
    if lib is None:
        raise CampaignError(f"campaign {spec.name!r} is not a library campaign.",
                            hint="Only a spec with a `library:` block has a candidate table.")
    inputs = tuple(lib.inputs)
    cat = tuple(c for c in inputs if c in lib.categorical)
    return _Plan(lib.id_column, tuple(c for c in inputs if c not in cat), cat, inputs)


def _is_parquet(head: bytes) -> bool:
    return head[:4] == b"PAR1"


def _sniff_delimiter(head: bytes) -> str:
    line = head.split(b"\n", 1)[0]
    best = max((b",", b";", b"\t"), key=line.count)
    return best.decode() if line.count(best) else ","


def import_library(source: Path | BinaryIO, *, spec: CampaignSpec, dest_dir: Path,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress | None = None,
                   name: str | None = None) -> LibraryTable:
    """Validate a CSV or Parquet candidate table chunk by chunk and store it as Parquet.

    The source is never held whole in memory: chunks of ``chunk_rows`` rows are read, checked
    and appended to ``dest_dir/.<name>.partial-*.parquet``. Every problem in the file is
    collected in one pass (the first :data:`MAX_LISTED_PROBLEMS` in full); if there is any, the
    partial file is deleted and :class:`LibraryImportError` raised, so nothing is half-written.
    Otherwise the file is renamed to ``dest_dir/<campaign>-<sha256[:16]>-<random>.parquet``.

    Checks: the ID column and every ``library.inputs`` column present (a "did you mean" for
    misspelled headers); IDs non-empty, at most 200 characters and unique across the whole file
    (64-bit hashes of every ID, sorted once at the end: 8 bytes a row; equal hashes are
    confirmed on the IDs themselves); numeric inputs numbers or empty (``NA``/``nan`` count as
    empty; text or infinity is a problem naming row, column and value); a CSV row with too few
    or too many cells is a problem, and a last row without its line break "looks cut off"; a
    truncated Parquet file is refused.

    Args:
        source: A ``.csv`` (``,``, ``;`` or tab separated, UTF-8) or ``.parquet`` file, or an
            open binary stream of either (told apart by Parquet's magic bytes).
        spec: The library-mode campaign spec (ID column, inputs, categoricals).
        dest_dir: Folder of the columnar store (created if missing).
        chunk_rows: Rows per validated chunk and per Parquet row group.
        progress: Called after each chunk as ``progress(rows_done, rows_total)``.
        name: Name of the source in messages (default the file name).

    Returns:
        The stored, opened :class:`LibraryTable`.

    Raises:
        LibraryImportError: The table was rejected; ``problems`` holds row/column/value/hint.
        CampaignError: The spec is not a library spec.
    """
    plan = _plan(spec)
    chunk_rows = max(1, int(chunk_rows))
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    label = str(name or (Path(source).name if isinstance(source, (str, Path)) else
                         getattr(source, "name", None) or "upload"))
    partial = dest_dir / f".{spec.name}.partial-{uuid.uuid4().hex[:12]}.parquet"
    owned: BinaryIO | None = None
    try:
        if isinstance(source, (str, Path)):
            try:
                owned = open(source, "rb")  # noqa: SIM115 - closed in finally
            except OSError as exc:
                raise LibraryImportError(
                    f"cannot read the candidate library {source}: {exc.strerror or exc}.",
                    problems=[Problem(None, None, None, str(exc))],
                    hint="Check the path; it is relative to the spec file's folder.") from None
            stream: BinaryIO = owned
        else:
            stream = source
        head = stream.read(65536)
        stream.seek(0) if stream.seekable() else None
        if not head.strip():
            raise LibraryImportError(f"the candidate library {label} is empty.",
                                     problems=[Problem(None, None, None, "the file is empty")],
                                     hint="Give a CSV or Parquet table with a header row.")
        total_bytes = _size(stream)
        state, problems = _State(), _Problems()
        if _is_parquet(head):
            n_rows = _import_parquet(stream, plan, state, problems, partial, chunk_rows,
                                     progress, label)
        else:
            if not stream.seekable():  # keep going: the CSV reader wants a restartable stream
                stream = io.BytesIO(head + stream.read())
            n_rows = _import_csv(stream, plan, state, problems, partial, chunk_rows, progress,
                                 label, total_bytes, _sniff_delimiter(head))
        if not problems:
            _check_unique(state, partial, plan, problems)
        if problems:
            raise problems.error(label)
        if n_rows == 0:
            raise LibraryImportError(f"the candidate library {label} has no rows.",
                                     problems=[Problem(None, None, None, "no data rows")],
                                     hint="Give one row per candidate under the header.")
        digest = file_sha256(partial)
        # One file per import (a later import of the same table gets its own): deleting the
        # file of a failed campaign creation can never remove another campaign's table.
        final = dest_dir / f"{spec.name}-{digest[:16]}-{partial.stem.rsplit('-', 1)[-1]}.parquet"
        os.replace(partial, final)
        _fsync_dir(dest_dir)
        logger.info("imported %s: %d candidates into %s", label, n_rows, final)
        table = LibraryTable(path=final, sha256=digest, n_rows=n_rows, columns=plan.inputs,
                             id_column=plan.id_column, categorical=plan.categorical,
                             size_bytes=final.stat().st_size)
        if progress is not None:
            progress(n_rows, n_rows)
        return table.open()
    finally:
        if owned is not None:
            owned.close()
        partial.unlink(missing_ok=True)


def _size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    if isinstance(stream, io.BytesIO):
        return len(stream.getbuffer())
    return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _writer(partial: Path, plan: _Plan) -> pq.ParquetWriter:
    return pq.ParquetWriter(partial, plan.schema(), compression="zstd", compression_level=1,
                            write_statistics=True)


def _finish(writer: pq.ParquetWriter, partial: Path, plan: _Plan, state: _State) -> None:
    info = {
        "format": _FORMAT,
        "id_column": plan.id_column,
        "categorical": list(plan.categorical),
        "numeric": {c: {"min": state.lo[c], "max": state.hi[c]} for c in plan.numeric
                    if c in state.lo},
        "missing": {c: state.missing.get(c, 0) for c in plan.inputs},
        "levels": {c: sorted(state.levels.get(c, ())) for c in plan.categorical},
    }
    writer.add_key_value_metadata({_META_KEY.decode(): json.dumps(info)})
    writer.close()
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())


def _check_levels(plan: _Plan, state: _State, problems: _Problems) -> None:
    for c in plan.categorical:
        if len(state.levels.get(c, ())) > MAX_LEVELS:
            problems.add("levels", Problem(None, c, None,
                                           f"has more than {MAX_LEVELS:,} distinct values.",
                                           "A categorical input needs few levels; remove it "
                                           "from library.categorical if it holds numbers."))


def _import_parquet(stream: BinaryIO, plan: _Plan, state: _State, problems: _Problems,
                    partial: Path, chunk_rows: int, progress: Progress | None,
                    label: str) -> int:
    try:
        pf = pq.ParquetFile(stream)
    except (OSError, pa.ArrowException) as exc:
        raise LibraryImportError(
            f"the candidate library {label} is not a readable Parquet file ({exc}); it looks "
            "cut off.", problems=[Problem(None, None, None, f"unreadable Parquet: {exc}")],
            hint=_CUT_OFF_HINT) from None
    _check_header(pf.schema_arrow.names, plan, label)
    total = pf.metadata.num_rows
    writer = _writer(partial, plan)
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=plan.wanted,
                                     use_threads=False):
            chunk = _check_chunk(pa.Table.from_batches([batch]), plan, state, problems,
                                 first_row=state.rows + 2)
            if not problems:
                writer.write_table(chunk, row_group_size=chunk_rows)
            if progress is not None:
                progress(state.rows, total)
    except (OSError, pa.ArrowException) as exc:
        writer.close()
        raise LibraryImportError(
            f"the candidate library {label} could not be read after {state.rows:,} rows "
            f"({exc}); it looks cut off or damaged.",
            problems=[Problem(state.rows + 2, None, None, f"unreadable: {exc}")],
            hint=_CUT_OFF_HINT) from None
    _check_levels(plan, state, problems)
    _finish(writer, partial, plan, state)
    return state.rows


def _import_csv(stream: BinaryIO, plan: _Plan, state: _State, problems: _Problems,
                partial: Path, chunk_rows: int, progress: Progress | None, label: str,
                total_bytes: int | None, delimiter: str) -> int:
    counter = _CountingReader(stream)
    invalid: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    read = pacsv.ReadOptions(block_size=8 << 20, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                               newlines_in_values=False)
    # Everything is read as text and converted here, so a bad value is named by its row.
    convert = pacsv.ConvertOptions(
        include_columns=plan.wanted,
        column_types={c: pa.string() for c in plan.wanted},
        strings_can_be_null=True, quoted_strings_can_be_null=True,
        include_missing_columns=False)
    try:
        header = pacsv.open_csv(io.BytesIO(stream.read(65536).split(b"\n", 1)[0] + b"\n"),
                                read_options=read,
                                parse_options=pacsv.ParseOptions(delimiter=delimiter))
        names = header.schema.names
    except (pa.ArrowException, ValueError) as exc:
        raise LibraryImportError(f"the candidate library {label} has no readable header row "
                                 f"({exc}).", problems=[Problem(1, None, None, str(exc))],
                                 hint="Give a CSV (UTF-8) with a header row.") from None
    stream.seek(0)
    _check_header(names, plan, label)
    writer = _writer(partial, plan)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def flush(final: bool) -> None:
        """Check and write every whole chunk of the pending rows (and the rest if ``final``)."""
        nonlocal pending, pending_rows
        if not pending:
            return
        rest = pa.Table.from_batches(pending)
        while rest.num_rows >= chunk_rows or (final and rest.num_rows):
            part, rest = rest.slice(0, chunk_rows), rest.slice(chunk_rows)
            chunk = _check_chunk(part, plan, state, problems,
                                 first_row=state.rows + 2 + len(invalid))
            if not problems:
                writer.write_table(chunk, row_group_size=chunk_rows)
            if progress is not None:
                # Rows so far scaled by the bytes the reader consumed, and at least the rows
                # already parsed: exact once the reader reached the end of the file.
                known = state.rows + rest.num_rows
                estimate = (None if not total_bytes or not counter.n else known
                            if counter.n >= total_bytes else
                            max(known, round(known * total_bytes / counter.n)))
                progress(state.rows, estimate)
        pending = rest.to_batches() if rest.num_rows else []
        pending_rows = rest.num_rows

    try:
        reader = pacsv.open_csv(counter, read_options=read, parse_options=parse,
                                convert_options=convert)
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                flush(final=False)
        flush(final=True)
    except pa.ArrowInvalid as exc:
        writer.close()
        text = str(exc)
        cut = "quote" in text.lower() or counter.last not in (b"\n", b"\r")
        if "UTF8" in text or "utf8" in text.lower():
            raise LibraryImportError(
                f"the candidate library {label} is not UTF-8 text near row "
                f"{state.rows + pending_rows + 2:,}.",
                problems=[Problem(None, None, None, text)],
                hint="Save the table as CSV UTF-8 (Excel: 'CSV UTF-8') and import it again.",
            ) from None
        raise LibraryImportError(
            f"the candidate library {label} could not be parsed after row "
            f"{state.rows + pending_rows + 1:,}: {text}"
            + (" It looks cut off." if cut else ""),
            problems=[Problem(state.rows + pending_rows + 2, None, None, text)],
            hint=_CUT_OFF_HINT if cut else "Check the separator and quotes of that row.",
        ) from None
    ends_with_break = counter.last in (b"\n", b"\r")
    expected = len(names)
    for row in invalid:
        number = row.number if row.number is not None else None
        last = (not ends_with_break and row is invalid[-1]
                and row.actual_columns < row.expected_columns)
        if last:
            problems.add("cut off", Problem(
                number, None, row.text[:60],
                f"the file ends in the middle of this row ({row.actual_columns} of {expected} "
                "cells): it looks cut off.", _CUT_OFF_HINT))
        else:
            problems.add("cell count", Problem(
                number, None, row.text[:60],
                f"has {row.actual_columns} cells, the header has {expected}.",
                "Quote values that contain the separator, or remove the extra cells."))
    _check_levels(plan, state, problems)
    _finish(writer, partial, plan, state)
    return state.rows


def _check_unique(state: _State, partial: Path, plan: _Plan, problems: _Problems) -> None:
    """IDs unique across the whole file: sort the 64-bit hashes, confirm ties on the IDs."""
    if not state.hashes:
        return
    hashes = np.concatenate(state.hashes)
    state.hashes.clear()
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    del hashes
    tie = np.flatnonzero(sorted_h[1:] == sorted_h[:-1])
    if tie.size == 0:
        return
    first, second = order[tie], order[tie + 1]
    check = min(tie.size, 10 * MAX_LISTED_PROBLEMS)
    table = LibraryTable(path=partial, sha256="", n_rows=state.rows, columns=plan.inputs,
                         categorical=plan.categorical)
    a = table.ids_at(first[:check])
    b = table.ids_at(second[:check])
    confirmed = 0
    for i in range(check):
        if a[i] == b[i]:
            confirmed += 1
            r1, r2 = sorted((int(first[i]), int(second[i])))
            problems.add("duplicate ID", Problem(
                r2 + 2, plan.id_column, str(a[i]), f"repeats the ID of row {r1 + 2}.",
                "Give every candidate its own ID."))
    # Beyond the confirmed ones, equal 64-bit hashes are equal IDs (a false tie is ~1e-6 likely
    # even at 10 million rows); they are counted, not listed.
    problems.count("duplicate ID", int(tie.size - check))
    if confirmed < check:
        logger.info("%d equal ID hashes were different IDs", check - confirmed)
