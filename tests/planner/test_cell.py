"""PyBaMM projections (fast configuration): physically ordered numbers and caching."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pybamm")

from planner.cell import projection as cell  # noqa: E402
from planner.cell.projection import CellProjection, CellProjectionError  # noqa: E402
from planner.errors import PlanningError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PLANNER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    cell.clear_memory_cache()
    yield
    cell.clear_memory_cache()
    mp.undo()


def hc(ice: float, capacity: float) -> CellProjection:
    return cell.project_hard_carbon(ice, capacity, fast=True)


def test_capacity_and_energy_fall_with_c_rate():
    for result in (hc(85.0, 300.0), cell.project_electrolyte(10.0, fast=True)):
        assert result.c_rates == (0.1, 1.0, 2.0)
        assert result.capacity_ah[0] >= result.capacity_ah[1] >= result.capacity_ah[2] > 0
        assert result.energy_wh[0] >= result.energy_wh[1] >= result.energy_wh[2] > 0
        assert 0 < result.retention_2c_pct <= 100


def test_sodium_cell_numbers_are_plausible():
    result = hc(85.0, 300.0)
    d = result.as_dict()
    # 2.54 cm² NVPF | hard carbon coin-type cell: a few mAh, ~3.5 V mean at 0.1C.
    assert 1.5e-3 < d["capacity_ah_0_1c"] < 4e-3
    assert 3.2 < d["energy_wh_0_1c"] / d["capacity_ah_0_1c"] < 3.8
    assert 80 < d["specific_energy_wh_per_kg_0_1c"] < 200
    assert d["n_to_p_ratio"] == pytest.approx(1.1)
    assert d["sodium_lost_on_formation_pct"] == pytest.approx(15.0)


@pytest.mark.parametrize("c_rate_index", [0, 1], ids=["0.1C", "1C"])
def test_higher_ice_gives_more_cell_energy(c_rate_index):
    energies = [hc(ice, 300.0).energy_wh[c_rate_index] for ice in (70.0, 80.0, 90.0)]
    assert energies[0] < energies[1] < energies[2]


def test_higher_capacity_gives_more_specific_energy_and_a_thinner_anode():
    # At fixed N/P the cathode sets the sodium, so cell Wh barely moves with mAh/g,
    # but the anode gets thinner and lighter: Wh/kg of stack rises.
    low, mid, high = hc(85.0, 250.0), hc(85.0, 300.0), hc(85.0, 350.0)
    for i in range(3):
        assert (low.specific_energy_wh_per_kg[i] < mid.specific_energy_wh_per_kg[i]
                < high.specific_energy_wh_per_kg[i])
    thickness = [dict(r.design)["negative_electrode_thickness_um"] for r in (low, mid, high)]
    assert thickness[0] > thickness[1] > thickness[2]
    assert abs(high.energy_wh[0] / low.energy_wh[0] - 1.0) < 0.02


def test_higher_conductivity_retains_more_capacity_at_2c():
    retention = [cell.project_electrolyte(k, fast=True).retention_2c_pct for k in (1.0, 3.0, 10.0)]
    assert retention[0] < retention[1] < retention[2]
    assert retention[0] < 80.0 < retention[2]


def test_as_dict_keys_carry_units():
    d = hc(85.0, 300.0).as_dict()
    for key in ("capacity_ah_0_1c", "energy_wh_0_1c", "energy_wh_1c", "energy_wh_2c",
                "capacity_ah_per_m2_2c", "energy_wh_per_m2_0_1c",
                "specific_energy_wh_per_kg_1c", "retention_2c_pct",
                "negative_electrode_thickness_um"):
        assert isinstance(d[key], float), key


def test_results_are_cached_in_memory_and_on_disk(monkeypatch):
    from planner._cache import cache_dir

    first = hc(82.5, 310.0)
    assert hc(82.5, 310.0) is first
    assert hc(82.501, 310.004) is first, "inputs are rounded to 0.01 for caching"
    assert len(list(cache_dir("pybamm").glob("hard_carbon_*.json"))) >= 1
    cell.clear_memory_cache()

    def no_pybamm(*args, **kwargs):
        raise AssertionError("should have been read from the disk cache")

    monkeypatch.setattr(cell, "_hard_carbon", no_pybamm)
    again = hc(82.5, 310.0)
    assert again == first and again.as_dict() == first.as_dict()


def test_impossible_inputs_raise_with_a_hint():
    with pytest.raises(CellProjectionError) as info:
        cell.project_hard_carbon(0.85, 300.0, fast=True)
    assert isinstance(info.value, PlanningError)
    assert "fraction" in str(info.value) and "multiply" in info.value.hint
    with pytest.raises(CellProjectionError):
        cell.project_hard_carbon(85.0, -5.0)
    with pytest.raises(CellProjectionError) as info:
        cell.project_electrolyte(0.0)
    assert "mS/cm" in info.value.hint


def test_missing_pybamm_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybamm", None)  # makes `import pybamm` raise ImportError
    with pytest.raises(CellProjectionError) as info:
        cell._pybamm()
    assert "pip install" in info.value.hint
