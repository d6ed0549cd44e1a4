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

import io
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from campaigns.errors import CampaignError, IngestError, Problem
from campaigns.hints import did_you_mean
from campaigns.library_table import (
    DEFAULT_BATCH_ROWS,
    ID,
    META_KEY,
    CandidateTable,
    FrameTable,
    LibraryStoreError,
    LibraryTable,
    file_sha256,
)
from campaigns.spec import CampaignSpec

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_ROWS", "DEFAULT_CHUNK_ROWS", "ID", "SMALL_LIBRARY_ROWS",
           "CandidateTable", "FrameTable", "LibraryImportError", "LibraryStoreError",
           "LibraryTable", "Progress", "file_sha256", "import_library", "small_library_rows"]

#: Libraries with more rows than this live in the columnar store; smaller ones stay database
#: rows (``PLANNER_SMALL_LIBRARY_ROWS`` changes it for one lab).
SMALL_LIBRARY_ROWS = 20_000

#: Rows per Parquet row group and per validated chunk of an import.
DEFAULT_CHUNK_ROWS = 500_000

#: Problems listed in full in an import error (the rest are counted).
MAX_LISTED_PROBLEMS = 20

#: Most levels a categorical library input may have.
MAX_LEVELS = 10_000

#: Longest candidate ID (the database's ``candidate_id`` columns hold 200 characters).
MAX_ID_LENGTH = 200

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
    _remove_stale_partials(dest_dir)
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
            csv_args = (partial, chunk_rows, progress, label, total_bytes,
                        _sniff_delimiter(head))
            try:
                n_rows = _import_csv(stream, plan, state, problems, *csv_args, typed=True)
            except _Untyped:
                # Text in a numeric column: read again as text, to name every bad value.
                state, problems = _State(), _Problems()
                partial.unlink(missing_ok=True)
                stream.seek(0)
                n_rows = _import_csv(stream, plan, state, problems, *csv_args, typed=False)
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


#: A partial file untouched this long belongs to an import that was killed (kill -9, power
#: loss): the next import removes it.
_STALE_PARTIAL_S = 24 * 3600


def _remove_stale_partials(folder: Path) -> None:
    now = time.time()
    for path in folder.glob(".*.partial-*.parquet"):
        try:
            if now - path.stat().st_mtime > _STALE_PARTIAL_S:
                path.unlink()
                logger.info("removed %s, left by an interrupted import", path)
        except OSError:
            pass


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
    # Snappy: the funnel streams the whole file at every proposal, and Snappy reads about twice
    # as fast as zstd for 25 % more bytes (descriptor floats hardly compress either way).
    return pq.ParquetWriter(partial, plan.schema(), compression="snappy",
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
    writer.add_key_value_metadata({META_KEY.decode(): json.dumps(info)})
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


class _Untyped(Exception):
    """A numeric column of a CSV holds text: the fast typed read gives way to a text read."""


def _import_csv(stream: BinaryIO, plan: _Plan, state: _State, problems: _Problems,
                partial: Path, chunk_rows: int, progress: Progress | None, label: str,
                total_bytes: int | None, delimiter: str, *, typed: bool) -> int:
    """Stream a CSV into ``partial``. ``typed``: numeric columns are parsed as floats by the
    reader (fast); a value that is not a number raises :class:`_Untyped`, and the caller reads
    again with ``typed=False``: every column as text, converted here, so each bad value is
    named by row, column and value."""
    counter = _CountingReader(stream)
    invalid: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    read = pacsv.ReadOptions(block_size=8 << 20, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                               newlines_in_values=False)
    convert = pacsv.ConvertOptions(
        include_columns=plan.wanted,
        column_types={c: pa.float64() if typed and c in plan.numeric else pa.string()
                      for c in plan.wanted},
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
        if typed and "conversion error" in text.lower():
            raise _Untyped(text) from None
        cut = "quote" in text.lower() or counter.last not in (b"\n", b"\r")
        if "UTF8" in text or "utf8" in text.lower():
            raise LibraryImportError(
                f"the candidate library {label} is not UTF-8 text.",
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
    if not ends_with_break and not invalid:
        # A last row with all its cells may still have lost the end of its last value.
        logger.warning("%s does not end with a line break: if it was cut off while copying, "
                       "its last row (%d) may be incomplete.", label, state.rows + 1)
    expected = len(names)
    for row in invalid:
        number = row.number
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
