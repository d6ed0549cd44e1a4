"""XRD pattern → d002, Lc and La of a (hard) carbon.

The (002) and (10) bands and a background are fitted together with lmfit: each band a
pseudo-Voigt (its Lorentzian fraction free, so Gaussian and Lorentzian bands both fit), the
background a straight line, or a line plus a low-angle exponential where the data need one
(small-angle scattering; chosen by BIC, or fixed by a setting), over the window from d = 0.70 nm to
d = 0.165 nm (Cu Kα: 12.6–55.7 °2θ), which holds the (002) band, the (10) band and clean
background on both sides. Then:

* **d002** by Bragg's law at the fitted (002) position: ``d002 = λ / (2 sin θ)``;
* **Lc** by the Scherrer equation on the (002) FWHM: ``Lc = K λ / (β cos θ)``, ``K = 0.89``
  (a setting, 0.89–0.94), β in radians after removing the instrumental FWHM in quadrature;
* **La** the same way on the (10) band with Warren's ``K = 1.84``.

Uncertainties are propagated from the fit's covariance matrix, correlations included
(lmfit's ``uvars``, through the ``uncertainties`` package). They are the statistical
uncertainty of the fit only: the choice of background and peak shape, Kα2 and the Lorentz–
polarization factor (which moves the apparent position of a band this broad) add systematic
errors that are the same for every file fitted the same way.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from lmfit import Model, Parameters
from lmfit.lineshapes import pvoigt

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
from campaigns.instruments.settings import CU_K_ALPHA_NM, CharacterizeSettings

logger = logging.getLogger(__name__)

#: d-spacings [nm] bounding the fitted window, and where each band's position may lie.
WINDOW_D_NM = (0.70, 0.165)
BAND_002_D_NM = (0.50, 0.333)
BAND_10_D_NM = (0.228, 0.192)
#: Most points fitted; longer scans are averaged in bins (the fit takes milliseconds).
MAX_FIT_POINTS = 1200
_HINT = ("Check that this is an XRD pattern of a carbon, that 2θ is in degrees, and the "
         "wavelength setting (--wavelength-nm; Cu Kα is 0.15406 nm).")


def two_theta_deg(d_nm: float, wavelength_nm: float) -> float:
    """Bragg angle 2θ [°] of spacing ``d_nm`` (NaN when the wavelength cannot reach it).

    >>> round(two_theta_deg(0.3354, 0.15406), 2)
    26.55
    """
    s = wavelength_nm / (2.0 * d_nm)
    return math.degrees(2.0 * math.asin(s)) if 0 < s < 1 else math.nan


def _background(x: np.ndarray, c0: float = 0.0, c1: float = 0.0, c2: float = 0.0,
                x0: float = 0.0, a: float = 0.0, tau: float = 1.0,
                xlo: float = 0.0) -> np.ndarray:
    t = x - x0
    return c0 + c1 * t + c2 * t * t + a * np.exp(-(x - xlo) / tau)


def _guess_background(x: np.ndarray, y: np.ndarray, kind: str) -> tuple[float, float, float,
                                                                          float, float]:
    """Starting (c0, c1, x0, a, tau) of the background: a line through the low ends of the
    window (``linear``, ``quadratic``), or a flat line at the high end plus a low-angle
    exponential that starts at the window's first points (``exponential``)."""
    n_end = max(3, x.size // 20)
    xa, ya = float(np.mean(x[:n_end])), float(np.percentile(y[:n_end], 20))
    xb, yb = float(np.mean(x[-n_end:])), float(np.percentile(y[-n_end:], 20))
    x0 = float(0.5 * (x.min() + x.max()))
    if kind == "exponential":
        return yb, 0.0, x0, max(ya - yb, 0.0), 3.0
    slope = (yb - ya) / (xb - xa) if xb > xa else 0.0
    return ya + slope * (x0 - xa), slope, x0, 0.0, 3.0


def _fit_bands(x: np.ndarray, y: np.ndarray, kind: str, b002: tuple[float, float],
               b10: tuple[float, float] | None, noise: float, *, strict: bool = False) -> Any:
    """One lmfit fit of background ``kind`` + (002) [+ (10)]; a message when none is found.

    ``strict`` (``auto`` trying the exponential): fewer evaluations, and a message instead of
    a fit that ran out of them."""
    c0, c1, x0, a, tau = _guess_background(x, y, kind)
    xlo = float(x.min())
    base = c0 + c1 * (x - x0) + a * np.exp(-(x - xlo) / tau)
    rest = smooth(y - base, max(3, x.size // 100))
    c002, h002, w002 = _peak_guess(x, rest, *b002, default_fwhm=6.0)
    if h002 <= 3 * noise:
        return (f"no (002) band stands above the background between {b002[0]:.1f} and "
                f"{b002[1]:.1f} °2θ.")
    model = Model(_background, prefix="bg_", independent_vars=["x"]) + Model(
        _band, prefix="p002_", independent_vars=["x"])
    params = Parameters()
    params.add("bg_x0", value=x0, vary=False)
    params.add("bg_xlo", value=xlo, vary=False)
    params.add("bg_c0", value=c0)
    params.add("bg_c1", value=c1)
    params.add("bg_c2", value=0.0, vary=kind == "quadratic")
    params.add("bg_a", value=a, min=0.0, vary=kind == "exponential")
    params.add("bg_tau", value=tau, min=1.5, max=15.0, vary=kind == "exponential")
    amp_per_height = 1.0 / 0.394  # pseudo-Voigt of fraction 0.5: height = 0.394 amplitude / σ
    params.add("p002_center", value=c002, min=b002[0], max=b002[1])
    params.add("p002_sigma", value=w002 / 2, min=0.05, max=12.0)
    params.add("p002_fraction", value=0.5, min=0.0, max=1.0)
    params.add("p002_amplitude", value=h002 * (w002 / 2) * amp_per_height, min=0.0)
    if b10 is not None:
        c10, h10, w10 = _peak_guess(x, rest, *b10, default_fwhm=5.0)
        model = model + Model(_band, prefix="p10_", independent_vars=["x"])
        params.add("p10_center", value=c10, min=b10[0], max=b10[1])
        params.add("p10_sigma", value=w10 / 2, min=0.1, max=10.0)
        params.add("p10_fraction", value=0.5, min=0.0, max=1.0)
        params.add("p10_amplitude", value=max(h10, noise) * (w10 / 2) * amp_per_height,
                   min=0.0)
    # an exponential that the data do not need wanders (its decay length is then undefined):
    # it gets fewer evaluations, and "auto" keeps the line when it runs out of them
    limit = 800 if strict else 4000
    try:
        result = model.fit(y, params, x=x, max_nfev=limit)
    except Exception as exc:  # lmfit/scipy failures on pathological data
        return f"the fit failed ({type(exc).__name__}: {str(exc)[:100]})."
    if strict and not result.success and result.nfev >= limit:
        return "the low-angle exponential background did not converge."
    return result


def _band(x: np.ndarray, amplitude: float = 1.0, center: float = 0.0, sigma: float = 1.0,
          fraction: float = 0.5) -> np.ndarray:
    return pvoigt(x, amplitude, center, sigma, fraction)


def _binned(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size <= MAX_FIT_POINTS:
        return x, y
    k = math.ceil(x.size / MAX_FIT_POINTS)
    n = (x.size // k) * k
    return x[:n].reshape(-1, k).mean(axis=1), y[:n].reshape(-1, k).mean(axis=1)


def _peak_guess(x: np.ndarray, r: np.ndarray, lo: float, hi: float,
                default_fwhm: float) -> tuple[float, float, float]:
    """(center, height, FWHM) of the highest point of ``r`` between ``lo`` and ``hi``."""
    inside = (x >= lo) & (x <= hi)
    if not inside.any():
        return 0.5 * (lo + hi), 0.0, default_fwhm
    idx = np.flatnonzero(inside)
    i = int(idx[np.argmax(r[idx])])
    height = float(r[i])
    if height <= 0:
        return float(x[i]), 0.0, default_fwhm
    half = height / 2
    left = np.flatnonzero(r[:i] < half)
    right = np.flatnonzero(r[i:] < half)
    if left.size and right.size:
        fwhm = float(x[i + right[0]] - x[left[-1]])
    elif left.size:
        fwhm = 2 * float(x[i] - x[left[-1]])
    elif right.size:
        fwhm = 2 * float(x[i + right[0]] - x[i])
    else:
        fwhm = default_fwhm
    return float(x[i]), height, float(np.clip(fwhm, 0.3, 20.0))


def fit_xrd(spectrum: Spectrum, settings: CharacterizeSettings) -> Characterization:
    """Fit an XRD pattern of a carbon and derive d002, Lc and La with uncertainties.

    Args:
        spectrum: 2θ [°] and intensity.
        settings: Wavelength, Scherrer constants, instrument broadening, background.

    Returns:
        The characterization; ``la_nm`` is NaN, with a warning, when the scan stops before the
        (10) band or the band is not above the noise.

    Raises:
        InstrumentFileError: The scan does not cover the (002) band, no (002) band stands above
            the background, or the fit fails.
    """
    name = spectrum.name
    if settings.wavelength_nm is not None:
        wl, wl_source = settings.wavelength_nm, "setting"
    elif spectrum.wavelength_nm is not None:
        wl, wl_source = spectrum.wavelength_nm, f"file ({spectrum.format})"
    else:
        wl, wl_source = CU_K_ALPHA_NM, "default (Cu Kα1)"
    lo = two_theta_deg(WINDOW_D_NM[0], wl)
    hi = two_theta_deg(WINDOW_D_NM[1], wl)
    b002 = (two_theta_deg(BAND_002_D_NM[0], wl), two_theta_deg(BAND_002_D_NM[1], wl))
    b10 = (two_theta_deg(BAND_10_D_NM[0], wl), two_theta_deg(BAND_10_D_NM[1], wl))
    x_all, y_all = spectrum.x, spectrum.y
    if x_all.max() > 180 or x_all.min() < 0:
        raise file_error(name, f"2θ runs from {x_all.min():g} to {x_all.max():g}, outside "
                         "0–180°.", "Is this a Raman spectrum? Give --kind raman. " + _HINT)
    need_lo = two_theta_deg(0.45, wl)
    need_hi = two_theta_deg(0.30, wl)
    if x_all.min() > need_lo or x_all.max() < need_hi:
        raise file_error(
            name, f"the scan covers {x_all.min():.1f}–{x_all.max():.1f} °2θ, but the (002) "
            f"band of a carbon needs {need_lo:.1f}–{need_hi:.1f} °2θ at λ = {wl:g} nm.",
            "Measure (or export) the whole range, e.g. 10–60 °2θ for Cu Kα. " + _HINT,
            value=f"{x_all.min():g}–{x_all.max():g}")
    keep = (x_all >= lo) & (x_all <= hi)
    x, y = _binned(x_all[keep], y_all[keep])
    warnings = list(spectrum.notes)
    has_10 = x.max() >= b10[1] + 2.0
    if not has_10:
        warnings.append(f"the scan ends at {x_all.max():.1f} °2θ, before the (10) band "
                        f"({b10[0]:.0f}–{b10[1]:.0f} °2θ): La was not derived.")

    noise = max(robust_noise(y), 1e-12 * max(1.0, float(np.abs(y).max())))
    sharp, spans = _sharp_reflections(x, y, noise)
    if spans:
        warnings.append("sharp reflection(s) at " + ", ".join(f"{0.5 * (a + b):.2f}"
                                                                for a, b in spans)
                        + " °2θ (a crystalline impurity?) were left out of the fit.")
    x_fit, y_fit = x[~sharp], y[~sharp]
    kinds = ("linear", "exponential") if settings.xrd_background == "auto" else (
        settings.xrd_background,)
    fits = [(kind, _fit_bands(x_fit, y_fit, kind, b002, b10 if has_10 else None, noise,
                              strict=len(kinds) > 1 and kind == "exponential"))
            for kind in kinds]
    good = [(k, r) for k, r in fits if not isinstance(r, str)]
    if not good:
        raise file_error(name, str(fits[0][1]), _HINT)
    # the lowest Bayesian information criterion: the low-angle term only where the data ask
    background_used, result = min(good, key=lambda kr: kr[1].bic)
    if not result.success and result.nfev >= result.max_nfev:
        warnings.append("the fit stopped at its evaluation limit; check the plot.")
    u = result.uvars if result.errorbars and result.uvars else None
    if u is None:
        warnings.append("the fit's covariance could not be estimated: no uncertainties.")
    p = result.params

    def val(key: str) -> object:
        return u[key] if u is not None else float(p[key].value)

    values: dict[str, float] = {}
    stds: dict[str, float] = {}

    def put(key: str, q: object) -> None:
        values[key] = nominal(q)
        stds[key] = std_of(q)

    inst = math.radians(settings.instrument_fwhm_deg)

    def scherrer(center: object, sigma: object, k: float, band: str) -> object:
        from uncertainties import umath

        theta = center * (math.pi / 360.0)  # type: ignore[operator]
        beta_obs = 2.0 * sigma * (math.pi / 180.0)  # type: ignore[operator]
        if nominal(beta_obs) <= inst:
            warnings.append(f"the {band} band ({math.degrees(nominal(beta_obs)):.3g} °2θ wide) "
                            "is not wider than the instrument broadening setting: its size was "
                            "not derived.")
            return math.nan
        beta = (beta_obs**2 - inst**2) ** 0.5 if inst > 0 else beta_obs
        return k * wl / (beta * umath.cos(theta))  # type: ignore[operator]

    from uncertainties import umath

    c = val("p002_center")
    s = val("p002_sigma")
    put("d002_nm", wl / (2.0 * umath.sin(c * (math.pi / 360.0))))  # type: ignore[operator]
    put("lc_nm", scherrer(c, s, settings.k_lc, "(002)"))
    put("two_theta_002_deg", c)
    put("fwhm_002_deg", 2.0 * s)  # type: ignore[operator]
    values["la_nm"], stds["la_nm"] = math.nan, math.nan
    if has_10:
        a10 = p["p10_amplitude"]
        height10 = float(result.eval_components(x=x)["p10_"].max())
        significant = (a10.stderr is not None and a10.value > 3 * a10.stderr) or (
            a10.stderr is None and height10 > 3 * noise)
        if significant and height10 > 2 * noise:
            c10v, s10v = val("p10_center"), val("p10_sigma")
            put("la_nm", scherrer(c10v, s10v, settings.k_la, "(10)"))
            put("two_theta_10_deg", c10v)
            put("fwhm_10_deg", 2.0 * s10v)  # type: ignore[operator]
        else:
            warnings.append("the (10) band does not stand above the noise: La was not derived.")
    _edge_warnings(p, x, b002, warnings, has_10, b10)

    comps = result.eval_components(x=x)
    best = np.asarray(result.eval(x=x), float)
    background = np.asarray(comps["bg_"], float)
    components = {"(002)": np.asarray(comps["p002_"], float)}
    if has_10:
        components["(10)"] = np.asarray(comps["p10_"], float)
    used = settings.as_dict() | {"wavelength_nm": wl, "wavelength_source": wl_source,
                                 "background_used": background_used,
                                 "window_deg": [float(x.min()), float(x.max())],
                                 "left_out_deg": [[float(a), float(b)] for a, b in spans]}
    method = (f"lmfit: {background_used} background + pseudo-Voigt (002)"
              + (" and (10)" if has_10 else "") + f" bands; Bragg d002 = λ/(2 sin θ); Scherrer "
              f"L = Kλ/(β cos θ), K(Lc) = {settings.k_lc:g}, K(La) = {settings.k_la:g}; "
              f"λ = {wl:g} nm ({wl_source}); instrument FWHM {settings.instrument_fwhm_deg:g}°")
    logger.debug("%s: d002 %.4f nm, Lc %.3g nm, La %.3g nm (%d evals)", name,
                 values["d002_nm"], values["lc_nm"], values["la_nm"], result.nfev)
    return Characterization(
        name=name, kind="xrd", sha256=spectrum.sha256, format=spectrum.format, values=values,
        stds=stds, settings=used, method=method, parameters=fit_parameters(result),
        statistics=fit_statistics(result, y_fit),
        curves={"x": x, "data": y, "background": background, "fit": best,
                "residual": y - best, "components": components},
        x_label="2θ [°]", warnings=tuple(warnings))


def _sharp_reflections(x: np.ndarray, y: np.ndarray,
                       noise: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Points of sharp reflections (6 noise levels above a 1.2°-wide running median, less than
    0.45 °2θ wide at half of that excess, and a quarter of the height above the pattern within
    3° at least, which the rounded top of a band never is) to leave out, and their 2θ spans:
    a crystalline impurity (quartz, graphite, salts) on a carbon's broad bands would otherwise
    pull the band fit to itself."""
    from scipy.ndimage import median_filter

    mask = np.zeros(x.size, dtype=bool)
    step = float(np.median(np.diff(x)))
    width = max(5, int(round(1.2 / step)) | 1)
    if x.size < 3 * width:
        return mask, []
    excess = y - median_filter(y, size=width, mode="nearest")
    high = np.flatnonzero(excess > 6 * noise)
    spans: list[tuple[float, float]] = []
    for group in np.split(high, np.flatnonzero(np.diff(high) > 1) + 1):
        if group.size == 0:
            continue
        if group.size < 2 and excess[group[0]] < 10 * noise:
            continue  # one noisy point
        top = int(group[np.argmax(excess[group])])
        left, right = top, top
        while left > 0 and excess[left - 1] > excess[top] / 2:
            left -= 1
        while right < x.size - 1 and excess[right + 1] > excess[top] / 2:
            right += 1
        wide = float(x[right] - x[left])  # full width at half of the excess
        near = np.abs(x - x[top]) <= 3.0
        local = float(y[top] - y[near].min())  # the height above the pattern around it
        if wide > 0.45 or excess[top] < 0.25 * local:
            continue  # the rounded top of a band (a graphitic carbon's (002)), not a line
        center = float(x[top])
        half = max(0.6, 4 * max(wide, step))
        mask |= np.abs(x - center) <= half
        spans.append((center - half, center + half))
    if mask.mean() > 0.3:  # not a few impurity lines: leave the pattern as it is
        return np.zeros(x.size, dtype=bool), []
    return mask, spans


def _edge_warnings(p: Parameters, x: np.ndarray, b002: tuple[float, float],
                   warnings: list[str], has_10: bool, b10: tuple[float, float]) -> None:
    """Warn when a band sits on its position bound or its half maximum leaves the scan."""
    for prefix, band, bounds, on in (("p002_", "(002)", b002, True),
                                     ("p10_", "(10)", b10, has_10)):
        if not on:
            continue
        center = float(p[prefix + "center"].value)
        fwhm = 2.0 * float(p[prefix + "sigma"].value)
        if min(abs(center - bounds[0]), abs(center - bounds[1])) < 1e-3 * fwhm:
            warnings.append(f"the {band} band's position ran into its limit "
                            f"({bounds[0]:.1f}–{bounds[1]:.1f} °2θ): check the plot.")
        if center - fwhm / 2 < x.min() or center + fwhm / 2 > x.max():
            warnings.append(f"the {band} band's half maximum lies outside the scanned range: "
                            "its width is extrapolated.")


__all__ = ["BAND_002_D_NM", "BAND_10_D_NM", "WINDOW_D_NM", "fit_xrd", "two_theta_deg"]
