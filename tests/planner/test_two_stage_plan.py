"""Recipe campaigns that measure descriptors plan with the two-stage model when the spec says so."""

from __future__ import annotations

import numpy as np
import pytest

from campaigns.errors import SpecError
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.design import space_filling_design
from planner.propose import PlateProposal, _Notes, _two_stage_data, propose_plate
from planner.simulation.hard_carbon import DESCRIPTORS, simulate_plate
from tests.planner.proposal_data import observations, snapshot

HC = load_template("hard-carbon", name="hc2")


def _spec(two_stage: str) -> CampaignSpec:
    data = HC.to_dict()
    data["planning"] = {**data.get("planning", {}), "two_stage": two_stage}
    return CampaignSpec.from_dict(data)


def _measured(spec: CampaignSpec, n: int, *, descriptors: bool = True):
    """``n`` space-filling recipes measured by the SIMULATED virtual lab (descriptors too)."""
    X = space_filling_design(spec, n, seed=1)
    lab = simulate_plate(X, seed=3, plate_index=0)
    obs = observations(spec, X, lab, status=lab["status"].to_numpy())
    if descriptors:
        for d in DESCRIPTORS:
            obs[d] = lab[d].to_numpy()
    return snapshot(spec, obs)


@pytest.fixture(scope="module")
def two_stage_plate() -> PlateProposal:
    return propose_plate(_measured(_spec("auto"), 20), seed=0, q=4, fast=True)


def test_auto_plans_with_the_two_stage_model_once_descriptors_are_measured(two_stage_plate):
    p = two_stage_plate
    assert p.generator == "botorch:qLogNEHVI/two_stage:gp"
    info = p.model_info["two_stage"]
    assert info["used"] is True and info["setting"] == "auto"
    assert info["descriptors"] == [d.name for d in HC.descriptors]
    assert info["log_descriptors"] == ["bet_ssa_m2_per_g"]
    assert p.model_info["surrogate"] == "two_stage:gp"
    assert len(p.recipes) == 4 and len(p.recipes.drop_duplicates()) == 4
    for row in p.predictions:  # the composed model's predictions reach the plate
        ice = row["targets"]["ice_pct"]
        assert 40 < ice["mean"] < 100 and ice["std"] > 0


def test_failed_cells_teach_stage_one():
    spec = _spec("on")
    obs = _measured(spec, 20).observations.copy()
    made = obs.index[obs["status"] == "ok"][:4]
    obs.loc[made, "status"] = "failed_cell"
    obs.loc[made, [t.name for t in spec.targets]] = np.nan
    snap = snapshot(spec, obs)
    X, _ = snap.training_data()
    X = X[snap.observations.loc[X.index, "ice_pct"].notna()]
    frame, info = _two_stage_data(snap, X, _Notes())
    cells = obs.index[obs["status"] == "failed_cell"]
    assert info["used"] is False and info["rows_without_targets"] == len(cells) >= 4
    assert list(frame.index) == [*X.index, *cells]
    np.testing.assert_array_equal(frame.loc[cells, "d002_nm"], obs.loc[cells, "d002_nm"])
    assert list(frame.columns) == [*HC.input_names, *info["descriptors"]]


def test_off_plans_with_the_one_stage_model():
    p = propose_plate(_measured(_spec("off"), 20), seed=0, q=2, fast=True)
    assert p.generator == "botorch:qLogNEHVI/gp"
    assert p.model_info["two_stage"] == {"setting": "off", "used": False,
                                         "reason": "off in the spec"}


@pytest.mark.parametrize(
    ("setting", "n", "descriptors", "reason"),
    [("auto", 8, True, "no descriptor is measured on 12 or more wells yet"),
     ("auto", 20, False, "no descriptor is measured on 12 or more wells yet"),
     ("on", 20, False, "no descriptor is measured on 3 or more wells yet")],
    ids=["auto-too-few", "auto-unmeasured", "on-unmeasured"],
)
def test_two_stage_waits_for_measured_descriptors(setting, n, descriptors, reason):
    snap = _measured(_spec(setting), n, descriptors=descriptors)
    notes = _Notes()
    frame, info = _two_stage_data(snap, snap.training_data()[0], notes)
    assert frame is None and info == {"setting": setting, "used": False, "reason": reason}
    assert bool(notes.messages) == (setting == "on")  # asked for it: say why not


def test_spec_refuses_an_unknown_two_stage_setting():
    with pytest.raises(SpecError, match="planning.two_stage: Input should be 'auto', 'on' or"):
        _spec("sometimes")


def test_campaign_without_descriptors_says_so():
    spec = CampaignSpec.from_dict({**_spec("on").to_dict(), "descriptors": []})
    snap = _measured(spec, 10, descriptors=False)
    frame, info = _two_stage_data(snap, snap.training_data()[0], _Notes())
    assert frame is None and info["reason"] == "the campaign has no descriptors"
