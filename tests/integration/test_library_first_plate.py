"""The first plate of a big library campaign (candidates in the columnar store, no DataFrame).

``PLANNER_SMALL_LIBRARY_ROWS=1000`` makes a 3,000-row table "big"; the sample cap is lowered to
1,000 rows so the seeded sampling path runs (a real library samples 50,000 of its rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.library_store import import_library
from campaigns.spec import CampaignSpec
from campaigns.store import Store
from planner import weekly
from planner.weekly import suggest_plate

INPUTS = ["d002_nm", "bet_ssa_m2_per_g", "family"]


def _spec(name: str) -> CampaignSpec:
    return CampaignSpec.from_dict({
        "name": name,
        "library": {"inputs": INPUTS, "categorical": ["family"], "id_column": "material"},
        "targets": [{"name": "ice_pct", "threshold": 80.0},
                    {"name": "reversible_capacity_mah_per_g"}],
        "plate": {"wells": 24}})


def _table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ssa = rng.uniform(1, 400, n)
    ssa[::50] = np.nan  # missing values are allowed
    return pd.DataFrame({"material": [f"M{i:05d}" for i in range(n)],
                         "d002_nm": rng.uniform(0.34, 0.40, n), "bet_ssa_m2_per_g": ssa,
                         "family": rng.choice(["hard", "soft", "graphite"], n)})


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, pd.DataFrame]:
    monkeypatch.setenv("PLANNER_SMALL_LIBRARY_ROWS", "1000")
    monkeypatch.setattr(weekly, "FIRST_PLATE_SAMPLE_ROWS", 1000)
    source = tmp_path / "lib.csv"
    frame = _table(3000)
    frame.to_csv(source, index=False)
    with Store.open(f"sqlite:///{tmp_path / 'lab.db'}") as store:
        for name in ("anodes", "twin"):
            spec = _spec(name)
            table = import_library(source, spec=spec, dest_dir=store.library_dir)
            store.create_campaign(spec, library_table=table)
        yield store, frame


def test_first_plates_of_a_big_library(big: tuple[Store, pd.DataFrame]) -> None:
    store, frame = big
    assert store.library("anodes") is None  # really the columnar path

    first = suggest_plate(store, "anodes", week="2026-W10", seed=11).batch
    ids = [w.candidate_id for w in first.wells if w.role == "sample"]
    assert len(ids) == 24 and len(set(ids)) == 24
    info = first.model_info
    assert info["library_rows"] == 3000 and info["rows_sampled"] == 1000
    assert info["design"].startswith("space-filling (library")
    # Each well carries its candidate's own values, read from the Parquet table.
    source = frame.set_index("material")
    for well in first.wells:
        if well.role == "sample":
            row = source.loc[well.candidate_id]
            assert well.recipe["family"] == row["family"]
            assert well.recipe["d002_nm"] == pytest.approx(row["d002_nm"])
    # A random sample of the whole table, not its first rows; spread over the families.
    positions = [int(cid[1:]) for cid in ids]
    assert max(positions) >= 1000
    assert {source.loc[c, "family"] for c in ids} == {"hard", "soft", "graphite"}

    # Reproducible from the seed: another campaign on the same table, same seed, same plate.
    twin = suggest_plate(store, "twin", week="2026-W10", seed=11).batch
    assert [w.candidate_id for w in twin.wells] == [w.candidate_id for w in first.wells]
    other = suggest_plate(store, "twin", week="2026-W10", seed=12, force=True).batch
    assert {w.candidate_id for w in other.wells} != set(ids)

    # The next week, still without results: nothing on order is proposed again.
    second = suggest_plate(store, "anodes", week="2026-W11", seed=11).batch
    again = {w.candidate_id for w in second.wells if w.role == "sample"}
    assert len(again) == 24 and not again & set(ids)
    assert second.model_info["rows_sampled"] == 1000


def test_a_library_smaller_than_the_cap_is_read_whole(big: tuple[Store, pd.DataFrame],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = big
    monkeypatch.setattr(weekly, "FIRST_PLATE_SAMPLE_ROWS", 50_000)
    suggest_plate(store, "anodes", week="2026-W10", seed=1)
    batch = suggest_plate(store, "anodes", week="2026-W11", seed=1).batch
    # Every row that is not on order (3000 - 24) is seen by the design.
    assert batch.model_info["rows_sampled"] == 3000 - 24

