"""Raman fits recover known ID/IG (heights and areas) from synthetic spectra."""

from __future__ import annotations

import pytest

from campaigns.instruments import CharacterizeSettings, InstrumentFileError, characterize
from campaigns.instruments.synthetic import raman_spectrum, two_columns


@pytest.mark.parametrize("id_ig", [0.7, 1.0, 1.6, 2.8])
def test_two_band_ratio_is_recovered(id_ig: float) -> None:
    c = characterize(raman_spectrum(id_ig=id_ig, noise=0.02, seed=5), name="A1_raman.txt")
    assert c.kind == "raman" and not c.warnings
    assert c.values["id_ig"] == pytest.approx(id_ig, rel=0.03)
    assert c.values["id_ig"] == c.values["id_ig_intensity"]
    # Lorentzian area = π/2 · FWHM · height: the area ratio follows from the widths (180, 90)
    assert c.values["id_ig_area"] == pytest.approx(id_ig * 180 / 90, rel=0.03)
    assert 0 < c.stds["id_ig"] < 0.03 * id_ig
    assert c.values["d_center_cm"] == pytest.approx(1350, abs=2)
    assert c.values["g_center_cm"] == pytest.approx(1595, abs=2)


def test_area_ratio_as_the_stored_one() -> None:
    c = characterize(raman_spectrum(id_ig=1.2), name="a.txt",
                     settings=CharacterizeSettings(raman_ratio="area"))
    assert c.values["id_ig"] == c.values["id_ig_area"]
    assert c.descriptors()["raman_id_ig"][0] == pytest.approx(2.4, rel=0.03)


def test_four_band_fit_of_a_disordered_carbon() -> None:
    data = raman_spectrum(id_ig=1.3, four_band=True, noise=0.005, seed=2)
    four = characterize(data, name="a.txt", settings=CharacterizeSettings(raman_bands="DG+D3D4"))
    assert four.values["id_ig"] == pytest.approx(1.3, rel=0.03)
    assert set(four.curves["components"]) == {"D", "G", "D3", "D4"}
    assert four.values["d3_center_cm"] == pytest.approx(1510, abs=15)
    two = characterize(data, name="a.txt")  # D3 and D4 left out: the ratio is biased
    assert abs(two.values["id_ig"] - 1.3) > abs(four.values["id_ig"] - 1.3)


@pytest.mark.parametrize("shape", ["lorentzian", "voigt"])
def test_other_shapes_fit_lorentzian_bands(shape: str) -> None:
    c = characterize(raman_spectrum(id_ig=1.1, noise=0.01), name="a.txt",
                     settings=CharacterizeSettings(raman_shape=shape))
    assert c.values["id_ig"] == pytest.approx(1.1, rel=0.03)
    assert shape in c.method


def test_a_cut_spectrum_that_still_holds_d_and_g_fits_with_a_warning() -> None:
    c = characterize(raman_spectrum(id_ig=1.5, start=1000, stop=1800), name="short.txt")
    assert c.values["id_ig"] == pytest.approx(1.5, rel=0.03)
    assert any("background is less certain" in w for w in c.warnings)


def test_a_spectrum_without_the_d_band_is_refused() -> None:
    with pytest.raises(InstrumentFileError, match="1250–1680") as err:
        characterize(raman_spectrum(id_ig=1.0, start=1400, stop=2000), name="g-only.txt",
                     kind="raman")
    assert "g-only.txt" in str(err.value)


def test_a_flat_spectrum_has_no_bands() -> None:
    import numpy as np

    x = np.arange(500.0, 3000.0)
    y = 50 + np.random.default_rng(0).normal(0, 1, x.size)
    with pytest.raises(InstrumentFileError, match="neither a D nor a G band"):
        characterize(two_columns(x, y), name="flat.txt")


def test_gaussian_like_bands_are_fitted_without_bias_by_default() -> None:
    import numpy as np

    x = np.arange(800.0, 2000.0)

    def band(c: float, w: float, h: float) -> np.ndarray:
        return h * np.exp(-4 * np.log(2) * ((x - c) / w) ** 2)

    y = 100 + band(1350, 160, 1200) + band(1590, 80, 1000)
    y = y + np.random.default_rng(0).normal(0, 10, x.size)
    data = two_columns(x, y)
    assert characterize(data, name="g.txt").values["id_ig"] == pytest.approx(1.2, rel=0.01)
    lorentz = characterize(data, name="g.txt",
                           settings=CharacterizeSettings(raman_shape="lorentzian"))
    assert abs(lorentz.values["id_ig"] / 1.2 - 1) > 0.03
