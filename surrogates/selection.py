"""Choose the surrogate per target by grouped cross-validation: what ``model: auto`` means.

Each candidate (GP, neural-network ensemble, random forest, bagged gradient boosting) is
cross-validated on the campaign's own rows, holding out whole groups (plates of a campaign,
papers of a literature table), and scored by held-out R² and 90 % interval coverage. Per
target the rule is:

1. *near the best*: candidates whose R² is within ``tolerance`` (0.01) of the best one and not
   below the random forest's;
2. among those, the *calibrated* ones (90 % intervals cover 85–95 % of held-out values), or
   if none is, the one whose coverage is closest to 90 %;
3. ties go to the first in ``preference`` (GP, ensemble, boosted, forest: smooth models first,
   whose gradients let a recipe optimizer move).

:func:`select_models` caches its result by the content of the data (the same rows give the
same choice without refitting), in memory and, with ``cache_dir``, on disk.
:class:`AutoSurrogate` runs the selection inside ``fit`` and fits the chosen model of each
target; its BoTorch model is one :class:`botorch.models.model.ModelList` when targets chose
different models.

Example::

    choice = select_models(X, Y, groups=plate_ids, categorical=("salt",))
    choice.models                         # {"ionic_conductivity_ms_per_cm": "gp", ...}
    choice.choices["ionic_conductivity_ms_per_cm"].reason
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from botorch.models.model import Model, ModelList
from torch import Tensor

from surrogates.base import Surrogate
from surrogates.errors import InputDataError, SurrogateError
from surrogates.preprocessing import as_frame

logger = logging.getLogger(__name__)

#: Models ``auto`` chooses from, by short name.
CANDIDATES = ("gp", "ensemble", "rf", "boosted")
#: Tie-break order: smooth (differentiable) models first.
PREFERENCE = ("gp", "ensemble", "boosted", "rf")
#: Models whose BoTorch model has useful input gradients.
DIFFERENTIABLE = ("gp", "ensemble")
#: Coverage of the 90 % intervals that counts as calibrated.
CALIBRATED = (0.85, 0.95)
#: Fewest rows with a target value for a cross-validated choice (fewer: ``default``).
MIN_CV_ROWS = 12

#: Cheaper settings for the candidates when ``fast=True``: a weekly proposal compares the
#: candidates in these settings (seconds) and fits the chosen one in full.
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    "gp": {"max_iter": 25},
    "ensemble": {"n_members": 4, "max_steps": 200},
    "rf": {"n_estimators": 50},
    "boosted": {"n_members": 5, "max_iter": 50, "learning_rate": 0.15},
}

_MEMORY: OrderedDict[str, Selection] = OrderedDict()
_MEMORY_SIZE = 32


@dataclass(frozen=True)
class TargetChoice:
    """The model chosen for one target and why."""

    target: str
    model: str
    """Short name of the chosen surrogate."""
    reason: str
    """One line a chemist can read."""
    scores: dict[str, dict[str, float | None]]
    """``{candidate: {"r2", "coverage90", "nlpd", "fit_seconds", "interval_scale"}}``
    (``None``: not computed); a candidate that failed to fit has ``{"error": text}`` instead."""
    interval_scale: float = 1.0
    """Factor on the chosen model's standard deviation (on its modelling scale) that brings
    its held-out 90 % coverage to 90 %; 1 when the coverage was already within 85–95 %."""


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select_models`."""

    choices: dict[str, TargetChoice]
    """Per target, in the order of ``Y``'s columns."""
    folds: int
    """Folds used (0: no cross-validation, too few rows)."""
    split: str
    """``"groups"`` (whole groups held out), ``"rows"`` (random K-fold) or ``"none"``."""
    n_rows: int
    """Rows given."""
    n_rows_used: int
    """Rows cross-validated (at most ``max_rows``)."""
    key: str
    """Cache key: a hash of the data and the settings."""
    seconds: float
    """Wall time of the cross-validation (0 when it came from the cache)."""
    cached: bool = False
    """Whether this result was read from the cache."""
    notes: list[str] = field(default_factory=list)
    """What the selection had to adjust (fewer folds, a candidate that failed)."""

    @property
    def models(self) -> dict[str, str]:
        """``{target: chosen model}``."""
        return {t: c.model for t, c in self.choices.items()}

    def summary(self) -> str:
        """One line per target: ``target: model (reason)``."""
        return "\n".join(f"{t}: {c.model} ({c.reason})" for t, c in self.choices.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for model info and the cache)."""
        return {
            "choices": {t: asdict(c) for t, c in self.choices.items()},
            "folds": self.folds, "split": self.split, "n_rows": self.n_rows,
            "n_rows_used": self.n_rows_used, "key": self.key, "seconds": self.seconds,
            "cached": self.cached, "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        """Inverse of :meth:`to_dict`."""
        choices = {t: TargetChoice(**c) for t, c in data["choices"].items()}
        return cls(choices=choices, folds=int(data["folds"]), split=str(data["split"]),
                   n_rows=int(data["n_rows"]), n_rows_used=int(data["n_rows_used"]),
                   key=str(data["key"]), seconds=float(data["seconds"]),
                   cached=bool(data.get("cached", False)), notes=list(data.get("notes", [])))


def choose(scores: Mapping[str, Mapping[str, Any]], *, tolerance: float = 0.01,
           preference: Sequence[str] = PREFERENCE) -> tuple[str, str]:
    """Apply the selection rule to one target's cross-validation scores.

    Args:
        scores: ``{candidate: {"r2": .., "coverage90": ..}}``; a candidate without a finite R²
            (failed) is skipped.
        tolerance: R² below the best that still counts as "as good".
        preference: tie-break order.

    Returns:
        ``(model, reason)``.

    Example:
        >>> choose({"gp": {"r2": 0.80, "coverage90": 0.88},
        ...         "boosted": {"r2": 0.805, "coverage90": 0.80},
        ...         "rf": {"r2": 0.79, "coverage90": 0.90}})[0]
        'gp'
    """
    r2 = {m: float(s["r2"]) for m, s in scores.items()
          if s.get("r2") is not None and math.isfinite(float(s["r2"]))}
    if not r2:
        raise SurrogateError("no candidate model could be cross-validated.",
                             hint="Check the fit errors in the scores.")
    cover = {m: _finite(scores[m].get("coverage90")) for m in r2}
    known = {m: math.nan if c is None else c for m, c in cover.items()}  # NaN: not computed
    best = max(r2, key=lambda m: r2[m])
    floor = r2[best] - tolerance
    if "rf" in r2:
        floor = max(floor, min(r2["rf"], r2[best]))
    near = [m for m in r2 if r2[m] >= floor - 1e-12]
    lo, hi = CALIBRATED
    calibrated = [m for m in near if lo <= known[m] <= hi]
    rank = {m: i for i, m in enumerate(preference)}
    if calibrated:
        chosen = min(calibrated, key=lambda m: (rank.get(m, len(rank)), -r2[m]))
    else:
        chosen = min(near, key=lambda m: (abs(np.nan_to_num(known[m]) - 0.9), -r2[m]))
    reason = (f"best held-out R² {r2[chosen]:.3f}" if chosen == best
              else f"R² {r2[chosen]:.3f} is within {tolerance:g} of the best "
                   f"({best} {r2[best]:.3f})")
    c = cover[chosen]
    reason += "" if c is None else f", intervals cover {c:.0%}".replace("%", " %")
    if not calibrated:
        reason += "; no candidate near the best has calibrated intervals, this one is closest"
    passed = [m for m in near if m != chosen and m not in calibrated]
    if passed and calibrated:
        reason += "; " + ", ".join(
            f"{m}: {known[m]:.0%}".replace("%", " %") + ", not calibrated" for m in passed)
    elif chosen != best and best in calibrated:
        reason += f"; preferred to {best} (smooth model first)"
    return chosen, reason


def select_models(
    X: Any,
    Y: Any,
    *,
    groups: Any = None,
    categorical: Sequence[str] = (),
    categories: Mapping[str, Sequence[Any]] | None = None,
    candidates: Sequence[str] = CANDIDATES,
    folds: int = 5,
    max_rows: int = 600,
    fast: bool = False,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    tolerance: float = 0.01,
    preference: Sequence[str] = PREFERENCE,
    default: str = "gp",
    seed: int = 0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> Selection:
    """Cross-validate the candidates on ``X, Y`` and choose one model per target.

    Args:
        X: ``n x d`` inputs (NaN allowed), as for a surrogate's ``fit``.
        Y: ``n x t`` targets (NaN: not measured).
        groups: ``n`` labels (plate, batch, paper): whole groups are held out together when
            there are at least two; otherwise rows are held out at random.
        categorical: categorical input columns.
        categories: their levels (recipe choices known up front).
        candidates: models to compare (names of :data:`CANDIDATES`).
        folds: most folds (fewer when there are fewer groups).
        max_rows: rows cross-validated at most (a seeded random subset above it), so a weekly
            refresh stays cheap.
        fast: cheaper candidate settings (:data:`FAST_OPTIONS`), at most 3 folds and 300 rows.
        model_options: extra ``__init__`` arguments per candidate (override the fast ones;
            arguments a candidate does not take are left out).
        tolerance: R² below the best that still counts as as good.
        preference: tie-break order among equally good, calibrated candidates.
        default: the model for a target with fewer than :data:`MIN_CV_ROWS` values.
        seed: seeds folds, the row subset and every model.
        cache_dir: folder for a JSON cache that outlives the process (``None``: memory only).
        use_cache: read and write the cache.

    Returns:
        The :class:`Selection`.

    Raises:
        InputDataError: unknown candidates, or ``X`` and ``Y`` of different lengths.
    """
    from surrogates import SURROGATES  # here: the package imports this module

    X = as_frame(X).rename(columns=str)
    Yf = as_frame(Y, what="Y").rename(columns=str)
    if len(X) != len(Yf):
        raise InputDataError(f"X has {len(X)} rows but Y has {len(Yf)}.",
                             hint="Pass inputs and targets of the same rows.")
    unknown = [c for c in candidates if c not in SURROGATES or c == "auto"]
    if unknown or not candidates:
        raise InputDataError(f"Unknown candidate model(s) {unknown}.",
                             hint=f"Choose among {', '.join(CANDIDATES)}.")
    if fast:
        folds, max_rows = min(folds, 3), min(max_rows, 300)
    given = model_options or {}
    options = {m: {**(FAST_OPTIONS.get(m, {}) if fast else {}), **dict(given.get(m, {}))}
               for m in candidates}
    labels = None if groups is None else (
        pd.Series(np.asarray(groups, dtype=object)).fillna("<missing>").map(str).to_numpy())
    if labels is not None and len(labels) != len(X):
        raise InputDataError(f"groups has {len(labels)} labels for {len(X)} rows.",
                             hint="Pass one group label per row.")
    settings = {"candidates": list(candidates), "folds": folds, "max_rows": max_rows,
                "options": options, "tolerance": tolerance, "preference": list(preference),
                "default": default, "seed": seed, "categorical": list(categorical),
                "categories": {k: [str(v) for v in vs] for k, vs in (categories or {}).items()}}
    key = _data_key(X, Yf, labels, settings)
    if use_cache:
        hit = _cache_get(key, cache_dir)
        if hit is not None:
            logger.info("model selection: cached choice %s", hit.models)
            return hit
    start = time.perf_counter()
    result = _select(X, Yf, labels, list(categorical), categories, list(candidates), folds,
                     max_rows, options, tolerance, preference, default, seed, key)
    result = replace(result, seconds=round(time.perf_counter() - start, 3))
    logger.info("model selection in %.1f s: %s", result.seconds, result.models)
    if use_cache:
        _cache_put(result, cache_dir)
    return result


def _select(X: pd.DataFrame, Y: pd.DataFrame, labels: np.ndarray | None, categorical: list[str],
            categories: Mapping[str, Sequence[Any]] | None, candidates: list[str], folds: int,
            max_rows: int, options: dict[str, dict[str, Any]], tolerance: float,
            preference: Sequence[str], default: str, seed: int, key: str) -> Selection:
    from surrogates import SURROGATES
    from surrogates.evaluation import cross_validate

    notes: list[str] = []
    n = len(X)
    rows = np.arange(n)
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
        notes.append(f"{max_rows} of {n} rows (a seeded random subset) were cross-validated.")
    data = pd.concat([X.iloc[rows].reset_index(drop=True), Y.iloc[rows].reset_index(drop=True)],
                     axis=1)
    group = None
    if labels is not None and len(np.unique(labels[rows])) >= 2:
        group = "__group__"
        data[group] = labels[rows]
    elif labels is not None:
        notes.append("all rows come from one group (plate); rows were held out at random.")
    targets = [str(c) for c in Y.columns]
    counts = {t: int(data[t].notna().sum()) for t in targets}
    cv_targets = [t for t in targets if counts[t] >= MIN_CV_ROWS]
    scores: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in targets}
    used_folds, split = 0, "none"
    for name in candidates if cv_targets else []:
        cls = SURROGATES[name]
        accepted = set(cls._get_param_names())
        opts = {k: v for k, v in options.get(name, {}).items() if k in accepted}
        if categories and "categories" in accepted:
            opts["categories"] = {c: list(v) for c, v in categories.items() if c in categorical}
        n_folds = min(folds, min(counts[t] for t in cv_targets) // 3)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = cross_validate(
                    data, inputs=list(X.columns), targets=cv_targets, categorical=categorical,
                    group=group, models=[name], folds=max(n_folds, 2), seed=seed,
                    progress=False, model_options={name: opts}, importance_repeats=0)
        except Exception as exc:  # noqa: BLE001 - a failed candidate is not chosen
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            notes.append(f"{name} could not be cross-validated ({text}).")
            for t in cv_targets:
                scores[t][name] = {"error": text}
            continue
        used_folds, split = report.folds, "groups" if group else "rows"
        for t in cv_targets:
            m = report.metrics[name][t]
            scores[t][name] = {k: _finite(m.get(k)) for k in
                               ("r2", "coverage90", "nlpd", "fit_seconds")}
            scores[t][name]["interval_scale"] = _interval_scale(report.parity(name, t))
        for note in report.notes:
            if note not in notes:
                notes.append(note)
    choices = {}
    for t in targets:
        if t not in cv_targets:
            reason = (f"{counts[t]} measured value(s), fewer than {MIN_CV_ROWS} to "
                      f"cross-validate; {default} by default")
            choices[t] = TargetChoice(t, default, reason, {})
            continue
        try:
            model, reason = choose(scores[t], tolerance=tolerance, preference=preference)
        except SurrogateError:
            model, reason = default, f"no candidate could be cross-validated; {default} by default"
        cover, scale = scores[t][model].get("coverage90"), scores[t][model].get("interval_scale")
        lo, hi = CALIBRATED
        if cover is not None and scale is not None and not lo <= cover <= hi:
            reason += f"; its intervals are {'widened' if scale > 1 else 'narrowed'} ×{scale:.2f}"
        else:
            scale = 1.0
        choices[t] = TargetChoice(t, model, reason, scores[t], float(scale or 1.0))
    return Selection(choices=choices, folds=used_folds, split=split, n_rows=n,
                     n_rows_used=len(rows), key=key, seconds=0.0, notes=notes)


def _interval_scale(parity: pd.DataFrame) -> float | None:
    """Factor on the standard deviations that makes 90 % of the held-out values fall inside
    ``mean -/+ 1.645 std`` (from 0.5 to 3; ``None`` with fewer than 10 held-out values)."""
    from surrogates.evaluation import Z90

    if len(parity) < 10:
        return None
    z = np.abs(parity["y_true"] - parity["mean"]) / np.maximum(parity["std"], 1e-12)
    return float(np.clip(np.quantile(z.to_numpy(float), 0.9) / Z90, 0.5, 3.0))


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _data_key(X: pd.DataFrame, Y: pd.DataFrame, labels: np.ndarray | None,
              settings: Mapping[str, Any]) -> str:
    """Hash of the rows' content (not their index) and the selection settings."""
    h = hashlib.sha256()
    for frame in (X, Y):
        h.update(json.dumps([str(c) for c in frame.columns]).encode())
        h.update(pd.util.hash_pandas_object(frame.astype(object).where(frame.notna(), None),
                                            index=False).to_numpy().tobytes())
    if labels is not None:
        h.update(pd.util.hash_array(labels.astype(object)).tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _cache_get(key: str, cache_dir: str | Path | None) -> Selection | None:
    hit = _MEMORY.get(key)
    if hit is None and cache_dir is not None:
        path = Path(cache_dir) / f"{key}.json"
        try:
            hit = Selection.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            hit = None
    if hit is None:
        return None
    _MEMORY[key] = hit
    _MEMORY.move_to_end(key)
    return replace(hit, cached=True, seconds=0.0)


def _cache_put(result: Selection, cache_dir: str | Path | None) -> None:
    _MEMORY[result.key] = result
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)
    if cache_dir is not None:
        try:
            folder = Path(cache_dir)
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"{result.key}.json.tmp"
            tmp.write_text(json.dumps(result.to_dict()), encoding="utf-8")
            tmp.replace(folder / f"{result.key}.json")
        except OSError as exc:  # a read-only cache folder costs time, not correctness
            logger.info("model selection: cache not written (%s)", exc)


def clear_cache() -> None:
    """Forget the in-memory selections (the disk cache is left alone)."""
    _MEMORY.clear()


class AutoSurrogate(Surrogate):
    """The best model per target, chosen by grouped cross-validation (:func:`select_models`).

    ``fit`` runs the selection (cached by data content), then fits the chosen surrogate for each
    run of consecutive targets that chose the same model. ``predict`` and ``encode`` work as for
    any surrogate; a target whose chosen model's held-out 90 % coverage fell outside 85–95 % has
    its predicted standard deviation rescaled (``interval_scale_``) to cover 90 % (in
    ``predict`` and ``predict_interval``, what a chemist reads; the acquisition sees the model
    as fitted). ``to_botorch()`` is the chosen model's BoTorch model, or a
    :class:`~botorch.models.model.ModelList` of them (outputs in target order) when targets
    chose different models.

    Args:
        categorical, categories, log_columns, impute: as for every surrogate.
        candidates: models to choose from.
        folds: most cross-validation folds.
        max_rows: rows cross-validated at most.
        fast: cheaper candidates in the selection (see :func:`select_models`).
        model_options: ``{name: {arg: value}}`` for the candidates, in the selection and in the
            final fit (e.g. ``{"gp": {"input_bounds": ...}}``); arguments a model does not take
            are left out.
        cache_dir: on-disk cache of selections (``None``: in memory only).
        seed: seeds the selection and the fitted models.

    Fitted attributes (besides the common ones):
        selection_: the :class:`Selection`.
        chosen_: ``{target: model name}``.
        interval_scale_: ``t`` factors on the predicted standard deviations (1: calibrated).
        members_: ``[(model name, [targets], fitted surrogate)]`` in target order.
        differentiable_: whether every chosen model has useful input gradients.
    """

    name: ClassVar[str] = "auto"

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        candidates: Sequence[str] = CANDIDATES,
        folds: int = 5,
        max_rows: int = 600,
        fast: bool = False,
        model_options: Mapping[str, Mapping[str, Any]] | None = None,
        cache_dir: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.candidates = candidates
        self.folds = folds
        self.max_rows = max_rows
        self.fast = fast
        self.model_options = model_options
        self.cache_dir = cache_dir
        self.seed = seed

    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> AutoSurrogate:
        """Choose a model per target on ``X, Y`` (grouped by ``groups``) and fit it.

        Returns:
            ``self``.
        """
        from surrogates import SURROGATES

        X = as_frame(X)
        Yf = as_frame(Y, what="Y")
        options = {m: dict(v) for m, v in (self.model_options or {}).items()}
        selection = select_models(
            X, Yf, groups=groups, categorical=self.categorical, categories=self.categories,
            candidates=self.candidates, folds=self.folds, max_rows=self.max_rows,
            fast=self.fast, model_options={m: {k: v for k, v in o.items() if k != "input_bounds"}
                                           for m, o in options.items()},
            seed=self.seed, cache_dir=self.cache_dir)
        targets = [str(c) for c in Yf.columns]
        runs: list[tuple[str, list[str]]] = []
        for t in targets:
            name = selection.choices[t].model
            if runs and runs[-1][0] == name:
                runs[-1][1].append(t)
            else:
                runs.append((name, [t]))
        self.fit_warnings_ = []
        members = []
        for name, names in runs:
            cls = SURROGATES[name]
            accepted = set(cls._get_param_names())
            kwargs = {"categorical": tuple(self.categorical), "categories": self.categories,
                      "log_columns": self.log_columns, "impute": self.impute, "seed": self.seed,
                      **options.get(name, {})}
            sub = cls(**{k: v for k, v in kwargs.items() if k in accepted})
            sub.fit(X, Yf[[c for c in Yf.columns if str(c) in names]], groups=groups)
            self.fit_warnings_.extend(f"{name}: {w}" for w in sub.fit_warnings_)
            members.append((name, names, sub))
        first = members[0][2]
        self._adopt_encoder(first.encoder_)
        self.target_names_ = targets
        self.n_excluded_ = {t: n for _, _, sub in members for t, n in sub.n_excluded_.items()}
        self.selection_ = selection
        self.chosen_ = selection.models
        self.interval_scale_ = np.array([selection.choices[t].interval_scale for t in targets])
        self.members_ = members
        self.differentiable_ = all(name in DIFFERENTIABLE for name, _, _ in members)
        models = [sub.to_botorch() for _, _, sub in members]
        self.model_: Model = models[0] if len(models) == 1 else ModelList(*models)
        return self

    def predict(self, X: Any, *, observation_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of every target from its chosen model (``n x t``)."""
        self._check_fitted()
        parts = [sub.predict(X, observation_noise=observation_noise)
                 for _, _, sub in self.members_]
        std = np.concatenate([p[1] for p in parts], axis=1) * self.interval_scale_
        return np.concatenate([p[0] for p in parts], axis=1), std

    def _fit_encoded(self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None) -> Model:
        raise SurrogateError("AutoSurrogate fits its chosen models from the frames given to fit.",
                             hint="Call fit(X, Y).")

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        parts = [sub._predict_encoded(Xt, observation_noise=observation_noise)
                 for _, _, sub in self.members_]
        return torch.cat([p[0] for p in parts], -1), torch.cat([p[1] for p in parts], -1)


__all__ = ["AutoSurrogate", "CANDIDATES", "Selection", "TargetChoice", "choose", "clear_cache",
           "select_models"]
