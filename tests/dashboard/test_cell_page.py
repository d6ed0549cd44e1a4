"""The cell-projection page, headless: a measured material, edited assumptions, a cache."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pybamm")


@pytest.fixture
def cell_app(app_factory, history_url: str, tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))
    from planner.cell import projection

    projection.clear_memory_cache()
    at = app_factory(history_url)
    at.run()
    at.switch_page("views/cell.py").run()
    yield at
    projection.clear_memory_cache()


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _metric(at, label: str) -> float:
    value = next(m.value for m in at.metric if m.label == label)
    return float(value.split()[0])


def _assumption(at, name: str) -> str:
    table = at.table[0].value
    return str(table.loc[table["Assumption"] == name, "Value"].iloc[0])


def test_the_page_projects_the_best_measured_well_and_shows_its_assumptions(cell_app) -> None:
    at = cell_app
    _clean(at)
    assert at.title[0].value == "Cell projection"
    assert at.radio(key="cell_source").value == "measured"
    pick = at.selectbox(key="cell_pick").value
    assert pick.startswith("measured · plate")
    energy = _metric(at, "Specific energy at 0.1C")
    assert 60 < energy < 250  # Wh/kg of electrode stack
    assert 0 < _metric(at, "Capacity kept at 2C") <= 100
    assert _assumption(at, "N/P ratio") == "1.1"
    assert _assumption(at, "Positive electrode thickness") == "68 µm"
    # the measured ICE behind the projection is the picked well's
    ice = float(pick.split("ice_pct ")[1].split(",")[0])
    assert float(_assumption(at, "ICE [%]")) == pytest.approx(ice, rel=1e-3)

    # a thicker anode (N/P 1.4) weighs more for the same sodium: less energy per kg
    at.number_input(key="cell_np").set_value(1.4).run()
    _clean(at)
    assert _assumption(at, "N/P ratio") == "1.4"
    assert _metric(at, "Specific energy at 0.1C") < energy

    # back to the defaults: served from the cache, no PyBaMM run
    at.number_input(key="cell_np").set_value(1.1).run()
    start = time.perf_counter()
    at.run()
    assert time.perf_counter() - start < 5.0
    assert _metric(at, "Specific energy at 0.1C") == pytest.approx(energy)


def test_proposed_wells_and_numbers_a_chemist_enters_are_projected(cell_app) -> None:
    at = cell_app
    at.radio(key="cell_source").set_value("proposed").run()
    _clean(at)
    pick = at.selectbox(key="cell_pick").value
    assert pick.startswith("proposed · plate 4 ·")  # the pending plate's predicted means
    assert float(_assumption(at, "ICE [%]")) == pytest.approx(
        float(pick.split("ice_pct ")[1].split(",")[0]), rel=1e-3)
    at.radio(key="cell_source").set_value("entered").run()
    at.number_input(key="cell_in_ice_pct").set_value(70.0).run()
    _clean(at)
    low = _metric(at, "Capacity at 0.1C")
    at.number_input(key="cell_in_ice_pct").set_value(90.0).run()
    assert _metric(at, "Capacity at 0.1C") > low  # less sodium lost on formation
