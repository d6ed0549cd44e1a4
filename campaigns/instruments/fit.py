"""What a fit gives back: values with uncertainties, the fit itself, curves for a plot.

:class:`Characterization` is the one result type of :func:`campaigns.instruments.characterize`
for XRD and Raman alike. It is frozen and JSON-safe through :meth:`Characterization.to_json`:
settings, fitted parameters with their standard errors, fit statistics and the curves (data,
background, each band, the total fit and the residual) a plot needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from campaigns.jsonable import jsonable

#: Registry column each derived value fills in a campaign.
REGISTRY_COLUMNS: dict[str, str] = {"d002_nm": "d002_nm", "lc_nm": "lc_nm", "la_nm": "la_nm",
                                    "id_ig": "raman_id_ig"}
#: Points kept per curve in :meth:`Characterization.to_json` (plots need no more).
MAX_CURVE_POINTS = 1500


@dataclass(frozen=True, eq=False)
class Characterization:
    """Descriptors derived from one pattern or spectrum, with their uncertainty and the fit."""

    name: str
    """File name."""
    kind: str
    """``xrd`` or ``raman``."""
    sha256: str
    """Hex SHA-256 of the raw file."""
    format: str
    """File format read (``text``, ``xrdml``, ``wdf`` …)."""
    values: Mapping[str, float]
    """Derived values: XRD ``d002_nm``, ``lc_nm``, ``la_nm`` (and ``two_theta_002_deg``,
    ``fwhm_002_deg``, ``two_theta_10_deg``, ``fwhm_10_deg``); Raman ``id_ig`` (the ratio the
    settings choose), ``id_ig_intensity``, ``id_ig_area``, ``d_center_cm``, ``g_center_cm``,
    ``d_fwhm_cm``, ``g_fwhm_cm``. NaN where a band could not be fitted."""
    stds: Mapping[str, float]
    """One standard deviation of each value, propagated from the fit's covariance (with the
    parameters' correlations); NaN when the covariance could not be estimated."""
    settings: Mapping[str, Any]
    """The settings used (:meth:`CharacterizeSettings.as_dict`), with the wavelength actually
    used (``wavelength_nm``) and where it came from (``wavelength_source``)."""
    method: str
    """One line: model, bands, background and equations."""
    parameters: Mapping[str, Mapping[str, float | None]]
    """lmfit parameter name → ``{"value", "stderr"}``."""
    statistics: Mapping[str, float]
    """``r_squared``, ``reduced_chi_square``, ``n_points``, ``n_function_evals``."""
    curves: Mapping[str, Any]
    """``x``, ``data``, ``background``, ``fit``, ``residual`` (lists) and ``components``
    (band name → list): the fitted window, for plots."""
    x_label: str
    """Axis label of ``curves["x"]``."""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    """Soft problems: a band outside the scanned range, an uncertain fit, extra columns …"""

    def descriptors(self) -> dict[str, tuple[float, float]]:
        """Registry column (``d002_nm``, ``lc_nm``, ``la_nm``, ``raman_id_ig``) → (value, std),
        for the values that could be derived (finite)."""
        out = {}
        for key, column in REGISTRY_COLUMNS.items():
            value = self.values.get(key)
            if value is not None and math.isfinite(value):
                out[column] = (float(value), float(self.stds.get(key, math.nan)))
        return out

    def summary(self) -> dict[str, float | None]:
        """The values and ``<name>_std`` entries, JSON-safe (NaN → ``None``)."""
        out: dict[str, float | None] = {}
        for key, value in self.values.items():
            out[key] = _finite(value)
            out[f"{key}_std"] = _finite(self.stds.get(key, math.nan))
        return out

    def provenance(self) -> dict[str, Any]:
        """What a stored value records of its fit: file, SHA-256, method, settings, the
        parameters and statistics (no curves)."""
        return jsonable({"file": self.name, "sha256": self.sha256, "kind": self.kind,
                         "file_format": self.format, "method": self.method,
                         "settings": dict(self.settings), "parameters": dict(self.parameters),
                         "statistics": dict(self.statistics)})

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-safe: :meth:`provenance`, :meth:`summary` as ``values``, warnings
        and the curves (at most :data:`MAX_CURVE_POINTS` points each)."""
        return jsonable({**self.provenance(), "values": self.summary(),
                         "warnings": list(self.warnings), "x_label": self.x_label,
                         "curves": _thin(self.curves)})


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _thin(curves: Mapping[str, Any]) -> dict[str, Any]:
    n = len(curves.get("x", ()))
    step = max(1, math.ceil(n / MAX_CURVE_POINTS))

    def cut(values: Any) -> list[float]:
        return [float(v) for v in np.asarray(values, float)[::step]]

    out: dict[str, Any] = {k: cut(v) for k, v in curves.items() if k != "components"}
    out["components"] = {k: cut(v) for k, v in curves.get("components", {}).items()}
    return out


def std_of(value: Any) -> float:
    """The standard deviation of an ``uncertainties`` number (NaN for a plain float)."""
    std = getattr(value, "std_dev", math.nan)
    try:
        std = float(std)
    except (TypeError, ValueError):
        return math.nan
    return std if math.isfinite(std) else math.nan


def nominal(value: Any) -> float:
    """The nominal value of an ``uncertainties`` number, or the float itself."""
    return float(getattr(value, "nominal_value", value))


def fit_parameters(result: Any) -> dict[str, dict[str, float | None]]:
    """lmfit result's parameters as ``name → {"value", "stderr"}``, JSON-safe."""
    return {name: {"value": _finite(float(p.value)),
                   "stderr": None if p.stderr is None else _finite(float(p.stderr))}
            for name, p in result.params.items()}


def fit_statistics(result: Any, y: np.ndarray) -> dict[str, float]:
    """R², reduced χ², points and function evaluations of an lmfit result."""
    residual = y - result.best_fit
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / ss_tot if ss_tot > 0 else math.nan
    return {"r_squared": r2, "reduced_chi_square": float(result.redchi),
            "n_points": int(y.size), "n_function_evals": int(result.nfev)}


def robust_noise(y: np.ndarray) -> float:
    """Noise level of a curve: the scaled median absolute second difference."""
    if y.size < 5:
        return float(np.std(y))
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Moving average of odd ``width`` points (edges use the points available)."""
    width = max(1, int(width) | 1)
    if width == 1 or y.size < width:
        return y.astype(float)
    kernel = np.ones(width) / width
    padded = np.pad(y.astype(float), width // 2, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


__all__ = ["Characterization", "MAX_CURVE_POINTS", "REGISTRY_COLUMNS", "fit_parameters",
           "fit_statistics", "nominal", "robust_noise", "smooth", "std_of"]
