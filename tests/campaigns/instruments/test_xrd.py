"""XRD fits recover known d002, Lc and La from synthetic patterns (the known answers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from campaigns.instruments import CharacterizeSettings, InstrumentFileError, characterize
from campaigns.instruments.readers import Spectrum
from campaigns.instruments.synthetic import two_columns, xrd_curve, xrd_pattern
from campaigns.instruments.xrd import fit_xrd, two_theta_deg


def _check(c, d002: float, lc: float, la: float) -> None:  # noqa: ANN001
    assert abs(c.values["d002_nm"] - d002) < 0.001
    assert c.values["lc_nm"] == pytest.approx(lc, rel=0.05)
    assert c.values["la_nm"] == pytest.approx(la, rel=0.05)


@pytest.mark.parametrize(("d002", "lc", "la", "fraction", "noise"), [
    (0.36, 2.4, 7.5, 0.5, 0.01),
    (0.38, 1.2, 4.0, 0.0, 0.03),   # Gaussian bands, 3 % noise
    (0.40, 0.85, 2.5, 1.0, 0.02),  # Lorentzian bands, a very disordered carbon
    (0.37, 1.6, 5.0, 0.3, 0.05),   # 5 % noise
], ids=["graphitic", "gaussian", "lorentzian", "noisy"])
def test_known_structure_is_recovered(d002: float, lc: float, la: float, fraction: float,
                                      noise: float) -> None:
    c = characterize(xrd_pattern(d002_nm=d002, lc_nm=lc, la_nm=la, fraction=fraction,
                                 noise=noise, seed=3), name="A1.xy")
    assert c.kind == "xrd" and not c.warnings
    _check(c, d002, lc, la)
    for key in ("d002_nm", "lc_nm", "la_nm"):
        assert 0 < c.stds[key] < 0.05 * c.values[key]
    # the fit's uncertainty is honest: the truth lies within a few standard deviations
    assert abs(c.values["d002_nm"] - d002) < 5 * c.stds["d002_nm"] + 2e-4


def test_uncertainty_grows_with_noise() -> None:
    stds = [characterize(xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, noise=n, seed=1),
                         name="A1.xy").stds["lc_nm"] for n in (0.005, 0.05)]
    assert stds[1] > 4 * stds[0]


def test_other_wavelength_as_a_setting() -> None:
    data = xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, wavelength_nm=0.17890, start=12,
                       stop=90)
    c = characterize(data, name="co.xy", settings=CharacterizeSettings(wavelength_nm=0.17890))
    _check(c, 0.38, 1.2, 4.0)
    assert c.settings["wavelength_nm"] == 0.17890 and c.settings["wavelength_source"] == "setting"
    wrong = characterize(data, name="co.xy")  # read as Cu Kα: the spacing comes out wrong
    assert abs(wrong.values["d002_nm"] - 0.38) > 0.03


def test_instrument_broadening_is_removed_in_quadrature() -> None:
    data = xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0)
    plain = characterize(data, name="a.xy")
    inst = 1.0
    corrected = characterize(data, name="a.xy",
                             settings=CharacterizeSettings(instrument_fwhm_deg=inst))
    fwhm = plain.values["fwhm_002_deg"]
    theta = math.radians(plain.values["two_theta_002_deg"] / 2)
    expected = 0.89 * 0.15406 / (math.radians(math.sqrt(fwhm**2 - inst**2)) * math.cos(theta))
    assert corrected.values["lc_nm"] == pytest.approx(expected, rel=1e-6)
    assert corrected.values["lc_nm"] > plain.values["lc_nm"]


def test_scherrer_constant_is_a_setting() -> None:
    data = xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0, k_lc=0.94)
    c = characterize(data, name="a.xy", settings=CharacterizeSettings(k_lc=0.94))
    assert c.values["lc_nm"] == pytest.approx(1.5, rel=0.05)
    assert c.settings["k_lc"] == 0.94


def test_a_scan_that_stops_before_the_10_band_gives_d002_and_lc_only() -> None:
    c = characterize(xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, start=10, stop=36),
                     name="short.xy")
    assert abs(c.values["d002_nm"] - 0.38) < 0.001
    assert c.values["lc_nm"] == pytest.approx(1.2, rel=0.05)
    assert math.isnan(c.values["la_nm"])
    assert any("La was not derived" in w for w in c.warnings)
    assert set(c.descriptors()) == {"d002_nm", "lc_nm"}


def test_a_scan_that_misses_the_002_band_is_refused() -> None:
    with pytest.raises(InstrumentFileError, match=r"covers 30\.0–80\.0 °2θ") as err:
        characterize(xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, start=30), name="cut.xy")
    assert "cut.xy" in str(err.value) and "10–60" in (err.value.hint or "")


def test_a_flat_pattern_has_no_002_band() -> None:
    x = np.arange(10, 80, 0.05)
    y = 100 + np.random.default_rng(0).normal(0, 1, x.size)
    with pytest.raises(InstrumentFileError, match="no \\(002\\) band"):
        characterize(two_columns(x, y), name="flat.xy", kind="xrd")


def test_the_fit_is_stored_json_safe_with_curves() -> None:
    import json

    c = characterize(xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0), name="A1.xy")
    doc = json.loads(json.dumps(c.to_json(), allow_nan=False))
    assert doc["sha256"] == c.sha256 and doc["settings"]["k_lc"] == 0.89
    curves = doc["curves"]
    assert set(curves["components"]) == {"(002)", "(10)"}
    n = len(curves["x"])
    assert all(len(curves[k]) == n for k in ("data", "background", "fit", "residual"))
    total = np.add(curves["background"], np.add(*curves["components"].values()))
    np.testing.assert_allclose(total, curves["fit"], rtol=1e-9, atol=1e-6)
    assert doc["parameters"]["p002_center"]["stderr"] > 0


def test_bragg_angle_helper() -> None:
    assert two_theta_deg(0.3354, 0.15406) == pytest.approx(26.55, abs=0.01)
    assert math.isnan(two_theta_deg(0.05, 0.15406))


def test_a_fit_takes_tens_of_milliseconds() -> None:
    import time

    x, y = xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0)
    s = Spectrum("A1.xy", x, y, "text", "0" * 64)
    t = time.process_time()
    for _ in range(5):
        fit_xrd(s, CharacterizeSettings())
    assert (time.process_time() - t) / 5 < 0.3  # 192 files of a plate in well under a minute


@pytest.mark.parametrize("rise", [0.0, 2000.0])
def test_a_low_angle_rise_is_fitted_where_the_data_need_it(rise: float) -> None:
    """Micropores scatter at small angles: a rise below ~15 °2θ under the (002) band."""
    x, y = xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, noise=0.02)
    data = two_columns(x, y + rise * np.exp(-(x - 10) / 4))
    auto = characterize(data, name="a.xy")
    assert auto.settings["background_used"] == ("exponential" if rise else "linear")
    _check(auto, 0.38, 1.2, 4.0)
    if rise:
        line = characterize(data, name="a.xy",
                            settings=CharacterizeSettings(xrd_background="linear"))
        assert line.values["lc_nm"] > 1.3 * 1.2  # a line under the rise: Lc far off


def test_a_sharp_impurity_reflection_is_left_out_and_named() -> None:
    """Quartz or graphite at 26.6 °2θ on the (002) band would pull the band fit to itself."""
    x, y = xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, noise=0.02)
    line = 3000 * np.exp(-0.5 * ((x - 26.6) / 0.08) ** 2)
    c = characterize(two_columns(x, y + line), name="A1.xy")
    _check(c, 0.38, 1.2, 4.0)
    (lo, hi), = c.settings["left_out_deg"]
    assert lo < 26.6 < hi and hi - lo < 2.5
    assert any(w.startswith("sharp reflection(s) at 26.6") for w in c.warnings)
    # the plot still shows the line: in the data and the residual, not in the fit
    i = int(np.argmin(np.abs(np.asarray(c.curves["x"]) - 26.6)))
    assert c.curves["residual"][i] > 1000


def test_a_graphitic_carbon_keeps_its_band_tops() -> None:
    c = characterize(xrd_pattern(d002_nm=0.345, lc_nm=4.0, la_nm=12.0, noise=0.01),
                     name="g.xy")
    assert c.settings["left_out_deg"] == [] and not c.warnings
    _check(c, 0.345, 4.0, 12.0)
