"""Weekly plate proposals: fit a surrogate to the campaign's data and let BoTorch fill the plate.

:func:`propose_plate` is the one entry point. In recipe mode it fits the surrogate on the
campaign's measured wells, builds the acquisition (noisy log-EI for one objective, log-NEHVI for
several; targets with a threshold become outcome constraints; failed syntheses add a
feasibility constraint, see :mod:`planner.feasibility`), treats wells already on order as
pending, and optimizes over the mixed recipe space (:mod:`planner.optimize`). In library mode it
scores the candidate table instead (:func:`planner.pool.select_from_pool`).

It never crashes on awkward data: a surrogate that cannot be fitted falls back to the random
forest, then to a space-filling design (or a spread-out library pick), and every fallback is
recorded on the proposal and emitted as a :class:`~planner.errors.PlanningWarning`.

Example:
    >>> proposal = propose_plate(snapshot, seed=7)
    >>> proposal.recipes.shape
    (92, 6)
    >>> proposal.generator
    'botorch:qLogNEHVI/gp'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from campaigns.shared.dataset import PriorRows
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from planner.acquisition import ConstraintSpec, ObjectiveSpec, build_acquisition
from planner.design import library_design, space_filling_design
from planner.errors import PlanningError, PlanningWarning
from planner.feasibility import FeasibilityModel, fit_feasibility, with_feasibility
from planner.optimize import OptimizerSettings, default_settings, optimize_mixed, torch_threads
from planner.pool import pool_bounds, select_from_pool
from planner.space import EncodedSpace
from surrogates import make_surrogate
from surrogates.base import Surrogate

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
    """Warnings for the proposal; fallbacks are also re-emitted as :class:`PlanningWarning`."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.fallbacks: list[str] = []

    def add(self, message: str, *, fallback: bool = False) -> None:
        if message not in self.messages:
            self.messages.append(message)
            if fallback:
                self.fallbacks.append(message)


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
            :meth:`campaigns.shared.SharedDataset.prior_for`). Used by the ``gp`` surrogate
            only, through :class:`surrogates.warm_start.WarmStartGP`; if that fit fails the plain
            GP is fitted and the fallback recorded.

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
    settings = default_settings(fast)
    notes = _Notes()
    captured: list[warnings.WarningMessage] = []
    with torch_threads(settings.threads), torch.random.fork_rng():
        torch.manual_seed(seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if spec.is_library:
                if shared_values:
                    notes.add("shared values are ignored in library mode (candidates are fixed).")
                proposal = _propose_library(snapshot, q, surrogate, seed, settings, notes,
                                            prior)
            else:
                proposal = _propose_recipes(snapshot, q, surrogate, seed, shared_values or {},
                                            settings, notes, prior)
        captured.extend(caught)
    _sort_captured(captured, notes, proposal.model_info)
    for message in notes.fallbacks:
        warnings.warn(message, PlanningWarning, stacklevel=2)
    return replace(proposal, warnings=list(notes.messages), seed=seed, revision=snapshot.revision)


def _sort_captured(caught: list[warnings.WarningMessage], notes: _Notes,
                   info: dict[str, Any]) -> None:
    """Planner and surrogate warnings go on the proposal; third-party chatter into model_info."""
    other: list[str] = []
    for w in caught:
        text = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
        if issubclass(w.category, PlanningWarning):
            notes.add(text, fallback=True)
        elif w.category.__module__.startswith("surrogates"):
            notes.add(f"surrogate: {text}")
        elif f"{w.category.__name__}: {text}" not in other:
            other.append(f"{w.category.__name__}: {text}")
    if other:
        info.setdefault("numerics", other[:20])


# ---------------------------------------------------------------------------- recipe mode
def _propose_recipes(snapshot: CampaignSnapshot, q: int, surrogate: str, seed: int,
                     shared_values: Mapping[str, Any], settings: OptimizerSettings,
                     notes: _Notes, prior: PriorRows | None = None) -> PlateProposal:
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
        return _space_filling(spec, q, seed, shared_values, fallback=fallback)
    X, Y, targets = data
    for name in _surrogate_chain(surrogate):
        model = _fit(name, spec, X, Y, seed, settings, notes, prior=prior)
        if model is None:
            continue
        try:
            return _optimize_recipes(snapshot, model, name, X, Y, targets, q, seed,
                                     shared_values, settings, notes)
        except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
            notes.add(f"{name}: acquisition optimization failed ({_short(exc)}).", fallback=True)
    notes.add("every model-based proposal failed; the plate is space-filling.", fallback=True)
    return _space_filling(spec, q, seed, shared_values, fallback=True)


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


def _surrogate_chain(name: str) -> list[str]:
    return [name] if name == "rf" else [name, "rf"]


def _fit(name: str, spec: CampaignSpec, X: pd.DataFrame, Y: pd.DataFrame, seed: int,
         settings: OptimizerSettings, notes: _Notes,
         library: pd.DataFrame | None = None,
         prior: PriorRows | None = None) -> Surrogate | None:
    cats = {k: list(v) for k, v in spec.categorical_inputs.items()}
    if library is not None:  # library levels come from the table and the measured rows
        cats = {k: _levels([*library[k], *X[k]]) for k in cats}
    if name == "gp" and spec.warm_start is not None:
        if prior is None or len(prior) == 0:
            notes.add("warm start is on, but no shared rows with this campaign's targets were "
                      "found; the GP learns from this campaign only.")
        else:
            model = _fit_warm(spec, X, Y, seed, settings, notes, cats, prior)
            if model is not None:
                return model
    try:
        extra = {"input_bounds": _input_bounds(spec, X, library, cats)} if name == "gp" else {}
        model = make_surrogate(name, categorical=tuple(cats), categories=cats, seed=seed,
                               **extra)
        if settings.fit_max_iter is not None and "max_iter" in model.get_params():
            model.set_params(max_iter=settings.fit_max_iter)
        return model.fit(X, Y)
    except Exception as exc:  # noqa: BLE001 - surrogates raise their own and third-party errors
        notes.add(f"{name} surrogate could not be fitted ({_short(exc)}).", fallback=True)
        return None


def _input_bounds(spec: CampaignSpec, X: pd.DataFrame, library: pd.DataFrame | None,
                  cats: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The search space's range of each numeric input, for the GP's input scaling.

    Recipe mode: the spec's bounds (mixture components: their fraction bounds). Library mode:
    the range of the candidate table and the measured rows. Scaling to the search space rather
    than to the rows measured so far keeps unexplored candidates inside the unit cube the GP's
    length-scale priors assume (``GPSurrogate(input_bounds=...)``).
    """
    if library is not None:
        inputs = [c for c in spec.input_names if c in library]
        return pool_bounds(pd.concat([library[inputs], X[inputs]]), categorical=list(cats))
    return spec.numeric_bounds


def _fit_warm(spec: CampaignSpec, X: pd.DataFrame, Y: pd.DataFrame, seed: int,
              settings: OptimizerSettings, notes: _Notes, cats: dict[str, list[Any]],
              prior: PriorRows) -> Surrogate | None:
    """:class:`WarmStartGP` on this campaign's rows plus the shared rows, or ``None``."""
    from surrogates.warm_start import WarmStartGP

    warm = spec.warm_start
    assert warm is not None
    if prior.missing_inputs:
        notes.add(f"warm start: the shared rows have no values for {list(prior.missing_inputs)}; "
                  "those inputs are imputed for them.")
    try:
        model = WarmStartGP(categorical=tuple(cats), categories=cats, mode=warm.mode,
                            max_prior_rows=warm.max_prior_rows, seed=seed)
        if settings.fit_max_iter is not None:
            model.set_params(max_iter=settings.fit_max_iter)
        model.fit(X, Y, prior_X=prior.X, prior_Y=prior.Y.reindex(columns=Y.columns),
                  prior_task=prior.source)
    except Exception as exc:  # noqa: BLE001 - fall back to the campaign-only GP
        notes.add(f"warm-start GP could not be fitted ({_short(exc)}); the GP learns from this "
                  "campaign only.", fallback=True)
        return None
    model.warm_start_info_ = {  # type: ignore[attr-defined]
        "mode": warm.mode,
        "sources": dict(prior.sources),
        "prior_rows": {k: int(v) for k, v in model.n_prior_.items()},
        "prior_weight": {k: _float(v) for k, v in model.prior_weight_.items()},
        "missing_inputs": list(prior.missing_inputs),
    }
    return model


def _levels(values: Any) -> list[Any]:
    return sorted({str(v) for v in values if not pd.isna(v)})


def _objectives(spec: CampaignSpec,
                targets: list[str]) -> tuple[list[ObjectiveSpec], list[ConstraintSpec]]:
    by_name = {t.name: t for t in spec.targets}
    objectives = [ObjectiveSpec(i, by_name[n].direction) for i, n in enumerate(targets)
                  if by_name[n].optimize]
    constraints = [ConstraintSpec(i, by_name[n].direction, float(by_name[n].threshold))
                   for i, n in enumerate(targets) if by_name[n].threshold is not None]
    return objectives, constraints


def _optimize_recipes(snapshot: CampaignSnapshot, model: Surrogate, name: str, X: pd.DataFrame,
                      Y: pd.DataFrame, targets: list[str], q: int, seed: int,
                      shared_values: Mapping[str, Any], settings: OptimizerSettings,
                      notes: _Notes) -> PlateProposal:
    spec = snapshot.spec
    space = EncodedSpace.from_spec(spec, list(model.feature_names_in_), model.categories_)
    space = space.with_fixed(shared_values)
    shared_dims = [space.index(p) for p in spec.plate.shared_parameters if p not in shared_values]
    feas = _feasibility(snapshot, space, seed, notes)
    botorch_model = model.to_botorch()
    objectives, constraints = _objectives(spec, targets)
    if feas is not None:
        botorch_model = with_feasibility(botorch_model, feas)
        constraints.append(ConstraintSpec(len(targets), "max", feas.threshold))
    pending = _encoded_pending(snapshot, space)
    acqf = build_acquisition(
        botorch_model, X_baseline=model.encode(X), objectives=objectives,
        constraints=constraints, Y_baseline=torch.tensor(Y.to_numpy(dtype=float, copy=True)),
        X_pending=pending, mc_samples=settings.mc_samples, seed=seed,
    )
    if name not in DIFFERENTIABLE:
        settings = replace(settings, optimized_wells=0)
    measured = model.encode(X)
    avoid = measured if pending is None else torch.cat([measured, pending])
    Xq, values = optimize_mixed(acqf, space, q, seed=seed, shared_dims=shared_dims, avoid=avoid,
                                settings=settings)
    recipes = _checked(space, space.decode(Xq))  # decode also rounds to the lab's resolution
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = {
        "surrogate": name,
        "surrogate_params": _jsonable(model.get_params()),
        "hyperparameters": _hyperparameters(model.to_botorch()),
        "n_train": len(X),
        "targets": targets,
        "acquisition": acq,
        "objectives": [asdict(o) for o in objectives],
        "constraints": [asdict(c) for c in constraints],
        "mc_samples": settings.mc_samples,
        "pending": 0 if pending is None else len(pending),
        "feasibility": _feasibility_info(feas),
        "fit_warnings": list(model.fit_warnings_),
        "warm_start": getattr(model, "warm_start_info_", None),
        "shared": _jsonable({**{space.feature_names[j]: recipes.iloc[0][space.feature_names[j]]
                                for j in shared_dims}, **shared_values}),
        "optimizer": {"method": "optimize_acqf_mixed_alternating + lazy greedy pool",
                      **_jsonable(asdict(settings))},
    }
    preds = _predictions(model, targets, spec, recipes, space, feas, values.tolist())
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


def _predictions(model: Surrogate, targets: list[str], spec: CampaignSpec,
                 recipes: pd.DataFrame, space: EncodedSpace | None,
                 feas: FeasibilityModel | None, values: list[float]) -> list[dict[str, Any]]:
    mean, std = model.predict(recipes[list(model.feature_names_in_)])
    by_name = {t.name: t for t in spec.targets}
    p_made = (feas.probability(space.encode(recipes[list(space.feature_names)])).tolist()
              if feas is not None and space is not None else [1.0] * len(recipes))
    out = []
    for i in range(len(recipes)):
        pf: dict[str, float | None] = {}
        for k, name in enumerate(targets):
            t = by_name[name]
            if t.threshold is None:
                continue
            z = (mean[i, k] - t.threshold) / max(std[i, k], 1e-12)
            z = z if t.direction == "max" else -z
            pf[name] = _float(0.5 * math.erfc(-z / math.sqrt(2.0)))
        pf["synthesis"] = _float(p_made[i])
        out.append({
            "targets": {n: {"mean": _float(mean[i, k]), "std": _float(std[i, k])}
                        for k, n in enumerate(targets)},
            "p_feasible": pf,
            "acquisition": _float(values[i]),
        })
    return out


# ---------------------------------------------------------------------------- library mode
def _propose_library(snapshot: CampaignSnapshot, q: int, surrogate: str, seed: int,
                     settings: OptimizerSettings, notes: _Notes,
                     prior: PriorRows | None = None) -> PlateProposal:
    spec = snapshot.spec
    library = snapshot.library
    if library is None or library.empty:
        raise PlanningError("this library campaign has no candidates loaded.",
                            hint="Load the candidate table into the campaign first.")
    library = library.reset_index(drop=True)
    inputs = spec.input_names
    used = _used_ids(snapshot)
    excluded = library["candidate_id"].astype(str).isin(used).to_numpy()
    if int((~excluded).sum()) < q:
        raise PlanningError(
            f"the library has {int((~excluded).sum())} unused candidates, {q} were asked for.",
            hint="Add candidates to the library or propose fewer wells.",
        )
    data = _training_frame(snapshot, notes)
    if data is not None:
        X, Y, targets = data
        for name in _surrogate_chain(surrogate):
            model = _fit(name, spec, X, Y, seed, settings, notes, library=library, prior=prior)
            if model is None:
                continue
            try:
                return _score_library(snapshot, library, excluded, model, name, X, Y, targets,
                                      q, seed, settings, notes)
            except Exception as exc:  # noqa: BLE001 - any failure must end in a usable plate
                notes.add(f"{name}: scoring the library failed ({_short(exc)}).", fallback=True)
    fallback = not snapshot.observations.empty
    if fallback:
        notes.add("no usable model; the plate is a spread-out pick from the library.",
                  fallback=True)
    picks = library_design(library, inputs, q, seed=seed, exclude=used)
    return PlateProposal(
        recipes=picks[["candidate_id", *inputs]].reset_index(drop=True),
        predictions=[_empty_prediction() for _ in range(q)],
        generator="space-filling (fallback)" if fallback else "space-filling",
        model_info={"design": "library max-min distance", "surrogate": None, "acquisition": None},
    )


def _ids(frame: pd.DataFrame | None) -> set[str]:
    if frame is None or "candidate_id" not in frame.columns:
        return set()
    return {str(v) for v in frame["candidate_id"].dropna()}


def _used_ids(snapshot: CampaignSnapshot) -> set[str]:
    """Candidates already measured (whatever the outcome) or on order."""
    return _ids(snapshot.observations) | _ids(snapshot.pending)


def _score_library(snapshot: CampaignSnapshot, library: pd.DataFrame, excluded: np.ndarray,
                   model: Surrogate, name: str, X: pd.DataFrame, Y: pd.DataFrame,
                   targets: list[str], q: int, seed: int, settings: OptimizerSettings,
                   notes: _Notes) -> PlateProposal:
    spec = snapshot.spec
    inputs = list(model.feature_names_in_)
    objectives, constraints = _objectives(spec, targets)
    pool = model.encode(library[inputs])
    pend_rows = library["candidate_id"].astype(str).isin(_ids(snapshot.pending)).to_numpy()
    acqf = build_acquisition(
        model.to_botorch(), X_baseline=model.encode(X), objectives=objectives,
        constraints=constraints, Y_baseline=torch.tensor(Y.to_numpy(dtype=float, copy=True)),
        X_pending=pool[torch.as_tensor(pend_rows)] if pend_rows.any() else None,
        mc_samples=settings.mc_samples, seed=seed,
    )
    idx, values = select_from_pool(acqf, pool, q, exclude=torch.as_tensor(excluded))
    rows = idx.numpy()
    recipes = library.iloc[rows][["candidate_id", *spec.input_names]].reset_index(drop=True)
    acq = _ACQ_NAMES.get(type(acqf).__name__, type(acqf).__name__)
    info = {
        "surrogate": name,
        "surrogate_params": _jsonable(model.get_params()),
        "hyperparameters": _hyperparameters(model.to_botorch()),
        "n_train": len(X), "targets": targets, "acquisition": acq,
        "objectives": [asdict(o) for o in objectives],
        "constraints": [asdict(c) for c in constraints], "mc_samples": settings.mc_samples,
        "pending": int(pend_rows.sum()),
        "warm_start": getattr(model, "warm_start_info_", None),
        "optimizer": {"method": "select_from_pool (sequential greedy)",
                      "pool_rows": int((~excluded).sum())},
    }
    preds = _predictions(model, targets, spec, recipes, None, None, values.tolist())
    return PlateProposal(recipes=recipes, predictions=preds, generator=f"botorch:{acq}/{name}",
                         model_info=info)


# ---------------------------------------------------------------------------- fallbacks
def _space_filling(spec: CampaignSpec, q: int, seed: int, shared_values: Mapping[str, Any], *,
                   fallback: bool) -> PlateProposal:
    """Scrambled-Sobol plate; shared parameters take the given value or the first row's."""
    shared = dict(shared_values)
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
                    "shared": _jsonable(shared)},
    )


def _empty_prediction() -> dict[str, Any]:
    return {"targets": {}, "p_feasible": {}, "acquisition": None}


# ---------------------------------------------------------------------------- small helpers
def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _float(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


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
