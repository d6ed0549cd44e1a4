"""Uploading a filled plate: parse and validate (pure), then store in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.errors import Problem
from campaigns.ingest import ParsedPlate, parse_plate
from campaigns.store import IngestResult, Store


@dataclass(frozen=True)
class UploadOutcome:
    result: IngestResult
    warnings: tuple[Problem, ...]


def preview_upload(store: Store, campaign: str, data: bytes, *, filename: str,
                   batch_id: int | None = None) -> tuple[ParsedPlate, int]:
    """Validate a file against its batch without storing anything.

    Returns:
        The parsed plate and the batch id it belongs to.

    Raises:
        IngestError: listing every problem in the file.
    """
    spec = store.spec(campaign)
    batch = store.batch(campaign, batch_id)
    parsed = parse_plate(data, filename=filename, spec=spec,
                         expected_wells={w.well: w.role for w in batch.wells})
    if batch_id is None and parsed.batch_id is not None and parsed.batch_id != batch.id:
        batch = store.batch(campaign, parsed.batch_id)
        parsed = parse_plate(data, filename=filename, spec=spec,
                             expected_wells={w.well: w.role for w in batch.wells})
    return parsed, batch.id


def ingest_bytes(store: Store, campaign: str, data: bytes, *, filename: str,
                 batch_id: int | None = None, actor: str = "") -> UploadOutcome:
    """Validate and store a filled plate file: all of it, or nothing."""
    parsed, bid = preview_upload(store, campaign, data, filename=filename, batch_id=batch_id)
    result = store.ingest(campaign, parsed, batch_id=bid, actor=actor)
    return UploadOutcome(result, parsed.warnings)
