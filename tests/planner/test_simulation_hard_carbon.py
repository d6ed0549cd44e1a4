"""The SIMULATED virtual hard-carbon lab: documented trends, determinism, failures, ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.errors import PlanningError
from planner.simulation import SIMULATED, SimulationInputError
from planner.simulation import hard_carbon as hc

PRECURSORS = list(hc.PRECURSORS)
TEMPERATURES = np.arange(800.0, 1801.0, 50.0)


def recipes(n: int = 1, **overrides) -> pd.DataFrame:
    """``n`` copies of the reference recipe with ``overrides`` (scalars or length-n arrays)."""
    frame = pd.DataFrame([hc.REFERENCE_RECIPE] * n)
    for key, value in overrides.items():
        frame[key] = value
    return frame


def random_recipes(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"precursor": rng.choice(PRECURSORS, n)})
    for col, (lo, hi) in hc.RECIPE_BOUNDS.items():
        frame[col] = rng.uniform(lo, hi, n)
    return frame


def temperature_sweep(precursor: str) -> pd.DataFrame:
    grid = recipes(len(TEMPERATURES), precursor=precursor, carbonization_temperature_c=TEMPERATURES)
    return hc.true_response(grid)


# --------------------------------------------------------------------------- documented trends


@pytest.mark.parametrize("precursor", PRECURSORS)
def test_structure_orders_with_temperature(precursor):
    y = temperature_sweep(precursor)
    assert np.all(np.diff(y["d002_nm"]) < 0), "d002 shrinks with temperature"
    assert np.all(np.diff(y["lc_nm"]) > 0), "Lc grows with temperature"
    assert np.all(np.diff(y["la_nm"]) > 0), "La grows with temperature"
    assert np.all(np.diff(y["bet_ssa_m2_per_g"]) < 0), "pores close with temperature"


@pytest.mark.parametrize("precursor", PRECURSORS)
def test_ice_rises_with_temperature(precursor):
    y = temperature_sweep(precursor)
    assert np.all(np.diff(y["ice_pct"]) > 0)
    assert y["ice_pct"].iloc[-1] - y["ice_pct"].iloc[0] > 4.0


@pytest.mark.parametrize("precursor", PRECURSORS)
def test_plateau_peaks_between_1300_and_1600_c(precursor):
    y = temperature_sweep(precursor)
    peak = TEMPERATURES[int(np.argmax(y["plateau_capacity_mah_per_g"]))]
    assert 1250.0 <= peak <= 1600.0
    plateau = y["plateau_capacity_mah_per_g"].to_numpy()
    assert plateau[-1] < 0.8 * plateau.max(), "plateau falls beyond the optimum"
    assert plateau[0] < 0.3 * plateau.max(), "little plateau at 800 °C"


HARD_CARBON_PRECURSORS = [p for p in PRECURSORS if p != "pitch"]


@pytest.mark.parametrize("precursor", HARD_CARBON_PRECURSORS)
def test_reversible_capacity_optimum_is_interior_in_temperature(precursor):
    y = temperature_sweep(precursor)
    best = TEMPERATURES[int(np.argmax(y["reversible_capacity_mah_per_g"]))]
    assert 1000.0 < best < 1800.0


def test_soft_carbon_pitch_is_best_at_low_temperature():
    # Pitch graphitizes: little plateau, so its capacity is mostly sloping and falls with T.
    y = temperature_sweep("pitch")
    assert TEMPERATURES[int(np.argmax(y["reversible_capacity_mah_per_g"]))] < 1000.0
    assert y["plateau_capacity_mah_per_g"].max() < 100.0


@pytest.mark.parametrize("precursor", PRECURSORS)
def test_ice_falls_as_surface_area_grows(precursor):
    # Faster heating opens porosity (SSA up) at otherwise equal recipe.
    y = hc.true_response(recipes(3, precursor=precursor, heating_rate_c_per_min=[1.0, 5.0, 20.0]))
    assert np.all(np.diff(y["bet_ssa_m2_per_g"]) > 0)
    assert np.all(np.diff(y["ice_pct"]) < 0)


@pytest.mark.parametrize("dopant", ["n_doping_at_pct", "s_doping_at_pct"])
@pytest.mark.parametrize("precursor", PRECURSORS)
def test_doping_raises_sloping_capacity_and_lowers_ice(precursor, dopant):
    y = hc.true_response(recipes(4, precursor=precursor, **{dopant: [0.0, 1.0, 3.0, 6.0]}))
    sloping = y["reversible_capacity_mah_per_g"] - y["plateau_capacity_mah_per_g"]
    assert np.all(np.diff(sloping) > 0)
    assert np.all(np.diff(y["ice_pct"]) < 0)


def test_doping_optimum_is_interior():
    levels = np.linspace(0.0, 10.0, 21)
    y = hc.true_response(recipes(len(levels), n_doping_at_pct=levels))
    best = levels[int(np.argmax(y["reversible_capacity_mah_per_g"]))]
    assert 0.0 < best < 10.0


def test_precursor_matters_for_the_constrained_optimum():
    frame = random_recipes(20_000, seed=3)
    y = pd.concat([frame, hc.true_response(frame)], axis=1)
    best = y[y["ice_pct"] >= 80].groupby("precursor")["reversible_capacity_mah_per_g"].max()
    assert best.idxmax() in {"cellulose", "phenolic_resin"}
    assert best.max() - best.min() > 40.0


def test_ice_and_capacity_trade_off_on_a_real_pareto_front():
    y = hc.true_response(random_recipes(5_000, seed=4))
    order = y.sort_values("ice_pct", ascending=False)
    front, best = [], -np.inf
    for ice, cap in zip(order["ice_pct"], order["reversible_capacity_mah_per_g"], strict=True):
        if cap > best:
            front.append((ice, cap))
            best = cap
    front_arr = np.array(front)
    assert len(front_arr) >= 8
    assert np.ptp(front_arr[:, 0]) > 3.0 and np.ptp(front_arr[:, 1]) > 80.0
    # The highest-ICE and the highest-capacity recipes are different.
    assert y["ice_pct"].idxmax() != y["reversible_capacity_mah_per_g"].idxmax()


# --------------------------------------------------------------------------- ranges and noise


def test_values_stay_in_domain_typical_ranges():
    frame = random_recipes(4_000, seed=5)
    for out in (hc.true_response(frame), hc.simulate_plate(frame, seed=9, plate_index=2)):
        for col, (lo, hi) in hc.TYPICAL_RANGES.items():
            values = out[col].dropna()
            assert values.between(lo, hi).all(), col


def test_same_seed_same_plate_is_identical():
    frame = random_recipes(96, seed=6)
    a = hc.simulate_plate(frame, seed=11, plate_index=3)
    b = hc.simulate_plate(frame.copy(), seed=11, plate_index=3)
    pd.testing.assert_frame_equal(a, b)


def test_different_plate_or_seed_changes_the_measurements():
    frame = random_recipes(96, seed=6)
    base = hc.simulate_plate(frame, seed=11, plate_index=3)
    for other in (hc.simulate_plate(frame, seed=11, plate_index=4),
                  hc.simulate_plate(frame, seed=12, plate_index=3)):
        assert not np.allclose(base["ice_pct"], other["ice_pct"], equal_nan=True)


def test_plate_drift_depends_on_plate_index_and_is_shared_by_the_plate():
    drifts = [hc.plate_drift(seed=1, plate_index=i) for i in range(5)]
    assert len({round(d["ice_pct"], 9) for d in drifts}) == 5
    assert hc.plate_drift(seed=1, plate_index=2) == drifts[2]
    # Control wells reveal the drift: their mean offset from the truth is the plate's ICE drift.
    controls = recipes(400)
    truth = hc.true_response(controls)["ice_pct"].iloc[0]
    for index in (0, 1):
        plate = hc.simulate_plate(controls, seed=1, plate_index=index)
        offset = plate["ice_pct"].mean() - truth
        assert offset == pytest.approx(drifts[index]["ice_pct"], abs=0.15)


def test_failure_rates_match_the_documentation():
    plate = hc.simulate_plate(random_recipes(30_000, seed=7), seed=2, plate_index=0)
    rates = plate["status"].value_counts(normalize=True)
    assert rates["failed_synthesis"] == pytest.approx(hc.FAILED_SYNTHESIS_RATE, abs=0.006)
    assert rates["failed_cell"] == pytest.approx(hc.FAILED_CELL_RATE, abs=0.006)
    synth = plate["status"] == "failed_synthesis"
    cell = plate["status"] == "failed_cell"
    assert plate.loc[synth, [*hc.DESCRIPTORS, *hc.TARGETS]].isna().all().all()
    assert plate.loc[cell, list(hc.TARGETS)].isna().all().all()
    assert plate.loc[cell, list(hc.DESCRIPTORS)].notna().all().all()
    assert plate.loc[plate["status"] == "ok"].notna().all().all()


def test_noise_free_plate_equals_true_response():
    frame = random_recipes(50, seed=8)
    plate = hc.simulate_plate(frame, seed=0, noise=False)
    pd.testing.assert_frame_equal(plate[list(hc.DESCRIPTORS + hc.TARGETS)], hc.true_response(frame))
    assert (plate["status"] == "ok").all()


def test_everything_is_labelled_simulated():
    plate = hc.simulate_plate(recipes(3), seed=0)
    assert SIMULATED and hc.SIMULATED
    assert set(plate["instrument"]) == {"virtual-lab (simulated)"}
    assert plate["operator"].nunique() == 1 and plate["operator"].iloc[0] in hc.OPERATORS
    assert "SIMULATED" in hc.__doc__


def test_index_is_preserved():
    frame = recipes(3).set_axis(["A1", "B7", "H12"])
    assert list(hc.simulate_plate(frame, seed=0).index) == ["A1", "B7", "H12"]


# --------------------------------------------------------------------------- input errors


def test_bad_recipes_are_reported_all_at_once_with_hints():
    frame = recipes(3)
    frame.loc[0, "precursor"] = "cellulsoe"
    frame.loc[1, "carbonization_temperature_c"] = 2500.0
    frame = frame.drop(columns="dwell_h")
    with pytest.raises(SimulationInputError) as info:
        hc.true_response(frame)
    err = info.value
    assert isinstance(err, PlanningError) and err.hint
    text = " ".join(err.problems)
    assert 'Did you mean "cellulose"' in text
    assert 'Row 1, column "carbonization_temperature_c": 2500.0' in text
    assert '"dwell_h" is missing' in text
    assert len(err.problems) == 3


def test_precursor_labels_are_normalised():
    frame = recipes(2, precursor=["Coconut shell", " PHENOLIC-RESIN"])
    assert hc.true_response(frame).notna().all().all()


# --------------------------------------------------------------------------- plate templates

LABELS = {
    "Precursor": "precursor",
    "Carbonization temperature [°C]": "carbonization_temperature_c",
    "Heating rate [°C/min]": "heating_rate_c_per_min",
    "Dwell time [h]": "dwell_h",
    "N doping [at%]": "n_doping_at_pct",
    "S doping [at%]": "s_doping_at_pct",
    "d002 [nm]": "d002_nm",
    "BET SSA [m²/g]": "bet_ssa_m2_per_g",
    "ICE [%]": "ice_pct",
    "Reversible capacity [mAh/g]": "reversible_capacity_mah_per_g",
    "Plateau capacity [mAh/g]": "plateau_capacity_mah_per_g",
}


def make_template() -> pd.DataFrame:
    rows = [
        ("A1", "control", None, None, None, None, None, None),
        ("A2", "sample", "lignin", 1400.0, 2.0, 3.0, 1.0, 0.0),
        ("A3", "replicate", "lignin", 1400.0, 2.0, 3.0, 1.0, 0.0),
        ("A4", "sample", "Phenolic resin", 1550.0, 1.0, 2.0, 0.0, 2.0),
        ("A5", "empty", None, None, None, None, None, None),
    ]
    frame = pd.DataFrame(rows, columns=["Well", "Role", *list(LABELS)[:6]])
    for label in list(LABELS)[6:]:
        frame[label] = np.nan
    for col in ("Status", "Operator", "Instrument", "Notes"):
        frame[col] = None
    return frame


def test_fill_template_fills_results_and_controls():
    filled = hc.fill_template(make_template(), seed=4, plate_index=1, label_to_name=LABELS)
    active = filled["Well"].isin(["A1", "A2", "A3", "A4"])
    assert filled.loc[active, "Instrument"].eq("virtual-lab (simulated)").all()
    ok = active & filled["Status"].eq("ok")
    assert filled.loc[ok, "ICE [%]"].between(60, 92).all()
    control = filled.iloc[0]
    assert control["Precursor"] == "cellulose"
    assert control["Carbonization temperature [°C]"] == 1300.0
    assert "reference material" in control["Notes"]
    empty = filled.iloc[4]
    assert pd.isna(empty["ICE [%]"]) and pd.isna(empty["Status"])
    # Same recipe, same plate: replicates differ only by noise.
    a2, a3 = filled.iloc[1], filled.iloc[2]
    if a2["Status"] == a3["Status"] == "ok":
        assert a2["ICE [%]"] != a3["ICE [%]"]
        assert abs(a2["ICE [%]"] - a3["ICE [%]"]) < 6.0


def test_fill_template_is_deterministic_and_matches_simulate_plate():
    template = make_template()
    a = hc.fill_template(template, seed=4, plate_index=1, label_to_name=LABELS)
    b = hc.fill_template(template, seed=4, plate_index=1, label_to_name=LABELS)
    pd.testing.assert_frame_equal(a, b)
    direct = hc.simulate_plate(
        pd.DataFrame([hc.REFERENCE_RECIPE,
                      *[dict(zip(list(hc.RECIPE_BOUNDS), r, strict=True)) | {"precursor": p}
                        for p, r in (("lignin", (1400.0, 2.0, 3.0, 1.0, 0.0)),
                                     ("lignin", (1400.0, 2.0, 3.0, 1.0, 0.0)),
                                     ("phenolic_resin", (1550.0, 1.0, 2.0, 0.0, 2.0)))]]),
        seed=4, plate_index=1)
    np.testing.assert_allclose(a["ICE [%]"].iloc[:4], direct["ice_pct"], equal_nan=True)
    assert template["ICE [%]"].isna().all(), "the input template is not modified"


def test_fill_template_rejects_partial_recipes_by_well():
    template = make_template()
    template.loc[1, "Dwell time [h]"] = None
    with pytest.raises(SimulationInputError) as info:
        hc.fill_template(template, seed=0, plate_index=0, label_to_name=LABELS)
    assert "Well A2" in info.value.problems[0] and "dwell_h" in info.value.problems[0]


def test_fill_template_names_wells_in_value_errors():
    template = make_template()
    template.loc[3, "Carbonization temperature [°C]"] = 5000.0
    with pytest.raises(SimulationInputError) as info:
        hc.fill_template(template, seed=0, plate_index=0, label_to_name=LABELS)
    assert any(p.startswith("Well A4") for p in info.value.problems)


def test_fill_template_needs_label_mapping_for_labelled_headers():
    with pytest.raises(SimulationInputError) as info:
        hc.fill_template(make_template(), seed=0, plate_index=0)
    assert info.value.hint and "label_to_name" in info.value.hint
