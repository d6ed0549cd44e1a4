"""The planner from Python: a campaign database, its weekly loop, and backtests, for notebooks.

Three objects in the words of the lab: a :class:`Planner` is an open campaign database, a
:class:`Campaign` one campaign in it, a :class:`Plate` one stored plate (a batch). They are a
thin layer over the functions the command line (``planner …``) and the dashboard call, so a
notebook, the CLI and the dashboard do the same thing: results added from a DataFrame are
checked exactly like an uploaded file, every write is one transaction of
:class:`campaigns.store.Store`, and errors are the packages' own (:class:`~campaigns.errors.
CampaignError`, :class:`~planner.errors.PlanningError`), each with a message and a hint.

Example:
    The weekly loop on a new database file:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from planner.api import Planner
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with Planner.open(f"sqlite:///{folder}/lab.db") as planner:
    ...         campaign = planner.create_campaign("hard-carbon", name="hc-spring")
    ...         plate = campaign.suggest(week="2026-W10")  # space-filling before any data
    ...         sheet = campaign.plate_sheet(Path(folder) / "plate.xlsx")  # for the lab
    ...         sheet.loc[0, "ICE [%]"] = 84.5
    ...         outcome = campaign.add_results(sheet)  # checked as an upload would be
    ...         print(plate.week, len(plate), outcome.result.n_new, len(campaign.results()))
    2026-W10 96 1 1

A backtest of a table whose outcomes are all known (:func:`backtest`) needs no database.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd

from campaigns.errors import CampaignError, NotFoundError
from campaigns.exports import format_of, write_frame
from campaigns.ingest import ParsedPlate
from campaigns.library_store import DEFAULT_CHUNK_ROWS, LibraryTable, Progress
from campaigns.sheet import template_frame, write_template
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from campaigns.store import BatchInfo, Store, WellInfo
from campaigns.uploads import (
    UploadOutcome,
    ingest_bytes,
    ingest_frame,
    preview_frame,
    sheet_wells,
)
from planner.weekly import due_campaigns, parse_week, suggest_plate

if TYPE_CHECKING:
    from planner.backtest import BacktestResult, TargetSpec
    from planner.cell.projection import CellDesign, CellProjection

__all__ = ["Campaign", "Planner", "Plate", "UploadOutcome", "backtest", "default_actor"]

logger = logging.getLogger(__name__)


def default_actor() -> str:
    """The login name recorded with every write (``""`` where the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


# --- plates --------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Plate:
    """A stored plate (a batch): its wells, recipes and the model's predictions.

    Returned by :meth:`Campaign.suggest`, :meth:`Campaign.plate` and :meth:`Campaign.plates`.
    In a notebook it shows as its table (:meth:`frame`).
    """

    batch: BatchInfo
    """The stored batch, as :class:`campaigns.store.Store` returns it."""
    spec: CampaignSpec
    """The campaign's spec (decides the input and target columns of :meth:`frame`)."""
    created: bool = False
    """:meth:`Campaign.suggest` proposed it just now (``False``: the week's plate existed)."""

    @property
    def id(self) -> int:
        """Batch number, as written in the sheet's Batch column."""
        return self.batch.id

    @property
    def week(self) -> str:
        """ISO week the plate is planned for (``"2026-W10"``)."""
        return self.batch.iso_week

    @property
    def status(self) -> str:
        """``proposed``, ``running`` (some results), ``completed`` or ``discarded``."""
        return self.batch.status

    @property
    def generator(self) -> str:
        """How the recipes were chosen (space-filling design, or the model and acquisition)."""
        return self.batch.generator

    @property
    def seed(self) -> int:
        """Seed the proposal used; with :attr:`data_revision` it reproduces the plate."""
        return self.batch.seed

    @property
    def data_revision(self) -> int:
        """The campaign's data revision the proposal saw."""
        return self.batch.data_revision

    @property
    def warnings(self) -> list[Any]:
        """Warnings stored with the proposal (a fallback, a warm start that failed …)."""
        return self.batch.warnings

    @property
    def model_info(self) -> dict[str, Any]:
        """The proposal's record of its model: surrogate, acquisition, settings; with
        ``model: auto``, ``model_info["model_selection"]`` holds the model chosen per target
        (``["chosen"]``), every candidate's held-out scores and the reason."""
        return dict(self.batch.model_info or {})

    @property
    def wells(self) -> tuple[WellInfo, ...]:
        """The stored wells, in loading order."""
        return self.batch.wells

    def __len__(self) -> int:
        return len(self.batch.wells)

    def frame(self) -> pd.DataFrame:
        """One row per well: ``well``, ``row``, ``column``, ``role``, ``replicate_of``, the
        inputs, ``predicted_<target>`` and ``predicted_<target>_std`` (target units) where the
        model predicted, and ``p_feasible_<constraint>`` (see
        :func:`planner.reports.progress.plate_frame`). A space-filling plate has no predictions.
        """
        from planner.reports.progress import plate_frame

        return plate_frame(self.batch, self.spec).drop(columns=["row_index"], errors="ignore")

    def predictions(self) -> pd.DataFrame:
        """``well``, ``role`` and the prediction columns of :meth:`frame` (none before data)."""
        frame = self.frame()
        keep = [c for c in frame.columns if c.startswith(("predicted_", "p_feasible_"))]
        return frame[["well", "role", *keep]]

    def __repr__(self) -> str:
        return (f"Plate(id={self.id}, week={self.week!r}, status={self.status!r}, "
                f"wells={len(self)}, generator={self.generator!r})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + (self.frame()._repr_html_() or "")


# --- campaigns -----------------------------------------------------------------------------
class Campaign:
    """One campaign of a :class:`Planner`: suggest plates, add results, read and export them.

    Get one with :meth:`Planner.campaign` or :meth:`Planner.create_campaign`. It holds only its
    name: every call reads the database, so changes made by the CLI or the dashboard are seen.
    """

    def __init__(self, planner: Planner, name: str) -> None:
        self._planner = planner
        self._name = name

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self._name

    @property
    def planner(self) -> Planner:
        """The database this campaign lives in."""
        return self._planner

    @property
    def _store(self) -> Store:
        return self._planner.store

    @property
    def spec(self) -> CampaignSpec:
        """The campaign's spec as stored now: design space, targets, plate format."""
        return self._store.spec(self._name)

    def __repr__(self) -> str:
        return f"Campaign({self._name!r})"

    # --- plates ----------------------------------------------------------------------------
    def suggest(self, week: str | None = None, *, force: bool = False, seed: int | None = None,
                surrogate: str | None = None, fast: bool = False, engine: str = "local",
                scheduler: str | None = None) -> Plate:
        """Propose the plate for an ISO week and store it, or return the week's stored plate.

        Before any result the recipes come from a space-filling design; afterwards from the
        model (BoTorch), with the campaign's acquisition settings. One plate per week: asking
        again returns the stored plate unchanged (``plate.created`` is ``False``).

        Args:
            week: ISO week such as ``"2026-W48"``; default this week.
            force: Replace the week's plate (only while it has no results); the old one is kept
                as discarded.
            seed: Random seed; default a stable hash of campaign and week.
            surrogate: ``"auto"``, ``"gp"``, ``"ensemble"``, ``"rf"`` or ``"boosted"``, once
                the campaign has data; default the spec's ``planning.model`` (``"auto"``: the
                best model per target by cross-validation over the plates, named with its
                reason in ``plate.model_info["model_selection"]``).
            fast: Cheaper optimizer settings (tests, demos; also ``PLANNER_FAST=1``).
            engine: Where a big library's screening runs: ``"local"`` or ``"dask"`` (see
                :mod:`planner.engine`).
            scheduler: ``tcp://HOST:PORT`` of a Dask scheduler (``engine="dask"``; default a
                ``LocalCluster`` on 127.0.0.1).

        Example:
            ::

                plate = campaign.suggest(week="2026-W11")
                plate.frame()[["well", "predicted_ice_pct", "predicted_ice_pct_std"]]
        """
        from planner.engine import running_on

        with running_on(engine, scheduler):
            result = suggest_plate(self._store, self._name, week=week, surrogate=surrogate,
                                   seed=seed, force=force, fast=fast, actor=self._planner.actor)
        if not result.created:
            logger.info("campaign %s: plate %d for %s already existed; returned unchanged",
                        self._name, result.batch.id, result.batch.iso_week)
        return Plate(result.batch, self.spec, created=result.created)

    def plates(self, *, include_discarded: bool = False) -> list[Plate]:
        """Every plate, oldest first (replaced plates only with ``include_discarded``)."""
        spec = self.spec
        return [Plate(b, spec) for b in
                self._store.batches(self._name, include_discarded=include_discarded)]

    def plate(self, batch: int | None = None, *, week: str | None = None) -> Plate:
        """A plate by batch number, the plate of an ISO week, or (neither given) the newest.

        Raises:
            NotFoundError: No such plate, with a hint how to list or propose one.
        """
        if week is not None:
            week = parse_week(week)
            found = self._store.batch_for_week(self._name, week)
            if found is None:
                raise NotFoundError(f"campaign {self._name!r} has no plate for {week}.",
                                    hint=f"Propose one: campaign.suggest(week={week!r}).")
            return Plate(found, self.spec)
        return Plate(self._store.batch(self._name, batch), self.spec)

    def plate_sheet(self, path: str | Path | None = None, *,
                    batch: int | None = None) -> pd.DataFrame:
        """The sheet the lab fills in for a plate (default the newest), written to ``path`` if
        given (``.xlsx`` with an Instructions sheet, or ``.csv``).

        Returns:
            One row per well: ``Batch``, ``Well``, ``Role``, the recipe, one empty column per
            measured quantity (headers with units, e.g. ``ICE [%]``), ``Status``,
            ``Operator``, ``Instrument``, ``Measured at``, ``Notes``. Fill in results and pass
            it to :meth:`add_results`.
        """
        spec, b = self.spec, self._store.batch(self._name, batch)
        frame = template_frame(spec, batch_id=b.id, wells=sheet_wells(spec, b))
        if path is not None:
            write_template(frame, Path(path))
        return frame

    # --- results ---------------------------------------------------------------------------
    def check_results(self, results: pd.DataFrame, *, batch: int | None = None,
                      confirm_unusual: bool = False) -> ParsedPlate:
        """Validate a DataFrame of results as :meth:`add_results` would, storing nothing.

        Returns:
            The values that would be stored (``records``) and the warnings.

        Raises:
            IngestError: Listing every problem (row, column, value, hint) at once.
        """
        parsed, _ = preview_frame(self._store, self._name, results, batch_id=batch,
                                  confirm_unusual=confirm_unusual)
        return parsed

    def add_results(self, results: pd.DataFrame, *, batch: int | None = None,
                    confirm_unusual: bool = False, filename: str = "dataframe") -> UploadOutcome:
        """Store a filled plate sheet given as a DataFrame: all of it, or nothing.

        The frame is checked exactly like an uploaded file (``planner ingest``): headers with
        units (``ICE [%]``), well IDs, statuses, ranges, a Batch column that decides the plate
        (``batch`` that disagrees with it is refused), recipe cells that must match the plate's
        recipes; every problem is reported at once, with its row (the frame's first row is row
        2, as under a spreadsheet's header), column, value and a hint. A missing value is an
        empty cell (NaN or ``None``); ``"NA"`` text is refused. Adding the same results again
        changes nothing; a changed value supersedes the stored one, which is kept.

        Args:
            results: One row per well, usually :meth:`plate_sheet` with results filled in.
            batch: The plate the results belong to; default the frame's Batch column, else the
                newest plate.
            confirm_unusual: Store values that look like a wrong unit (ICE 0.85 where ICE is
                in %) as written; without it they are errors.
            filename: How the upload is named in the upload list.

        Returns:
            The counts of new, corrected and unchanged values (``outcome.result``) and the
            warnings.

        Raises:
            UnusualValuesError: The only problems are values that look like a wrong unit.
            IngestError: Anything else is wrong; ``problems`` lists every one.

        Example:
            ::

                sheet = campaign.plate_sheet()
                sheet["ICE [%]"] = measured_ice  # one value per well, in %
                outcome = campaign.add_results(sheet)
                outcome.result.n_new, outcome.result.batch_status  # (96, 'completed')
        """
        return ingest_frame(self._store, self._name, results, filename=filename,
                            batch_id=batch, actor=self._planner.actor,
                            confirm_unusual=confirm_unusual)

    def upload(self, file: str | Path | bytes, *, filename: str | None = None,
               batch: int | None = None, confirm_unusual: bool = False) -> UploadOutcome:
        """Store a filled plate file (CSV or XLSX), as ``planner ingest`` does.

        Args:
            file: Path of the file, or its bytes (then give ``filename``).
            filename: Name of the upload for messages; default the file's name.
            batch, confirm_unusual: As :meth:`add_results`.

        Raises:
            CampaignError: The file cannot be read.
            IngestError: The file was rejected; nothing was stored.
        """
        if isinstance(file, bytes):
            data, name = file, filename or "upload"
        else:
            path = Path(file)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CampaignError(f"cannot read {path}: {exc.strerror}.",
                                    hint="Check the path.") from None
            name = filename or path.name
        return ingest_bytes(self._store, self._name, data, filename=name, batch_id=batch,
                            actor=self._planner.actor, confirm_unusual=confirm_unusual)

    def upload_instruments(self, files: str | Path | bytes | dict[str, bytes], *,
                           sheet: str | Path | bytes | None = None,
                           files_name: str | None = None, sheet_name: str | None = None,
                           batch: int | None = None, settings: Any = None,
                           confirm_unusual: bool = False) -> Any:
        """Fit XRD patterns and Raman spectra per well and store d002, Lc, La and ID/IG.

        As ``planner ingest SHEET --instruments ZIP`` and ``planner data instruments ZIP``:
        see :mod:`campaigns.instruments.upload` (files named by well, or a file-name column in
        the sheet; all or nothing; provenance in each value's note).

        Args:
            files: A zip (path or bytes), or file name → bytes.
            sheet: The filled plate sheet that comes along (path or bytes), if any.
            files_name, sheet_name: Names for messages and the upload list.
            batch: The plate; default the sheet's Batch column, else the newest.
            settings: :class:`campaigns.instruments.CharacterizeSettings` (default: defaults).
            confirm_unusual: As :meth:`add_results`.

        Returns:
            :class:`campaigns.instruments.upload.InstrumentUploadOutcome`: what was stored, the
            warnings, and every file's fit.

        Raises:
            InstrumentFileError: A file was rejected (each problem names it); nothing stored.
            IngestError: The sheet was rejected; nothing was stored.
        """
        from campaigns.instruments.upload import ingest_instruments

        def load(source: str | Path | bytes, name: str | None, default: str) -> tuple[bytes, str]:
            if isinstance(source, bytes):
                return source, name or default
            path = Path(source)
            try:
                return path.read_bytes(), name or path.name
            except OSError as exc:
                raise CampaignError(f"cannot read {path}: {exc.strerror}.",
                                    hint="Check the path.") from None

        if isinstance(files, dict):
            data: bytes | dict[str, bytes] = files
            fname = files_name or "instrument files"
        else:
            data, fname = load(files, files_name, "instruments.zip")
        sheet_data, sname = (None, "plate sheet") if sheet is None else load(
            sheet, sheet_name, "plate sheet")
        return ingest_instruments(self._store, self._name, data, files_name=fname,
                                  sheet=sheet_data, sheet_name=sname, batch_id=batch,
                                  settings=settings, confirm_unusual=confirm_unusual,
                                  actor=self._planner.actor)

    def results(self, *, long: bool = False, include_superseded: bool = False) -> pd.DataFrame:
        """The campaign's results.

        Args:
            long: One row per stored value (``quantity``, ``value``, ``unit``, ``status`` and
                its provenance) instead of one row per measured well.
            include_superseded: With the values that were corrected or retracted since (the
                full, append-only history; always one row per value).

        Returns:
            By default one row per measured well: batch, week, well, role, recipe, every
            measured quantity, ``status``, and where the values came from (operator,
            instrument, file and its SHA-256, generator, seed, data revision).
        """
        if long or include_superseded:
            return self._store.measurements(self._name, include_superseded=include_superseded)
        return self._store.export_frame(self._name)

    def export(self, path: str | Path, *, long: bool = False) -> pd.DataFrame:
        """Write :meth:`results` to a ``.csv`` or ``.xlsx`` file that is safe to open in Excel.

        Text a spreadsheet would run as a formula (a note starting with ``=``) gets a leading
        ``'``; numbers stay numbers. ``long`` writes the full history, one row per stored value
        with superseded values (``planner export --long``).

        Returns:
            The table written.
        """
        fmt = format_of(path)
        frame = self.results(long=long, include_superseded=long)
        write_frame(frame, path, fmt=fmt)
        return frame

    def uploads(self) -> pd.DataFrame:
        """Every accepted upload, oldest first, with its ``upload_id`` and whether it was
        retracted."""
        return self._store.uploads(self._name)

    def retract_upload(self, upload_id: int, *, reason: str) -> int:
        """Withdraw every value an upload (a wrong file) stored that is still current.

        Returns:
            The number of values withdrawn; they stay in the history as retracted.
        """
        return self._store.retract_upload(self._name, upload_id, reason=reason,
                                           actor=self._planner.actor)

    def correct(self, *, batch: int, well: str, quantity: str, value: float | None,
                status: str = "ok", note: str | None = None) -> int:
        """Correct one value (the old one is kept); ``value=None`` with a failure ``status``
        records a failed well. ``note`` says why.

        Returns:
            The id of the new measurement.
        """
        return self._store.correct_measurement(self._name, batch_id=batch, well=well,
                                               quantity=quantity, value=value, status=status,
                                               note=note, actor=self._planner.actor)

    def retract_value(self, *, batch: int, well: str, quantity: str, reason: str) -> int:
        """Withdraw the current value of one well and quantity (kept in the history).

        Returns:
            The id of the retraction.
        """
        return self._store.retract_value(self._name, batch_id=batch, well=well,
                                         quantity=quantity, reason=reason,
                                         actor=self._planner.actor)

    # --- spec and data ---------------------------------------------------------------------
    def update_spec(self, spec: CampaignSpec) -> None:
        """Replace the campaign's spec (the old one is kept in the audit log). Stored plates
        and results stay as they are; the new spec applies to future plates.

        Raises:
            CampaignError: ``spec`` names another campaign.
        """
        if spec.name != self._name:
            raise CampaignError(f"the spec is named {spec.name!r}, not {self._name!r}.",
                                hint="Keep the campaign's name; create a new campaign to use "
                                "another one.")
        self._store.update_spec(spec, actor=self._planner.actor)

    def library(self) -> pd.DataFrame | None:
        """The candidate table of a library campaign held as database rows (``None`` for a
        recipe campaign or a big library: see :meth:`library_table`)."""
        return self._store.library(self._name)

    def library_table(self, *, full_check: bool = False) -> LibraryTable | None:
        """A big library's columnar table (:class:`campaigns.library_store.LibraryTable`,
        streamed, never read whole), checked against its stored size and footer (and SHA-256
        with ``full_check``); ``None`` when the candidates are database rows."""
        return self._store.library_table(self._name, full_check=full_check)

    def import_library(self, source: Path | BinaryIO, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                       progress: Progress | None = None) -> LibraryTable:
        """Import a CSV or Parquet candidate table (any size) into the columnar store and make
        it this library campaign's table; the previous one stays referenced for provenance.

        Raises:
            LibraryImportError: The table was rejected (row, column, value, hint); no file
                was left behind.
            CampaignError: Not a library campaign, or a candidate already on a plate is
                missing from the new table.
        """
        from campaigns.library_store import import_library

        spec = self.spec
        table = import_library(source, spec=spec, dest_dir=self._store.library_dir,
                               chunk_rows=chunk_rows, progress=progress)
        try:
            self._store.attach_library(self._name, table, actor=self._planner.actor,
                                       source=getattr(source, "name", None) or str(source))
        except BaseException:
            table.path.unlink(missing_ok=True)
            raise
        return table

    def snapshot(self) -> CampaignSnapshot:
        """Everything the planner sees at the current data revision: the spec, measured wells
        (``observations``), wells awaiting results (``pending``), the library."""
        return self._store.snapshot(self._name)

    def cell_materials(self) -> pd.DataFrame:
        """Materials a cell projection can start from: the best measured wells and proposed wells
        with predictions (see :func:`planner.cell.report.projectable_materials`)."""
        from planner.cell.report import projectable_materials

        return projectable_materials(self.snapshot(), self._store.batches(self._name))

    def project_cell(self, values: dict[str, float], *, design: CellDesign | None = None,
                     fast: bool = False) -> CellProjection:
        """PyBaMM projection of one material into a full cell (a model, not a measurement).

        Args:
            values: The material's numbers: ``ice_pct`` and ``reversible_capacity_mah_per_g``
                (hard carbon) or ``ionic_conductivity_ms_per_cm`` (electrolyte), e.g. a row of
                :meth:`cell_materials`.
            design: The cell's assumptions (N/P ratio, loading, electrolyte, temperature);
                default :data:`planner.cell.projection.DEFAULT_DESIGN`.
            fast: PyBaMM's coarse mesh (within ~5 %).

        Returns:
            The :class:`~planner.cell.projection.CellProjection` (cached on disk).
        """
        from planner.cell.report import project_material, projection_kind

        return project_material(projection_kind(self.snapshot()), values, design=design,
                                fast=fast)


# --- the database --------------------------------------------------------------------------
class Planner:
    """A campaign database, opened: the entry point of the Python API.

    Open one with :meth:`open` (it owns the connection: use ``with`` or call :meth:`close`), or
    wrap a :class:`~campaigns.store.Store` that is already open (``Planner(store)``, as the
    dashboard does; closing the store stays its owner's job).

    Args:
        store: The open store.
        actor: Name recorded with every write; default the login name.
    """

    def __init__(self, store: Store, *, actor: str | None = None) -> None:
        self.store = store
        """The store every read and write goes through."""
        self.actor = default_actor() if actor is None else actor
        """Recorded with every write (audit log, uploads)."""
        self._owns_store = False

    @classmethod
    def open(cls, url: str | None = None, *, actor: str | None = None) -> Planner:
        """Open (and create or upgrade) the database at ``url``.

        Args:
            url: SQLAlchemy URL (``sqlite:///lab.db``, ``postgresql+psycopg://user@host/db``);
                default as the CLI: ``$PLANNER_DB_URL``, else a SQLite file in the user data
                folder (:func:`campaigns.store.default_url`).
            actor: Name recorded with every write; default the login name.

        Raises:
            StoreError: The database cannot be opened, with a hint.
        """
        planner = cls(Store.open(url), actor=actor)
        planner._owns_store = True
        return planner

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self.store.url

    def close(self) -> None:
        """Close the database connections (only those :meth:`open` made)."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Planner({self.url!r})"

    def campaigns(self) -> list[str]:
        """Names of the campaigns, alphabetically."""
        return self.store.campaign_names()

    def campaign(self, name: str) -> Campaign:
        """The campaign called ``name``.

        Raises:
            NotFoundError: No such campaign ("did you mean" in the hint).
        """
        self.store.spec(name)  # fails here, with the hint, rather than at first use
        return Campaign(self, name)

    def create_campaign(self, spec: CampaignSpec | str | Path, *, name: str | None = None,
                        library: pd.DataFrame | None = None,
                        library_file: Path | BinaryIO | None = None,
                        progress: Progress | None = None,
                        chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Campaign:
        """Create a campaign from a spec, a spec file or a shipped template.

        Args:
            spec: A :class:`~campaigns.spec.CampaignSpec`; a path to a YAML spec (``Path``,
                or text ending in ``.yaml``/``.yml``); or a template name: ``"hard-carbon"``
                or ``"electrolyte"``.
            name: The campaign's name; default the spec's own.
            library: A library campaign's candidate table; default the CSV named by the spec's
                ``library.path`` (relative to the spec file's folder, else the working folder).
            library_file: A CSV or Parquet candidate table (file or open binary stream) instead
                of ``library.path``. Tables above 20,000 rows
                (``$PLANNER_SMALL_LIBRARY_ROWS``) are imported in chunks into the columnar
                store next to the database (:mod:`campaigns.library_store`); smaller ones
                become database rows.
            progress: ``progress(rows_done, rows_total)`` during a columnar import.
            chunk_rows: Rows per chunk of a columnar import.

        Raises:
            SpecError: The spec is invalid or the template unknown, every problem listed.
            CampaignError: The name is taken, or the candidate table is missing or invalid.

        Example:
            ::

                campaign = planner.create_campaign("electrolyte", name="elyte-1")
                campaign = planner.create_campaign(Path("specs/anodes.yaml"))
        """
        from campaigns.library import prepare_library
        from campaigns.templates import TEMPLATES, load_template

        base_dir = Path.cwd()
        if isinstance(spec, CampaignSpec):
            loaded = spec if name is None else CampaignSpec.from_dict(
                {**spec.to_dict(), "name": name}, source="campaign name")
        elif isinstance(spec, Path) or (str(spec) not in TEMPLATES
                                        and str(spec).lower().endswith((".yaml", ".yml"))):
            path = Path(spec)
            loaded = CampaignSpec.load(path)
            if name is not None:
                loaded = CampaignSpec.from_dict({**loaded.to_dict(), "name": name},
                                                source=str(path))
            base_dir = path.parent
        else:
            loaded = load_template(str(spec), name=name)
        table = big = None
        if loaded.is_library or library is not None:
            if loaded.name in self.store.campaign_names():  # before a long import, not after
                raise CampaignError(
                    f"a campaign named {loaded.name!r} already exists.",
                    hint="Choose another name, or look at it with `planner campaign show`.")
            table, big = prepare_library(loaded, base_dir=base_dir, frame=library,
                                         source=library_file, dest_dir=self.store.library_dir,
                                         progress=progress, chunk_rows=chunk_rows)
        try:
            self.store.create_campaign(loaded, library=table, library_table=big,
                                       actor=self.actor)
        except BaseException:
            if big is not None:  # nothing half-written: no file without its campaign
                big.path.unlink(missing_ok=True)
            raise
        return Campaign(self, loaded.name)

    def due_campaigns(self, week: str | None = None) -> list[str]:
        """Campaigns with no plate for ``week`` (default this week) yet: what a weekly cron
        job proposes (``planner suggest --due``)."""
        return due_campaigns(self.store, week)


# --- backtests -----------------------------------------------------------------------------
def backtest(table: pd.DataFrame | str | Path, *,
             targets: str | TargetSpec | Sequence[str | TargetSpec],
             inputs: Sequence[str] | None = None, categorical: Sequence[str] = (),
             strategies: Sequence[str] = ("random", "gp"), seeds: int = 20,
             batch_size: int = 6, budget: int = 60, init: int = 6, top: float = 0.01,
             acquisition: str = "auto", mc_samples: int = 64, log_targets: str = "auto",
             workers: int = 2, progress: bool = False, engine: str = "local",
             scheduler: str | None = None) -> BacktestResult:
    """Replay campaigns on a table whose outcomes are all known, strategy against strategy.

    The model strategies (``gp``, ``ensemble``) propose through the same core a library
    campaign's :meth:`Campaign.suggest` uses, with the acquisition settings given here (what a
    campaign's ``planning`` block sets); ``planner backtest`` is the same on the command line.

    Args:
        table: The table (a DataFrame, or a CSV/XLSX/Parquet path): one row per experiment.
        targets: ``"NAME:max"`` / ``"NAME:min"`` (or :class:`~planner.backtest.TargetSpec`),
            one or several.
        inputs: Input columns; default every column that is not a target, except sample IDs.
        categorical: Input columns holding labels (precursor, salt …).
        strategies: Any of ``random``, ``gp``, ``ensemble``, ``ax``, ``baybe`` (``random``
            always runs: it is the reference).
        seeds: Campaigns per strategy.
        batch_size: Experiments per proposal (a plate).
        budget: Experiments per campaign, initial design included.
        init: Random initial experiments, shared by every strategy of a seed.
        top: Fraction of the candidates that counts as "top".
        acquisition: ``auto``, ``qLogNEI``, ``qLogNEHVI`` or ``qLogNParEGO``.
        mc_samples: Quasi-MC samples of the acquisition.
        log_targets: ``auto``, ``on`` or ``off``: log10 of wide minimized targets.
        workers: Parallel worker processes (1 runs in this process).
        progress: Show progress bars (on stderr).
        engine: ``"local"`` (``workers`` processes) or ``"dask"``: each seed a Dask task.
        scheduler: ``tcp://HOST:PORT`` of a Dask scheduler (``engine="dask"``; default a
            ``LocalCluster`` on 127.0.0.1).

    Returns:
        The :class:`~planner.backtest.BacktestResult`; ``result.to_dict()["strategies"]``
        holds, per strategy, experiments to the first top candidate (median, IQR), hit rate,
        enhancement and acceleration factors against random sampling.

    Raises:
        BacktestInputError: A column is missing or not numeric, a setting is impossible.

    Example:
        ::

            result = backtest("Crossed_barrel_dataset.csv", targets="toughness:max",
                              inputs=["n", "theta", "r", "t"], seeds=5)
            result.to_dict()["strategies"]["gp"]["median_first_top"]
    """
    from planner.acquisition import ProposalSettings
    from planner.backtest import (
        BacktestConfig,
        BacktestProblem,
        TargetSpec,
        parse_target,
        read_table,
        run_backtest,
    )

    if isinstance(table, str | Path):
        frame, source = read_table(table), Path(table).name
    else:
        frame, source = table, "dataframe"
    wanted = [targets] if isinstance(targets, str | TargetSpec) else list(targets)
    specs = [t if isinstance(t, TargetSpec) else parse_target(t) for t in wanted]
    problem = BacktestProblem.from_frame(
        frame, inputs=None if inputs is None else [inputs] if isinstance(inputs, str) else
        list(inputs), targets=specs,
        categorical=[categorical] if isinstance(categorical, str) else list(categorical),
        source=source)
    settings = ProposalSettings(acquisition=acquisition, mc_samples=mc_samples,
                                log_targets=log_targets)
    config = BacktestConfig(
        batch_size=batch_size, budget=budget, init=init, seeds=seeds, top=top,
        strategies=tuple(strategies), workers=workers,
        strategy_options={name: {"settings": settings} for name in ("gp", "ensemble", "rf")})
    from planner.engine import running_on

    with running_on(engine, scheduler):
        return run_backtest(problem, config, progress=progress)
