"""A hard-carbon campaign with history, built through the public API, for the dashboard tests.

``history_db`` (built once per session, copied per test) holds campaign ``hc`` with:

* plates 1 and 2 (weeks 2026-W10, W11): space-filling plates from ``suggest_plate``, measured by
  the SIMULATED virtual lab and ingested as filled sheets;
* plate 3 (W12): a plate stored with per-well predictions (what a model proposal stores),
  measured and ingested, so "predicted vs measured" has something to show;
* plate 4 (W13): a pending plate with predictions (the "next plate" on the Pareto chart).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CAMPAIGN = "hc"
WEEKS = ("2026-W10", "2026-W11", "2026-W12", "2026-W13")
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
STD = {"ice_pct": 1.5, "reversible_capacity_mah_per_g": 9.0, "plateau_capacity_mah_per_g": 6.0}


def measure(spec, batch, *, plate_index: int) -> bytes:
    """The batch's sheet filled by the virtual lab, as CSV bytes (what a lab uploads)."""
    from planner.simulation.virtual_lab import run_plate, sheet_bytes

    return sheet_bytes(run_plate(spec, batch, seed=7, plate_index=plate_index))


def _predicted_plate(store, spec, week: str, seed: int):
    """Store a plate whose wells carry predictions, the way a model proposal stores them."""
    from campaigns.plate import fill_layout
    from planner.design import space_filling_design
    from planner.simulation.hard_carbon import true_response

    recipes = space_filling_design(spec, spec.plate.sample_wells, seed=seed)
    truth = true_response(recipes)
    rng = np.random.default_rng(seed)
    predictions = [{"targets": {t: {"mean": float(truth[t].iloc[i] + rng.normal(0, STD[t])),
                                    "std": STD[t]} for t in STD}}
                   for i in range(len(recipes))]
    wells = fill_layout(spec.plate, recipes.to_dict(orient="records"), predictions)
    return store.save_batch(CAMPAIGN, iso_week=week, wells=wells, generator="test model proposal",
                            seed=seed, data_revision=store.snapshot(CAMPAIGN).revision,
                            model_info={"surrogate": "test"})


def build_history(url: str) -> None:
    """Create campaign ``hc`` with three measured plates and one pending plate at ``url``."""
    from campaigns.store import Store
    from campaigns.templates import load_template
    from campaigns.uploads import ingest_bytes
    from planner.weekly import suggest_plate

    with Store.open(url) as store:
        store.create_campaign(load_template("hard-carbon", name=CAMPAIGN), actor="test")
        spec = store.spec(CAMPAIGN)
        first = [suggest_plate(store, CAMPAIGN, week=w, actor="test").batch for w in WEEKS[:2]]
        for i, batch in enumerate(first):
            ingest_bytes(store, CAMPAIGN, measure(spec, batch, plate_index=i),
                         filename=f"plate{batch.id}.csv", batch_id=batch.id, actor="test")
        third = _predicted_plate(store, spec, WEEKS[2], seed=3)
        ingest_bytes(store, CAMPAIGN, measure(spec, third, plate_index=2),
                     filename=f"plate{third.id}.csv", batch_id=third.id, actor="test")
        _predicted_plate(store, spec, WEEKS[3], seed=4)


@pytest.fixture(scope="session")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.db"
    build_history(f"sqlite:///{path}")
    return path


@pytest.fixture
def history_url(history_file: Path, tmp_path: Path) -> str:
    """A private copy of the history database (tests may write to it)."""
    path = tmp_path / "planner.db"
    shutil.copy(history_file, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def history_snapshot(history_file: Path):
    """``(snapshot, batches)`` of campaign ``hc`` (read-only)."""
    from campaigns.store import Store

    with Store.open(f"sqlite:///{history_file}") as store:
        return store.snapshot(CAMPAIGN), store.batches(CAMPAIGN)


def _clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``make(url)`` → an ``AppTest`` of the dashboard on that database (caches cleared)."""
    from streamlit.testing.v1 import AppTest

    def make(url: str, *, campaign: str | None = CAMPAIGN) -> AppTest:
        monkeypatch.setenv("PLANNER_DB_URL", url)
        _clear_streamlit_caches()
        at = AppTest.from_file(str(APP), default_timeout=90)
        if campaign:
            at.query_params["campaign"] = campaign
        return at

    yield make
    _clear_streamlit_caches()


def filled_sheet(spec, batch, *, plate_index: int = 5) -> pd.DataFrame:
    """The batch's sheet with results from the virtual lab, as a frame."""
    from planner.simulation.virtual_lab import run_plate

    return run_plate(spec, batch, seed=11, plate_index=plate_index)


@pytest.fixture(scope="session", autouse=True)
def _apptest_tmpdir() -> Iterator[None]:
    """Streamlit's AppTest module makes a TemporaryDirectory at import and leaves it to the
    interpreter's exit, which then prints a ResourceWarning; clean it up ourselves."""
    yield
    module = sys.modules.get("streamlit.testing.v1.app_test")
    if module is not None and hasattr(module, "TMP_DIR"):
        module.TMP_DIR.cleanup()
