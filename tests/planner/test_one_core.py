"""What a backtest measures is what `suggest` does: one pool core, one settings object."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from planner.acquisition import ProposalSettings
from planner.backtest import BacktestProblem, TargetSpec
from planner.backtest.strategies import SurrogateStrategy
from planner.propose import propose_plate


def _pool(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 2))
    return pd.DataFrame({
        "x1": x[:, 0], "x2": x[:, 1],
        "precursor": rng.choice(["pitch", "lignin", "cellulose"], n),
        "ice_pct": 60 + 30 * np.exp(-8 * ((x[:, 0] - 0.7) ** 2 + (x[:, 1] - 0.3) ** 2)),
        "loss_frac": 0.002 + x[:, 0] ** 3,
    })


def _library_snapshot(pool: pd.DataFrame, picked: list[int], settings: dict) -> CampaignSnapshot:
    spec = CampaignSpec.from_dict({
        "name": "lib",
        "library": {"inputs": ["x1", "x2", "precursor"], "categorical": ["precursor"]},
        "targets": [{"name": "ice_pct", "direction": "max"},
                    {"name": "loss_frac", "direction": "min"}],
        "plate": {"wells": 24},
        "planning": settings,
    })
    library = pool[["x1", "x2", "precursor"]].assign(
        candidate_id=[f"c{i}" for i in range(len(pool))])[["candidate_id", "x1", "x2",
                                                           "precursor"]]
    obs = library.iloc[picked].assign(
        batch_id=1, iso_week="2026-W01", well=[f"A{i + 1}" for i in range(len(picked))],
        role="sample", ice_pct=pool["ice_pct"].iloc[picked].to_numpy(),
        loss_frac=pool["loss_frac"].iloc[picked].to_numpy(), status="ok").reset_index(drop=True)
    pending = pd.DataFrame(columns=["batch_id", "iso_week", "well", "role", "candidate_id",
                                    "x1", "x2", "precursor"])
    return CampaignSnapshot(spec, 1, obs, pending, library)


@pytest.mark.parametrize("acquisition", ["auto", "qLogNParEGO"])
def test_a_backtest_step_picks_what_suggest_picks_on_the_same_library(acquisition: str) -> None:
    pool = _pool()
    picked = [3, 17, 25, 40, 58, 77, 91, 102]
    problem = BacktestProblem.from_frame(
        pool, inputs=["x1", "x2", "precursor"], categorical=["precursor"],
        targets=[TargetSpec("ice_pct", "max"), TargetSpec("loss_frac", "min")])
    settings = ProposalSettings(acquisition=acquisition, mc_samples=32)
    strategy = SurrogateStrategy("gp", problem.view(), seed=0, settings=settings)
    rows = strategy.propose(np.array(picked), problem.Y[picked], 6)

    snapshot = _library_snapshot(pool, picked, {"acquisition": acquisition, "mc_samples": 32})
    proposal = propose_plate(snapshot, seed=0, q=6)
    suggested = [int(c.removeprefix("c")) for c in proposal.recipes["candidate_id"]]
    assert rows == suggested
    name = "qLogNEHVI" if acquisition == "auto" else acquisition
    assert proposal.generator == f"botorch:{name}/gp"
    # The minimized loss spans far more than 10x: both model it on a log scale, and the
    # prediction comes back in its own units.
    assert proposal.model_info["log_targets"] == ["loss_frac"]
    means = [p["targets"]["loss_frac"]["mean"] for p in proposal.predictions]
    assert all(m > 0 for m in means)


def test_the_campaign_names_its_acquisition() -> None:
    from campaigns.errors import SpecError

    pool = _pool()
    with pytest.raises(SpecError) as info:
        _library_snapshot(pool, [1, 2, 3], {"acquisition": "qLogNEI"})
    assert "qLogNEI optimizes one objective" in str(info.value.problems or info.value)
    with pytest.raises(Exception, match="qLogNEI optimizes one objective"):
        ProposalSettings(acquisition="qLogNEI").resolved(2)
    with pytest.raises(Exception, match="unknown acquisition"):
        ProposalSettings(acquisition="EI")
