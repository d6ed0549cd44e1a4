"""Insight models take a categorical input's levels from the library, also a big one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.library_store import import_library
from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from planner.reports.insight import insight_data


def test_insight_reads_the_levels_of_a_big_library(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Levels come from the Parquet table (no DataFrame), including ones no well has yet."""
    spec = CampaignSpec.from_dict({
        "name": "anodes", "library": {"inputs": ["d002_nm", "family"],
                                      "categorical": ["family"], "id_column": "material"},
        "targets": [{"name": "ice_pct", "threshold": 80.0}]})
    assert spec.categorical_inputs == {"family": ()}  # a library spec declares no levels
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"material": [f"M{i}" for i in range(300)],
                          "d002_nm": rng.uniform(0.34, 0.40, 300),
                          "family": rng.choice(["hard", "soft", "graphite"], 300)})
    frame.to_csv(tmp_path / "lib.csv", index=False)
    table = import_library(tmp_path / "lib.csv", spec=spec, dest_dir=tmp_path / "store")
    measured = frame[frame["family"] != "graphite"].head(12).rename(
        columns={"material": "candidate_id"})
    obs = measured.assign(batch_id=1, iso_week="2026-W10", well=[f"A{i}" for i in range(12)],
                          role="sample", status="ok", ice_pct=np.linspace(70, 90, 12))
    snap = CampaignSnapshot(spec=spec, revision=12, observations=obs, pending=pd.DataFrame(),
                            library=None, library_table=table)
    data = insight_data(snap)
    assert data.categorical == {"family": ["graphite", "hard", "soft"]}
    assert len(data.X) == 12 and set(data.X["family"]) == {"hard", "soft"}
    # The small-library path gives the same levels.
    small = CampaignSnapshot(spec=spec, revision=12, observations=obs, pending=pd.DataFrame(),
                             library=frame.rename(columns={"material": "candidate_id"}))
    assert insight_data(small).categorical == data.categorical
