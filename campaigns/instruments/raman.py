"""Raman spectrum → ID/IG of a (hard) carbon.

The first-order region (800–2000 cm⁻¹ by default) is fitted with lmfit: a straight background
and the D (~1350 cm⁻¹) and G (~1590 cm⁻¹) bands, pseudo-Voigt by default (the Lorentzian
fraction fitted: Lorentzian and Gaussian bands both fit without bias, where a Lorentzian fitted
to Gaussian-like bands misreads ID/IG by 4–10 %), or Lorentzian or Voigt as settings; with
``raman_bands="DG+D3D4"`` also the D3 band of amorphous carbon (~1500 cm⁻¹, Gaussian) and the
D4 band (~1200 cm⁻¹, Lorentzian), as in the four-band fits of Sadezky et al. (Carbon 43, 2005)
used for hard carbons. Reported:

* ``id_ig_intensity``: ratio of the fitted D and G peak heights;
* ``id_ig_area``: ratio of their integrated areas;
* ``id_ig``: the one the ``raman_ratio`` setting chooses (``intensity`` by default), which
  fills the campaign's ``raman_id_ig``.

Uncertainties come from the fit's covariance matrix, correlations included (lmfit's
``uvars``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from lmfit import Model, Parameters
from lmfit.models import GaussianModel, LorentzianModel, PseudoVoigtModel, VoigtModel

from campaigns.instruments.fit import (
    Characterization,
    fit_parameters,
    fit_statistics,
    nominal,
    robust_noise,
    smooth,
    std_of,
)
from campaigns.instruments.readers import Spectrum, file_error
from campaigns.instruments.settings import CharacterizeSettings

logger = logging.getLogger(__name__)

#: Band → (initial center, center bounds, initial FWHM, FWHM bounds) [cm⁻¹].
BANDS: dict[str, tuple[float, tuple[float, float], float, tuple[float, float]]] = {
    "D": (1350.0, (1300.0, 1400.0), 150.0, (20.0, 450.0)),
    "G": (1590.0, (1540.0, 1625.0), 80.0, (15.0, 250.0)),
    "D3": (1510.0, (1460.0, 1550.0), 150.0, (40.0, 300.0)),
    "D4": (1200.0, (1120.0, 1260.0), 150.0, (40.0, 350.0)),
}
MAX_FIT_POINTS = 1500
_HINT = ("Check that this is a Raman spectrum of a carbon with the shift in cm⁻¹ (D band near "
         "1350, G near 1590).")


def _line(x: np.ndarray, c0: float = 0.0, c1: float = 0.0, x0: float = 0.0) -> np.ndarray:
    return c0 + c1 * (x - x0)


def _shape(band: str, shape: str) -> Any:
    if band == "D3":
        return GaussianModel(prefix="D3_")
    if band == "D4":
        return LorentzianModel(prefix="D4_")
    cls = {"lorentzian": LorentzianModel, "pseudo-voigt": PseudoVoigtModel,
           "voigt": VoigtModel}[shape]
    return cls(prefix=f"{band}_")


def fit_raman(spectrum: Spectrum, settings: CharacterizeSettings) -> Characterization:
    """Fit the D and G bands (and D3, D4 if asked) and derive ID/IG with uncertainties.

    Raises:
        InstrumentFileError: The spectrum does not cover the D and G bands, no band stands above
            the background, or the fit fails.
    """
    name = spectrum.name
    lo, hi = settings.raman_range_cm
    x_all, y_all = spectrum.x, spectrum.y
    if x_all.min() > 1250 or x_all.max() < 1680:
        raise file_error(name, f"the spectrum covers {x_all.min():.0f}–{x_all.max():.0f} "
                         "cm⁻¹, but the D and G bands need at least 1250–1680 cm⁻¹.",
                         "Measure (or export) at least 1000–1800 cm⁻¹. " + _HINT,
                         value=f"{x_all.min():g}–{x_all.max():g}")
    keep = (x_all >= lo) & (x_all <= hi)
    x, y = x_all[keep], y_all[keep]
    if x.size > MAX_FIT_POINTS:
        k = math.ceil(x.size / MAX_FIT_POINTS)
        n = (x.size // k) * k
        x, y = x[:n].reshape(-1, k).mean(axis=1), y[:n].reshape(-1, k).mean(axis=1)
    warnings = list(spectrum.notes)
    if x.min() > lo + 50 or x.max() < hi - 50:
        warnings.append(f"the spectrum covers {x.min():.0f}–{x.max():.0f} cm⁻¹ of the fitted "
                        f"window {lo:g}–{hi:g}: the background is less certain.")
    bands = ["D", "G"] + (["D3", "D4"] if settings.raman_bands == "DG+D3D4" else [])

    n_end = max(3, x.size // 20)
    xa, ya = float(np.mean(x[:n_end])), float(np.percentile(y[:n_end], 20))
    xb, yb = float(np.mean(x[-n_end:])), float(np.percentile(y[-n_end:], 20))
    slope = (yb - ya) / (xb - xa) if xb > xa else 0.0
    x0 = float(0.5 * (x.min() + x.max()))
    rest = smooth(y - (ya + slope * (x - xa)), max(3, x.size // 150))
    noise = max(robust_noise(y), 1e-12 * max(1.0, float(np.abs(y).max())))

    model = Model(_line, prefix="bg_", independent_vars=["x"])
    params = Parameters()
    params.add("bg_x0", value=x0, vary=False)
    params.add("bg_c0", value=ya + slope * (x0 - xa))
    params.add("bg_c1", value=slope)
    heights = {}
    for band in bands:
        c0, (cmin, cmax), w0, (wmin, wmax) = BANDS[band]
        inside = (x >= cmin) & (x <= cmax)
        if inside.any() and band in ("D", "G"):
            idx = np.flatnonzero(inside)
            i = int(idx[np.argmax(rest[idx])])
            c0, h = float(x[i]), float(rest[i])
        else:
            h = float(np.interp(c0, x, rest))
        heights[band] = h
        if band == "D3":
            h = 0.2 * max(heights.get("G", h), noise)
        elif band == "D4":
            h = 0.2 * max(heights.get("D", h), noise)
        sub = _shape(band, settings.raman_shape)
        model = model + sub
        p = f"{band}_"
        sigma_per_fwhm = 1 / (2 * math.sqrt(2 * math.log(2))) if band == "D3" else 0.5
        if band in ("D", "G") and settings.raman_shape == "voigt":
            sigma_per_fwhm = 1 / 3.6  # with gamma = sigma, a Voigt's FWHM is 3.6 σ
        sigma = w0 * sigma_per_fwhm
        params.update(sub.make_params())
        params[p + "center"].set(value=c0, min=cmin, max=cmax)
        params[p + "sigma"].set(value=sigma, min=wmin * sigma_per_fwhm,
                                max=wmax * sigma_per_fwhm)
        # height ≈ amplitude / (π σ) (Lorentzian) or amplitude / (2.5 σ) (Gaussian)
        params[p + "amplitude"].set(value=max(h, noise) * sigma * 2.8, min=0.0)
        if band in ("D", "G") and settings.raman_shape == "voigt":
            params[p + "gamma"].set(value=sigma, min=1e-3, vary=True, expr="")
    if max(heights["D"], heights["G"]) <= 3 * noise:
        raise file_error(name, "neither a D nor a G band stands above the background.", _HINT)
    try:
        result = model.fit(y, params, x=x, max_nfev=6000)
    except Exception as exc:  # lmfit/scipy failures on pathological data
        raise file_error(name, f"the fit failed ({type(exc).__name__}: {str(exc)[:100]}).",
                         _HINT) from None
    if not result.success and result.nfev >= 6000:
        warnings.append("the fit stopped at its evaluation limit; check the plot.")
    u = result.uvars if result.errorbars and result.uvars else None
    if u is None:
        warnings.append("the fit's covariance could not be estimated: no uncertainties.")
    p = result.params

    def val(key: str) -> Any:
        return u[key] if u is not None and key in u else float(p[key].value)

    values: dict[str, float] = {}
    stds: dict[str, float] = {}

    def put(key: str, q: Any) -> None:
        values[key] = nominal(q)
        stds[key] = std_of(q)

    g_height = val("G_height")
    if nominal(g_height) <= 0 or nominal(val("G_amplitude")) <= 0:
        raise file_error(name, "the fitted G band has no intensity: ID/IG is undefined.", _HINT)
    put("id_ig_intensity", val("D_height") / g_height)
    put("id_ig_area", val("D_amplitude") / val("G_amplitude"))
    chosen = "id_ig_intensity" if settings.raman_ratio == "intensity" else "id_ig_area"
    values["id_ig"], stds["id_ig"] = values[chosen], stds[chosen]
    for band in bands:
        put(f"{band.lower()}_center_cm", val(f"{band}_center"))
        put(f"{band.lower()}_fwhm_cm", val(f"{band}_fwhm"))
    for band in bands:
        center = float(p[f"{band}_center"].value)
        c_lo, c_hi = BANDS[band][1]
        if min(center - c_lo, c_hi - center) < 0.5:
            warnings.append(f"the {band} band's position ran into its limit ({c_lo:g}–{c_hi:g} "
                            "cm⁻¹): check the plot.")
    comps = result.eval_components(x=x)
    used = settings.as_dict() | {"window_cm": [float(x.min()), float(x.max())]}
    if spectrum.laser_nm is not None:
        used["laser_nm"] = spectrum.laser_nm
    method = (f"lmfit: linear background + {settings.raman_shape} D and G"
              + (" + Gaussian D3 + Lorentzian D4" if len(bands) > 2 else "")
              + f" over {x.min():.0f}–{x.max():.0f} cm⁻¹; ID/IG = ratio of "
              + ("fitted peak heights" if settings.raman_ratio == "intensity" else "band areas"))
    logger.debug("%s: ID/IG %.3f (%d evals)", name, values["id_ig"], result.nfev)
    return Characterization(
        name=name, kind="raman", sha256=spectrum.sha256, format=spectrum.format, values=values,
        stds=stds, settings=used, method=method, parameters=fit_parameters(result),
        statistics=fit_statistics(result, y),
        curves={"x": x, "data": y, "background": np.asarray(comps["bg_"], float),
                "fit": result.best_fit, "residual": y - result.best_fit,
                "components": {b: np.asarray(comps[f"{b}_"], float) for b in bands}},
        x_label="Raman shift [cm⁻¹]", warnings=tuple(warnings))


__all__ = ["BANDS", "fit_raman"]
