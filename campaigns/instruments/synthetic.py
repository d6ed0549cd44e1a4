"""SYNTHETIC instrument files with known answers: for tests, benchmarks, demos and docs.

Nothing here was measured. An XRD pattern is drawn from pseudo-Voigt (002) and (10) bands
placed by Bragg's law and broadened by the Scherrer equation for the d002, Lc and La asked for,
on a sloping background; a Raman spectrum from Lorentzian D and G bands (and optional Gaussian
D3, Lorentzian D4) whose height ratio is the ID/IG asked for. Gaussian noise is relative to the
tallest band. Writers for the vendor formats (XRDML, Renishaw WDF) wrap the same curves, so the
readers can be tested without vendor software.

Example:
    >>> text = xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=4.0).decode()
    >>> text.splitlines()[0]
    '# SYNTHETIC XRD pattern: d002 0.37 nm, Lc 1.5 nm, La 4 nm, wavelength 0.15406 nm'
"""

from __future__ import annotations

import math
import struct

import numpy as np


def _pvoigt(x: np.ndarray, center: float, fwhm: float, height: float,
            fraction: float) -> np.ndarray:
    s = fwhm / 2.0
    lor = 1.0 / (1.0 + ((x - center) / s) ** 2)
    gau = np.exp(-math.log(2.0) * ((x - center) / s) ** 2)
    return height * (fraction * lor + (1.0 - fraction) * gau)


def xrd_curve(*, d002_nm: float, lc_nm: float, la_nm: float, wavelength_nm: float = 0.15406,
              k_lc: float = 0.89, k_la: float = 1.84, start: float = 10.0, stop: float = 80.0,
              step: float = 0.02, fraction: float = 0.5, noise: float = 0.01,
              height_002: float = 1000.0, height_10: float = 300.0,
              background: tuple[float, float] = (250.0, -2.0),
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2θ [°] and intensity of a synthetic carbon pattern with the given d002, Lc and La."""
    x = np.arange(start, stop + step / 2, step)
    c002 = 2.0 * math.degrees(math.asin(wavelength_nm / (2.0 * d002_nm)))
    d10 = 0.2105  # graphene's (10) spacing [nm]
    c10 = 2.0 * math.degrees(math.asin(wavelength_nm / (2.0 * d10)))
    f002 = math.degrees(k_lc * wavelength_nm / (lc_nm * math.cos(math.radians(c002 / 2))))
    f10 = math.degrees(k_la * wavelength_nm / (la_nm * math.cos(math.radians(c10 / 2))))
    y = (background[0] + background[1] * (x - start)
         + _pvoigt(x, c002, f002, height_002, fraction) + _pvoigt(x, c10, f10, height_10, fraction))
    rng = np.random.default_rng(seed)
    y = y + rng.normal(0.0, noise * height_002, x.size)
    return x, y


def raman_curve(*, id_ig: float, start: float = 500.0, stop: float = 3200.0, step: float = 1.0,
                d_fwhm: float = 180.0, g_fwhm: float = 90.0, d_center: float = 1350.0,
                g_center: float = 1595.0, four_band: bool = False, noise: float = 0.01,
                height_g: float = 1000.0, background: tuple[float, float] = (100.0, 0.05),
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raman shift [cm⁻¹] and intensity of a synthetic carbon spectrum whose D/G height ratio
    is ``id_ig``."""
    x = np.arange(start, stop + step / 2, step)
    y = (background[0] + background[1] * (x - start)
         + _pvoigt(x, d_center, d_fwhm, id_ig * height_g, 1.0)
         + _pvoigt(x, g_center, g_fwhm, height_g, 1.0))
    if four_band:
        y = y + _pvoigt(x, 1510.0, 160.0, 0.25 * height_g, 0.0)
        y = y + _pvoigt(x, 1200.0, 180.0, 0.15 * height_g, 1.0)
    rng = np.random.default_rng(seed)
    return x, y + rng.normal(0.0, noise * height_g, x.size)


def two_columns(x: np.ndarray, y: np.ndarray, *, header: str = "", sep: str = " ") -> bytes:
    """The curve as a two-column text file."""
    lines = [header] if header else []
    lines += [f"{a:.4f}{sep}{b:.3f}" for a, b in zip(x, y, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def xrd_pattern(*, d002_nm: float, lc_nm: float, la_nm: float, wavelength_nm: float = 0.15406,
                **kwargs: float) -> bytes:
    """A synthetic pattern as a ``.xy`` file (arguments as :func:`xrd_curve`)."""
    x, y = xrd_curve(d002_nm=d002_nm, lc_nm=lc_nm, la_nm=la_nm, wavelength_nm=wavelength_nm,
                     **kwargs)  # type: ignore[arg-type]
    header = (f"# SYNTHETIC XRD pattern: d002 {d002_nm:g} nm, Lc {lc_nm:g} nm, La {la_nm:g} nm, "
              f"wavelength {wavelength_nm:g} nm")
    return two_columns(x, y, header=header)


def raman_spectrum(*, id_ig: float, **kwargs: float) -> bytes:
    """A synthetic spectrum as a ``.txt`` file (arguments as :func:`raman_curve`)."""
    x, y = raman_curve(id_ig=id_ig, **kwargs)  # type: ignore[arg-type]
    return two_columns(x, y, header=f"#Wave\t#Intensity (SYNTHETIC, ID/IG {id_ig:g})", sep="\t")


def xrdml(x: np.ndarray, y: np.ndarray, *, wavelength_nm: float = 0.15406) -> bytes:
    """A PANalytical XRDML 1.5 document holding one 2θ-ω scan of evenly spaced points."""
    counts = " ".join(f"{max(v, 0.0):.0f}" for v in y)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5" status="Completed">
  <sample type="To be analyzed"><id>SYNTHETIC</id></sample>
  <xrdMeasurement measurementType="Scan" status="Completed" sampleMode="Reflection">
    <usedWavelength intended="K-Alpha 1">
      <kAlpha1 unit="Angstrom">{wavelength_nm * 10:.5f}</kAlpha1>
      <kAlpha2 unit="Angstrom">{wavelength_nm * 10 * 1.00248:.5f}</kAlpha2>
      <ratioKAlpha2KAlpha1 unit="None">0.5</ratioKAlpha2KAlpha1>
    </usedWavelength>
    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">
      <header><startTimeStamp>2025-03-14T10:00:00+01:00</startTimeStamp></header>
      <dataPoints>
        <positions axis="2Theta" unit="deg">
          <startPosition>{x[0]:.4f}</startPosition><endPosition>{x[-1]:.4f}</endPosition>
        </positions>
        <positions axis="Omega" unit="deg">
          <startPosition>{x[0] / 2:.4f}</startPosition><endPosition>{x[-1] / 2:.4f}</endPosition>
        </positions>
        <commonCountingTime unit="seconds">1.0</commonCountingTime>
        <intensities unit="counts">{counts}</intensities>
      </dataPoints>
    </scan>
  </xrdMeasurement>
</xrdMeasurements>
""".encode()


def wdf(x: np.ndarray, y: np.ndarray, *, laser_nm: float = 532.0) -> bytes:
    """A minimal Renishaw WDF file (header, DATA and XLST blocks) holding one spectrum."""
    n = len(x)
    header = struct.pack(
        "<IIQQ16s12x IIIQQI III24s4H IIQQI f48x32s160s 48x32x32x",
        0x31464457, 1, 512, 0, b"\0" * 16,
        1, 0, n, 1, 1, 1,
        1, n, 0, b"SYNTHETIC", 5, 0, 0, 0,
        0, 1, 0, 0, 0,
        1e7 / laser_nm, b"planner", b"SYNTHETIC Raman spectrum")
    data = struct.pack("<IIQ", 0x41544144, 0, 16 + 4 * n) + struct.pack(f"<{n}f", *y)
    xlist = (struct.pack("<IIQ", 0x54534C58, 0, 16 + 8 + 4 * n) + struct.pack("<II", 1, 1)
             + struct.pack(f"<{n}f", *x))
    return header + data + xlist


__all__ = ["raman_curve", "raman_spectrum", "two_columns", "wdf", "xrd_curve", "xrd_pattern",
           "xrdml"]
