"""Target transforms: which targets the surrogate learns on a log scale, and the way back.

A monotone transform leaves the optimum where it is but changes what the model can tell apart.
Near zero, where a *minimized* positive target (a loss, an instability index) has its optimum, a
log scale spreads the values the search must distinguish; for a *maximized* target it would
squash the top instead (measured in ``benchmarks/results/log_targets.md``). Hence ``auto``
logs minimized targets whose measured values are all positive and span more than a factor of
:data:`LOG_SPAN`.

Physical bounds (``Target.bounds``: CE in ``[0, 100]`` %, capacity ``>= 0``) are kept by the
surrogate (:mod:`surrogates.bounds`); this transform tells it the bounds on the model's scale,
so that a target gets one transform, not two: a target with an upper bound is never logged (the
logit of its bounds already spreads the values near its lower end), and a logged target keeps
only a positive lower bound, as ``log10(low)`` (a log is positive by itself).

Example:
    >>> import pandas as pd
    >>> Y = pd.DataFrame({"loss": [0.01, 0.5, 2.0], "ice_pct": [70.0, 80.0, 85.0]})
    >>> t = TargetTransform.fit(Y, directions=["min", "max"], mode="auto")
    >>> t.logged
    ('loss',)
    >>> round(float(t.forward(Y)["loss"].iloc[0]), 3)
    -2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Smallest max/min ratio of a positive minimized target that ``auto`` models on a log scale.
LOG_SPAN = 10.0


@dataclass(frozen=True)
class TargetTransform:
    """``log10`` of some targets; identity for the rest."""

    logged: tuple[str, ...] = ()
    """Targets modelled as ``log10(y)``."""
    bounds: tuple[tuple[str, float | None, float | None], ...] = ()
    """``(target, low, high)`` physical bounds in target units (``None``: open end)."""

    @classmethod
    def fit(cls, Y: pd.DataFrame, *, directions: Sequence[str], mode: str = "auto",
            bounds: Mapping[str, tuple[float | None, float | None] | None] | None = None
            ) -> TargetTransform:
        """Choose the logged targets from the measured values.

        Args:
            Y: ``n x t`` measured targets (NaN allowed), target units.
            directions: ``"max"``/``"min"`` per column of ``Y``.
            mode: ``"auto"``, ``"on"`` (every target whose values are all positive) or
                ``"off"``. A target with an upper bound is never logged.
            bounds: physical ``(low, high)`` per target (``None`` for an open end or none).
        """
        pairs = tuple((str(k), v[0], v[1]) for k, v in (bounds or {}).items()
                      if v is not None and (v[0] is not None or v[1] is not None))
        if mode == "off":
            return cls((), pairs)
        capped = {name for name, _, high in pairs if high is not None}
        logged = []
        for name, direction in zip(Y.columns, directions, strict=True):
            values = pd.to_numeric(Y[name], errors="coerce").dropna().to_numpy(dtype=float)
            if values.size == 0 or not (values > 0).all() or str(name) in capped:
                continue
            if mode == "on" or (direction == "min" and values.max() / values.min() > LOG_SPAN):
                logged.append(str(name))
        return cls(tuple(logged), pairs)

    @property
    def model_bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """The bounds on the model's scale, for ``Surrogate.fit(bounds=...)``: as given for a
        target on its own scale; ``(log10(low), None)`` for a logged one with ``low > 0``."""
        out: dict[str, tuple[float | None, float | None]] = {}
        for name, low, high in self.bounds:
            if name not in self.logged:
                out[name] = (low, high)
            elif low is not None and low > 0:
                out[name] = (math.log10(low), None)
        return out

    def forward(self, Y: pd.DataFrame) -> pd.DataFrame:
        """``Y`` on the model's scale (non-positive values of a logged target become NaN)."""
        out = Y.copy()
        for name in self.logged:
            if name in out:
                col = pd.to_numeric(out[name], errors="coerce")
                out[name] = np.log10(col.where(col > 0))
        return out

    def threshold(self, name: str, value: float) -> float:
        """A threshold of target ``name`` on the model's scale.

        A non-positive threshold of a logged target cannot be met or missed on the log scale;
        it maps to ``-inf``'s stand-in, the smallest float's log, so a ``>=`` constraint holds
        everywhere and a ``<=`` one nowhere, as on the original scale.
        """
        if name not in self.logged:
            return float(value)
        return math.log10(value) if value > 0 else -308.0

    def backward_values(self, name: str, values: np.ndarray) -> np.ndarray:
        """Values on the model's scale (interval ends, quantiles) back in target units."""
        values = np.asarray(values, dtype=float)
        return np.power(10.0, np.minimum(values, 308.0)) if name in self.logged else values

    def backward(self, name: str, mean: np.ndarray, std: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std in target units of a prediction made on the model's scale.

        A Gaussian on ``log10(y)`` is a log-normal on ``y``: its mean and standard deviation are
        returned (both finite and non-negative).
        """
        if name not in self.logged:
            return mean, std
        s = np.asarray(std, dtype=float) * math.log(10.0)
        mu = np.asarray(mean, dtype=float) * math.log(10.0)
        out_mean = np.exp(mu + s**2 / 2)
        out_std = out_mean * np.sqrt(np.expm1(np.minimum(s**2, 700.0)))
        return out_mean, out_std
