"""Uploading a filled plate: parse and validate (pure), then store in one transaction.

A plate arrives as the bytes of a file (:func:`ingest_bytes`: ``planner ingest``, the Upload
page) or as a DataFrame (:func:`ingest_frame`: the Python API's ``add_results``); both go
through the same checks (:mod:`campaigns.ingest`) and the same choice of plate.

Which plate a file belongs to: the file's own Batch column decides. A ``batch_id`` chosen by the
user (``planner ingest --batch``, the plate picked on the Upload page) that disagrees with it is
refused; without a Batch column the chosen batch, else the newest, is used, and the recipe
columns of the sheet must then match that plate's recipes, so a sheet of another plate is still
refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from campaigns.errors import IngestError, NotFoundError, Problem
from campaigns.ingest import (
    ParsedPlate,
    frame_batch,
    parse_plate,
    parse_plate_frame,
    plate_batch,
)
from campaigns.sheet import SheetWell
from campaigns.spec import CampaignSpec
from campaigns.store import BatchInfo, IngestResult, Store

_MAX_BATCH = 2**31 - 1  # the store's batch ids are 32-bit at most


@dataclass(frozen=True)
class UploadOutcome:
    """What an accepted upload stored, and the soft problems found in it."""

    result: IngestResult
    """Counts of new, superseding and unchanged values, the plate and its new status."""
    warnings: tuple[Problem, ...]
    """Warnings of the file (atypical values, ignored columns, wells left out)."""


def _stored_recipes(spec: CampaignSpec, batch: BatchInfo) -> dict[str, Mapping[str, object]]:
    """Well → the recipe its sheet shows (library campaigns add the candidate ID column)."""
    library = spec.library
    recipes: dict[str, Mapping[str, object]] = {}
    for w in batch.wells:
        recipe = dict(w.recipe)
        if library is not None and w.candidate_id:
            recipe[library.id_column] = w.candidate_id
        recipes[w.well] = recipe
    return recipes


def sheet_wells(spec: CampaignSpec, batch: BatchInfo) -> list[SheetWell]:
    """The rows of a batch's plate sheet: each well with the recipe its sheet shows (library
    campaigns add the candidate ID column), the recipe an upload is checked against."""
    recipes = _stored_recipes(spec, batch)
    return [SheetWell(w.well, w.role, dict(recipes[w.well])) for w in batch.wells]


def _batch(store: Store, campaign: str, batch_id: int | None, *, from_file: bool,
           filename: str) -> BatchInfo:
    if batch_id is not None and not 1 <= batch_id <= _MAX_BATCH:
        raise NotFoundError(f"campaign {campaign!r} has no batch {batch_id}.",
                            hint=f"List batches with `planner campaign show {campaign}`.")
    try:
        return store.batch(campaign, batch_id)
    except NotFoundError as exc:
        if not from_file:
            raise
        problem = Problem(None, "Batch", str(batch_id),
                          f"the file says batch {batch_id}, but campaign {campaign!r} has no "
                          f"batch {batch_id}.",
                          "Check that you upload the file to the right campaign, and that its "
                          f"Batch column is as the template wrote it. {exc.hint or ''}".strip())
        raise IngestError(f"{filename} was rejected; nothing was stored: {problem}",
                          problems=[problem], hint=problem.hint) from None


def preview_upload(store: Store, campaign: str, data: bytes, *, filename: str,
                   batch_id: int | None = None,
                   confirm_unusual: bool = False) -> tuple[ParsedPlate, int]:
    """Validate a file against its batch without storing anything.

    Args:
        store: The store holding the campaign.
        campaign: Campaign name.
        data: Raw bytes of the upload.
        filename: Name of the upload, for messages.
        batch_id: The batch the user uploads to; ``None`` takes the file's Batch column, else
            the newest batch. A Batch column that names another batch refuses the file.
        confirm_unusual: The user confirmed values that look like a wrong unit.

    Returns:
        The parsed plate and the batch id it belongs to.

    Raises:
        UnusualValuesError: The only errors are values that look like a wrong unit (see
            :func:`campaigns.ingest.parse_plate`).
        IngestError: listing every problem in the file.
        NotFoundError: No such campaign, or no batch ``batch_id``.
    """
    def parse(spec: CampaignSpec, batch: BatchInfo) -> ParsedPlate:
        return parse_plate(data, filename=filename, spec=spec,
                           expected_wells={w.well: w.role for w in batch.wells},
                           expected_recipes=_stored_recipes(spec, batch), batch_id=batch.id,
                           confirm_unusual=confirm_unusual)

    return _preview(store, campaign, batch_id, filename=filename,
                    file_batch=lambda: plate_batch(data, filename=filename), parse=parse)


def _preview(store: Store, campaign: str, batch_id: int | None, *, filename: str,
             file_batch: Callable[[], int | None],
             parse: Callable[[CampaignSpec, BatchInfo], ParsedPlate]) -> tuple[ParsedPlate, int]:
    """Choose the plate (``batch_id``, else the upload's Batch column, else the newest) and
    validate the upload against it: the one rule for files and frames alike."""
    spec = store.spec(campaign)
    from_file = batch_id is None
    if from_file:
        batch_id = file_batch()
    batch = _batch(store, campaign, batch_id, from_file=from_file and batch_id is not None,
                   filename=filename)
    return parse(spec, batch), batch.id


def ingest_bytes(store: Store, campaign: str, data: bytes, *, filename: str,
                 batch_id: int | None = None, actor: str = "",
                 confirm_unusual: bool = False) -> UploadOutcome:
    """Validate and store a filled plate file: all of it, or nothing.

    Arguments as :func:`preview_upload`; ``actor`` is recorded with the upload.
    """
    parsed, bid = preview_upload(store, campaign, data, filename=filename, batch_id=batch_id,
                                 confirm_unusual=confirm_unusual)
    return _store(store, campaign, parsed, bid, actor=actor)


def preview_frame(store: Store, campaign: str, frame: pd.DataFrame, *,
                  filename: str = "dataframe", batch_id: int | None = None,
                  confirm_unusual: bool = False) -> tuple[ParsedPlate, int]:
    """Validate a DataFrame of results against its batch without storing anything.

    As :func:`preview_upload`, with the frame in place of a file's bytes (see
    :func:`campaigns.ingest.parse_plate_frame`): the frame's Batch column decides the plate,
    recipe columns must match it, every problem is reported at once.
    """
    def parse(spec: CampaignSpec, batch: BatchInfo) -> ParsedPlate:
        return parse_plate_frame(frame, filename=filename, spec=spec,
                                 expected_wells={w.well: w.role for w in batch.wells},
                                 expected_recipes=_stored_recipes(spec, batch),
                                 batch_id=batch.id, confirm_unusual=confirm_unusual)

    return _preview(store, campaign, batch_id, filename=filename,
                    file_batch=lambda: frame_batch(frame, filename=filename), parse=parse)


def ingest_frame(store: Store, campaign: str, frame: pd.DataFrame, *,
                 filename: str = "dataframe", batch_id: int | None = None, actor: str = "",
                 confirm_unusual: bool = False) -> UploadOutcome:
    """Validate and store a DataFrame of results: all of it, or nothing.

    Arguments as :func:`preview_frame`; ``actor`` is recorded with the upload, ``filename``
    names it in the upload list. The same results added twice change nothing the second time
    (the frame's canonical SHA-256, :func:`campaigns.ingest.frame_sha256`).
    """
    parsed, bid = preview_frame(store, campaign, frame, filename=filename, batch_id=batch_id,
                                confirm_unusual=confirm_unusual)
    return _store(store, campaign, parsed, bid, actor=actor)


def _store(store: Store, campaign: str, parsed: ParsedPlate, batch_id: int, *,
           actor: str) -> UploadOutcome:
    result = store.ingest(campaign, parsed, batch_id=batch_id, actor=actor)
    return UploadOutcome(result, parsed.warnings)
