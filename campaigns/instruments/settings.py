"""The settings of a fit: wavelength, Scherrer constants, instrument broadening, Raman bands.

Every setting is stored with each value it produced (:meth:`CharacterizeSettings.as_dict`), so a
number can be derived again the same way.

Example:
    >>> s = CharacterizeSettings(wavelength_nm=0.15406, k_lc=0.9)
    >>> s.k_la, s.raman_bands
    (1.84, 'DG')
    >>> CharacterizeSettings(k_lc=1.2)
    Traceback (most recent call last):
    ...
    campaigns.instruments.settings.SettingsError: k_lc = 1.2 is outside 0.89–0.94.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from campaigns.errors import CampaignError

CU_K_ALPHA_NM = 0.15406
"""Cu Kα1 wavelength [nm], the default X-ray wavelength."""
RAMAN_BANDS = ("DG", "DG+D3D4")
"""Raman band sets: D and G only, or with the D3 (~1500 cm⁻¹) and D4 (~1200 cm⁻¹) bands of
disordered carbons."""
RAMAN_SHAPES = ("lorentzian", "pseudo-voigt", "voigt")
"""Line shapes of the D and G bands (D3 is always Gaussian, D4 Lorentzian)."""
RAMAN_RATIOS = ("intensity", "area")
"""What ``id_ig`` (and the campaign's ``raman_id_ig``) means: the ratio of fitted peak heights
or of areas."""
XRD_BACKGROUNDS = ("auto", "linear", "quadratic", "exponential")
"""Background under the XRD bands, fitted with them: a line, a quadratic, a line plus a
low-angle exponential (the small-angle scattering of micropores that rises below ~15 °2θ in
many hard carbons), or ``auto``: linear and exponential both fitted, the one with the lower
Bayesian information criterion kept."""


class SettingsError(CampaignError):
    """A fit setting is out of range."""


@dataclass(frozen=True)
class CharacterizeSettings:
    """How patterns and spectra are fitted. Defaults follow the hard-carbon literature."""

    wavelength_nm: float | None = None
    """X-ray wavelength [nm]; ``None``: the file's (XRDML), else Cu Kα1 (0.15406 nm)."""
    k_lc: float = 0.89
    """Scherrer constant for Lc from the (002) band, 0.89–0.94."""
    k_la: float = 1.84
    """Scherrer constant for La from the (10) band (Warren's 1.84 for 2-D lattices)."""
    instrument_fwhm_deg: float = 0.0
    """Instrumental broadening (FWHM in °2θ of a line standard such as LaB6 or Si), removed in
    quadrature from each band's FWHM before the Scherrer equation."""
    xrd_background: str = "auto"
    """Background fitted under the XRD bands: ``auto`` (linear or linear + low-angle
    exponential, whichever the data support), ``linear``, ``quadratic`` or ``exponential``."""
    raman_bands: str = "DG"
    """``DG`` or ``DG+D3D4``."""
    raman_shape: str = "pseudo-voigt"
    """Line shape of D and G: ``pseudo-voigt`` (its Lorentzian fraction fitted, so Lorentzian
    and Gaussian bands both fit without bias), ``lorentzian`` or ``voigt``."""
    raman_ratio: str = "intensity"
    """``intensity`` (ratio of fitted heights) or ``area``: what ``id_ig`` reports."""
    raman_range_cm: tuple[float, float] = (800.0, 2000.0)
    """Raman shift window fitted [cm⁻¹] (first-order region)."""

    def __post_init__(self) -> None:
        def bad(name: str, value: object, want: str, hint: str) -> SettingsError:
            return SettingsError(f"{name} = {value!r} is outside {want}.", hint=hint)

        wl = self.wavelength_nm
        if wl is not None and not (math.isfinite(wl) and 0.01 <= wl <= 0.3):
            raise bad("wavelength_nm", wl, "0.01–0.3 nm",
                      "Give the wavelength in nm: Cu Kα 0.15406, Co Kα 0.17890, Mo Kα 0.07093.")
        if not 0.89 <= self.k_lc <= 0.94:
            raise SettingsError(f"k_lc = {self.k_lc:g} is outside 0.89–0.94.",
                                hint="The Scherrer constant for Lc is 0.89 (or 0.9, 0.94).")
        if not 1.0 <= self.k_la <= 2.0:
            raise bad("k_la", self.k_la, "1–2", "Warren's constant for La is 1.84.")
        if not (math.isfinite(self.instrument_fwhm_deg) and 0 <= self.instrument_fwhm_deg < 2):
            raise bad("instrument_fwhm_deg", self.instrument_fwhm_deg, "0–2 °2θ",
                      "Measure a line standard (LaB6, Si) and give its FWHM in °2θ, or 0.")
        for name, value, allowed in (("xrd_background", self.xrd_background, XRD_BACKGROUNDS),
                                     ("raman_bands", self.raman_bands, RAMAN_BANDS),
                                     ("raman_shape", self.raman_shape, RAMAN_SHAPES),
                                     ("raman_ratio", self.raman_ratio, RAMAN_RATIOS)):
            if value not in allowed:
                raise SettingsError(f"{name} = {value!r} is not one of {', '.join(allowed)}.",
                                    hint=f"Choose one of {', '.join(allowed)}.")
        lo, hi = self.raman_range_cm
        if not (500 <= lo < hi <= 3500 and hi - lo >= 300):
            raise bad("raman_range_cm", (lo, hi), "500–3500 cm⁻¹ (at least 300 wide)",
                      "The D and G bands lie at 1350 and 1590 cm⁻¹; fit 800–2000.")

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-safe values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CharacterizeSettings:
        """Settings from :meth:`as_dict` output (unknown keys refused, with a hint)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown fit setting(s): {', '.join(unknown)}.",
                                hint=f"Settings: {', '.join(sorted(known))}.")
        clean = dict(values)
        if "raman_range_cm" in clean:
            lo, hi = clean["raman_range_cm"]
            clean["raman_range_cm"] = (float(lo), float(hi))
        return cls(**clean)


__all__ = ["CU_K_ALPHA_NM", "CharacterizeSettings", "RAMAN_BANDS", "RAMAN_RATIOS",
           "RAMAN_SHAPES", "SettingsError", "XRD_BACKGROUNDS"]
