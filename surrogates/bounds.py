"""Physically bounded targets: link functions and the BoTorch model that respects them.

A Coulombic efficiency cannot exceed 100 %, a capacity cannot be negative. A Gaussian model of
such a target happily predicts 101 % near the top of the data, and its symmetric interval leaves
the physical range wherever the mean comes close to a bound. Here a target with bounds is
modelled on a *link* scale that has no bounds, ``z = g(y)``, and everything a user or an
acquisition function sees is mapped back through the inverse link ``y = g^-1(z)``, which only
takes values inside the bounds:

* two-sided bounds ``[low, high]`` (CE, ICE in ``[0, 100]`` %): the scaled logit
  ``z = logit((y - low) / (high - low))``. Near the upper bound it behaves like the
  ``-log10(1 - CE)`` that the Li-metal literature uses to tell 99.5 % from 99.9 %;
* one-sided bounds (capacity ``>= 0``, conductivity ``> 0``): by default the inverse softplus
  ``z = y' + s log(1 - exp(-y' / s))`` with ``y' = y - low``, which is the identity well away from
  the bound and a log close to it (``s`` is a tenth of the data's median distance to the bound).
  A plain log (``one_sided="log"``) squashes the top of a maximized target, which costs
  experiments (``benchmarks/results/log_targets.md``), so it is not the default.

Values measured exactly at a bound (CE = 100.0, a plateau capacity of 0) have no finite link
value; they are moved inside by a small margin, half their distance to the nearest other value
and between 1e-4 and 1e-2 of the data's scale, so that their order is kept.

The model on the link scale is Gaussian; predictions in target units are the moments of the
mapped distribution (Gauss-Hermite quadrature), and intervals are mapped quantiles, so both
always lie within the bounds. :class:`BoundedModel` wraps the fitted BoTorch model: its
posterior (:class:`botorch.posteriors.TransformedPosterior`) maps every sample through the
inverse link, so acquisition functions see bounded outcomes.

Example:
    >>> import numpy as np
    >>> link = fit_link(np.array([91.0, 99.5, 100.0]), 0.0, 100.0)
    >>> link.name
    'logit'
    >>> bool(link.inverse(link.forward(np.array([100.0])))[0] < 100.0)
    True
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors import Posterior, PosteriorList, TransformedPosterior
from botorch.posteriors.ensemble import EnsemblePosterior
from torch import Tensor

from surrogates.errors import InputDataError
from surrogates.preprocessing import did_you_mean

#: Links a one-sided bound may use.
ONE_SIDED = ("softplus", "log")
#: Gauss-Hermite nodes for the moments of a mapped Gaussian (exact for polynomials of degree 63;
#: the mean of a logit-normal is then right to about 1e-6 of the width for link-scale standard
#: deviations up to 3).
N_QUADRATURE = 32
#: Margin of a value measured at a bound, as fractions of the data's scale: (smallest, largest).
MARGIN = (1e-4, 1e-2)
#: Bounds of one target: ``(low, high)``, ``None`` (or an infinity) for an open end.
Bounds = tuple[float | None, float | None]


def _as_tensor(z: Tensor | np.ndarray | float) -> Tensor:
    return z if isinstance(z, Tensor) else torch.as_tensor(np.asarray(z, dtype=float))


class Link(ABC):
    """A monotone increasing map from a bounded target to the real line, and back."""

    name: str = "identity"
    low: float
    """Lower bound (``-inf``: none)."""
    high: float
    """Upper bound (``inf``: none)."""

    @abstractmethod
    def forward(self, y: np.ndarray) -> np.ndarray:
        """Target values (within the bounds; NaN kept) -> link scale."""

    @abstractmethod
    def inverse(self, z: Tensor) -> Tensor:
        """Link scale -> target units, within the bounds; differentiable (torch)."""

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary (what a proposal's model info records)."""
        return {"link": self.name,
                "low": None if math.isinf(self.low) else self.low,
                "high": None if math.isinf(self.high) else self.high}


@dataclass(frozen=True)
class Identity(Link):
    """No bounds: the target is modelled as it is."""

    name = "identity"
    low = -math.inf
    high = math.inf

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=float)

    def inverse(self, z: Tensor) -> Tensor:
        return _as_tensor(z)


@dataclass(frozen=True)
class Logit(Link):
    """``[low, high]`` -> ``logit((y - low) / (high - low))``."""

    low: float
    high: float
    margin_low: float
    """Values closer than this to ``low`` are moved to ``low + margin_low`` before the link."""
    margin_high: float
    """Likewise at ``high``."""
    name = "logit"

    def forward(self, y: np.ndarray) -> np.ndarray:
        width = self.high - self.low
        y = np.clip(np.asarray(y, dtype=float), self.low + self.margin_low,
                    self.high - self.margin_high)
        p = (y - self.low) / width
        return np.log(p) - np.log1p(-p)

    def inverse(self, z: Tensor) -> Tensor:
        z = _as_tensor(z)
        return (self.low + (self.high - self.low) * torch.sigmoid(z)).clamp(self.low, self.high)


@dataclass(frozen=True)
class OneSided(Link):
    """``y >= low`` (or ``y <= high``): softplus or log link to the distance from the bound."""

    low: float
    high: float
    margin: float
    """Distances to the bound below this are raised to it before the link."""
    scale: float
    """Softness ``s`` of the softplus link (unused by the log link)."""
    kind: str = "softplus"
    """``softplus`` or ``log``."""

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.kind

    @property
    def _lower(self) -> bool:
        return math.isfinite(self.low)

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        d = np.maximum(y - self.low if self._lower else self.high - y, self.margin)
        # The inverse softplus, written to stay finite and exact for large d.
        z = np.log(d) if self.kind == "log" else d + self.scale * np.log(-np.expm1(-d / self.scale))
        z = np.where(np.isnan(y), np.nan, z)
        return z if self._lower else -z

    def inverse(self, z: Tensor) -> Tensor:
        z = _as_tensor(z)
        z = z if self._lower else -z
        if self.kind == "log":
            d = torch.exp(z.clamp(max=700.0))
        else:
            d = self.scale * torch.nn.functional.softplus(z / self.scale)
        if self._lower:
            return (self.low + d).clamp(min=self.low)
        return (self.high - d).clamp(max=self.high)


def _margin(distance: np.ndarray, scale: float) -> float:
    """Margin of values at a bound: half the smallest positive distance, within MARGIN * scale."""
    positive = distance[distance > 0]
    half_gap = 0.5 * float(positive.min()) if positive.size else MARGIN[1] * scale
    return float(np.clip(half_gap, MARGIN[0] * scale, MARGIN[1] * scale))


def fit_link(values: np.ndarray, low: float | None, high: float | None, *,
             one_sided: str = "softplus") -> Link:
    """The link for a target with bounds ``[low, high]``, fitted to its measured ``values``.

    Args:
        values: measured values of the target (NaN ignored), all within the bounds.
        low: lower bound, or ``None``/``-inf`` for none.
        high: upper bound, or ``None``/``inf`` for none.
        one_sided: ``softplus`` (identity away from the bound) or ``log`` for one bound.

    Returns:
        :class:`Identity`, :class:`Logit` or :class:`OneSided`.
    """
    lo = -math.inf if low is None else float(low)
    hi = math.inf if high is None else float(high)
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    if math.isinf(lo) and math.isinf(hi):
        return Identity()
    if math.isfinite(lo) and math.isfinite(hi):
        width = hi - lo
        return Logit(lo, hi, _margin(y - lo, width), _margin(hi - y, width))
    if one_sided not in ONE_SIDED:
        raise InputDataError(f"Unknown one-sided link {one_sided!r}.",
                             hint=f"Use one of {', '.join(ONE_SIDED)}.")
    distance = y - lo if math.isfinite(lo) else hi - y
    positive = distance[distance > 0]
    typical = float(np.median(positive)) if positive.size else 1.0
    return OneSided(lo, hi, _margin(distance, typical), 0.1 * typical, one_sided)


def check_bounds(bounds: Mapping[str, Any] | None, Y: pd.DataFrame) -> dict[str, Bounds]:
    """Validate ``bounds`` against the targets ``Y``; return ``{target: (low, high)}``.

    Open ends are ``None``. Targets without bounds (or with two open ends) are left out.

    Raises:
        InputDataError: a bound names no target, is not a ``(low, high)`` pair of numbers with
            ``low < high``, or a measured value lies outside it (every such value is named, by
            row and column).
    """
    if not bounds:
        return {}
    names = [str(c) for c in Y.columns]
    out: dict[str, Bounds] = {}
    for name, pair in bounds.items():
        if str(name) not in names:
            raise InputDataError(f"bounds name {name!r}, which is not a target.",
                                 hint=did_you_mean(str(name), names))
        if pair is None:
            continue
        try:
            lo_raw, hi_raw = pair
            lo = None if lo_raw is None or float(lo_raw) == -math.inf else float(lo_raw)
            hi = None if hi_raw is None or float(hi_raw) == math.inf else float(hi_raw)
        except (TypeError, ValueError):
            raise InputDataError(
                f"bounds[{name!r}] = {pair!r} is not a (low, high) pair of numbers.",
                hint="Give (low, high), with None for an open end, e.g. (0, 100) or (0, None).",
            ) from None
        if (lo is not None and math.isnan(lo)) or (hi is not None and math.isnan(hi)):
            raise InputDataError(f"bounds[{name!r}] = {pair!r} holds NaN.",
                                 hint="Use None for an open end.")
        if lo is not None and hi is not None and not lo < hi:
            raise InputDataError(f"bounds[{name!r}] = ({lo:g}, {hi:g}): low is not below high.",
                                 hint="Give (low, high) with low < high.")
        if lo is None and hi is None:
            continue
        out[str(name)] = (lo, hi)
    problems = []
    for name, (lo, hi) in out.items():
        col = pd.to_numeric(Y[name], errors="coerce")
        bad = ((col < lo) if lo is not None else False) | ((col > hi) if hi is not None else False)
        for row, value in col[bad].items():
            problems.append(f"row {row}, column {name!r}: {value:g} is outside "
                            f"[{'-inf' if lo is None else f'{lo:g}'}, "
                            f"{'inf' if hi is None else f'{hi:g}'}]")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InputDataError(
            "Measured values lie outside their target's physical bounds: "
            + "; ".join(problems[:10]) + more + ".",
            hint="Check the unit (a fraction instead of %?) or the value, or widen the bounds.",
        )
    return out


# --------------------------------------------------------------------------- on many outputs
def inverse_outputs(Z: Tensor, links: Sequence[Link]) -> Tensor:
    """Map ``... x m`` link-scale values to target units, output ``k`` through ``links[k]``."""
    if all(isinstance(link, Identity) for link in links):
        return Z
    return torch.stack([link.inverse(Z[..., k]) for k, link in enumerate(links)], dim=-1)


def _nodes(like: Tensor) -> tuple[Tensor, Tensor]:
    x, w = np.polynomial.hermite.hermgauss(N_QUADRATURE)
    return (torch.as_tensor(x * math.sqrt(2.0), dtype=like.dtype, device=like.device),
            torch.as_tensor(w / math.sqrt(math.pi), dtype=like.dtype, device=like.device))


def mapped_moments(mean: Tensor, var: Tensor | None, links: Sequence[Link]
                   ) -> tuple[Tensor, Tensor]:
    """Mean and variance in target units of ``N(mean, var)`` on the link scale.

    Args:
        mean: ``... x m`` link-scale means.
        var: ``... x m`` link-scale variances (``None``: treated as 0).
        links: one link per output.

    Returns:
        ``(mean, var)`` in target units, same shapes; identity outputs are passed through.
    """
    var = torch.zeros_like(mean) if var is None else var.clamp_min(0)
    x, w = _nodes(mean)
    shape = (-1,) + (1,) * mean.dim()
    Z = mean.unsqueeze(0) + var.sqrt().unsqueeze(0) * x.reshape(shape)
    Y = inverse_outputs(Z, links)
    wq = w.reshape(shape)
    m = (wq * Y).sum(0)
    v = (wq * (Y - m.unsqueeze(0)) ** 2).sum(0)
    identity = torch.tensor([isinstance(link, Identity) for link in links], device=mean.device)
    return torch.where(identity, mean, m), torch.where(identity, var, v)


def mapped_quantiles(mean: Tensor, std: Tensor, links: Sequence[Link], z: float) -> Tensor:
    """``mean + z * std`` on the link scale, mapped to target units (a quantile of the target)."""
    return inverse_outputs(mean + z * std, links)


def bounded_posterior(inner: Posterior, links: Sequence[Link]) -> Posterior:
    """``inner`` (link scale, one output per link) with every sample mapped into the bounds.

    The result keeps the kind of posterior BoTorch chooses its sampler by: an ensemble stays an
    :class:`~botorch.posteriors.ensemble.EnsemblePosterior` (members mapped one by one, drawn by
    BoTorch's ``IndexSampler``), a :class:`~botorch.posteriors.PosteriorList` (a model list
    mixing a GP with an ensemble, as ``model: auto`` may choose) stays a list of mapped parts;
    anything else becomes a :class:`~botorch.posteriors.TransformedPosterior` whose mean and
    variance are the mapped moments.
    """
    if all(isinstance(link, Identity) for link in links):
        return inner
    if isinstance(inner, EnsemblePosterior):
        return EnsemblePosterior(inverse_outputs(inner.values, links),
                                 weights=getattr(inner, "_weights", None))
    if isinstance(inner, PosteriorList):
        parts, start = [], 0
        for part in inner.posteriors:
            m = int(part._extended_shape()[-1])  # outputs of this part
            parts.append(bounded_posterior(part, links[start:start + m]))
            start += m
        return PosteriorList(*parts)

    def mean(m: Tensor, v: Tensor | None) -> Tensor:
        return mapped_moments(m, v, links)[0]

    def variance(m: Tensor, v: Tensor) -> Tensor:
        return mapped_moments(m, v, links)[1]

    return TransformedPosterior(
        inner, sample_transform=lambda Z: inverse_outputs(Z, links),
        mean_transform=mean, variance_transform=variance,
    )


_TRAINING_DATA = ("train_inputs", "_has_transformed_inputs", "_original_train_inputs")
"""Attributes BoTorch reads to find the training inputs of a model."""


class BoundedModel(Model):
    """A BoTorch model on the link scale whose posterior is in bounded target units.

    ``posterior(X)`` is the wrapped model's posterior with every sample mapped through the
    inverse link of its output (:class:`~botorch.posteriors.TransformedPosterior`); its mean and
    variance are the mapped moments. So MC acquisition functions, outcome constraints and
    reference points all see values within the bounds.

    Args:
        model: the fitted model on the link scale, ``t`` outputs.
        links: one :class:`Link` per output (:class:`Identity` for an unbounded one).
    """

    def __init__(self, model: Model, links: Sequence[Link]) -> None:
        super().__init__()
        self.model = model
        self.links = tuple(links)

    def __getattr__(self, name: str) -> Any:
        """Attributes of the wrapped model (``models``, ``likelihood`` ...) show through, so code
        that inspects a surrogate's BoTorch model (its length scales, input transforms) still
        finds them; they describe the link scale."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("model")
            if inner is None or name.startswith("__"):
                raise
            if name in _TRAINING_DATA and hasattr(inner, "models"):
                # BoTorch reads a model list's training inputs from its first model
                # (get_X_baseline); the wrapper is not a list, so answer as the list would.
                inner = inner.models[0]
            return getattr(inner, name)

    @property
    def num_outputs(self) -> int:
        return int(self.model.num_outputs)

    @property
    def batch_shape(self) -> torch.Size:
        return self.model.batch_shape

    def posterior(  # type: ignore[override]
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> Posterior:
        """Posterior at ``... x q x d`` encoded inputs, outputs in bounded target units."""
        if observation_noise is not False:
            kwargs["observation_noise"] = observation_noise
        inner = self.model.posterior(X, output_indices=output_indices, **kwargs)
        links = [self.links[i] for i in output_indices] if output_indices else list(self.links)
        post = bounded_posterior(inner, links)
        return posterior_transform(post) if posterior_transform is not None else post
