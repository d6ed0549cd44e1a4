"""The one entry point: kind guessed from the axis or format, settings validated, paths read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from campaigns.errors import CampaignError
from campaigns.instruments import (
    CharacterizeSettings,
    InstrumentFileError,
    SettingsError,
    characterize,
)
from campaigns.instruments.synthetic import (
    raman_curve,
    raman_spectrum,
    two_columns,
    wdf,
    xrd_curve,
    xrd_pattern,
    xrdml,
)


@pytest.mark.parametrize(("data", "name", "kind"), [
    (xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0), "x.txt", "xrd"),
    (raman_spectrum(id_ig=1.0), "y.txt", "raman"),
    (xrdml(*xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0)), "noext", "xrd"),
    (wdf(*raman_curve(id_ig=1.0)), "noext", "raman"),
], ids=["2theta axis", "raman axis", "xrdml content", "wdf content"])
def test_kind_is_guessed(data: bytes, name: str, kind: str) -> None:
    assert characterize(data, name=name).kind == kind


def test_an_axis_that_is_neither_is_refused_with_a_hint() -> None:
    x = np.linspace(200, 400, 100)
    with pytest.raises(InstrumentFileError, match="neither 2θ") as err:
        characterize(two_columns(x, np.ones_like(x)), name="odd.txt")
    assert "--kind" in (err.value.hint or "")


def test_a_kind_that_contradicts_the_format_is_refused() -> None:
    with pytest.raises(InstrumentFileError, match="not a Raman spectrum"):
        characterize(xrdml(*xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0)), name="a.xrdml",
                     kind="raman")


def test_a_raman_spectrum_read_as_xrd_is_refused() -> None:
    with pytest.raises(InstrumentFileError, match="outside 0–180"):
        characterize(raman_spectrum(id_ig=1.0), name="a.txt", kind="xrd")


def test_paths_and_unknown_kinds(tmp_path: Path) -> None:
    path = tmp_path / "A1.xy"
    path.write_bytes(xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0))
    c = characterize(path)
    assert c.name == "A1.xy" and abs(c.values["d002_nm"] - 0.37) < 0.001
    with pytest.raises(CampaignError, match="cannot read"):
        characterize(tmp_path / "missing.xy")
    with pytest.raises(CampaignError, match="not one of xrd, raman"):
        characterize(path, kind="ir")


@pytest.mark.parametrize("kwargs", [
    {"wavelength_nm": 1.5406}, {"k_lc": 0.8}, {"k_la": 3.0}, {"instrument_fwhm_deg": -0.1},
    {"raman_bands": "DG+D2"}, {"raman_shape": "gauss"}, {"raman_ratio": "height"},
    {"raman_range_cm": (1300.0, 1400.0)}, {"xrd_background": "spline"},
], ids=lambda k: next(iter(k)))
def test_settings_out_of_range_are_refused_with_a_hint(kwargs: dict) -> None:
    with pytest.raises(SettingsError) as err:
        CharacterizeSettings(**kwargs)
    assert err.value.hint


def test_settings_round_trip_through_json() -> None:
    s = CharacterizeSettings(wavelength_nm=0.1789, k_lc=0.94, raman_bands="DG+D3D4")
    assert CharacterizeSettings.from_dict(s.as_dict()) == s
    with pytest.raises(SettingsError, match="unknown fit setting"):
        CharacterizeSettings.from_dict({"lambda": 0.15})


def test_odd_numbers_give_a_characterization_or_a_named_error() -> None:
    """Noise, spikes, constant or negative intensities, odd ranges: never a stack trace."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(start=st.sampled_from([5.0, 10.0, 20.0, 800.0, 1000.0, -50.0]),
           span=st.sampled_from([30.0, 70.0, 1500.0]),
           n=st.integers(20, 400), scale=st.sampled_from([0.0, 1e-9, 1.0, 1e6]),
           seed=st.integers(0, 10), kind=st.sampled_from([None, "xrd", "raman"]))
    def check(start: float, span: float, n: int, scale: float, seed: int,
              kind: str | None) -> None:
        rng = np.random.default_rng(seed)
        x = np.linspace(start, start + span, n)
        y = scale * (rng.standard_normal(n) + (rng.random(n) > 0.97) * 50)
        try:
            c = characterize(two_columns(x, y), name="odd.xy", kind=kind)
        except InstrumentFileError as exc:
            assert "odd.xy" in str(exc) and exc.hint
        else:
            assert c.kind in ("xrd", "raman")

    check()
