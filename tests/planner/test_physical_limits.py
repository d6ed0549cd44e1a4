"""Declared physical limits: no frozen solvent blend, no salt beyond its solubility."""

from __future__ import annotations

import pandas as pd
import pytest

from campaigns.physchem import RecipeLimits, liquidus_c
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.optimize import candidate_pool
from planner.propose import propose_plate, space_filling_plate
from planner.simulation.electrolyte import simulate_electrolyte
from planner.space import EncodedSpace
from tests.planner.proposal_data import electrolyte_snapshot

SOLVENTS = ["ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac", "dme_frac", "diglyme_frac"]


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return load_template("electrolyte", name="limits")


def _recipes(n: int = 1, **columns) -> pd.DataFrame:
    base = {"salt": "LiPF6", "salt_molality_mol_per_kg": 1.0, "fec_wt_pct": 0.0,
            "vc_wt_pct": 0.0, "temperature_c": 25.0, **dict.fromkeys(SOLVENTS, 0.0)}
    frame = pd.DataFrame({k: [v] * n for k, v in base.items()})
    for key, value in columns.items():
        frame[key] = value
    return frame


def _without_limits(spec: CampaignSpec) -> CampaignSpec:
    return CampaignSpec.from_dict({**spec.to_dict(), "physical_limits": {
        "liquid_solvent": False, "salt_solubility": False}})


def test_liquidus_of_pure_solvents_is_their_melting_point() -> None:
    assert liquidus_c({"ec_frac": 1.0})[0] == pytest.approx(36.4)
    assert liquidus_c({"dmc_frac": 1.0}, basis="mole")[0] == pytest.approx(4.6)


def test_mixing_and_salt_lower_the_liquidus() -> None:
    ec = [1.0, 0.7, 0.5]
    pure = liquidus_c({"ec_frac": ec, "dmc_frac": [1 - x for x in ec]})
    assert pure[0] > pure[1] > pure[2]
    blends = liquidus_c({"ec_frac": ec, "dmc_frac": [1 - x for x in ec]}, salt_mol_per_kg=1.0)
    assert (blends < pure).all()


def test_pure_ec_at_25_c_is_refused_and_lp30_is_not(spec) -> None:
    limits = RecipeLimits.from_spec(spec)
    assert limits is not None and limits.temperature_column == "temperature_c"
    frame = _recipes(3, ec_frac=[1.0, 0.5, 0.5], dmc_frac=[0.0, 0.5, 0.5],
                     temperature_c=[25.0, 25.0, 45.0])
    assert limits.holds(frame).tolist() == [False, True, True]
    problems = limits.problems(frame)
    assert [row for row, _ in problems] == [0]
    assert "freezes" in problems[0][1] and "25 °C" in problems[0][1]
    # pure EC above its melting point is a liquid
    assert limits.holds(_recipes(ec_frac=1.0, temperature_c=45.0)).all()


def test_salt_beyond_its_solubility_is_refused(spec) -> None:
    limits = RecipeLimits.from_spec(spec)
    frame = _recipes(3, salt=["LiPF6", "LiFSI", "LiPF6"], salt_molality_mol_per_kg=[3.5, 3.5, 2.0],
                     dmc_frac=1.0)
    assert limits.holds(frame).tolist() == [False, True, True]
    assert "exceeds its solubility" in limits.problems(frame)[0][1]
    # a campaign may declare its own limit
    own = CampaignSpec.from_dict({**spec.to_dict(), "physical_limits": {
        "max_molality_mol_per_kg": {"LiPF6": 4.0}}})
    assert RecipeLimits.from_spec(own).holds(frame).all()


def test_limits_apply_only_where_the_inputs_exist() -> None:
    assert RecipeLimits.from_spec(load_template("hard-carbon")) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_space_filling_plates_respect_the_limits(spec, seed) -> None:
    limits = RecipeLimits.from_spec(spec)
    recipes = space_filling_plate(spec, 24, seed=seed).recipes
    assert len(recipes) == 24 and limits.holds(recipes).all()
    assert EncodedSpace.for_spec(spec).violations(recipes) == []
    # the same plate without declared limits does break them: the check above could fail
    free = space_filling_plate(_without_limits(spec), 24, seed=seed).recipes
    assert not limits.holds(free).all()


def test_candidate_pools_respect_the_limits(spec) -> None:
    space = EncodedSpace.for_spec(spec)
    pool = candidate_pool(space, 256, seed=0)
    assert len(pool) > 100
    assert RecipeLimits.from_spec(spec).holds(space.decode(pool)).all()


def test_a_botorch_electrolyte_plate_respects_the_limits() -> None:
    snap = electrolyte_snapshot(20, seed=4)
    proposal = propose_plate(snap, seed=3, q=8, fast=True)
    assert proposal.generator.startswith("botorch:")
    limits = RecipeLimits.from_spec(snap.spec)
    assert limits.holds(proposal.recipes).all(), limits.problems(proposal.recipes)


def test_the_simulated_lab_cannot_measure_a_frozen_electrolyte() -> None:
    frame = _recipes(2, ec_frac=[1.0, 0.5], dmc_frac=[0.0, 0.5])
    plate = simulate_electrolyte(frame, seed=0)
    assert plate["status"].tolist()[0] == "failed_synthesis"
    assert plate.loc[0, ["ionic_conductivity_ms_per_cm", "coulombic_efficiency_pct"]].isna().all()
    assert plate["status"].iloc[1] in ("ok", "failed_cell")
