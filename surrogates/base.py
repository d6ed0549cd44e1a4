"""The one surrogate interface: scikit-learn style fit/predict plus a BoTorch model.

Every surrogate (:class:`~surrogates.gp.GPSurrogate`,
:class:`~surrogates.ensemble.EnsembleSurrogate`, :class:`~surrogates.forest.ForestSurrogate`)
derives from :class:`Surrogate`, which owns the data handling shared by all of them: column
checks, category codes, log scales, imputation of missing inputs, exclusion of rows without a
target, and reproducible seeding.

Encoding and imputation for the planner:
    ``Xt = model.encode(df)`` returns a complete ``n x d`` ``torch.double`` tensor (missing inputs
    are imputed by the fitted imputer, in the units of the lab); ``model.encode(df, impute=False)``
    keeps NaN, and ``model.impute_encoded(Xt)`` fills it later. The model from
    ``model.to_botorch()`` takes the encoded tensor (complete or not) and returns ``t`` outputs in
    target units; log scales and normalization happen inside it.

Bounded targets (:mod:`surrogates.bounds`): ``fit(X, Y, bounds={"ce_pct": (0, 100)})`` models
each bounded target on a link scale (logit for two bounds, softplus or log for one); ``predict``
returns the mean and standard deviation of the bounded distribution, ``predict_interval`` its
quantiles, and ``to_botorch`` a model whose posterior samples lie within the bounds. This is done
here, once, for every surrogate: :meth:`Surrogate.__init_subclass__` wraps a subclass's own
``fit``, ``predict``, ``predict_interval`` and ``to_botorch`` (only the outermost call on a model
maps values), so a subclass is written on the link scale and never sees the bounds.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from botorch.models.model import Model
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from torch import Tensor

from surrogates.bounds import (
    BoundedModel,
    Identity,
    Link,
    check_bounds,
    fit_link,
    inverse_outputs,
    mapped_moments,
)
from surrogates.errors import (
    InputDataError,
    InputDataWarning,
    NotFittedError,
    SurrogateFitWarning,
)
from surrogates.preprocessing import TabularEncoder, as_frame, numeric_column

logger = logging.getLogger(__name__)

#: Fewest observed values of a target a surrogate will fit.
MIN_ROWS = 3
EXCLUDED_ROWS_MESSAGE = "Rows without a target value were left out of that target's model: "


class Surrogate(BaseEstimator, ABC):
    """Base class: a fitted model of ``t`` targets over ``d`` inputs with mean and std.

    Subclasses implement :meth:`_fit_encoded` and :meth:`_predict_encoded`; hyperparameters are
    set in ``__init__`` only, learned state ends in ``_``.

    Fitted attributes:
        feature_names_in_: the ``d`` input column names, in encoding order.
        target_names_: the ``t`` target names.
        categorical_indices_: positions of categorical columns in the encoding.
        categories_: levels of each categorical column; a level's code is its position.
        log_columns_: numeric inputs modelled on a log10 scale.
        n_excluded_: per target, the number of training rows without that target.
        fit_warnings_: every fallback and third-party warning met while fitting, as text.
        model_: the BoTorch model, on the link scale of bounded targets (:meth:`to_botorch`
            maps it to target units).
        output_bounds_: ``{target: (low, high)}`` of the bounded targets (``None``: open end).
        output_links_: one :class:`~surrogates.bounds.Link` per target, or ``None`` when no
            target is bounded.
    """

    name: ClassVar[str] = "surrogate"
    categorical: Sequence[str]
    categories: Mapping[str, Sequence[Any]] | None
    log_columns: str | Sequence[str] | None
    seed: int
    output_bounds_: dict[str, tuple[float | None, float | None]]
    output_links_: list[Link] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap the subclass's own ``fit``, ``predict``, ``predict_interval`` and
        ``to_botorch`` so that bounded targets are handled for it (see the module docstring)."""
        super().__init_subclass__(**kwargs)
        for name, wrap in _BOUNDED_METHODS.items():
            if name in cls.__dict__:
                setattr(cls, name, wrap(cls.__dict__[name]))

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> Surrogate:
        """Fit the model.

        Args:
            X: ``n x d`` frame of inputs (numeric columns in lab units, categorical columns as
                labels); NaN cells are imputed inside the model.
            Y: ``n x t`` frame (or a Series for one target) of targets in their units. A row
                without a value for a target is left out of that target's model only; the count
                is in ``n_excluded_`` and an :class:`InputDataWarning` says so.
            groups: optional ``n`` labels of the source of each row (paper, plate, batch).
                Rows of one group share hidden conditions; with labels, the uncertainty is
                calibrated on whole held-out groups, so intervals stay honest for a new paper
                or plate rather than for a new row of a known one.
            bounds: optional ``{target: (low, high)}`` physical bounds, ``None`` for an open
                end (``{"coulombic_efficiency_pct": (0, 100), "capacity": (0, None)}``).
                Measured values may sit at a bound but not outside it. Every surrogate's
                ``fit`` takes it: :meth:`__init_subclass__` adds it (so subclasses that override
                ``fit`` keep their own signature); see :mod:`surrogates.bounds`.

        Returns:
            ``self``.
        """
        X = as_frame(X)
        Yf = as_frame(Y, what="Y")
        if len(X) != len(Yf):
            raise InputDataError(
                f"X has {len(X)} rows but Y has {len(Yf)}.",
                hint="Pass inputs and targets of the same rows.",
            )
        self.fit_warnings_: list[str] = []
        bounds = getattr(self, "input_bounds", None) or {}
        encoder = TabularEncoder(
            categorical=self.categorical,
            categories=self.categories,
            log_columns=self.log_columns,
            impute=getattr(self, "impute", "iterative"),
            seed=self.seed,
            log_floor={str(k): v[0] for k, v in bounds.items()
                       if isinstance(v, Sequence) and len(v) == 2},
        ).fit(X.rename(columns=str))
        self.fit_warnings_.extend(encoder.warnings_)
        Ynp = self._targets(Yf)
        group_codes = None
        if groups is not None:
            labels = pd.Series(np.asarray(groups, dtype=object)).fillna("<missing>").map(str)
            if len(labels) != len(X):
                raise InputDataError(
                    f"groups has {len(labels)} labels for {len(X)} rows.",
                    hint="Pass one group label per row.",
                )
            group_codes = pd.factorize(labels)[0]
        Xt = encoder.encode(X.rename(columns=str), impute=False)
        self._adopt_encoder(encoder)
        with torch.random.fork_rng(), single_thread():
            torch.manual_seed(self.seed)
            self.model_ = self._fit_encoded(
                Xt, torch.as_tensor(Ynp, dtype=torch.double), group_codes
            )
        return self

    def _adopt_encoder(self, encoder: TabularEncoder) -> None:
        """Keep a fitted encoder and expose what it learned as fitted attributes."""
        self.encoder_ = encoder
        self.feature_names_in_ = np.asarray(encoder.feature_names_, dtype=object)
        self.n_features_in_ = len(encoder.feature_names_)
        self.categorical_indices_ = list(encoder.categorical_indices_)
        self.categories_ = {k: list(v) for k, v in encoder.categories_.items()}
        self.log_columns_ = list(encoder.log_columns_)

    def predict(self, X: Any, *, observation_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predict mean and standard deviation of every target.

        Args:
            X: ``n x d`` frame with the training input columns; NaN cells allowed.
            observation_noise: include measurement noise in ``std`` (default), so that the
                central 90% interval ``mean ± 1.645 std`` should hold 90% of new measurements.
                With ``False`` it is the uncertainty of the mean (what acquisition sees).

        Returns:
            ``(mean, std)``, both ``n x t`` float arrays in target units.
        """
        self._check_fitted()
        Xt = self.encoder_.encode(X, impute=False)
        with torch.no_grad(), single_thread():
            mean, var = self._predict_encoded(Xt, observation_noise=observation_noise)
        return mean.numpy().astype(float), var.clamp_min(0).sqrt().numpy().astype(float)

    def predict_interval(self, X: Any, *, level: float = 0.9, observation_noise: bool = True
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` prediction interval of every target, within its bounds.

        Args:
            X: ``n x d`` frame with the training input columns; NaN cells allowed.
            level: probability between the ends (0.9: the 5 % and 95 % quantiles).
            observation_noise: an interval for a new measurement (default) or for the mean.

        Returns:
            ``(low, high)``, both ``n x t`` arrays in target units. A bounded target's ends are
            quantiles of the bounded distribution (never outside the bounds, and not
            symmetric about the mean); an unbounded one's are ``mean -/+ z std``.
        """
        if not 0.0 < float(level) < 1.0:
            raise InputDataError(f"level={level!r} is not a probability strictly between 0 "
                                 "and 1.", hint="Use e.g. level=0.9 for a 90 % interval.")
        with _outermost(self, "predict"):  # the link scale: the model's own Gaussian
            mean, std = self.predict(X, observation_noise=observation_noise)
        z = NormalDist().inv_cdf(0.5 + float(level) / 2.0)
        return np.asarray(mean - z * std, dtype=float), np.asarray(mean + z * std, dtype=float)

    def encode(self, X: Any, *, impute: bool = True) -> Tensor:
        """Encode ``n x d`` inputs as the ``n x d`` ``torch.double`` tensor BoTorch sees.

        Columns follow ``feature_names_in_``; numeric columns stay in lab units, categorical
        columns become level codes ``0..k-1`` (``categories_``). Missing cells are imputed
        unless ``impute=False``. An unseen category level raises :class:`InputDataError`.
        """
        self._check_fitted()
        return self.encoder_.encode(X, impute=impute)

    def impute_encoded(self, Xt: Tensor) -> Tensor:
        """Fill NaN cells of an encoded ``... x d`` tensor with the imputer learned in ``fit``."""
        self._check_fitted()
        return self.encoder_.impute(Xt)

    def to_botorch(self) -> Model:
        """The fitted BoTorch model on the encoded space: ``... x q x d`` -> ``t`` outputs.

        Outputs are in target units; a bounded target's posterior samples lie within its
        bounds (a :class:`~surrogates.bounds.BoundedModel` around ``model_``). The model is
        the one ``predict`` uses; do not train it further.
        """
        self._check_fitted()
        return self.model_

    @property
    def target_names(self) -> list[str]:
        """Alias of ``target_names_``."""
        self._check_fitted()
        return list(self.target_names_)

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _fit_encoded(self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None) -> Model:
        """Fit on ``n x d`` encoded inputs (NaN = missing), ``n x t`` targets (NaN = unobserved)
        and optional ``n`` integer group codes."""

    @abstractmethod
    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        """Return ``n x t`` mean and variance for ``n x d`` encoded inputs (NaN = missing)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet.",
                hint="Call fit(X, Y) before predict, encode or to_botorch.",
            )

    def _targets(self, Yf: pd.DataFrame) -> np.ndarray:
        """Check targets, record exclusions and return ``n x t`` floats with NaN."""
        names = [str(c) for c in Yf.columns]
        if not names:
            raise InputDataError("No target column was given.", hint="Pass at least one target.")
        cols = [
            numeric_column(
                Yf.iloc[:, k],
                name=name,
                hint="Targets must be numbers; remove units or comments from the cells.",
            )
            for k, name in enumerate(names)
        ]
        Ynp = np.column_stack(cols)
        self.target_names_ = names
        self.n_excluded_ = {name: int(np.isnan(Ynp[:, k]).sum()) for k, name in enumerate(names)}
        for k, name in enumerate(names):
            n_obs = len(Ynp) - self.n_excluded_[name]
            if n_obs < MIN_ROWS:
                raise InputDataError(
                    f"Target {name!r} has {n_obs} measured value(s); at least {MIN_ROWS} are "
                    "needed to fit a model.",
                    hint="Measure more samples or drop this target.",
                )
            if np.nanstd(Ynp[:, k]) == 0:
                self._warn(f"Target {name!r} is constant; its model predicts that constant.",
                           InputDataWarning)
        excluded = {k: v for k, v in self.n_excluded_.items() if v}
        if excluded:  # counted in n_excluded_, so warned but not repeated in fit_warnings_
            message = (EXCLUDED_ROWS_MESSAGE
                       + ", ".join(f"{k}: {v} of {len(Ynp)}" for k, v in excluded.items()) + ".")
            logger.info("%s: %s", type(self).__name__, message)  # routine: wells not measured yet
            warnings.warn(message, InputDataWarning, stacklevel=3)
        return Ynp

    def _warn(self, message: str, category: type[Warning] = SurrogateFitWarning) -> None:
        """Record a message in ``fit_warnings_``, log it and emit it as a warning."""
        self.fit_warnings_.append(message)
        logger.warning("%s: %s", type(self).__name__, message)
        warnings.warn(message, category, stacklevel=3)

    @contextlib.contextmanager
    def _recording(self, where: str) -> Iterator[None]:
        """Record third-party warnings in ``fit_warnings_`` instead of letting them escape."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        seen = set(self.fit_warnings_)
        for w in caught:
            text = f"{where}: {w.category.__name__}: {w.message}"
            if text not in seen:
                seen.add(text)
                self.fit_warnings_.append(text)
                logger.info("%s: %s", type(self).__name__, text)


# ---------------------------------------------------------------------------- bounded targets
_ACTIVE = threading.local()


@contextlib.contextmanager
def _outermost(model: Surrogate, what: str) -> Iterator[bool]:
    """Whether this is the outermost ``what`` call on ``model`` in this thread (and mark it).

    A subclass's ``predict`` may call ``super().predict`` or ``predict_interval`` may call
    ``predict``: only the outermost call maps link-scale values to target units.
    """
    active: set[tuple[int, str]] = _ACTIVE.__dict__.setdefault("calls", set())
    key = (id(model), what)
    if key in active:
        yield False
        return
    active.add(key)
    try:
        yield True
    finally:
        active.discard(key)


def _links(model: Surrogate) -> list[Link] | None:
    return getattr(model, "output_links_", None)


def _bounded_fit(fit: Callable[..., Any]) -> Callable[..., Any]:
    """``fit`` with a ``bounds`` argument: the targets (and a ``prior_Y``) go in link-scaled."""

    @functools.wraps(fit)
    def wrapper(self: Surrogate, X: Any, Y: Any, *args: Any,
                bounds: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        with _outermost(self, "fit") as outer:
            if not outer:
                return fit(self, X, Y, *args, **kwargs)
            self.output_bounds_ = {}
            self.output_links_ = None
            links: dict[str, Link] = {}
            if bounds:
                Yf = as_frame(Y, what="Y")
                self.output_bounds_ = check_bounds(bounds, Yf)
                Y, links = Yf.copy(), {}
                for name, (lo, hi) in self.output_bounds_.items():
                    col = Yf.columns[[str(c) for c in Yf.columns].index(name)]
                    values = pd.to_numeric(Yf[col], errors="coerce")
                    if values.isna().sum() > Yf[col].isna().sum():
                        continue  # text in the column: the fit itself names the cell
                    links[name] = fit_link(values.to_numpy(float), lo, hi)
                    Y[col] = links[name].forward(values.to_numpy(float))
                prior = kwargs.get("prior_Y")
                if prior is not None and links:
                    prior = as_frame(prior, what="prior_Y").copy()
                    for col in prior.columns:
                        if str(col) in links:
                            v = pd.to_numeric(prior[col], errors="coerce").to_numpy(float)
                            prior[col] = links[str(col)].forward(v)
                    kwargs["prior_Y"] = prior
            result = fit(self, X, Y, *args, **kwargs)
            if links:
                self.output_links_ = [links.get(t, Identity()) for t in self.target_names_]
            return result

    params = list(inspect.signature(fit).parameters.values())
    if "bounds" not in {p.name for p in params}:
        at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
        params.insert(at, inspect.Parameter("bounds", inspect.Parameter.KEYWORD_ONLY,
                                            default=None))
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return wrapper


def _bounded_predict(predict: Callable[..., Any]) -> Callable[..., Any]:
    """``predict`` whose link-scale Gaussian becomes the bounded distribution's mean and std."""

    @functools.wraps(predict)
    def wrapper(self: Surrogate, X: Any, *args: Any, **kwargs: Any) -> Any:
        with _outermost(self, "predict") as outer:
            mean, std = predict(self, X, *args, **kwargs)
        links = _links(self)
        if not outer or not links:
            return mean, std
        m, v = mapped_moments(torch.as_tensor(np.asarray(mean, dtype=float)),
                              torch.as_tensor(np.asarray(std, dtype=float)) ** 2, links)
        return m.numpy(), v.sqrt().numpy()

    return wrapper


def _bounded_interval(interval: Callable[..., Any]) -> Callable[..., Any]:
    """``predict_interval`` whose link-scale ends are mapped to target units (quantiles map
    exactly through a monotone link)."""

    @functools.wraps(interval)
    def wrapper(self: Surrogate, X: Any, *args: Any, **kwargs: Any) -> Any:
        with _outermost(self, "predict_interval") as outer:
            low, high = interval(self, X, *args, **kwargs)
        links = _links(self)
        if not outer or not links:
            return low, high
        return (inverse_outputs(torch.as_tensor(np.asarray(low, dtype=float)), links).numpy(),
                inverse_outputs(torch.as_tensor(np.asarray(high, dtype=float)), links).numpy())

    return wrapper


def _bounded_botorch(to_botorch: Callable[..., Any]) -> Callable[..., Any]:
    """``to_botorch`` whose model maps posterior samples into the bounds."""

    @functools.wraps(to_botorch)
    def wrapper(self: Surrogate) -> Model:
        with _outermost(self, "to_botorch") as outer:
            model = to_botorch(self)
        links = _links(self)
        return BoundedModel(model, links) if outer and links else model

    return wrapper


_BOUNDED_METHODS = {"fit": _bounded_fit, "predict": _bounded_predict,
                    "predict_interval": _bounded_interval, "to_botorch": _bounded_botorch}
for _name, _wrap in _BOUNDED_METHODS.items():
    setattr(Surrogate, _name, _wrap(Surrogate.__dict__[_name]))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the caller's setting.

    The matrices here are small (a few thousand rows at most): several OpenMP threads on a shared
    or busy machine make them far slower, not faster (``benchmarks/results/settings.md``), and
    one thread also makes results bit-for-bit reproducible.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def calibrate_variance(residual: np.ndarray, spread_var: np.ndarray) -> tuple[float, float]:
    """Fit ``var = scale * spread_var + noise`` to held-out residuals by Gaussian likelihood.

    Used by the ensemble and the forest: members' spread measures model uncertainty but not
    measurement noise and is usually too narrow; out-of-bag residuals tell by how much. Both
    quantities are in standardized target units. ``scale`` is kept >= 1: inside the data the
    residuals are mostly noise and say little about the spread, and shrinking it would leave
    acquisition functions no uncertainty to explore with.

    Args:
        residual: ``k`` out-of-bag residuals (observed minus out-of-bag mean).
        spread_var: ``k`` out-of-bag member variances at the same rows.

    Returns:
        ``(scale, noise)``: multiplier of the spread variance and the noise variance.
    """
    r2 = np.asarray(residual, dtype=float) ** 2
    v = np.asarray(spread_var, dtype=float)
    if len(r2) < 5:
        return 1.0, float(max(np.mean(r2) if len(r2) else 0.1, 1e-6))

    def nll(theta: np.ndarray) -> float:
        var = np.exp(theta[0]) * v + np.exp(theta[1]) + 1e-9
        return float(np.mean(np.log(var) + r2 / var))

    start = np.log([1.0, max(float(np.mean(r2)) * 0.5, 1e-4)])
    res = minimize(nll, start, method="L-BFGS-B", bounds=[(0.0, 6.0), (-14.0, 3.0)])
    scale, noise = np.exp(res.x)
    return float(scale), float(noise)


def member_stats(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased variance over the member axis (``-3``) of ``... x s x n x t`` values,
    the same statistics :class:`botorch.posteriors.ensemble.EnsemblePosterior` reports."""
    mean = values.mean(dim=-3)
    if values.shape[-3] < 2:
        return mean, torch.zeros_like(mean)
    return mean, values.var(dim=-3, unbiased=True)


def calibrated_members(values: Tensor, spread_scale: Tensor, X: Tensor) -> Tensor:
    """Members ``... x s x n x t`` with their spread around the member mean scaled by the
    calibrated ``spread_scale`` (per output), attached to the inputs ``X`` by a zero term so that
    acquisition functions can call ``backward()`` on models whose members are piecewise constant
    (trees: their gradients are zero)."""
    center = values.mean(dim=-3, keepdim=True)
    values = center + spread_scale.sqrt() * (values - center)
    zero = (torch.nan_to_num(X) * 0).sum(dim=-1, keepdim=True).unsqueeze(-3)
    return values + zero
