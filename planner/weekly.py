"""The weekly loop as functions the CLI, the demo and the dashboard share.

``suggest_plate`` proposes (or returns) the campaign's plate for an ISO week: a space-filling
design before any data, a BoTorch proposal afterwards. It is idempotent per campaign and week.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from campaigns import auth
from campaigns.errors import CampaignError
from campaigns.plate import fill_layout
from campaigns.snapshot import CampaignSnapshot
from campaigns.store import BatchInfo, Store
from planner import progress
from planner.design import library_design
from planner.errors import PlanningError

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")

#: Most rows of a big library the first plate's space-filling design looks at (a seeded random
#: sample; the max-min design over it is as spread as over all rows for a 96-well plate).
FIRST_PLATE_SAMPLE_ROWS = 50_000

logger = logging.getLogger(__name__)


def current_week(today: date | None = None) -> str:
    """ISO week of ``today`` as ``YYYY-Www`` (e.g. ``2026-W47``)."""
    y, w, _ = (today or date.today()).isocalendar()
    return f"{y}-W{w:02d}"


def parse_week(text: str) -> str:
    """Validate an ISO week string, returning it normalized."""
    m = _WEEK_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 53:
        raise PlanningError(f"{text!r} is not an ISO week.", hint="Write it like 2026-W48.")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PlanningError(f"{year} has no week {week}.", hint="Check the week number.") from None
    return f"{year}-W{week:02d}"


def default_seed(campaign: str, week: str) -> int:
    """A stable seed per campaign and week, so a proposal can be reproduced without notes."""
    digest = hashlib.sha256(f"{campaign}|{week}".encode()).hexdigest()
    return int(digest[:8], 16)


@dataclass(frozen=True)
class SuggestResult:
    batch: BatchInfo
    created: bool
    """False when this week's batch already existed and was returned unchanged."""


def suggest_plate(store: Store, campaign: str, *, week: str | None = None,
                  surrogate: str | None = None,
                  seed: int | None = None, force: bool = False, fast: bool = False,
                  actor: str = "") -> SuggestResult:
    """Propose this week's plate for ``campaign`` and store it (or return the existing one).

    Args:
        store: Open campaign store.
        campaign: Campaign name.
        week: ISO week (``2026-W48``); defaults to the current week.
        surrogate: ``auto``, ``gp``, ``ensemble``, ``rf`` or ``boosted`` (used once the
            campaign has data); default the spec's ``planning.model`` (``auto``: the best model
            per target by cross-validation over the campaign's plates).
        seed: Random seed; defaults to a stable hash of campaign and week.
        force: Regenerate this week's batch (only while it has no results).
        fast: Cheaper optimizer settings (tests, demos).
    """
    week = parse_week(week) if week else current_week()
    existing = store.batch_for_week(campaign, week)
    if existing is not None and not force:
        return SuggestResult(existing, created=False)
    # Refuse a user without the role before the slow part, not when the plate is saved.
    auth.require(store, campaign, "chemist", what="propose a plate")
    seed = default_seed(campaign, week) if seed is None else seed
    progress.report("data")
    snapshot = store.snapshot(campaign)
    if existing is not None and "batch_id" in snapshot.pending:
        # The plate being replaced is not on order: its wells are not pending.
        snapshot = replace(snapshot, pending=snapshot.pending[
            snapshot.pending["batch_id"] != existing.id].reset_index(drop=True))
    spec = snapshot.spec
    surrogate = str(surrogate or getattr(spec.planning, "model", "auto"))
    n = spec.plate.sample_wells
    trained, _ = snapshot.training_data()
    warnings: list[str] = []
    predictions: list[dict[str, object]] | None = None
    if len(trained) == 0:
        sampled: dict[str, object] = {}
        if spec.is_library:
            used = set(snapshot.pending.get("candidate_id", []).dropna()) | set(
                snapshot.observations.get("candidate_id", []).dropna())
            library = snapshot.library
            if library is None:  # a big library: spread over a seeded sample of its rows
                library, sampled = library_sample(snapshot, used, seed=seed)
            picks = library_design(library, spec.input_names, n, seed=seed, exclude=used)
            recipes = picks[["candidate_id", *spec.input_names]].to_dict(orient="records")
            generator = "space-filling (library, max-min distance)"
        else:
            from planner.propose import space_filling_plate  # torch, only for a recipe plate

            # Rounded once to the lab's resolution; plate-wide parameters take one value.
            recipes = space_filling_plate(spec, n, seed).recipes.to_dict(orient="records")
            generator = "space-filling (scrambled Sobol)"
        model_info: dict[str, object] = {"design": generator, **sampled}
    else:
        from planner.propose import propose_plate

        prior = None
        if spec.warm_start is not None and surrogate in ("gp", "auto"):
            from campaigns.shared_dataset import SharedDataset

            try:
                prior = SharedDataset(store.engine).prior_for(
                    spec.input_names, spec.modelled_targets, sources=spec.warm_start.sources
                )
            except CampaignError as exc:  # e.g. a source named in the spec was never pulled
                hint = f" {exc.hint}" if getattr(exc, "hint", None) else ""
                warnings.append(f"warm start: {exc}{hint}")
        proposal = propose_plate(snapshot, surrogate=surrogate, seed=seed, fast=fast,
                                 prior=prior)
        recipes = proposal.recipes.to_dict(orient="records")
        predictions = list(proposal.predictions)
        generator = proposal.generator
        model_info = dict(proposal.model_info)
        warnings.extend(proposal.warnings)
    wells = fill_layout(spec.plate, recipes, predictions)
    progress.report("save")
    batch = store.save_batch(campaign, iso_week=week, wells=wells, generator=generator, seed=seed,
                             data_revision=snapshot.revision, model_info=model_info,
                             warnings=warnings, replace=force, actor=actor)
    return SuggestResult(batch, created=True)


def library_sample(snapshot: CampaignSnapshot, used: set[str], *, seed: int,
                   max_rows: int | None = None) -> tuple[pd.DataFrame, dict[str, object]]:
    """Rows of a big library for the first plate's space-filling design.

    At most ``max_rows`` (default :data:`FIRST_PLATE_SAMPLE_ROWS`) rows not in ``used``, a
    uniform random sample reproducible from ``seed``, read with ``take`` (never the whole
    table); every unused row when there are no more than that.

    Returns:
        The rows (``candidate_id`` + inputs) and what goes into the batch's ``model_info``:
        ``library_rows`` (rows in the library) and ``rows_sampled`` (rows the design saw).
    """
    table = snapshot.candidate_table()
    if table is None:
        raise PlanningError(f"campaign {snapshot.spec.name!r} has no candidate table.",
                            hint="Import one with `planner library import CAMPAIGN FILE`.")
    cap = FIRST_PLATE_SAMPLE_ROWS if max_rows is None else max_rows
    n_rows = table.n_rows
    taken = table.positions_of(sorted(used)) if used else np.zeros(0, dtype=np.int64)
    taken = taken[taken >= 0]
    if n_rows - len(taken) <= cap:
        positions = np.setdiff1d(np.arange(n_rows), taken)
    else:
        draw = np.random.default_rng(seed).choice(n_rows, size=min(n_rows, cap + len(taken)),
                                                  replace=False)
        positions = np.sort(draw[~np.isin(draw, taken)][:cap])
    frame = table.take(positions).reset_index(drop=True)
    logger.info("first plate of %s: %d of %d library rows sampled", snapshot.spec.name,
                len(frame), n_rows)
    return frame, {"library_rows": int(n_rows), "rows_sampled": len(frame), "sample_seed": seed}


def due_campaigns(store: Store, week: str | None = None) -> list[str]:
    """Campaigns with no plate for ``week`` yet (for cron: ``planner suggest --due``)."""
    week = parse_week(week) if week else current_week()
    return [name for name in store.campaign_names() if store.batch_for_week(name, week) is None]
