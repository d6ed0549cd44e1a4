"""The weekly loop as functions the CLI, the demo and the dashboard share.

``suggest_plate`` proposes (or returns) the campaign's plate for an ISO week: a space-filling
design before any data, a BoTorch proposal afterwards. It is idempotent per campaign and week.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date

from campaigns import auth
from campaigns.errors import CampaignError
from campaigns.plate import fill_layout
from campaigns.store import BatchInfo, Store
from planner.design import library_design
from planner.errors import PlanningError

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


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
        if spec.is_library:
            assert snapshot.library is not None
            used = set(snapshot.pending.get("candidate_id", []).dropna()) | set(
                snapshot.observations.get("candidate_id", []).dropna())
            picks = library_design(snapshot.library, spec.input_names, n, seed=seed, exclude=used)
            recipes = picks[["candidate_id", *spec.input_names]].to_dict(orient="records")
            generator = "space-filling (library, max-min distance)"
        else:
            from planner.propose import space_filling_plate  # torch, only for a recipe plate

            # Rounded once to the lab's resolution; plate-wide parameters take one value.
            recipes = space_filling_plate(spec, n, seed).recipes.to_dict(orient="records")
            generator = "space-filling (scrambled Sobol)"
        model_info: dict[str, object] = {"design": generator}
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
    batch = store.save_batch(campaign, iso_week=week, wells=wells, generator=generator, seed=seed,
                             data_revision=snapshot.revision, model_info=model_info,
                             warnings=warnings, replace=force, actor=actor)
    return SuggestResult(batch, created=True)


def due_campaigns(store: Store, week: str | None = None) -> list[str]:
    """Campaigns with no plate for ``week`` yet (for cron: ``planner suggest --due``)."""
    week = parse_week(week) if week else current_week()
    return [name for name in store.campaign_names() if store.batch_for_week(name, week) is None]
