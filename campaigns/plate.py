"""Plates and wells: names (A1 … H12), shapes, and which wells hold controls, replicates, samples.

96-well plates are rows A–H by columns 1–12; 48 are A–F × 1–8; 24 are A–D × 1–6. Wells are
filled row by row (A1, A2, …), the order a multichannel pipette or a furnace tray is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from campaigns.jsonable import plain

if TYPE_CHECKING:
    from campaigns.spec import PlateFormat

PLATE_SHAPES: dict[int, tuple[str, int]] = {
    24: ("ABCD", 6), 48: ("ABCDEF", 8), 96: ("ABCDEFGH", 12)}
"""Plate size → (row letters, number of columns)."""

Role = Literal["sample", "control", "replicate"]


def well_names(size: int) -> list[str]:
    """All well IDs of a plate in loading order.

    >>> well_names(24)[:7]
    ['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'B1']
    """
    if size not in PLATE_SHAPES:
        raise ValueError(f"plate size must be one of {sorted(PLATE_SHAPES)}, got {size}")
    rows, ncols = PLATE_SHAPES[size]
    return [f"{r}{c}" for r in rows for c in range(1, ncols + 1)]


def well_position(well: str) -> tuple[int, int]:
    """Zero-based (row, column) of a well ID: ``"B3"`` → ``(1, 2)``."""
    return (ord(well[0].upper()) - ord("A"), int(well[1:]) - 1)


_WELL_TEXT = re.compile(r"([A-Z])0*([0-9]+)", re.ASCII)


def normalize_well(text: str) -> str:
    """Canonical well ID: ``" a01 "`` → ``"A1"``; unchanged if it does not look like a well.

    Never raises for any text: only ASCII letters and digits make a well ID (``"A²"`` or a
    well number of 5,000 digits are returned as they are, for the caller to refuse by name).
    """
    t = str(text).strip().upper()
    m = _WELL_TEXT.fullmatch(t)
    if m is None:
        return t
    return m[1] + m[2]  # leading zeros dropped by the pattern, "A00" → "A0"


@dataclass(frozen=True)
class WellSlot:
    """One well of a plate layout."""

    well: str
    """Well ID."""
    role: Role
    """What the well is for."""
    replicate_of: str | None = None
    """For replicates: the sample well whose recipe it repeats."""
    control_index: int | None = None
    """For controls: index into ``PlateFormat.controls``."""


def layout(plate: PlateFormat) -> list[WellSlot]:
    """Assign every well a role: controls where the spec puts them, then samples, then replicates.

    Replicates repeat the first sample wells' recipes, and sit in the last free wells so that a
    drift along the plate shows up as a replicate difference rather than hiding in it.
    """
    names = well_names(plate.wells)
    control_at = {c.well: i for i, c in enumerate(plate.controls)}
    free = [w for w in names if w not in control_at]
    n_samples = plate.sample_wells
    samples, replicates = free[:n_samples], free[n_samples:]
    slots: dict[str, WellSlot] = {}
    for w, i in control_at.items():
        slots[w] = WellSlot(w, "control", control_index=i)
    for w in samples:
        slots[w] = WellSlot(w, "sample")
    for i, w in enumerate(replicates):
        slots[w] = WellSlot(w, "replicate", replicate_of=samples[i % len(samples)])
    return [slots[w] for w in names]


@dataclass(frozen=True)
class PlannedWell:
    """A well of a plate about to be stored: where it is, what goes in it, what was predicted."""

    well: str
    """Well ID."""
    role: Role
    """sample, control or replicate."""
    recipe: dict[str, object]
    """Input column → value (plain Python types)."""
    predictions: dict[str, object]
    """Predicted mean ± std per target, constraint probabilities, acquisition contribution."""
    replicate_of: str | None = None
    """For replicates: the sample well repeated."""
    candidate_id: str | None = None
    """Library mode: the candidate placed in this well."""


def fill_layout(
    plate: PlateFormat,
    recipes: list[dict[str, object]],
    predictions: list[dict[str, object]] | None = None,
) -> list[PlannedWell]:
    """Put proposed recipes into the plate's sample wells; add controls and replicates.

    Args:
        plate: The campaign's plate format.
        recipes: One recipe per sample well, in well order (``len == plate.sample_wells``); a
            ``candidate_id`` key marks a library candidate.
        predictions: Per-recipe predictions, same order; replicates copy their sample's.

    Returns:
        Every well of the plate in loading order.
    """
    if len(recipes) != plate.sample_wells:
        raise ValueError(f"{len(recipes)} recipes for {plate.sample_wells} sample wells")
    predictions = predictions or [{} for _ in recipes]
    slots = layout(plate)
    by_sample: dict[str, tuple[dict[str, object], dict[str, object]]] = {}
    sample_iter = iter(zip(recipes, predictions, strict=True))
    out: list[PlannedWell] = []
    for slot in slots:
        if slot.role == "sample":
            recipe, pred = next(sample_iter)
            by_sample[slot.well] = (recipe, pred)
    for slot in slots:
        if slot.role == "control":
            ctrl = plate.controls[slot.control_index or 0]
            recipe = {k: plain(v) for k, v in ctrl.recipe.items()}
            out.append(PlannedWell(slot.well, "control", recipe, {"material": ctrl.material}))
            continue
        source = slot.well if slot.role == "sample" else slot.replicate_of
        assert source is not None
        recipe, pred = by_sample[source]
        clean = {k: plain(v) for k, v in recipe.items() if k != "candidate_id"}
        cid = recipe.get("candidate_id")
        out.append(
            PlannedWell(
                slot.well, slot.role, clean, dict(pred), replicate_of=slot.replicate_of,
                candidate_id=None if cid is None else str(cid),
            )
        )
    return out
