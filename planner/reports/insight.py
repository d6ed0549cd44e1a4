"""What the data say about the chemistry: partial dependence, feature importance, model checks.

The dashboard's insight page asks "how does ICE depend on the carbonization temperature?". This
module answers with a surrogate fitted on the campaign's measured wells (``status == ok``):

* :func:`fit_insight_model` fits one surrogate (random forest by default: seconds, not minutes)
  on either the recipe parameters or the measured descriptors (d002, SSA, ...) as inputs;
* :func:`partial_dependence` sweeps one input over its range while every other input keeps the
  values of the observed wells, and averages the predictions over those wells (Friedman's
  partial dependence), with an uncertainty band;
* :func:`model_check` cross-validates the surrogate (whole plates held out) through
  :func:`surrogates.evaluation.cross_validate`: parity data, 90 % interval coverage and
  permutation importance on held-out plates.
* :func:`planner_model_choice` says which model the planner used for each target on its newest
  plate and why (``model: auto`` chooses per target by cross-validation over the plates).

Nothing here proposes experiments; that is :mod:`planner.weekly`'s job.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from campaigns.snapshot import CampaignSnapshot
from planner.errors import NoDataError

InputSet = Literal["recipe", "descriptors"]
MODELS = {"rf": "Random forest", "gp": "Gaussian process", "ensemble": "Neural-network ensemble",
          "boosted": "Gradient boosting"}
"""Surrogates the insight page offers, by short name."""
MIN_ROWS = 8
"""Fewest measured wells an insight model is fitted on."""


@dataclass(frozen=True)
class InsightData:
    """The rows an insight model learns from.

    Attributes:
        X: ``n x d`` inputs (recipe parameters or descriptors).
        Y: ``n x t`` targets, in their units.
        categorical: Categorical inputs and their levels.
        groups: ``n`` batch ids (one plate shares hidden conditions).
        bounds: Sweep range per numeric input: the spec's bounds for recipe parameters, the
            observed range for descriptors.
    """

    X: pd.DataFrame
    Y: pd.DataFrame
    categorical: dict[str, list[str]]
    groups: np.ndarray
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    target_bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    """Physical bounds of the targets (``Target.model_bounds``), which the model respects."""


def insight_data(snapshot: CampaignSnapshot, *, inputs: InputSet = "recipe") -> InsightData:
    """Inputs and targets of the measured wells, ready for a surrogate.

    Args:
        snapshot: The campaign at one revision.
        inputs: ``"recipe"`` (the planner's inputs) or ``"descriptors"`` (structure-property
            view: d002, La, Lc, SSA, ID/IG, ... as inputs).

    Raises:
        NoDataError: Fewer than :data:`MIN_ROWS` usable wells, or no descriptor measured.
    """
    spec = snapshot.spec
    obs = snapshot.observations
    rows = obs[obs["status"] == "ok"] if not obs.empty else obs
    if inputs == "descriptors":
        names = [d.name for d in spec.descriptors if d.name in rows and rows[d.name].notna().any()]
        if not names:
            raise NoDataError(f"campaign {spec.name!r} has no measured descriptors.",
                              hint="Choose the recipe parameters as inputs, or upload "
                                   "descriptor columns.")
        categorical: dict[str, list[str]] = {}
    else:
        names = list(spec.input_names)
        categorical = {k: [str(v) for v in levels] for k, levels in spec.categorical_inputs.items()}
        table = snapshot.candidate_table() if spec.is_library else None
        if table is not None:  # small (DataFrame) or big (Parquet) library alike
            levels = table.categories()
            categorical = {k: [str(v) for v in levels.get(k, ())] for k in categorical}
    targets = [t.name for t in spec.targets]
    rows = rows[rows[targets].notna().any(axis=1)] if not rows.empty else rows
    if len(rows) < MIN_ROWS:
        raise NoDataError(
            f"campaign {spec.name!r} has {len(rows)} measured well(s); insight needs at least "
            f"{MIN_ROWS}.",
            hint="Upload the results of a plate first.")
    X = rows[names].reset_index(drop=True).copy()
    for name in names:
        if name in categorical:
            X[name] = X[name].astype(object).where(X[name].notna(), None).map(
                lambda v: None if v is None else str(v))
        else:
            X[name] = pd.to_numeric(X[name], errors="coerce")
    Y = rows[targets].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
    Y = Y.loc[:, Y.notna().sum() >= 3]  # a target measured on < 3 wells cannot be modelled
    bounds: dict[str, tuple[float, float]] = {}
    design = spec.numeric_bounds if inputs == "recipe" and not spec.is_library else {}
    for name in names:
        if name in categorical:
            continue
        lo, hi = design.get(name, (float(X[name].min()), float(X[name].max())))
        if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
            bounds[name] = (lo, hi)
    limits = {t.name: t.model_bounds for t in spec.targets if t.name in Y.columns}
    return InsightData(X, Y, categorical, rows["batch_id"].to_numpy(), bounds,
                       {k: v for k, v in limits.items() if v is not None})


@dataclass
class InsightModel:
    """A surrogate fitted by :func:`fit_insight_model`, with the data it saw."""

    model: Any
    """The fitted surrogate (``predict`` gives mean and std in target units)."""
    data: InsightData
    """Its training rows."""
    name: str
    """Short name of the surrogate (``rf``, ``gp``, ``ensemble``)."""
    fit_warnings: list[str]
    """What the surrogate had to work around while fitting."""


def _surrogate(name: str, data: InsightData, seed: int) -> Any:
    from surrogates import make_surrogate

    if name not in MODELS:
        raise NoDataError(f"unknown insight model {name!r}.",
                          hint=f"Choose one of {', '.join(MODELS)}.")
    return make_surrogate(name, categorical=tuple(data.categorical),
                          categories=data.categorical or None, seed=seed)


def fit_insight_model(snapshot: CampaignSnapshot, *, inputs: InputSet = "recipe",
                      model: str = "rf", targets: list[str] | None = None,
                      seed: int = 0) -> InsightModel:
    """Fit a surrogate of the targets on the measured wells.

    Args:
        snapshot: The campaign at one revision.
        inputs: ``"recipe"`` or ``"descriptors"`` (see :func:`insight_data`).
        model: ``"rf"`` (seconds), ``"gp"`` (what the planner uses; slower on hundreds of
            wells) or ``"ensemble"``.
        targets: Targets to model (default: every target measured on at least 3 wells); one
            target fits faster than all.
        seed: Seeds the surrogate.

    Raises:
        NoDataError: Too few measured wells.
        surrogates.errors.SurrogateError: The surrogate cannot be fitted to these data.
    """
    data = insight_data(snapshot, inputs=inputs)
    if targets is not None:
        unknown = sorted(set(targets) - set(data.Y.columns))
        if unknown:
            raise NoDataError(f"no model can be fitted for {unknown}: fewer than 3 measured wells.",
                              hint=f"Choose one of {list(data.Y.columns)}.")
        data = InsightData(data.X, data.Y[list(targets)], data.categorical, data.groups,
                           data.bounds, {k: v for k, v in data.target_bounds.items()
                                         if k in targets})
    surrogate = _surrogate(model, data, seed)
    with warnings.catch_warnings(record=True):
        # Fallbacks are recorded on the model (fit_warnings_) and shown on the page.
        warnings.simplefilter("always")
        surrogate.fit(data.X, data.Y, bounds=data.target_bounds)
    return InsightModel(surrogate, data, model, list(getattr(surrogate, "fit_warnings_", [])))


def _typical_rows(data: InsightData, max_rows: int, seed: int) -> pd.DataFrame:
    X = data.X
    if len(X) <= max_rows:
        return X
    return X.sample(n=max_rows, random_state=seed).reset_index(drop=True)


def partial_dependence(fitted: InsightModel, *, features: list[str] | None = None,
                       grid_points: int = 21, max_rows: int = 40, seed: int = 0) -> pd.DataFrame:
    """Partial dependence of every target on each input, with an uncertainty band.

    For each grid value ``v`` of input ``j``, every background row (up to ``max_rows`` measured
    wells, seeded sample) gets ``x_j = v`` and the surrogate predicts it; the curve is the mean
    of those predictions. The band averages the rows' central 95 % intervals of the model's mean
    (no measurement noise; ``mean -/+ 1.96 std`` for an unbounded target), which is wider than
    the averaged curve's own interval; it stays within the target's physical bounds.

    Args:
        fitted: From :func:`fit_insight_model`.
        features: Inputs to sweep (default: all of them).
        grid_points: Grid size for numeric inputs (categorical inputs use their levels).
        max_rows: Background rows averaged over.
        seed: Seeds the background sample.

    Returns:
        Long frame: ``feature``, ``value`` (float grid value, NaN for levels), ``level`` (str for
        categorical inputs, else ``None``), ``target``, ``mean``, ``std``, ``lower``, ``upper``
        (the band), in target units.
    """
    data = fitted.data
    features = list(data.X.columns) if features is None else features
    background = _typical_rows(data, max_rows, seed)
    blocks: list[pd.DataFrame] = []
    keys: list[tuple[str, float, str | None]] = []
    for feature in features:
        if feature in data.categorical:
            levels = [lv for lv in data.categorical[feature]
                      if lv in set(data.X[feature].dropna())] or data.categorical[feature]
            grid: list[tuple[float, str | None]] = [(math.nan, lv) for lv in levels]
        elif feature in data.bounds:
            lo, hi = data.bounds[feature]
            grid = [(float(v), None) for v in np.linspace(lo, hi, grid_points)]
        else:
            continue
        for value, level in grid:
            block = background.copy()
            block[feature] = level if level is not None else value
            blocks.append(block)
            keys.append((feature, value, level))
    cols = ["feature", "value", "level", "target", "mean", "std", "lower", "upper"]
    if not blocks:
        return pd.DataFrame(columns=cols)
    stacked = pd.concat(blocks, ignore_index=True)
    mean, std = fitted.model.predict(stacked, observation_noise=False)
    low, high = fitted.model.predict_interval(stacked, level=0.95, observation_noise=False)
    n = len(background)
    targets = list(fitted.model.target_names_)
    rows = []
    for k, (feature, value, level) in enumerate(keys):
        m = mean[k * n:(k + 1) * n].mean(axis=0)
        s = std[k * n:(k + 1) * n].mean(axis=0)
        lo, hi = low[k * n:(k + 1) * n].mean(axis=0), high[k * n:(k + 1) * n].mean(axis=0)
        for j, target in enumerate(targets):
            rows.append({"feature": feature, "value": value, "level": level, "target": target,
                         "mean": float(m[j]), "std": float(s[j]),
                         "lower": float(lo[j]), "upper": float(hi[j])})
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class ModelCheck:
    """Cross-validation of a surrogate on the campaign's plates.

    Attributes:
        model: Short name of the surrogate.
        inputs: ``"recipe"`` or ``"descriptors"``.
        folds: Folds used (whole plates held out when there are several plates).
        grouped: Whether folds hold out whole plates.
        metrics: One row per target: ``target``, ``r2``, ``mae``, ``rmse``, ``coverage90``, ``n``.
        parity: Held-out predictions: ``target``, ``y_true``, ``mean``, ``std``, ``fold``.
        importance: ``target``, ``feature``, ``importance`` (drop in held-out R² when the
            input is shuffled), ``importance_std``; largest first per target.
        notes: What the evaluation had to adjust.
    """

    model: str
    inputs: str
    folds: int
    grouped: bool
    metrics: pd.DataFrame
    parity: pd.DataFrame
    importance: pd.DataFrame
    notes: tuple[str, ...] = ()


def model_check(snapshot: CampaignSnapshot, *, inputs: InputSet = "recipe", model: str = "rf",
                folds: int = 5, seed: int = 0, importance_repeats: int = 3) -> ModelCheck:
    """Cross-validate a surrogate on the measured wells, holding out whole plates.

    With two or more plates, each fold holds out whole plates (the honest question: "how well
    would it predict a plate it has not seen?"); with one plate, random K-fold is used.

    Args:
        snapshot: The campaign at one revision.
        inputs: ``"recipe"`` or ``"descriptors"``.
        model: ``"rf"``, ``"gp"`` or ``"ensemble"``.
        folds: Most folds (fewer when there are fewer plates).
        seed: Seeds folds and models.
        importance_repeats: Shuffles per input for permutation importance.

    Raises:
        NoDataError: Too few measured wells.
    """
    from surrogates.evaluation import cross_validate

    data = insight_data(snapshot, inputs=inputs)
    table = pd.concat([data.X, data.Y], axis=1)
    table["_plate"] = data.groups
    grouped = len(np.unique(data.groups)) >= 2
    with warnings.catch_warnings(record=True):
        # Fit fallbacks are collected by cross_validate in report.fit_warnings.
        warnings.simplefilter("always")
        report = cross_validate(
            table, inputs=list(data.X.columns), targets=list(data.Y.columns),
            categorical=list(data.categorical), group="_plate" if grouped else None,
            models=model, folds=min(folds, len(table)), seed=seed, progress=False,
            model_options={model: {"categories": data.categorical}} if data.categorical else None,
            importance_repeats=importance_repeats)
    metrics = []
    for target, row in report.metrics[model].items():
        scores = {k: row.get(k, math.nan) for k in ("r2", "mae", "rmse", "coverage90")}
        metrics.append({"target": target, **scores,
                        "n": int(len(data.Y) - report.n_excluded.get(target, 0))})
    parity = report.parity(model)[["target", "y_true", "mean", "std", "fold"]]
    importance = (report.importance(model)[["target", "feature", "importance", "importance_std"]]
                  .sort_values(["target", "importance"], ascending=[True, False],
                               ignore_index=True))
    return ModelCheck(model, inputs, report.folds, grouped, pd.DataFrame(metrics), parity,
                      importance, tuple(report.notes))


@dataclass(frozen=True)
class ModelChoice:
    """The model the planner used for each target on a plate, and why.

    Attributes:
        batch_id: The plate whose proposal made the choice.
        iso_week: Its week.
        setting: ``"auto"`` (chosen per target) or the model the spec or the caller named.
        choices: One row per target: ``target``, ``model``, ``label`` (readable name),
            ``reason``.
        scores: One row per target and candidate: ``target``, ``model``, ``r2``,
            ``coverage90``, ``chosen`` (bool); empty when no cross-validation was run.
        split: ``"groups"`` (whole plates held out), ``"rows"``, ``"none"`` or ``""``.
        folds: Folds of the cross-validation (0: none).
    """

    batch_id: int
    iso_week: str
    setting: str
    choices: pd.DataFrame
    scores: pd.DataFrame
    split: str = ""
    folds: int = 0


def planner_model_choice(batches: Sequence[Any]) -> ModelChoice | None:
    """What the planner's model was on the newest model-based plate (``None``: no such plate).

    Args:
        batches: Plates oldest first, each with ``id``, ``iso_week`` and ``model_info`` (the
            proposal's record, e.g. :class:`campaigns.store.BatchInfo`).
    """
    for batch in reversed(list(batches)):
        info = getattr(batch, "model_info", None) or {}
        name = info.get("surrogate")
        if not name:
            continue
        selection = info.get("model_selection") or {}
        rows, scores = [], []
        if selection.get("choices"):
            for target, choice in selection["choices"].items():
                rows.append({"target": target, "model": choice["model"],
                             "label": MODELS.get(choice["model"], choice["model"]),
                             "reason": choice["reason"]})
                for model, score in (choice.get("scores") or {}).items():
                    scores.append({"target": target, "model": model,
                                   "r2": score.get("r2"), "coverage90": score.get("coverage90"),
                                   "chosen": model == choice["model"]})
        else:
            model = str(name).split(":")[-1]
            for target in info.get("targets", []):
                rows.append({"target": target, "model": model,
                             "label": MODELS.get(model, model),
                             "reason": f"named for this plate ({name}); not chosen by "
                                       "cross-validation"})
        return ModelChoice(
            batch_id=int(batch.id), iso_week=str(getattr(batch, "iso_week", "")),
            setting=str(name),
            choices=pd.DataFrame(rows, columns=["target", "model", "label", "reason"]),
            scores=pd.DataFrame(scores, columns=["target", "model", "r2", "coverage90", "chosen"]),
            split=str(selection.get("split", "")), folds=int(selection.get("folds", 0) or 0))
    return None
