"""The SIMULATED electrolyte lab: conductivity emulator trained on CALiSol-23, synthetic CE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.simulation import SimulationInputError
from planner.simulation import electrolyte as el


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    """Fit the emulator into a throw-away cache dir (once per module), not the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PLANNER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    el._model_bundle.cache_clear()
    yield
    el._model_bundle.cache_clear()
    mp.undo()


def mix(n: int = 1, **overrides) -> pd.DataFrame:
    """``n`` rows of 1 mol/kg LiPF6 in EC/DMC 1:1 (w) at 25 °C, with ``overrides``."""
    frame = pd.DataFrame({"salt": ["LiPF6"] * n, "salt_molality_mol_per_kg": 1.0,
                          "temperature_c": 25.0, "ec_frac": 0.5, "dmc_frac": 0.5})
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_reference_electrolyte_is_close_to_the_literature():
    # 1 mol/kg LiPF6 in EC/DMC at 25 °C: about 10-11.5 mS/cm in published data.
    kappa = el.true_electrolyte_response(mix())["ionic_conductivity_ms_per_cm"].iloc[0]
    assert 8.0 < kappa < 14.0


@pytest.mark.parametrize("salt", el.CAMPAIGN_SALTS)
def test_conductivity_rises_with_temperature(salt):
    temps = np.linspace(-20.0, 60.0, 9)
    y = el.true_electrolyte_response(mix(len(temps), salt=salt, temperature_c=temps))
    kappa = y["ionic_conductivity_ms_per_cm"].to_numpy()
    assert np.all(np.diff(kappa) >= 0) and kappa[-1] > 1.5 * kappa[0]


def test_conductivity_peaks_at_moderate_concentration():
    molality = np.linspace(0.5, 4.0, 15)
    y = el.true_electrolyte_response(mix(len(molality), salt_molality_mol_per_kg=molality))
    kappa = y["ionic_conductivity_ms_per_cm"].to_numpy()
    assert 0.6 < molality[int(np.argmax(kappa))] < 2.0
    assert kappa[-1] < 0.7 * kappa.max()


def test_coulombic_efficiency_follows_its_documented_trends():
    base = el.true_electrolyte_response(mix())["coulombic_efficiency_pct"].iloc[0]
    richer = el.true_electrolyte_response(mix(salt_molality_mol_per_kg=3.0))
    fec = el.true_electrolyte_response(mix(fec_wt_pct=5.0))
    ether = el.true_electrolyte_response(mix(ec_frac=0.0, dmc_frac=0.0, dme_frac=1.0))
    fsi = el.true_electrolyte_response(mix(salt="LiFSI"))
    for other in (richer, fec, ether, fsi):
        assert other["coulombic_efficiency_pct"].iloc[0] > base
    # ... while concentrated electrolytes conduct worse: a real trade-off.
    assert richer["ionic_conductivity_ms_per_cm"].iloc[0] < el.true_electrolyte_response(
        mix())["ionic_conductivity_ms_per_cm"].iloc[0]


def test_values_stay_in_range_over_the_campaign_domain():
    rng = np.random.default_rng(0)
    n = 300
    weights = rng.dirichlet(np.ones(len(el.CAMPAIGN_SOLVENTS)), n)
    frame = pd.DataFrame(weights, columns=list(el.CAMPAIGN_SOLVENTS))
    frame["salt"] = rng.choice(el.CAMPAIGN_SALTS, n)
    frame["salt_molality_mol_per_kg"] = rng.uniform(0.5, 4.0, n)
    frame["temperature_c"] = rng.uniform(-20.0, 60.0, n)
    frame["fec_wt_pct"] = rng.uniform(0.0, 10.0, n)
    frame["vc_wt_pct"] = rng.uniform(0.0, 10.0, n)
    y = el.true_electrolyte_response(frame)
    assert y["ionic_conductivity_ms_per_cm"].between(0.05, 40.0).all()
    assert y["coulombic_efficiency_pct"].between(80.0, 99.8).all()


def test_plate_is_seeded_with_drift_and_failures():
    frame = mix(2000, salt_molality_mol_per_kg=np.linspace(0.5, 3.0, 2000))
    a = el.simulate_electrolyte(frame, seed=3, plate_index=1)
    pd.testing.assert_frame_equal(a, el.simulate_electrolyte(frame, seed=3, plate_index=1))
    b = el.simulate_electrolyte(frame, seed=3, plate_index=2)
    ratio = (a["ionic_conductivity_ms_per_cm"] / b["ionic_conductivity_ms_per_cm"]).dropna()
    assert not np.allclose(ratio, 1.0)
    rate = (a["status"] == "failed_cell").mean()
    assert rate == pytest.approx(el.FAILED_CELL_RATE, abs=0.012)
    assert a.loc[a["status"] == "failed_cell", list(el.TARGETS)].isna().all().all()
    assert set(a["instrument"]) == {"electrolyte-emulator (simulated)"}


def test_noise_free_plate_equals_the_true_response():
    frame = mix(5, temperature_c=[-10.0, 0.0, 10.0, 20.0, 40.0])
    plate = el.simulate_electrolyte(frame, seed=0, noise=False)
    pd.testing.assert_frame_equal(plate[list(el.TARGETS)], el.true_electrolyte_response(frame))


def test_bad_recipes_are_reported_with_hints():
    frame = mix(2, salt=["LiPF6", "LiTFS"], ec_frac=[0.5, 0.6])
    with pytest.raises(SimulationInputError) as info:
        el.true_electrolyte_response(frame)
    assert 'Did you mean "litfsi"' in " ".join(info.value.problems)
    frame = mix(2, ec_frac=[0.5, 0.6])
    with pytest.raises(SimulationInputError) as info:
        el.true_electrolyte_response(frame)
    assert info.value.problems == ["Row 1: solvent fractions sum to 1.1."]
    assert "weight fractions" in info.value.hint


def test_training_data_basis_conversion_is_flagged_and_sensible():
    data = el.training_frame()
    assert not data["doi"].eq("10.1016/S0378-7753(01)00697-8").any(), "suspect source excluded"
    np.testing.assert_allclose(data[list(el.SOLVENTS)].sum(axis=1), 1.0, atol=1e-9)
    molar = data[data["molality_estimated"]]
    assert len(molar) > 2000
    # 1 mol/L in carbonate blends is roughly 0.8-1.05 mol/kg (denser EC-rich mixes lower).
    carbonate = molar[molar[["ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac"]]
                      .sum(axis=1) > 0.999]
    one_molar = carbonate[carbonate["c"] == 1.0]
    assert len(one_molar) > 20
    assert one_molar["salt_molality_mol_per_kg"].between(0.75, 1.1).all()
    assert one_molar["salt_molality_mol_per_kg"].std() > 0.01, "density depends on the mix"
    molal = data[~data["molality_estimated"]]
    np.testing.assert_array_equal(molal["salt_molality_mol_per_kg"], molal["c"])


def test_fitted_model_is_cached_on_disk(tmp_path_factory):
    from planner._cache import cache_dir

    files = list(cache_dir("emulators").glob("electrolyte_*.joblib"))
    assert len(files) == 1
    el._model_bundle.cache_clear()
    before = el.true_electrolyte_response(mix())
    assert list(cache_dir("emulators").glob("electrolyte_*.joblib")) == files
    pd.testing.assert_frame_equal(before, el.true_electrolyte_response(mix()))
