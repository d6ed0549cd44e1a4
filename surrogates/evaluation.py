"""Cross-validation of surrogates: accuracy, calibration, parity data and feature importance.

Rows of a literature or plate table come in groups (one paper, one plate) that share hidden
conditions; random K-fold then overstates accuracy. Pass ``group=`` to hold out whole groups.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from scipy.stats import norm
from sklearn.inspection import permutation_importance
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold, KFold

from surrogates.base import EXCLUDED_ROWS_MESSAGE
from surrogates.errors import InputDataError, InputDataWarning
from surrogates.preprocessing import did_you_mean, level_key, numeric_column

logger = logging.getLogger(__name__)

#: Half-width of the central 90% interval in standard deviations.
Z90 = float(norm.ppf(0.95))
#: Metric names, in report order.
METRICS = ("r2", "mae", "rmse", "nlpd", "coverage90", "fit_seconds")
MODEL_NAMES = ("gp", "ensemble", "rf", "boosted")


@dataclass(frozen=True)
class CVReport:
    """Result of :func:`cross_validate`.

    Attributes:
        n_rows: rows in the table.
        n_excluded: per target, rows without a value (left out of that target's fit and scores).
        metrics: ``{model: {target: {metric: value}}}``; metrics are computed on the pooled
            out-of-fold predictions; ``fit_seconds`` is the mean wall time of one fold's fit.
        parity_frame: one row per held-out prediction: ``model, target, row, fold, y_true,
            mean, std`` (target units; ``row`` is the table's index label).
        importance_frame: ``model, target, feature, importance, importance_std``: the drop in
            held-out R² when that input column is shuffled (permutation importance), mean and
            standard deviation over folds.
        folds: number of folds used.
        group: the group column, or ``None`` for plain K-fold.
        notes: what the evaluation had to adjust (fewer folds than asked, missing groups).
        fit_warnings: ``{model: [text]}``, every warning met while fitting, de-duplicated.
    """

    n_rows: int
    n_excluded: dict[str, int]
    metrics: dict[str, dict[str, dict[str, float]]]
    parity_frame: pd.DataFrame
    importance_frame: pd.DataFrame
    folds: int
    group: str | None
    notes: list[str] = field(default_factory=list)
    fit_warnings: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"n_rows", "n_excluded", "models": {model: {target: {metric: value}}}}``; NaN
        (a metric that cannot be computed) becomes ``None`` so the dict is valid JSON."""

        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "n_rows": int(self.n_rows),
            "n_excluded": {k: int(v) for k, v in self.n_excluded.items()},
            "models": {
                m: {t: {k: clean(v) for k, v in row.items()} for t, row in per_t.items()}
                for m, per_t in self.metrics.items()
            },
        }

    def parity(self, model: str | None = None, target: str | None = None) -> pd.DataFrame:
        """Held-out ``y_true, mean, std, fold`` (and ``model, target, row``) for parity plots."""
        return _select(self.parity_frame, model, target)

    def importance(self, model: str | None = None, target: str | None = None) -> pd.DataFrame:
        """Permutation importance per input, largest first."""
        frame = _select(self.importance_frame, model, target)
        return frame.sort_values("importance", ascending=False, ignore_index=True)

    def best_model(self, target: str, metric: str = "r2") -> str:
        """Name of the model with the best ``metric`` for ``target`` (highest R² or coverage
        closest to 0.9; lowest otherwise)."""

        def key(m: str) -> float:
            v = self.metrics[m][target][metric]
            if not math.isfinite(v):
                return math.inf
            if metric == "r2":
                return -v
            return abs(v - 0.9) if metric == "coverage90" else v

        return min(self.metrics, key=key)


def _select(frame: pd.DataFrame, model: str | None, target: str | None) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    if model is not None:
        mask &= (frame["model"] == model).to_numpy()
    if target is not None:
        mask &= (frame["target"] == target).to_numpy()
    return frame.loc[mask].reset_index(drop=True)


def score(y_true: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """R², MAE, RMSE, mean Gaussian negative log predictive density and 90% coverage.

    Args:
        y_true, mean, std: ``n`` arrays in target units (``std`` includes measurement noise).
    """
    if len(y_true) < 2:
        return {k: math.nan for k in METRICS[:-1]}
    std = np.maximum(std, 1e-12)
    z = (y_true - mean) / std
    return {
        "r2": float(r2_score(y_true, mean)),
        "mae": float(mean_absolute_error(y_true, mean)),
        "rmse": float(np.sqrt(np.mean((y_true - mean) ** 2))),
        "nlpd": float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * z**2)),
        "coverage90": float(np.mean(np.abs(z) <= Z90)),
    }


def cross_validate(
    data: pd.DataFrame,
    *,
    inputs: Sequence[str],
    targets: str | Sequence[str],
    categorical: Sequence[str] = (),
    group: str | None = None,
    models: str | Sequence[str] = MODEL_NAMES,
    folds: int = 5,
    seed: int = 0,
    progress: bool = True,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    importance_repeats: int = 3,
) -> CVReport:
    """K-fold (or grouped K-fold) cross-validation of surrogates on one table.

    Each fold fits a fresh surrogate on the training rows only (imputation and scaling included)
    and predicts the held-out rows.

    Args:
        data: the table, one row per sample; inputs may hold NaN.
        inputs: input column names.
        targets: target column name(s).
        categorical: which inputs are categorical.
        group: column whose values must not be split across folds (paper DOI, plate id).
        models: any of ``"gp"``, ``"ensemble"``, ``"rf"``, ``"boosted"`` (or ``"all"``), and
            ``"auto"``: the selection of :mod:`surrogates.selection` run inside each fold on the
            training rows only (nested cross-validation: an honest score of the choice).
        folds: number of folds (reduced to the number of groups when there are fewer).
        seed: seeds the fold assignment and every model.
        progress: show a progress bar over folds (on stderr).
        model_options: extra ``__init__`` arguments per model name, e.g.
            ``{"ensemble": {"max_steps": 300}}``.
        importance_repeats: shuffles per input for permutation importance (0 skips it).

    Returns:
        A :class:`CVReport`.

    Example::

        report = cross_validate(df, inputs=["T", "c", "salt"], targets="k",
                                categorical=["salt"], group="doi", progress=False)
        report.to_dict()["models"]["gp"]["k"]["r2"]
    """
    from surrogates import make_surrogate  # here: the package imports this module

    target_list = [targets] if isinstance(targets, str) else list(targets)
    input_list = list(inputs)
    model_list = list(MODEL_NAMES) if models in ("all", ("all",), ["all"]) else (
        [models] if isinstance(models, str) else list(models)
    )
    _check_request(data, input_list, target_list, list(categorical), group, model_list, folds)
    Y = np.column_stack(
        [numeric_column(data[t], name=t, hint="Targets must be numbers.") for t in target_list]
    )
    notes: list[str] = []
    n_excluded = {t: int(np.isnan(Y[:, k]).sum()) for k, t in enumerate(target_list)}
    splits, n_folds = _splits(data, group, folds, seed, notes)
    for note in notes:  # routine adjustments: INFO for the log, in the report for the reader
        logger.info("cross-validation: %s", note)
    X = data[input_list]
    Yf = pd.DataFrame(Y, columns=target_list, index=data.index)
    group_labels = None if group is None else data[group].to_numpy(dtype=object)
    options = dict(model_options or {})
    # Levels are known up front (they are recipe choices, not results): a paper held out with a
    # salt no training paper used is a fair test, not an error.
    levels = {
        c: sorted({level_key(v): v for v in data[c].dropna()}.values(), key=level_key)
        for c in categorical
    }

    parity: list[pd.DataFrame] = []
    importance: list[pd.DataFrame] = []
    fit_seconds: dict[str, list[float]] = {m: [] for m in model_list}
    fit_warnings: dict[str, list[str]] = {m: [] for m in model_list}
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("cross-validating", total=len(model_list) * n_folds)
        for name in model_list:
            for fold, (train, test) in enumerate(splits):
                bar.update(task, description=f"{name}: fold {fold + 1}/{n_folds}")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    # Already in the report as n_excluded.
                    warnings.filterwarnings(
                        "ignore", message=EXCLUDED_ROWS_MESSAGE, category=InputDataWarning
                    )
                    kwargs = {"categorical": tuple(categorical), "categories": levels,
                              "seed": seed, **options.get(name, {})}
                    model = make_surrogate(name, **kwargs)
                    start = time.perf_counter()
                    model.fit(
                        X.iloc[train],
                        Yf.iloc[train],
                        groups=None if group_labels is None else group_labels[train],
                    )
                    fit_seconds[name].append(time.perf_counter() - start)
                    mean, std = model.predict(X.iloc[test])
                    if importance_repeats > 0:
                        importance.append(
                            _importance(model, X.iloc[test], Y[test], name, target_list,
                                        importance_repeats, seed, fold)
                        )
                for w in [*caught, *model.fit_warnings_]:
                    text = f"fold {fold + 1}: {getattr(w, 'message', w)}"
                    if text not in fit_warnings[name]:
                        fit_warnings[name].append(text)
                for k, target in enumerate(target_list):
                    seen = ~np.isnan(Y[test, k])
                    parity.append(
                        pd.DataFrame(
                            {
                                "model": name,
                                "target": target,
                                "row": data.index[test][seen],
                                "fold": fold,
                                "y_true": Y[test, k][seen],
                                "mean": mean[seen, k],
                                "std": std[seen, k],
                            }
                        )
                    )
                bar.advance(task)

    parity_frame = pd.concat(parity, ignore_index=True)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for name in model_list:
        metrics[name] = {}
        for target in target_list:
            p = _select(parity_frame, name, target)
            row = score(p["y_true"].to_numpy(), p["mean"].to_numpy(), p["std"].to_numpy())
            row["fit_seconds"] = float(np.mean(fit_seconds[name]))
            metrics[name][target] = row
    importance_frame = (
        pd.concat(importance, ignore_index=True)
        .groupby(["model", "target", "feature"], sort=False, as_index=False)
        .agg(importance=("importance", "mean"), importance_std=("importance", "std"))
        if importance
        else pd.DataFrame(columns=["model", "target", "feature", "importance", "importance_std"])
    )
    return CVReport(
        n_rows=len(data),
        n_excluded=n_excluded,
        metrics=metrics,
        parity_frame=parity_frame,
        importance_frame=importance_frame,
        folds=n_folds,
        group=group,
        notes=notes,
        fit_warnings=fit_warnings,
    )


def _check_request(
    data: pd.DataFrame,
    inputs: list[str],
    targets: list[str],
    categorical: list[str],
    group: str | None,
    models: list[str],
    folds: int,
) -> None:
    """Name every problem with the request in one error."""
    problems, hints = [], []
    columns = [str(c) for c in data.columns]
    named = (("input", inputs), ("target", targets), ("group", [group] if group else []))
    for kind, names in named:
        for c in names:
            if c not in columns:
                problems.append(f"{kind} column {c!r} is not in the table.")
                hints.append(did_you_mean(c, columns))
    for c in categorical:
        if c not in inputs:
            problems.append(f"categorical column {c!r} is not among the inputs.")
            hints.append("List it in the inputs too.")
    for c in set(inputs) & set(targets):
        problems.append(f"column {c!r} is both an input and a target.")
        hints.append("A target cannot be an input.")
    for m in models:
        if m not in (*MODEL_NAMES, "auto"):
            problems.append(f"unknown model {m!r}.")
            hints.append(f"Choose from {', '.join(MODEL_NAMES)} or all.")
    if folds < 2:
        problems.append(f"cross-validation needs at least 2 folds (got folds={folds}).")
        hints.append("Use 5 folds, or 10 for small tables.")
    if not inputs:
        problems.append("no input columns were given.")
        hints.append("Name the inputs, e.g. --inputs T,c,salt.")
    if not targets:
        problems.append("no target column was given.")
        hints.append("Name a target, e.g. --target k.")
    if problems:
        raise InputDataError(
            " ".join(p[0].upper() + p[1:] for p in problems), hint=" ".join(dict.fromkeys(hints))
        )


def _splits(
    data: pd.DataFrame, group: str | None, folds: int, seed: int, notes: list[str]
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    n = len(data)
    if group is None:
        if n < folds:
            raise InputDataError(
                f"{n} rows cannot be split into {folds} folds.", hint="Use fewer folds."
            )
        return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n))), folds
    labels = data[group].astype(object)
    missing = labels.isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} rows without a {group!r} value form one group.")
        labels = labels.where(~missing, "<missing>")
    labels = labels.map(str).to_numpy()
    n_groups = len(np.unique(labels))
    if n_groups < 2:
        raise InputDataError(
            f"Group column {group!r} has a single value; grouped CV needs at least 2 groups.",
            hint="Drop --group for plain K-fold, or choose a column that varies.",
        )
    if n_groups < folds:
        notes.append(f"{n_groups} groups in {group!r}: using {n_groups} folds instead of {folds}.")
        folds = n_groups
    splitter = GroupKFold(folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n), groups=labels)), folds


def _importance(
    model: Any,
    X: pd.DataFrame,
    Y: np.ndarray,
    name: str,
    targets: list[str],
    repeats: int,
    seed: int,
    fold: int,
) -> pd.DataFrame:
    """Drop in held-out R² per shuffled input column, for every target at once."""

    def scorer(estimator: Any, Xs: pd.DataFrame, Ys: np.ndarray) -> dict[str, float]:
        mean, _ = estimator.predict(Xs)
        out = {}
        for k, t in enumerate(targets):
            seen = ~np.isnan(Ys[:, k])
            out[t] = float(r2_score(Ys[seen, k], mean[seen, k])) if seen.sum() >= 2 else math.nan
        return out

    result = permutation_importance(
        model, X, Y, scoring=scorer, n_repeats=repeats, random_state=seed + fold
    )
    rows = []
    for t in targets:
        for j, feature in enumerate(X.columns):
            rows.append(
                {
                    "model": name,
                    "target": t,
                    "feature": str(feature),
                    "importance": float(result[t].importances_mean[j]),
                }
            )
    return pd.DataFrame(rows)
