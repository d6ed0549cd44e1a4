"""Candidate libraries: load and validate the table of already-made candidates.

A small table (up to :func:`campaigns.library_store.small_library_rows`, 20,000 rows by default)
is read whole by :func:`load_library` and stored as database rows; a bigger one, or any table
when asked, is streamed into the columnar store by
:func:`campaigns.library_store.import_library`. :func:`prepare_library` makes that choice for
``planner campaign create``, the dashboard and the Python API alike; :class:`ImportJob` runs an
import in a background thread whose progress another thread (a dashboard page) can read.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow.parquet as pq

from campaigns.errors import CampaignError
from campaigns.hints import did_you_mean
from campaigns.library_store import (
    DEFAULT_CHUNK_ROWS,
    ID,
    LibraryTable,
    Progress,
    import_library,
    small_library_rows,
)
from campaigns.spec import CampaignSpec

logger = logging.getLogger(__name__)


def load_library(spec: CampaignSpec, *, base_dir: Path,
                 frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and check a library campaign's candidate table.

    Args:
        spec: A library-mode spec.
        base_dir: Folder that ``spec.library.path`` is relative to (the spec file's folder).
        frame: The table itself, when it does not come from a file (dashboard upload).

    Returns:
        The table with the ID column as strings and numeric inputs as floats (NaN = missing).
    """
    lib = spec.library
    if lib is None:
        raise CampaignError(f"campaign {spec.name!r} is not a library campaign.")
    if frame is None:
        if not lib.path:
            raise CampaignError("library.path is empty.", hint="Point it at a CSV of candidates.")
        path = Path(lib.path) if Path(lib.path).is_absolute() else base_dir / lib.path
        try:
            frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise CampaignError(f"cannot read candidate library {path}: {exc}",
                                hint="Give a CSV file with a header row.") from None
    missing = [c for c in (lib.id_column, *lib.inputs) if c not in frame.columns]
    if missing:
        hints = [f"{m!r}: {mean}" for m in missing if (mean := did_you_mean(m, frame.columns))]
        raise CampaignError(f"candidate library lacks column(s) {missing}.",
                            hint=" ".join([*hints, f"Columns present: {list(frame.columns)}."]))
    out = frame[[lib.id_column, *lib.inputs]].copy()
    out[lib.id_column] = out[lib.id_column].astype(str)
    dup = out[lib.id_column][out[lib.id_column].duplicated()].unique().tolist()
    if dup:
        raise CampaignError(f"candidate IDs repeat: {dup[:5]}.",
                            hint="Give every candidate its own ID.")
    for col in lib.inputs:
        if col in lib.categorical:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        bad = out[col].notna() & num.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CampaignError(
                f"Row {i + 2}, column {col!r}: {out[col].iloc[i]!r} is not a number.",
                hint="Leave missing values empty, or list the column under library.categorical.")
        out[col] = num.astype(float)
    return out.rename(columns={lib.id_column: "candidate_id"})


def library_path(spec: CampaignSpec, *, base_dir: Path) -> Path:
    """The file ``spec.library.path`` names (relative to ``base_dir``, the spec's folder)."""
    lib = spec.library
    if lib is None:
        raise CampaignError(f"campaign {spec.name!r} is not a library campaign.")
    if not lib.path:
        raise CampaignError("library.path is empty.",
                            hint="Point it at a CSV or Parquet table of candidates.")
    path = Path(lib.path).expanduser()
    return path if path.is_absolute() else base_dir / path


def _count_lines(stream: BinaryIO, stop_after: int) -> int:
    """Line breaks in ``stream`` (from its start), counting no further than ``stop_after``."""
    stream.seek(0)
    n = 0
    while block := stream.read(8 << 20):
        n += block.count(b"\n")
        if n > stop_after:
            break
    stream.seek(0)
    return n


def is_big_library(source: Path | BinaryIO) -> bool:
    """Whether a CSV or Parquet table has more data rows than
    :func:`~campaigns.library_store.small_library_rows` (Parquet: from its footer; CSV: its line
    breaks, counted no further than needed)."""
    limit = small_library_rows()
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as fh:
                return is_big_library(fh)
        except OSError as exc:
            raise CampaignError(f"cannot read candidate library {source}: "
                                f"{exc.strerror or exc}.",
                                hint="Check the path; it is relative to the spec file's "
                                "folder.") from None
    head = source.read(4)
    source.seek(0)
    if head == b"PAR1":
        try:
            rows = pq.ParquetFile(source).metadata.num_rows
        except Exception:  # noqa: BLE001 - a damaged file is reported by the import itself
            rows = limit + 1
        source.seek(0)
        return rows > limit
    return _count_lines(source, limit + 1) - 1 > limit


def prepare_library(spec: CampaignSpec, *, base_dir: Path, dest_dir: Path,
                    frame: pd.DataFrame | None = None, source: Path | BinaryIO | None = None,
                    progress: Progress | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    columnar: bool | None = None,
                    ) -> tuple[pd.DataFrame | None, LibraryTable | None]:
    """A library campaign's candidates, checked: a small table as a frame, a big one imported.

    Args:
        spec: A library-mode spec.
        base_dir: Folder ``spec.library.path`` is relative to.
        dest_dir: The store's library folder (:attr:`campaigns.store.Store.library_dir`).
        frame: The table itself (always kept as database rows).
        source: A CSV/Parquet file or binary stream instead of ``spec.library.path``.
        progress: ``progress(rows_done, rows_total)`` during a columnar import.
        chunk_rows: Rows per chunk of a columnar import.
        columnar: Force (``True``) or forbid (``False``) the columnar store; default by size.

    Returns:
        ``(frame, None)`` for a small library, ``(None, table)`` for one imported into
        ``dest_dir``.
    """
    if frame is not None:
        return load_library(spec, base_dir=base_dir, frame=frame), None
    where: Path | BinaryIO = source if source is not None else library_path(spec,
                                                                          base_dir=base_dir)
    big = is_big_library(where) if columnar is None else columnar
    if big:
        return None, import_library(where, spec=spec, dest_dir=dest_dir, chunk_rows=chunk_rows,
                                    progress=progress)
    # A small file passes the same chunked checks (a row cut off, text in a numeric column, a
    # repeated ID, ...) in a scratch folder, then becomes database rows.
    with tempfile.TemporaryDirectory(prefix="planner-library-") as scratch:
        table = import_library(where, spec=spec, dest_dir=Path(scratch), chunk_rows=chunk_rows)
        small = table.to_frame().reset_index(drop=True)
    assert spec.library is not None
    small = small.rename(columns={ID: spec.library.id_column})
    return load_library(spec, base_dir=base_dir, frame=small), None


@dataclass
class ImportJob:
    """A library import running in a background thread, its progress readable meanwhile.

    ``work(progress)`` does the import (and whatever follows, e.g. storing the campaign) and
    calls ``progress(rows_done, rows_total)``; the job records the latest figures, the result
    or the error (a :class:`CampaignError` for the user to read).

    Example:
        >>> job = ImportJob(lambda progress: progress(10, 10) or "done").start()
        >>> job.wait(5).result, job.rows_done, job.fraction
        ('done', 10, 1.0)
    """

    work: Callable[[Progress], Any]
    label: str = ""
    rows_done: int = 0
    rows_total: int | None = None
    result: Any = None
    error: BaseException | None = None
    started_at: float = 0.0
    finished_at: float | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"library-import {self.label}",
                                        daemon=True)

    def start(self) -> ImportJob:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def _progress(self, done: int, total: int | None) -> None:
        self.rows_done, self.rows_total = int(done), (None if total is None else int(total))

    def _run(self) -> None:
        try:
            self.result = self.work(self._progress)
        except BaseException as exc:  # noqa: BLE001 - reported to the page that started it
            if not isinstance(exc, CampaignError):
                logger.exception("library import %s failed", self.label)
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def fraction(self) -> float | None:
        """Share done, 0-1 (``None`` while the total is unknown)."""
        if self.done and self.error is None:
            return 1.0
        if not self.rows_total:
            return None
        return min(1.0, self.rows_done / self.rows_total)

    @property
    def seconds(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at if self.started_at else 0.0

    def wait(self, timeout: float | None = None) -> ImportJob:
        self._thread.join(timeout)
        return self
