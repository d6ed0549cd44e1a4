"""Reading a stored candidate library: :class:`LibraryTable` (Parquet) and :class:`FrameTable`
(a small DataFrame) behind one streaming interface, :class:`CandidateTable`.

The files are written by :func:`campaigns.library_store.import_library` (the layout and the
small/big rule are described there); this module only reads them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from campaigns.errors import CampaignError
from campaigns.hints import did_you_mean
from campaigns.spec import CampaignSpec

#: Rows per frame :meth:`LibraryTable.iter_batches` yields by default.
DEFAULT_BATCH_ROWS = 100_000

#: Rows per frame :meth:`LibraryTable.positions_of` scans at once.
_SCAN_ROWS = 500_000

ID = "candidate_id"
"""The ID column of every stored library (whatever the source called it)."""
META_KEY = b"planner.library"
"""Parquet footer key of the import's JSON summary (bounds, levels, missing counts)."""


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
        raw = (meta.metadata or {}).get(META_KEY)
        info = json.loads(raw) if raw else {}
        self._meta.clear()
        self._meta.update(info)
        return self

    @classmethod
    def from_file(cls, path: Path, *, sha256: str | None = None, full: bool = True
                  ) -> LibraryTable:
        """The table stored in ``path`` (its checksum computed, or checked against ``sha256``)."""
        meta = pq.read_metadata(path)
        raw = (meta.metadata or {}).get(META_KEY)
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
        for frame in self.iter_batches([ID], batch_rows=_SCAN_ROWS):
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
        parts = list(self.iter_batches(batch_rows=_SCAN_ROWS))
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
