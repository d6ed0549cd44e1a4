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
from planner.acquisition import (
    ConstraintSpec,
    ObjectiveSpec,
    ProposalSettings,
    build_acquisition,
)
from planner.design import space_filling_design, spread_out_rows
from planner.errors import PlanningError, PlanningWarning
from planner.feasibility import FeasibilityModel, fit_feasibility, with_feasibility
from planner.optimize import OptimizerSettings, default_settings, optimize_mixed, torch_threads
from planner.pool import pool_bounds, select_from_pool
from planner.space import EncodedSpace
from planner.transforms import TargetTransform
from surrogates import make_surrogate
from surrogates.base import Surrogate

logger = logging.getLogger(__name__)

#: Surrogates whose BoTorch model has useful input gradients (the forest is piecewise constant,
#: so it is optimized by scoring a candidate pool only).
DIFFERENTIABLE = ("gp", "ensemble")
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
    """Per row: ``{"targets": {name: {"mean", "std"}}, "p_feasible": {constraint: p,
    "synthesis": p}, "acquisition": value}`` (empty dicts and ``None`` for space-filling rows).
    ``acquisition`` is the well's value given the wells before it (BoTorch log scale)."""
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
    max_prior_rows: int = 300
    """Most prior rows per target in one fit."""
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

    pool: pd.DataFrame
    """``N x d`` candidate inputs (numeric columns as floats, NaN allowed; categoricals as str)."""
    X: pd.DataFrame
    """``n x d`` measured inputs, same columns."""
    Y: pd.DataFrame
    """``n x t`` measured targets, target units (NaN allowed), columns named by ``goals``."""
    goals: tuple[Goal, ...]
    """The targets, in the columns' order."""
    categorical: tuple[str, ...] = ()
    """Categorical input columns."""
    exclude: np.ndarray | None = None
    """``N`` booleans: rows never to pick (measured, on order)."""
    pending: np.ndarray | None = None
    """``N`` booleans: rows on order, not measured yet (the acquisition's pending points)."""
    prior: Prior | None = None
    """Warm-start rows for the ``gp`` surrogate."""


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
    return tuple(Goal(n, by_name[n].direction, by_name[n].threshold, by_name[n].optimize)
                 for n in targets)


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


def _levels(values: Any) -> list[Any]:
    return sorted({str(v) for v in values if not pd.isna(v)})


def _fit(name: str, X: pd.DataFrame, Y: pd.DataFrame, *, categories: dict[str, list[Any]],
         input_bounds: Mapping[str, tuple[float, float]], seed: int,
         optimizer: OptimizerSettings, notes: _Notes, prior: Prior | None = None,
         transform: TargetTransform | None = None,
         log_columns: str | list[str] | None = "auto") -> Surrogate | None:
    """Fit surrogate ``name`` on ``Y`` (already on the model's scale), or ``None`` if it fails.

    The ``gp`` with a prior is a :class:`WarmStartGP` (falling back to the plain GP).
    ``log_columns``: inputs modelled as log10 (``"auto"``: the surrogate's own rule)."""
    if name == "gp" and prior is not None:
        model = _fit_warm(X, Y, seed, optimizer, notes, categories, prior,
                          transform or TargetTransform(), log_columns)
        if model is not None:
            return model
    try:
        extra = {"input_bounds": dict(input_bounds)} if name == "gp" else {}
        model = make_surrogate(name, categorical=tuple(categories), categories=categories,
                               log_columns=log_columns, seed=seed, **extra)
        if optimizer.fit_max_iter is not None and "max_iter" in model.get_params():
            model.set_params(max_iter=optimizer.fit_max_iter)
        return model.fit(X, Y)
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
            columns=Y.columns)), prior_task=prior.task)
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
    }


def _predictions(model: Surrogate, goals: tuple[Goal, ...], transform: TargetTransform,
                 recipes: pd.DataFrame, p_made: list[float] | None,
                 values: list[float]) -> list[dict[str, Any]]:
    """Per row: predicted mean ± std in target units, P(feasible), acquisition value."""
    mean, std = model.predict(recipes[list(model.feature_names_in_)])
    mean, std = np.array(mean, dtype=float), np.array(std, dtype=float)
    for k, g in enumerate(goals):
        mean[:, k], std[:, k] = transform.backward(g.name, mean[:, k], std[:, k])
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
            "targets": {g.name: {"mean": _float(mean[i, k]), "std": _float(std[i, k])}
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
                                    mode=settings.log_targets)
    Yt = transform.forward(Y)
    cats = {k: list(v) for k, v in spec.categorical_inputs.items()}
    logs = _log_inputs(spec, [X] if prior is None else [X, prior.X], notes)
    for name in _surrogate_chain(surrogate):
        model = _fit(name, X, Yt, categories=cats, input_bounds=spec.numeric_bounds, seed=seed,
                     optimizer=optimizer, notes=notes, prior=prior if name == "gp" else None,
                     transform=transform, log_columns=logs)
        if model is None:
            continue
        try:
            return _optimize_recipes(snapshot, model, name, X, Yt, goals, transform, q, seed,
                                     shared_values, settings, optimizer, notes)
        except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
            notes.add(f"{name}: acquisition optimization failed ({_short(exc)}).", fallback=True)
    notes.add("every model-based proposal failed; the plate is space-filling.", fallback=True)
    return space_filling_plate(spec, q, seed, shared_values, fallback=True)


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
    if name not in DIFFERENTIABLE:
        optimizer = replace(optimizer, optimized_wells=0)
    measured = model.encode(X)
    avoid = measured if pending is None else torch.cat([measured, pending])
    Xq, values = optimize_mixed(acqf, space, q, seed=seed, shared_dims=shared_dims, avoid=avoid,
                                settings=optimizer)
    recipes = _checked(space, space.decode(Xq))  # decode also rounds to the lab's resolution
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = _model_info(model, name, acq, len(X), goals, objectives, constraints, settings,
                       transform, 0 if pending is None else len(pending))
    info.update({
        "feasibility": _feasibility_info(feas),
        "shared": jsonable({**{space.feature_names[j]: recipes.iloc[0][space.feature_names[j]]
                                for j in shared_dims}, **shared_values}),
        "optimizer": {"method": "optimize_acqf_mixed_alternating + lazy greedy pool",
                      **jsonable(asdict(optimizer))},
    })
    p_made = (feas.probability(space.encode(recipes[list(space.feature_names)])).tolist()
              if feas is not None else None)
    preds = _predictions(model, goals, transform, recipes, p_made, values.tolist())
    return PlateProposal(recipes=recipes, predictions=preds, generator=f"botorch:{acq}/{name}",
                         model_info=info)


def _feasibility(snapshot: CampaignSnapshot, space: EncodedSpace, seed: int,
                 notes: _Notes) -> FeasibilityModel | None:
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


# ---------------------------------------------------------------------------- pool mode
def propose_from_pool(problem: PoolProblem, /, *, q: int, seed: int, surrogate: str = "gp",
                      settings: ProposalSettings | None = None,
                      optimizer: OptimizerSettings | None = None) -> PoolPlan:
    """Choose ``q`` rows of a candidate pool: the core of library campaigns and backtests.

    Fits ``surrogate`` (falling back to the random forest) on the measured rows, on the scale
    :class:`~planner.transforms.TargetTransform` chooses, builds the acquisition named by
    ``settings`` with the goals' outcome constraints and the pending rows, and picks rows with
    :func:`planner.pool.select_from_pool`. Without a usable model it picks spread-out rows.

    Args:
        problem: The pool, the measured rows and the goals.
        q: Rows to choose.
        seed: Seeds the surrogate, the acquisition's samples and the fallback pick.
        surrogate: ``gp``, ``ensemble`` or ``rf``.
        settings: Acquisition, MC samples, target transforms (default
            :class:`ProposalSettings()`).
        optimizer: Surrogate fit cap (``fit_max_iter``) and MC cap; default
            :func:`planner.optimize.default_settings`.

    Returns:
        The :class:`PoolPlan`.

    Raises:
        PlanningError: fewer selectable rows than ``q``.
    """
    optimizer = optimizer or default_settings()
    settings = _capped(settings or ProposalSettings(), optimizer)
    pool = problem.pool.reset_index(drop=True)
    n = len(pool)
    exclude = np.zeros(n, bool) if problem.exclude is None else np.asarray(problem.exclude, bool)
    if int((~exclude).sum()) < q:
        raise PlanningError(
            f"the pool has {int((~exclude).sum())} unused candidates, {q} were asked for.",
            hint="Add candidates or propose fewer wells.",
        )
    notes = _Notes()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        plan = _model_pool(problem, pool, exclude, q, seed, surrogate, settings, optimizer, notes)
        if plan is None:
            fallback = len(problem.X) > 0
            if fallback:
                notes.add("no usable model; the plate is a spread-out pick from the pool.",
                          fallback=True)
            rows = spread_out_rows(pool, list(pool.columns), q, seed=seed, exclude=exclude)
            plan = PoolPlan(rows=rows, predictions=[_empty_prediction() for _ in range(q)],
                            generator="space-filling (fallback)" if fallback else "space-filling",
                            model_info={"design": "pool max-min distance", "surrogate": None,
                                        "acquisition": None})
    return replace(plan, notes=list(notes.messages), fallbacks=list(notes.fallbacks))


def _model_pool(problem: PoolProblem, pool: pd.DataFrame, exclude: np.ndarray, q: int, seed: int,
                surrogate: str, settings: ProposalSettings, optimizer: OptimizerSettings,
                notes: _Notes) -> PoolPlan | None:
    Y = problem.Y.apply(pd.to_numeric, errors="coerce")
    measured = [g for g in problem.goals if g.name in Y and Y[g.name].notna().any()]
    if not any(g.optimize for g in measured):
        return None
    goals = tuple(measured)
    Y = Y[[g.name for g in goals]]
    rows = Y.notna().any(axis=1).to_numpy()
    X, Y = problem.X[rows].reset_index(drop=True), Y[rows].reset_index(drop=True)
    transform = TargetTransform.fit(Y, directions=[g.direction for g in goals],
                                    mode=settings.log_targets)
    Yt = transform.forward(Y)
    inputs = list(pool.columns)
    cats = {c: _levels([*pool[c], *X[c]]) for c in problem.categorical}
    bounds = pool_bounds(pd.concat([pool[inputs], X[inputs]]), categorical=list(cats))
    for name in _surrogate_chain(surrogate):
        model = _fit(name, X[inputs], Yt, categories=cats, input_bounds=bounds, seed=seed,
                     optimizer=optimizer, notes=notes,
                     prior=problem.prior if name == "gp" else None, transform=transform)
        if model is None:
            continue
        try:
            return _score_pool(problem, pool, exclude, model, name, X[inputs], Yt, goals,
                               transform, q, seed, settings)
        except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
            notes.add(f"{name}: scoring the pool failed ({_short(exc)}).", fallback=True)
    return None


def _score_pool(problem: PoolProblem, pool: pd.DataFrame, exclude: np.ndarray,
                model: Surrogate, name: str, X: pd.DataFrame, Yt: pd.DataFrame,
                goals: tuple[Goal, ...], transform: TargetTransform, q: int, seed: int,
                settings: ProposalSettings) -> PoolPlan:
    objectives, constraints = _objectives(goals, transform)
    encoded = model.encode(pool[list(model.feature_names_in_)])
    pending = (np.zeros(len(pool), bool) if problem.pending is None
               else np.asarray(problem.pending, bool))
    acqf = build_acquisition(
        model.to_botorch(), X_baseline=model.encode(X), objectives=objectives,
        constraints=constraints, Y_baseline=torch.tensor(Yt.to_numpy(dtype=float, copy=True)),
        X_pending=encoded[torch.as_tensor(pending)] if pending.any() else None,
        mc_samples=settings.mc_samples, seed=seed, acquisition=settings.acquisition,
    )
    idx, values = select_from_pool(acqf, encoded, q, exclude=torch.as_tensor(exclude))
    rows = idx.numpy()
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = _model_info(model, name, acq, len(X), goals, objectives, constraints, settings,
                       transform, int(pending.sum()))
    info["optimizer"] = {"method": "select_from_pool (sequential greedy)",
                         "pool_rows": int((~exclude).sum())}
    preds = _predictions(model, goals, transform, pool.iloc[rows], None, values.tolist())
    return PoolPlan(rows=rows, predictions=preds, generator=f"botorch:{acq}/{name}",
                    model_info=info)


# ---------------------------------------------------------------------------- library mode
def _propose_library(snapshot: CampaignSnapshot, q: int, surrogate: str, seed: int,
                     settings: ProposalSettings, optimizer: OptimizerSettings, notes: _Notes,
                     prior: Prior | None = None) -> PlateProposal:
    spec = snapshot.spec
    library = snapshot.library
    if library is None or library.empty:
        raise PlanningError("this library campaign has no candidates loaded.",
                            hint="Load the candidate table into the campaign first.")
    library = library.reset_index(drop=True)
    inputs = spec.input_names
    ids = library["candidate_id"].astype(str)
    excluded = ids.isin(_used_ids(snapshot)).to_numpy()
    if int((~excluded).sum()) < q:
        raise PlanningError(
            f"the library has {int((~excluded).sum())} unused candidates, {q} were asked for.",
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
        pool=library[inputs], X=X[inputs], Y=Y, goals=goals,
        categorical=tuple(spec.library.categorical) if spec.library else (),
        exclude=excluded, pending=ids.isin(_ids(snapshot.pending)).to_numpy(), prior=prior)
    plan = propose_from_pool(problem, q=q, seed=seed, surrogate=surrogate, settings=settings,
                             optimizer=optimizer)
    for message in plan.notes:
        notes.add(message.replace("from the pool", "from the library"),
                  fallback=message in plan.fallbacks, logged=True)
    recipes = library.iloc[plan.rows][["candidate_id", *inputs]].reset_index(drop=True)
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
    takes the given value or the first row's, so the plate needs one furnace program."""
    shared = dict(shared_values or {})
    space = EncodedSpace.from_spec(spec, spec.input_names, spec.categorical_inputs)
    out = pd.DataFrame(columns=spec.input_names)
    for attempt in range(20):
        # First exactly the design a first plate gets; bigger draws only if rows were dropped.
        draw = space_filling_design(spec, q * (attempt + 1), seed=seed + attempt)
        for name in spec.plate.shared_parameters:
            shared.setdefault(name, draw.iloc[0][name])
        for name, value in shared.items():
            draw[name] = value
        draw = space.decode(space.encode(draw))  # onto the lab's resolution
        out = draw[space.valid_rows(draw)].drop_duplicates().reset_index(drop=True)
        if len(out) >= q:
            break
    if len(out) < q:
        raise PlanningError(
            f"only {len(out)} of {q} recipes satisfy the constraints with shared values {shared}.",
            hint="Choose other shared values or relax the linear constraints.",
        )
    recipes = out.iloc[:q].reset_index(drop=True)
    return PlateProposal(
        recipes=recipes,
        predictions=[_empty_prediction() for _ in range(q)],
        generator="space-filling (fallback)" if fallback else "space-filling",
        model_info={"design": "scrambled Sobol", "surrogate": None, "acquisition": None,
                    "shared": jsonable(shared)},
    )


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
