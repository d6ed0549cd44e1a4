"""Editable cell assumptions (CellDesign) and the materials a projection can start from."""

from __future__ import annotations

from datetime import datetime

import pytest

pytest.importorskip("pybamm")

from campaigns.store import BatchInfo, WellInfo  # noqa: E402
from planner.cell import projection as cell  # noqa: E402
from planner.cell.projection import CellDesign, CellProjectionError  # noqa: E402
from planner.cell.report import projectable_materials, rate_table  # noqa: E402
from tests.planner.proposal_data import hard_carbon_snapshot  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PLANNER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    cell.clear_memory_cache()
    yield
    cell.clear_memory_cache()
    mp.undo()


def test_a_higher_n_to_p_ratio_gives_a_thicker_heavier_anode() -> None:
    base = cell.project_hard_carbon(85.0, 300.0, fast=True)
    more = cell.project_hard_carbon(85.0, 300.0, fast=True, design=CellDesign(n_to_p_ratio=1.4))
    t0 = dict(base.design)["negative_electrode_thickness_um"]
    t1 = dict(more.design)["negative_electrode_thickness_um"]
    assert t1 == pytest.approx(t0 * 1.4 / 1.1, rel=1e-6)
    assert more.specific_energy_wh_per_kg[0] < base.specific_energy_wh_per_kg[0]
    # the default design is the module's documented cell, and is what None means
    assert cell.project_hard_carbon(85.0, 300.0, fast=True, design=CellDesign()) == base
    table = rate_table(base)
    assert table["capacity_retained_pct"].iloc[0] == pytest.approx(100.0)
    assert list(table["c_rate_per_h"]) == [0.1, 1.0, 2.0]


def test_a_thicker_cathode_stores_more_per_area() -> None:
    thin = cell.project_hard_carbon(85.0, 300.0, fast=True,
                                    design=CellDesign(positive_thickness_um=50.0))
    thick = cell.project_hard_carbon(85.0, 300.0, fast=True,
                                     design=CellDesign(positive_thickness_um=100.0))
    assert thick.capacity_ah_per_m2[0] > 1.8 * thin.capacity_ah_per_m2[0]
    assert dict(thick.design)["positive_areal_capacity_mah_per_cm2"] == pytest.approx(
        2 * dict(thin.design)["positive_areal_capacity_mah_per_cm2"])


@pytest.mark.parametrize(("field", "value"), [("n_to_p_ratio", 0.5), ("temperature_c", 90.0),
                                              ("positive_thickness_um", 1.0)])
def test_impossible_assumptions_are_refused_with_a_hint(field, value) -> None:
    with pytest.raises(CellProjectionError, match=field) as err:
        CellDesign(**{field: value})
    assert err.value.hint


def test_materials_are_the_best_measured_and_the_proposed_wells() -> None:
    snap = hard_carbon_snapshot(12, seed=0)
    pred = {"targets": {"ice_pct": {"mean": 88.0, "std": 1.0},
                        "reversible_capacity_mah_per_g": {"mean": 310.0, "std": 5.0}}}
    batch = BatchInfo(id=9, campaign=snap.spec.name, iso_week="2026-W20", status="proposed",
                      generator="test", seed=0, data_revision=1, model_info={}, warnings=[],
                      created_at=datetime(2026, 5, 11),
                      wells=(WellInfo("A2", "sample", {}, pred, None, None, None),
                             WellInfo("A1", "control", {}, {}, None, None, None)))
    frame = projectable_materials(snap, [batch], top=5)
    measured = frame[frame["source"] == "measured"]
    assert len(measured) == 5
    assert measured["ice_pct"].is_monotonic_decreasing  # best primary objective first
    assert measured["ice_pct"].iloc[0] == snap.observations["ice_pct"].max()
    proposed = frame[frame["source"] == "proposed"]
    assert proposed[["well", "ice_pct"]].values.tolist() == [["A2", 88.0]]
    assert "plate 9" in proposed["label"].iloc[0]
