"""Weekly plate proposals: fit a surrogate to the campaign's data and let BoTorch fill the plate.

:func:`propose_plate` is the one entry point. In recipe mode it fits the surrogate on the
campaign's measured wells, builds the acquisition (noisy log-EI for one objective, log-NEHVI for
several; targets with a threshold become outcome constraints; failed syntheses add a
feasibility constraint, see :mod:`planner.feasibility`), treats wells already on order as
pending, and optimizes over the mixed recipe space (:mod:`planner.optimize`). In library mode it
scores the candidate table instead through :func:`propose_from_pool`, the pool core that
``planner backtest`` calls too, with the same :class:`~planner.acquisition.ProposalSettings`
(acquisition, MC samples, target transforms) taken from the campaign's ``planning`` block.

It never crashes on awkward data: a surrogate that cannot be fitted falls back to the random
forest, then to a space-filling design (or a spread-out library pick), and every fallback is
recorded on the proposal and emitted as a :class:`~planner.errors.PlanningWarning`.

Example::

    proposal = propose_plate(store.snapshot("demo"), seed=7)
    proposal.recipes.shape      # (92, 6)
    proposal.generator          # 'botorch:qLogNEHVI/gp'
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from campaigns.jsonable import jsonable
from campaigns.shared_dataset.dataset import PriorRows
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec, ContinuousParameter, WarmStart
from planner import progress
from planner.acquisition import (
    ConstraintSpec,
    ObjectiveSpec,
    ProposalSettings,
    build_acquisition,
)
from planner.design import space_filling_design, spread_out_rows
from planner.errors import PlanningError, PlanningWarning
from planner.feasibility import FeasibilityModel, fit_feasibility, with_feasibility
from planner.funnel import (
    MemoryPeak,
    PoolSource,
    Screen,
    ScreeningSettings,
    as_source,
    positions_of,
    screen_pool,
)
from planner.optimize import (
    OptimizerSettings,
    default_settings,
    optimize_furnace_runs,
    optimize_mixed,
    run_sizes,
    torch_threads,
)
from planner.pool import pool_bounds, select_from_pool
from planner.space import EncodedSpace
from planner.transforms import TargetTransform
from surrogates import make_surrogate
from surrogates.base import Surrogate

logger = logging.getLogger(__name__)

#: Surrogates whose BoTorch model has useful input gradients (the forest is piecewise constant,
#: so it is optimized by scoring a candidate pool only).
DIFFERENTIABLE = ("gp", "ensemble", "two_stage:gp", "two_stage:ensemble")
#: Fewest measured values of a descriptor the two-stage model uses it with.
TWO_STAGE_MIN_ROWS = 12
_ACQ_NAMES = {
    "qLogNoisyExpectedImprovement": "qLogNEI",
    "qLogNoisyExpectedHypervolumeImprovement": "qLogNEHVI",
}


@dataclass(frozen=True)
class PlateProposal:
    """A proposed plate and everything needed to reproduce and judge it."""

    recipes: pd.DataFrame
    """``q`` rows, one per sample well in loading order; columns ``spec.input_names`` (library
    mode: ``candidate_id`` first)."""
    predictions: list[dict[str, Any]]
    """Per row: ``{"targets": {name: {"mean", "std", "low", "high"}}, "p_feasible":
    {constraint: p, "synthesis": p}, "acquisition": value}`` (empty dicts and ``None`` for
    space-filling rows). ``low``/``high``: the central 90 % prediction interval, within the
    target's physical bounds (never ``mean -/+ 1.645 std``). ``acquisition`` is the well's value
    given the wells before it (BoTorch log scale)."""
    generator: str
    """How the plate was made: ``botorch:qLogNEHVI/gp``, ``space-filling``,
    ``space-filling (fallback)`` ..."""
    model_info: dict[str, Any]
    """Surrogate, hyperparameters, acquisition, optimizer settings (JSON-safe)."""
    warnings: list[str] = field(default_factory=list)
    """Soft problems and fallbacks, in the order they happened."""
    seed: int = 0
    """Seed the proposal was made with."""
    revision: int = 0
    """Data revision of the snapshot it saw."""


class _Notes:
    """Warnings for the proposal; fallbacks are also re-emitted as :class:`PlanningWarning`.

    Each new note is logged here (fallbacks at WARNING, other notes at INFO) unless
    ``logged``: a warning caught from the optimizer or a surrogate was logged where it arose.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.fallbacks: list[str] = []

    def add(self, message: str, *, fallback: bool = False, logged: bool = False) -> None:
        if message not in self.messages:
            self.messages.append(message)
            if fallback:
                self.fallbacks.append(message)
            if not logged:
                logger.log(logging.WARNING if fallback else logging.INFO, message)

    def extend(self, other: _Notes) -> None:
        for message in other.messages:
            self.add(message, fallback=message in other.fallbacks, logged=True)


@dataclass(frozen=True)
class Goal:
    """One modelled target of a proposal: optimized, constrained, or both."""

    name: str
    """Column name of the target."""
    direction: str = "max"
    """``"max"`` or ``"min"``."""
    threshold: float | None = None
    """Outcome constraint (``>=`` for max, ``<=`` for min), target units."""
    optimize: bool = True
    """Whether it is an objective (``False``: a constraint only)."""
    bounds: tuple[float | None, float | None] | None = None
    """Physical ``(low, high)`` (``None`` for an open end) that predictions and the acquisition
    respect; ``None``: the column registry's (``campaigns.columns``)."""

    @property
    def model_bounds(self) -> tuple[float | None, float | None] | None:
        """``bounds``, or the column registry's for this target; ``None`` when unbounded."""
        from campaigns.columns import column

        pair = self.bounds if self.bounds is not None else column(self.name).bounds
        return None if pair is None or pair == (None, None) else pair


def _bounds_of(goals: tuple[Goal, ...]) -> dict[str, tuple[float | None, float | None] | None]:
    return {g.name: g.model_bounds for g in goals}


@dataclass(frozen=True)
class Prior:
    """Rows from elsewhere (another lab, the shared dataset) for a warm-started GP."""

    X: pd.DataFrame
    """Inputs, the problem's input columns (NaN allowed)."""
    Y: pd.DataFrame
    """Targets, target units (NaN where a row lacks one)."""
    task: pd.Series | None = None
    """Source label per row (one task each in multitask mode)."""
    mode: str = "multitask"
    """``multitask`` or ``prior_mean`` (see :class:`surrogates.warm_start.WarmStartGP`)."""
    max_prior_rows: int | None = None
    """Most prior rows per target in one fit; ``None``: every row."""
    info: dict[str, Any] = field(default_factory=dict)
    """What the proposal's model info says about it (sources, revisions, imputed inputs)."""

    @classmethod
    def from_rows(cls, rows: PriorRows, warm: WarmStart) -> Prior:
        """The shared-dataset rows a campaign's ``warm_start`` selected."""
        return cls(rows.X, rows.Y, rows.source, warm.mode, warm.max_prior_rows,
                   {"sources": dict(rows.sources), "missing_inputs": list(rows.missing_inputs)})


@dataclass(frozen=True)
class PoolProblem:
    """Choose rows of a candidate table given measured rows: what a library campaign's
    ``suggest`` and a ``backtest`` step both ask :func:`propose_from_pool`."""

    pool: Any
    """``N x d`` candidate inputs (numeric columns as floats, NaN allowed; categoricals as str):
    a DataFrame, or a columnar library table read in chunks (see :func:`planner.funnel.
    as_source`)."""
    X: pd.DataFrame
    """``n x d`` measured inputs, same columns."""
    Y: pd.DataFrame
    """``n x t`` measured targets, target units (NaN allowed), columns named by ``goals``."""
    goals: tuple[Goal, ...]
    """The targets, in the columns' order."""
    categorical: tuple[str, ...] = ()
    """Categorical input columns."""
    exclude: np.ndarray | None = None
    """``N`` booleans (or row positions): rows never to pick (measured, on order)."""
    pending: np.ndarray | None = None
    """``N`` booleans (or row positions): rows on order, not measured yet (the acquisition's
    pending points)."""
    prior: Prior | None = None
    """Warm-start rows for the ``gp`` surrogate."""
    groups: np.ndarray | None = None
    """``n`` labels of the measured rows' plates (batch ids): ``auto`` holds out whole plates
    when it cross-validates the candidate models."""


@dataclass(frozen=True)
class PoolPlan:
    """The rows :func:`propose_from_pool` chose, and how."""

    rows: np.ndarray
    """``q`` pool row positions, in pick order."""
    predictions: list[dict[str, Any]]
    """Per row, as :attr:`PlateProposal.predictions`."""
    generator: str
    """``botorch:qLogNEI/gp``, ``space-filling``, ``space-filling (fallback)`` …"""
    model_info: dict[str, Any]
    """Surrogate, acquisition and settings (JSON-safe)."""
    notes: list[str] = field(default_factory=list)
    """Soft problems and fallbacks, in order."""
    fallbacks: list[str] = field(default_factory=list)
    """The notes that are fallbacks."""


def propose_plate(
    snapshot: CampaignSnapshot,
    /,
    *,
    surrogate: str = "gp",
    seed: int,
    q: int | None = None,
    shared_values: Mapping[str, Any] | None = None,
    fast: bool = False,
    prior: PriorRows | None = None,
    settings: ProposalSettings | None = None,
) -> PlateProposal:
    """Propose the next plate of a campaign.

    Args:
        snapshot: The campaign's data at one revision.
        surrogate: ``gp``, ``ensemble`` or ``rf``.
        seed: Seeds the surrogate, the acquisition's samples and the optimizer: the same snapshot
            and seed give the same plate.
        q: Number of recipes; default ``spec.plate.sample_wells``.
        shared_values: Values held for every well (recipe units or level names), e.g.
            ``{"carbonization_temperature_c": 1300}``. Parameters in ``spec.plate.
            shared_parameters`` without a value here are chosen by the optimizer, once per plate.
        fast: Tiny optimizer settings (tests, demos); also ``PLANNER_FAST=1``.
        prior: Shared-dataset rows for a warm start (``spec.warm_start``; see
            :meth:`campaigns.shared_dataset.SharedDataset.prior_for`). Used by the ``gp`` surrogate
            only, through :class:`surrogates.warm_start.WarmStartGP`; if that fit fails the plain
            GP is fitted and the fallback recorded.
        settings: Acquisition, MC samples and target transforms; default the campaign's
            ``planning`` block.

    Returns:
        The :class:`PlateProposal`.

    Warns:
        PlanningWarning: once per fallback (model not fitted, optimizer failed, target left
            out ...); the same messages are in ``PlateProposal.warnings``.

    Raises:
        PlanningError: ``q`` below 1, a shared value that is not a parameter or lies outside its
            bounds, or a library with fewer unused candidates than wells.
    """
    spec = snapshot.spec
    q = spec.plate.sample_wells if q is None else int(q)
    if q < 1:
        raise PlanningError(f"a plate needs at least one well, got q={q}.",
                            hint="Ask for one or more wells.")
    optimizer = default_settings(fast)
    settings = _capped(settings or ProposalSettings.from_planning(spec.planning), optimizer)
    warm = None
    if prior is not None and spec.warm_start is not None and len(prior):
        warm = Prior.from_rows(prior, spec.warm_start)
    notes = _Notes()
    if spec.warm_start is not None and warm is None and not snapshot.observations.empty:
        notes.add("warm start is on, but no shared rows with this campaign's targets were "
                  "found; the GP learns from this campaign only.")
    captured: list[warnings.WarningMessage] = []
    with torch_threads(optimizer.threads), torch.random.fork_rng():
        torch.manual_seed(seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if spec.is_library:
                if shared_values:
                    notes.add("shared values are ignored in library mode (candidates are fixed).")
                proposal = _propose_library(snapshot, q, surrogate, seed, settings, optimizer,
                                            notes, warm)
            else:
                proposal = _propose_recipes(snapshot, q, surrogate, seed, shared_values or {},
                                            settings, optimizer, notes, warm)
        captured.extend(caught)
    _sort_captured(captured, notes, proposal.model_info)
    for message in notes.fallbacks:
        warnings.warn(message, PlanningWarning, stacklevel=2)
    return replace(proposal, warnings=list(notes.messages), seed=seed, revision=snapshot.revision)


def _capped(settings: ProposalSettings, optimizer: OptimizerSettings) -> ProposalSettings:
    """The campaign's settings, with the optimizer's cap on MC samples (fast mode) applied."""
    if optimizer.mc_samples is None or settings.mc_samples <= optimizer.mc_samples:
        return settings
    return replace(settings, mc_samples=optimizer.mc_samples)


def _sort_captured(caught: list[warnings.WarningMessage], notes: _Notes,
                   info: dict[str, Any]) -> None:
    """Planner and surrogate warnings go on the proposal; third-party chatter into model_info."""
    other: list[str] = []
    for w in caught:
        text = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
        if issubclass(w.category, PlanningWarning):
            notes.add(text, fallback=True, logged=True)
        elif w.category.__module__.startswith("surrogates"):
            notes.add(f"surrogate: {text}", logged=True)
        elif f"{w.category.__name__}: {text}" not in other:
            other.append(f"{w.category.__name__}: {text}")
    if other:
        info.setdefault("numerics", other[:20])


# ---------------------------------------------------------------------------- shared pieces
def goals_of(spec: CampaignSpec, targets: list[str]) -> tuple[Goal, ...]:
    """The campaign's targets named in ``targets``, as :class:`Goal`s in that order."""
    by_name = {t.name: t for t in spec.targets}
    return tuple(Goal(n, by_name[n].direction, by_name[n].threshold, by_name[n].optimize,
                      by_name[n].model_bounds or (None, None)) for n in targets)


def _objectives(goals: tuple[Goal, ...], transform: TargetTransform
                ) -> tuple[list[ObjectiveSpec], list[ConstraintSpec]]:
    objectives = [ObjectiveSpec(i, g.direction)  # type: ignore[arg-type]
                  for i, g in enumerate(goals) if g.optimize]
    constraints = [ConstraintSpec(i, g.direction,  # type: ignore[arg-type]
                                  transform.threshold(g.name, float(g.threshold)))
                   for i, g in enumerate(goals) if g.threshold is not None]
    return objectives, constraints


def _surrogate_chain(name: str) -> list[str]:
    return [name] if name == "rf" else [name, "rf"]


def _plate_labels(snapshot: CampaignSnapshot, X: pd.DataFrame) -> np.ndarray | None:
    """The batch (plate) of each training row, for ``auto``'s grouped cross-validation."""
    obs = snapshot.observations
    if "batch_id" not in obs.columns or not X.index.isin(obs.index).all():
        return None
    return obs.loc[X.index, "batch_id"].to_numpy(dtype=object)


def _auto_options(input_bounds: Mapping[str, tuple[float, float]],
                  optimizer: OptimizerSettings) -> dict[str, Any]:
    """``AutoSurrogate`` arguments for a proposal: the candidates are compared in their cheap
    settings (:data:`surrogates.selection.FAST_OPTIONS`; the chosen one is then fitted in
    full) on 3 folds of at most 300 rows (2 and 150 when the optimizer is in fast mode: tests,
    demos), so a weekly choice costs seconds; the selection is cached on disk, keyed by the
    data, so a plate re-proposed on the same data does not cross-validate again."""
    from planner._cache import cache_dir

    gp: dict[str, Any] = {"input_bounds": dict(input_bounds)}
    if optimizer.fit_max_iter is not None:
        gp["max_iter"] = optimizer.fit_max_iter
    try:
        folder: str | None = str(cache_dir("model-selection"))
    except OSError:  # no writable cache folder: the in-memory cache still works
        folder = None
    quick = optimizer.fit_max_iter is not None  # the FAST optimizer settings
    return {"folds": 2 if quick else 3, "max_rows": 150 if quick else 300, "fast": True,
            "model_options": {"gp": gp}, "cache_dir": folder}


def _differentiable(model: Surrogate, name: str) -> bool:
    """Whether the model's input gradients are useful (``auto``: every chosen model's are)."""
    return name in DIFFERENTIABLE or bool(getattr(model, "differentiable_", False))


def _selection_info(model: Surrogate) -> dict[str, Any] | None:
    """What ``auto`` chose per target, the candidates' scores and the reason (JSON-safe)."""
    selection = getattr(model, "selection_", None)
    if selection is None:
        return None
    out = jsonable(selection.to_dict())
    out["chosen"] = dict(selection.models)
    return out


def _levels(values: Any) -> list[Any]:
    return sorted({str(v) for v in values if not pd.isna(v)})


def _fit(name: str, X: pd.DataFrame, Y: pd.DataFrame, *, categories: dict[str, list[Any]],
         input_bounds: Mapping[str, tuple[float, float]], seed: int,
         optimizer: OptimizerSettings, notes: _Notes, prior: Prior | None = None,
         transform: TargetTransform | None = None,
         log_columns: str | list[str] | None = "auto", groups: Any = None) -> Surrogate | None:
    """Fit surrogate ``name`` on ``Y`` (already on the model's scale), or ``None`` if it fails.

    The ``gp`` with a prior is a :class:`WarmStartGP` (falling back to the plain GP); so is
    ``auto`` with a prior (the shared rows are for the GP). ``auto`` chooses a model per target
    by cross-validation holding out whole ``groups`` (plates), see :mod:`surrogates.selection`.
    ``log_columns``: inputs modelled as log10 (``"auto"``: the surrogate's own rule)."""
    progress.report("fit")
    if name == "auto" and prior is not None:
        notes.add("model auto with a warm start: the warm-start GP is used (the shared rows "
                  "are for the GP).")
        name = "gp"
    if name == "gp" and prior is not None:
        model = _fit_warm(X, Y, seed, optimizer, notes, categories, prior,
                          transform or TargetTransform(), log_columns)
        if model is not None:
            return model
    try:
        extra: dict[str, Any] = {"input_bounds": dict(input_bounds)} if name == "gp" else {}
        if name == "auto":
            extra = _auto_options(input_bounds, optimizer)
        model = make_surrogate(name, categorical=tuple(categories), categories=categories,
                               log_columns=log_columns, seed=seed, **extra)
        if optimizer.fit_max_iter is not None and "max_iter" in model.get_params():
            model.set_params(max_iter=optimizer.fit_max_iter)
        # Every surrogate's fit takes bounds (added by Surrogate.__init_subclass__).
        bounds = (transform or TargetTransform()).model_bounds
        if name == "auto":
            return model.fit(X, Y, groups=groups, bounds=bounds)  # type: ignore[call-arg]
        return model.fit(X, Y, bounds=bounds)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - surrogates raise their own and third-party errors
        notes.add(f"{name} surrogate could not be fitted ({_short(exc)}).", fallback=True)
        return None


def _fit_warm(X: pd.DataFrame, Y: pd.DataFrame, seed: int, optimizer: OptimizerSettings,
              notes: _Notes, cats: dict[str, list[Any]], prior: Prior,
              transform: TargetTransform,
              log_columns: str | list[str] | None = "auto") -> Surrogate | None:
    """:class:`WarmStartGP` on these rows plus the prior's (on the same target scale)."""
    from surrogates.warm_start import WarmStartGP

    missing = prior.info.get("missing_inputs") or []
    if missing:
        notes.add(f"warm start: the shared rows have no values for {list(missing)}; those "
                  "inputs are imputed for them.")
    # The prior's other levels (another salt, another precursor) are knowledge too.
    levels = {c: _levels([*cats.get(c, []), *prior.X[c]]) if c in prior.X else cats[c]
              for c in cats}
    try:
        model = WarmStartGP(categorical=tuple(cats), categories=levels or None, mode=prior.mode,
                            max_prior_rows=prior.max_prior_rows, log_columns=log_columns,
                            seed=seed)
        if optimizer.fit_max_iter is not None:
            model.set_params(max_iter=optimizer.fit_max_iter)
        model.fit(X, Y, prior_X=prior.X, prior_Y=transform.forward(prior.Y.reindex(
            columns=Y.columns)), prior_task=prior.task,
            # Every surrogate's fit takes bounds (added by Surrogate.__init_subclass__).
            bounds=transform.model_bounds)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - fall back to the campaign-only GP
        notes.add(f"warm-start GP could not be fitted ({_short(exc)}); the GP learns from this "
                  "campaign only.", fallback=True)
        return None
    model.warm_start_info_ = {  # type: ignore[attr-defined]
        "mode": prior.mode,
        **jsonable(prior.info),
        "prior_rows": {k: int(v) for k, v in model.n_prior_.items()},
        "prior_weight": {k: _float(v) for k, v in model.prior_weight_.items()},
    }
    return model


def _model_info(model: Surrogate, name: str, acq: str, n_train: int, goals: tuple[Goal, ...],
                objectives: list[ObjectiveSpec], constraints: list[ConstraintSpec],
                settings: ProposalSettings, transform: TargetTransform, pending: int
                ) -> dict[str, Any]:
    return {
        "surrogate": name,
        "surrogate_params": jsonable(model.get_params()),
        "hyperparameters": _hyperparameters(model.to_botorch()),
        "n_train": n_train,
        "targets": [g.name for g in goals],
        "acquisition": acq,
        "objectives": [asdict(o) for o in objectives],
        "constraints": [asdict(c) for c in constraints],
        "mc_samples": settings.mc_samples,
        "log_targets": list(transform.logged),
        "settings": asdict(settings),
        "pending": pending,
        "fit_warnings": list(getattr(model, "fit_warnings_", [])),
        "warm_start": getattr(model, "warm_start_info_", None),
        "model_selection": _selection_info(model),
        "target_bounds": {t: [lo, hi] for t, lo, hi in transform.bounds},
        "target_links": [link.describe() for link in getattr(model, "output_links_", None) or []],
    }


def _predictions(model: Surrogate, goals: tuple[Goal, ...], transform: TargetTransform,
                 recipes: pd.DataFrame, p_made: list[float] | None,
                 values: list[float]) -> list[dict[str, Any]]:
    """Per row: predicted mean, std and 90 % interval in target units (within the targets'
    physical bounds), P(feasible), acquisition value."""
    features = recipes[list(model.feature_names_in_)]
    mean, std = model.predict(features)
    mean, std = np.array(mean, dtype=float), np.array(std, dtype=float)
    low, high = (np.array(v, dtype=float) for v in model.predict_interval(features, level=0.9))
    for k, g in enumerate(goals):
        mean[:, k], std[:, k] = transform.backward(g.name, mean[:, k], std[:, k])
        low[:, k] = transform.backward_values(g.name, low[:, k])
        high[:, k] = transform.backward_values(g.name, high[:, k])
    out = []
    for i in range(len(recipes)):
        pf: dict[str, float | None] = {}
        for k, g in enumerate(goals):
            if g.threshold is None:
                continue
            z = (mean[i, k] - g.threshold) / max(std[i, k], 1e-12)
            z = z if g.direction == "max" else -z
            pf[g.name] = _float(0.5 * math.erfc(-z / math.sqrt(2.0)))
        pf["synthesis"] = _float(1.0 if p_made is None else p_made[i])
        out.append({
            "targets": {g.name: {"mean": _float(mean[i, k]), "std": _float(std[i, k]),
                                 "low": _float(low[i, k]), "high": _float(high[i, k])}
                        for k, g in enumerate(goals)},
            "p_feasible": pf,
            "acquisition": _float(values[i]),
        })
    return out


# ---------------------------------------------------------------------------- recipe mode
def _propose_recipes(snapshot: CampaignSnapshot, q: int, surrogate: str, seed: int,
                     shared_values: Mapping[str, Any], settings: ProposalSettings,
                     optimizer: OptimizerSettings, notes: _Notes,
                     prior: Prior | None = None) -> PlateProposal:
    spec = snapshot.spec
    unknown = sorted(set(shared_values) - {p.name for p in spec.parameters})
    if unknown:
        raise PlanningError(
            f"shared values name {unknown}, which are not recipe parameters.",
            hint=f"Use parameters of the campaign: {', '.join(p.name for p in spec.parameters)}.",
        )
    shared_values = {k: _check_value(spec, k, v) for k, v in shared_values.items()}
    data = _training_frame(snapshot, notes)
    if data is None:
        fallback = not snapshot.observations.empty
        if fallback:
            notes.add("no usable measurements to fit a model; the plate is space-filling.",
                      fallback=True)
        return space_filling_plate(spec, q, seed, shared_values, fallback=fallback)
    X, Y, targets = data
    goals = goals_of(spec, targets)
    transform = TargetTransform.fit(Y, directions=[g.direction for g in goals],
                                    mode=settings.log_targets, bounds=_bounds_of(goals))
    Yt = transform.forward(Y)
    cats = {k: list(v) for k, v in spec.categorical_inputs.items()}
    logs = _log_inputs(spec, [X] if prior is None else [X, prior.X], notes)
    staged, staged_info = _two_stage_data(snapshot, X, notes)
    for kind in _surrogate_chain(surrogate):
        model, name = None, kind
        if staged is not None and prior is None and kind in ("gp", "ensemble", "auto"):
            model, name = _fit_two_stage(kind, staged, Yt, cats, spec, seed, optimizer, notes,
                                         logs, staged_info, transform,
                                         _plate_labels(snapshot, staged)), f"two_stage:{kind}"
        if model is None:
            model, name = _fit(kind, X, Yt, categories=cats, input_bounds=spec.numeric_bounds,
                               seed=seed, optimizer=optimizer, notes=notes,
                               prior=prior if kind in ("gp", "auto") else None,
                               transform=transform, log_columns=logs,
                               groups=_plate_labels(snapshot, X)), kind
        if model is None:
            continue
        try:
            proposal = _optimize_recipes(snapshot, model, name, X, Yt, goals, transform, q, seed,
                                         shared_values, settings, optimizer, notes)
            proposal.model_info["two_stage"] = getattr(model, "two_stage_info_", staged_info)
            return proposal
        except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
            notes.add(f"{name}: acquisition optimization failed ({_short(exc)}).", fallback=True)
    notes.add("every model-based proposal failed; the plate is space-filling.", fallback=True)
    return space_filling_plate(spec, q, seed, shared_values, fallback=True)


def _two_stage_data(snapshot: CampaignSnapshot, X: pd.DataFrame, notes: _Notes
                    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Recipe and descriptor columns for the two-stage model (``None`` when it is not used), and
    what the proposal's ``model_info["two_stage"]`` says about the choice.

    ``planning.two_stage``: ``off`` never; ``on`` whenever a declared descriptor has measured
    values; ``auto`` (default) when a descriptor is measured on at least
    :data:`TWO_STAGE_MIN_ROWS` wells (below that, stage 1 has too little to learn from; see
    ``benchmarks/results/two_stage.md``). Wells with descriptors but no target (a failed cell)
    teach stage 1 too.
    """
    spec = snapshot.spec
    mode = getattr(spec.planning, "two_stage", "off")
    names = [d.name for d in spec.descriptors]
    info: dict[str, Any] = {"setting": mode, "used": False}
    if mode == "off" or not names:
        info["reason"] = "off in the spec" if mode == "off" else "the campaign has no descriptors"
        return None, info
    obs = snapshot.observations
    rows = obs[obs["status"].isin(["ok", "failed_cell"])]
    D = rows.reindex(columns=names).apply(pd.to_numeric, errors="coerce")
    floor = 1 if mode == "on" else TWO_STAGE_MIN_ROWS
    usable = [c for c in names if int(D[c].notna().sum()) >= max(floor, 3)]
    if not usable:
        info["reason"] = (f"no descriptor is measured on {max(floor, 3)} or more wells yet")
        if mode == "on":
            notes.add(f"two-stage model is on, but {info['reason']}; the plate uses the "
                      "one-stage model.")
        return None, info
    extra = rows.index.difference(X.index)
    extra = extra[D.loc[extra, usable].notna().any(axis=1).to_numpy()]
    frame = pd.concat([X, rows.loc[extra, list(X.columns)]])
    frame[usable] = D.reindex(frame.index)[usable].to_numpy()
    info.update({"descriptors": usable, "rows": int(len(frame)),
                 "rows_without_targets": int(len(extra))})
    return frame, info


def _fit_two_stage(kind: str, data: pd.DataFrame, Yt: pd.DataFrame, cats: dict[str, list[Any]],
                   spec: CampaignSpec, seed: int, optimizer: OptimizerSettings, notes: _Notes,
                   logs: list[str] | None, info: dict[str, Any], transform: TargetTransform,
                   groups: Any) -> Surrogate | None:
    """:class:`surrogates.two_stage.TwoStageSurrogate` (stage 2 ``kind``; ``auto`` chooses the
    stage-2 model per target by grouped cross-validation), or ``None`` (noted)."""
    from surrogates.two_stage import TwoStageSurrogate

    stage1: dict[str, Any] = {}
    if optimizer.fit_max_iter is not None:
        stage1["max_iter"] = optimizer.fit_max_iter
    stage2 = dict(stage1) if kind == "gp" else {}
    if kind == "auto":
        stage2 = _auto_options(spec.numeric_bounds, optimizer)
    try:
        model = TwoStageSurrogate(
            descriptors=tuple(info["descriptors"]), stage2=kind, categorical=tuple(cats),
            categories=cats, log_columns=logs, input_bounds=spec.numeric_bounds,
            stage1_options=stage1, stage2_options=stage2, seed=seed)
        with warnings.catch_warnings():  # failed cells have no target by design
            warnings.filterwarnings("ignore", message="Rows without a target value")
            model.fit(data, Yt.reindex(data.index), groups=groups,  # type: ignore[call-arg]
                      bounds=transform.model_bounds)
    except Exception as exc:  # noqa: BLE001 - the one-stage model takes over
        notes.add(f"two-stage model could not be fitted ({_short(exc)}); the plate uses the "
                  f"one-stage {kind} model.", fallback=True)
        return None
    model.two_stage_info_ = {**info, "used": True, "stage1": "gp",  # type: ignore[attr-defined]
                             "stage2": kind, "log_descriptors": list(model.log_descriptors_)}
    return model


def _log_inputs(spec: CampaignSpec, frames: list[pd.DataFrame], notes: _Notes) -> list[str] | None:
    """The recipe inputs the surrogate models as log10: the spec's ``log_scale`` parameters.

    The spec, not the surrogate's skewness rule, decides a recipe input's scale, so it does not
    change from one week to the next. A parameter with a measured value <= 0 (outside its
    bounds) is modelled on a linear scale, with a note.
    """
    out = []
    for p in spec.parameters:
        if not (isinstance(p, ContinuousParameter) and p.log_scale):
            continue
        values = pd.concat([pd.to_numeric(f[p.name], errors="coerce")
                            for f in frames if p.name in f.columns])
        if (values.dropna() <= 0).any():
            notes.add(f"log-scale input {p.name!r} has measured values <= 0; the model takes it "
                      "on a linear scale.")
            continue
        out.append(p.name)
    return out or None


def _check_value(spec: CampaignSpec, name: str, value: Any) -> Any:
    space = EncodedSpace.from_spec(spec, spec.input_names, spec.categorical_inputs)
    space.encode_value(name, value)  # raises SpaceError (a PlanningError) with a hint
    return value


def _training_frame(snapshot: CampaignSnapshot,
                    notes: _Notes) -> tuple[pd.DataFrame, pd.DataFrame, list[str]] | None:
    """Rows and modelled targets (objectives, then constraint-only targets), or ``None``."""
    spec = snapshot.spec
    X, Y = snapshot.training_data()
    modelled = spec.modelled_targets
    Y = Y.reindex(columns=modelled).apply(pd.to_numeric, errors="coerce")
    empty = [t for t in modelled if len(Y) == 0 or Y[t].isna().all()]
    if empty and len(Y):
        notes.add(f"targets {empty} have no measured value; they are left out of the model.",
                  fallback=True)
    targets = [t for t in modelled if t not in empty]
    if not any(t.optimize for t in spec.targets if t.name in targets):
        return None
    Y = Y[targets]
    rows = Y.notna().any(axis=1)
    if not rows.any():
        return None
    return X[rows], Y[rows], targets


def _optimize_recipes(snapshot: CampaignSnapshot, model: Surrogate, name: str, X: pd.DataFrame,
                      Yt: pd.DataFrame, goals: tuple[Goal, ...], transform: TargetTransform,
                      q: int, seed: int, shared_values: Mapping[str, Any],
                      settings: ProposalSettings, optimizer: OptimizerSettings,
                      notes: _Notes) -> PlateProposal:
    spec = snapshot.spec
    space = EncodedSpace.from_spec(spec, list(model.feature_names_in_), model.categories_)
    space = space.with_fixed(shared_values)
    shared_dims = [space.index(p) for p in spec.plate.shared_parameters if p not in shared_values]
    feas = _feasibility(snapshot, space, seed, notes)
    botorch_model = model.to_botorch()
    objectives, constraints = _objectives(goals, transform)
    if feas is not None:
        botorch_model = with_feasibility(botorch_model, feas)
        constraints.append(ConstraintSpec(len(goals), "max", feas.threshold))
    pending = _encoded_pending(snapshot, space)
    acqf = build_acquisition(
        botorch_model, X_baseline=model.encode(X), objectives=objectives,
        constraints=constraints, Y_baseline=torch.tensor(Yt.to_numpy(dtype=float, copy=True)),
        X_pending=pending, mc_samples=settings.mc_samples, seed=seed,
        acquisition=settings.acquisition,
    )
    if not _differentiable(model, name):
        optimizer = replace(optimizer, optimized_wells=0)
    measured = model.encode(X)
    avoid = measured if pending is None else torch.cat([measured, pending])
    furnace = _furnace_dims(spec, space)
    if furnace:
        Xq, values, runs = optimize_furnace_runs(
            acqf, space, q, program_dims=furnace, runs=spec.plate.furnace_runs or 1, seed=seed,
            avoid=avoid, shared_dims=shared_dims, settings=optimizer)
    else:
        Xq, values = optimize_mixed(acqf, space, q, seed=seed, shared_dims=shared_dims,
                                    avoid=avoid, settings=optimizer)
    recipes = _checked(space, space.decode(Xq))  # decode also rounds to the lab's resolution
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = _model_info(model, name, acq, len(X), goals, objectives, constraints, settings,
                       transform, 0 if pending is None else len(pending))
    info.update({
        "feasibility": _feasibility_info(feas),
        "shared": jsonable({**{space.feature_names[j]: recipes.iloc[0][space.feature_names[j]]
                                for j in shared_dims}, **shared_values}),
        "optimizer": {"method": "optimize_acqf_mixed_alternating + lazy greedy pool"
                                + (" per furnace run" if furnace else ""),
                      **jsonable(asdict(optimizer))},
    })
    if furnace:
        info["furnace_runs"] = _furnace_info(spec, recipes)
    p_made = (feas.probability(space.encode(recipes[list(space.feature_names)])).tolist()
              if feas is not None else None)
    preds = _predictions(model, goals, transform, recipes, p_made, values.tolist())
    return PlateProposal(recipes=recipes, predictions=preds, generator=f"botorch:{acq}/{name}",
                         model_info=info)


def _feasibility(snapshot: CampaignSnapshot, space: EncodedSpace, seed: int,
                 notes: _Notes) -> FeasibilityModel | None:
    progress.report("feasibility")
    try:
        return fit_feasibility(snapshot, space, seed=seed)
    except Exception as exc:  # noqa: BLE001 - proposals go on without it
        notes.add(f"feasibility model failed ({_short(exc)}); failed syntheses are not avoided.",
                  fallback=True)
        return None


def _feasibility_info(feas: FeasibilityModel | None) -> dict[str, Any] | None:
    if feas is None:
        return None
    return {"model": "GP on synthesis success labels", "threshold": feas.threshold,
            "n_failed": feas.n_failed_, "n_made": feas.n_made_}


def _encoded_pending(snapshot: CampaignSnapshot, space: EncodedSpace) -> torch.Tensor | None:
    pending = snapshot.pending
    names = list(space.feature_names)
    if pending is None or pending.empty or not set(names) <= set(pending.columns):
        return None
    if "role" in pending.columns:
        pending = pending[pending["role"] != "control"]
    Xp = space.encode(pending[names])
    Xp = Xp[~torch.isnan(Xp).any(dim=-1)]
    return Xp if len(Xp) else None


def _checked(space: EncodedSpace, recipes: pd.DataFrame) -> pd.DataFrame:
    """``recipes`` if every row satisfies the spec, else a :class:`PlanningError` (which sends
    the proposal down the fallback chain rather than onto a plate)."""
    problems = space.violations(recipes)
    if problems:
        raise PlanningError("proposed recipes break the spec: " + "; ".join(problems[:5]))
    return recipes


def _furnace_dims(spec: CampaignSpec, space: EncodedSpace) -> list[int]:
    """Encoded dimensions of the furnace program still free, when the plate has furnace runs."""
    if spec.plate.furnace_runs is None:
        return []
    dims = [space.index(p) for p in spec.plate.furnace_parameters
            if p not in spec.plate.shared_parameters]  # a shared one is held for the plate
    return [j for j in dims if j not in space.fixed_features]


def _furnace_info(spec: CampaignSpec, recipes: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per furnace run of the plate: its number, program and wells."""
    names = list(spec.plate.furnace_parameters)
    runs = spec.furnace_run_numbers(recipes[names].to_dict(orient="records"))
    out: list[dict[str, Any]] = []
    for run in sorted({r for r in runs if r is not None}):
        first = runs.index(run)
        out.append({"run": run, "wells": runs.count(run),
                    "program": jsonable({n: recipes.iloc[first][n] for n in names})})
    return out


# ---------------------------------------------------------------------------- pool mode
def propose_from_pool(problem: PoolProblem, /, *, q: int, seed: int, surrogate: str = "gp",
                      settings: ProposalSettings | None = None,
                      optimizer: OptimizerSettings | None = None,
                      screening: ScreeningSettings | None = None) -> PoolPlan:
    """Choose ``q`` rows of a candidate pool: the core of library campaigns and backtests.

    Fits ``surrogate`` (falling back to the random forest) on the measured rows, on the scale
    :class:`~planner.transforms.TargetTransform` chooses, builds the acquisition named by
    ``settings`` with the goals' outcome constraints and the pending rows, and picks rows with
    :func:`planner.pool.select_from_pool`. A pool with more selectable rows than
    ``screening.min_rows`` (default 10,000) is screened first (:mod:`planner.funnel`, on the
    engine :func:`planner.engine.current_engine` names) and only the shortlist gets the full
    acquisition; ``model_info["stages"]`` records rows screened, shortlist size, seconds and
    peak memory per stage. Without a usable model it picks spread-out rows.

    Args:
        problem: The pool, the measured rows and the goals.
        q: Rows to choose.
        seed: Seeds the surrogate, the acquisition's samples and the fallback pick.
        surrogate: ``gp``, ``ensemble`` or ``rf``.
        settings: Acquisition, MC samples, target transforms (default
            :class:`ProposalSettings()`).
        optimizer: Surrogate fit cap (``fit_max_iter``) and MC cap; default
            :func:`planner.optimize.default_settings`.
        screening: When and how a big pool is screened (default
            :class:`~planner.funnel.ScreeningSettings()`).

    Returns:
        The :class:`PoolPlan`.

    Raises:
        PlanningError: fewer selectable rows than ``q``.
    """
    optimizer = optimizer or default_settings()
    settings = _capped(settings or ProposalSettings(), optimizer)
    source = as_source(problem.pool)
    n = source.n_rows
    excluded = positions_of(problem.exclude, n)
    if n - excluded.size < q:
        raise PlanningError(
            f"the pool has {n - excluded.size} unused candidates, {q} were asked for.",
            hint="Add candidates or propose fewer wells.",
        )
    notes = _Notes()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        plan = _model_pool(problem, source, excluded, q, seed, surrogate, settings, optimizer,
                           notes, screening or ScreeningSettings())
        if plan is None:
            fallback = len(problem.X) > 0
            if fallback:
                notes.add("no usable model; the plate is a spread-out pick from the pool.",
                          fallback=True)
            rows = _spread_out(source, list(problem.X.columns), excluded, q, seed)
            plan = PoolPlan(rows=rows, predictions=[_empty_prediction() for _ in range(q)],
                            generator="space-filling (fallback)" if fallback else "space-filling",
                            model_info={"design": "pool max-min distance", "surrogate": None,
                                        "acquisition": None})
    return replace(plan, notes=list(notes.messages), fallbacks=list(notes.fallbacks))


def _spread_out(source: PoolSource, inputs: list[str], excluded: np.ndarray, q: int,
                seed: int) -> np.ndarray:
    """Spread-out rows of the pool; of a seeded sample of 100,000 rows for a bigger pool."""
    n = source.n_rows
    base = np.arange(n)
    if n > 100_000:
        base = np.sort(np.random.default_rng([seed, 5]).choice(n, 100_000, replace=False))
    frame = source.frame if source.is_frame and len(base) == n else source.take(base, inputs)
    picks = spread_out_rows(frame, inputs if not source.is_frame else list(frame.columns), q,
                            seed=seed, exclude=np.isin(base, excluded))
    return base[picks]


def _model_pool(problem: PoolProblem, source: PoolSource, excluded: np.ndarray, q: int,
                seed: int, surrogate: str, settings: ProposalSettings,
                optimizer: OptimizerSettings, notes: _Notes,
                screening: ScreeningSettings) -> PoolPlan | None:
    Y = problem.Y.apply(pd.to_numeric, errors="coerce")
    measured = [g for g in problem.goals if g.name in Y and Y[g.name].notna().any()]
    if not any(g.optimize for g in measured):
        return None
    goals = tuple(measured)
    Y = Y[[g.name for g in goals]]
    rows = Y.notna().any(axis=1).to_numpy()
    X, Y = problem.X[rows].reset_index(drop=True), Y[rows].reset_index(drop=True)
    groups = None if problem.groups is None else np.asarray(problem.groups, dtype=object)[rows]
    transform = TargetTransform.fit(Y, directions=[g.direction for g in goals],
                                    mode=settings.log_targets, bounds=_bounds_of(goals))
    Yt = transform.forward(Y)
    inputs = list(source.frame.columns) if source.is_frame else list(problem.X.columns)
    cats = {c: _levels([*source.levels(c), *X[c]]) for c in problem.categorical}
    bounds = source.bounds(inputs, list(cats))
    for col, (lo, hi) in pool_bounds(X[inputs], categorical=list(cats)).items():
        old = bounds.get(col, (lo, hi))
        bounds[col] = (min(old[0], lo), max(old[1], hi))
    for name in _surrogate_chain(surrogate):
        model = _fit(name, X[inputs], Yt, categories=cats, input_bounds=bounds, seed=seed,
                     optimizer=optimizer, notes=notes,
                     prior=problem.prior if name in ("gp", "auto") else None,
                     transform=transform, groups=groups)
        if model is None:
            continue
        try:
            return _score_pool(problem, source, excluded, model, name, X[inputs], Yt, goals,
                               transform, q, seed, settings, screening)
        except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
            notes.add(f"{name}: scoring the pool failed ({_short(exc)}).", fallback=True)
    return None


def _score_pool(problem: PoolProblem, source: PoolSource, excluded: np.ndarray,
                model: Surrogate, name: str, X: pd.DataFrame, Yt: pd.DataFrame,
                goals: tuple[Goal, ...], transform: TargetTransform, q: int, seed: int,
                settings: ProposalSettings, screening: ScreeningSettings) -> PoolPlan:
    objectives, constraints = _objectives(goals, transform)
    features = list(model.feature_names_in_)
    n = source.n_rows
    pending = positions_of(problem.pending, n)
    stages: dict[str, Any] = {"screened": False}
    if screening.applies(n - excluded.size, q):
        screen = Screen.build(
            model, Yt.to_numpy(dtype=float), [(o.index, o.sign) for o in objectives],
            [(c.index, 1.0 if c.direction == "max" else -1.0, c.threshold) for c in constraints],
            paths=screening.paths, seed=seed, X=X)
        stage1 = screen_pool(source, screen, shortlist=screening.size(q), exclude=excluded,
                             batch_rows=screening.batch_rows)
        rows_map = stage1.positions
        candidates = source.take(rows_map, features)
        keep_out = np.zeros(len(rows_map), bool)
        stages = {"screened": True, "stage1": stage1.info()}
    else:
        rows_map = np.arange(n)
        candidates = source.frame[features] if source.is_frame else source.take(rows_map, features)
        keep_out = np.zeros(n, bool)
        keep_out[excluded] = True
    t0, c0 = time.perf_counter(), time.process_time()
    with MemoryPeak() as memory:
        encoded = model.encode(candidates)
        acqf = build_acquisition(
            model.to_botorch(), X_baseline=model.encode(X), objectives=objectives,
            constraints=constraints,
            Y_baseline=torch.tensor(Yt.to_numpy(dtype=float, copy=True)),
            X_pending=model.encode(source.take(pending, features)) if pending.size else None,
            mc_samples=settings.mc_samples, seed=seed, acquisition=settings.acquisition,
        )
        idx, values = select_from_pool(acqf, encoded, q, exclude=torch.as_tensor(keep_out))
    picked = idx.numpy()
    rows = rows_map[picked]
    stages["stage2"] = {"candidates": int((~keep_out).sum()),
                        "seconds": round(time.perf_counter() - t0, 3),
                        "cpu_seconds": round(time.process_time() - c0, 3),
                        "peak_rss_mb": round(memory.peak_mb, 1)}
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = _model_info(model, name, acq, len(X), goals, objectives, constraints, settings,
                       transform, int(pending.size))
    info["optimizer"] = {"method": "select_from_pool (sequential greedy)",
                         "pool_rows": int(n - excluded.size)}
    info["stages"] = stages
    preds = _predictions(model, goals, transform, candidates.iloc[picked], None, values.tolist())
    return PoolPlan(rows=rows, predictions=preds, generator=f"botorch:{acq}/{name}",
                    model_info=info)


# ---------------------------------------------------------------------------- library mode
def _propose_library(snapshot: CampaignSnapshot, q: int, surrogate: str, seed: int,
                     settings: ProposalSettings, optimizer: OptimizerSettings, notes: _Notes,
                     prior: Prior | None = None) -> PlateProposal:
    spec = snapshot.spec
    library = snapshot.library
    table = snapshot.library_table  # a big library: a Parquet table, never read whole
    if table is None and (library is None or library.empty):
        raise PlanningError("this library campaign has no candidates loaded.",
                            hint="Load the candidate table into the campaign first.")
    inputs = spec.input_names
    pool: Any
    frame = pd.DataFrame() if library is None else library.reset_index(drop=True)
    if table is not None:
        pool = table
        used = table.positions_of(sorted(_used_ids(snapshot)))
        excluded: np.ndarray = np.unique(used[used >= 0])
        on_order = table.positions_of(sorted(_ids(snapshot.pending)))
        pending: np.ndarray = np.unique(on_order[on_order >= 0])
        unused = table.n_rows - len(excluded)
    else:
        pool = frame[inputs]
        ids = frame["candidate_id"].astype(str)
        excluded = ids.isin(_used_ids(snapshot)).to_numpy()
        pending = ids.isin(_ids(snapshot.pending)).to_numpy()
        unused = int((~excluded).sum())
    if unused < q:
        raise PlanningError(
            f"the library has {unused} unused candidates, {q} were asked for.",
            hint="Add candidates to the library or propose fewer wells.",
        )
    data = _training_frame(snapshot, notes)
    goals: tuple[Goal, ...] = ()
    if data is None:  # nothing to learn from; measured rows still make the pick a fallback
        obs = snapshot.observations
        X, Y = obs.reindex(columns=inputs), pd.DataFrame(index=obs.index)
    else:
        X, Y, targets = data
        goals = goals_of(spec, targets)
    problem = PoolProblem(
        pool=pool, X=X[inputs], Y=Y, goals=goals,
        categorical=tuple(spec.library.categorical) if spec.library else (),
        exclude=excluded, pending=pending, prior=prior,
        groups=None if data is None else _plate_labels(snapshot, X))
    plan = propose_from_pool(problem, q=q, seed=seed, surrogate=surrogate, settings=settings,
                             optimizer=optimizer,
                             screening=ScreeningSettings.from_planning(spec.planning))
    for message in plan.notes:
        notes.add(message.replace("from the pool", "from the library"),
                  fallback=message in plan.fallbacks, logged=True)
    if table is not None:
        recipes = table.take(plan.rows, ["candidate_id", *inputs]).reset_index(drop=True)
    else:
        recipes = frame.iloc[plan.rows][["candidate_id", *inputs]].reset_index(drop=True)
    return PlateProposal(recipes=recipes, predictions=plan.predictions,
                         generator=plan.generator, model_info=plan.model_info)


def _ids(frame: pd.DataFrame | None) -> set[str]:
    if frame is None or "candidate_id" not in frame.columns:
        return set()
    return {str(v) for v in frame["candidate_id"].dropna()}


def _used_ids(snapshot: CampaignSnapshot) -> set[str]:
    """Candidates already measured (whatever the outcome) or on order."""
    return _ids(snapshot.observations) | _ids(snapshot.pending)

# ---------------------------------------------------------------------------- fallbacks
def space_filling_plate(spec: CampaignSpec, q: int, seed: int,
                        shared_values: Mapping[str, Any] | None = None, *,
                        fallback: bool = False) -> PlateProposal:
    """Scrambled-Sobol plate, rounded to the lab's resolution; a plate-wide (shared) parameter
    takes the given value or the first row's, so the plate needs one furnace program. With
    ``plate.furnace_runs``, the wells share that many furnace programs, spread over their range
    (:func:`planner.optimize.farthest_program`), run 1's wells first."""
    shared = dict(shared_values or {})
    space = EncodedSpace.from_spec(spec, spec.input_names, spec.categorical_inputs)
    first = space_filling_design(spec, q, seed=seed)  # the first draw below
    for name in spec.plate.shared_parameters:
        shared.setdefault(name, first.iloc[0][name])
    programs = _spread_programs(spec, space.with_fixed(shared), q, seed)
    sizes = run_sizes(q, len(programs)) if programs else [q]
    parts = []
    for j, n in enumerate(sizes):
        fixed = {**shared, **(programs[j] if programs else {})}
        out = pd.DataFrame(columns=spec.input_names)
        for attempt in range(20):
            # First exactly the design a first plate gets; bigger draws only if rows were dropped.
            draw = space_filling_design(spec, n * (attempt + 1), seed=seed + attempt + 101 * j)
            for name, value in fixed.items():
                draw[name] = value
            draw = space.decode(space.encode(draw))  # onto the lab's resolution
            out = draw[space.valid_rows(draw)].drop_duplicates().reset_index(drop=True)
            if len(out) >= n:
                break
        if len(out) < n:
            raise PlanningError(
                f"only {len(out)} of {n} recipes satisfy the constraints with the values "
                f"{fixed}.",
                hint="Choose other shared values or relax the linear constraints.",
            )
        parts.append(out.iloc[:n])
    recipes = pd.concat(parts, ignore_index=True)
    info: dict[str, Any] = {"design": "scrambled Sobol", "surrogate": None, "acquisition": None,
                            "shared": jsonable(shared)}
    if programs:
        info["furnace_runs"] = _furnace_info(spec, recipes)
    return PlateProposal(
        recipes=recipes,
        predictions=[_empty_prediction() for _ in range(q)],
        generator="space-filling (fallback)" if fallback else "space-filling",
        model_info=info,
    )


def _spread_programs(spec: CampaignSpec, space: EncodedSpace, q: int,
                     seed: int) -> list[dict[str, Any]]:
    """``plate.furnace_runs`` furnace programs for a plate without data (empty without furnace
    runs): a centred Latin hypercube over the free program parameters, so each parameter takes
    the centres of k equal strata of its range (log range for log-scale ones; 925, 1175, 1425
    and 1675 °C for four runs over 800-1800 °C). The first parameter rises from run to run, the
    others are permuted (seeded); values are rounded to the lab's resolution."""
    dims = _furnace_dims(spec, space)
    if not dims:
        return []
    k = len(run_sizes(q, spec.plate.furnace_runs or 1))
    rng = np.random.default_rng(seed)
    strata = (np.arange(k) + 0.5) / k
    rows = space.bounds[0].repeat(k, 1)
    for c, j in enumerate(dims):
        u = torch.as_tensor(strata if c == 0 else rng.permutation(strata), dtype=torch.double)
        lo, hi = float(space.bounds[0, j]), float(space.bounds[1, j])
        if j in space.log_dims:
            rows[:, j] = 10.0 ** (math.log10(lo) + u * (math.log10(hi) - math.log10(lo)))
        else:
            rows[:, j] = lo + u * (hi - lo)
    decoded = space.decode(space.snap(rows))
    names = [space.feature_names[j] for j in dims]
    return [{n: decoded.iloc[i][n] for n in names} for i in range(k)]


def _empty_prediction() -> dict[str, Any]:
    return {"targets": {}, "p_feasible": {}, "acquisition": None}


# ---------------------------------------------------------------------------- small helpers
def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _float(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _hyperparameters(model: Any) -> dict[str, Any]:
    """Length scales, output scales and noise levels of a GP (empty for other models)."""
    out: dict[str, Any] = {}
    for path, module in model.named_modules():
        for attr in ("lengthscale", "outputscale", "noise"):
            value = getattr(module, attr) if hasattr(type(module), attr) else None
            if isinstance(value, torch.Tensor) and value.numel() <= 64:
                out[f"{path}.{attr}" if path else attr] = [
                    round(float(v), 6) for v in value.detach().reshape(-1)]
    return out
