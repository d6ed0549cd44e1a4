"""Furnace runs per plate: the wells of a plate share at most k furnace programs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from campaigns.errors import SpecError
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.design import space_filling_design
from planner.optimize import farthest_program, run_sizes
from planner.propose import propose_plate, space_filling_plate
from planner.space import EncodedSpace
from tests.planner.proposal_data import observations, snapshot

PROGRAM = ["carbonization_temperature_c", "heating_rate_c_per_min", "dwell_h"]


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return load_template("hard-carbon", name="furnace")


def _programs(recipes: pd.DataFrame) -> pd.DataFrame:
    return recipes[PROGRAM].drop_duplicates()


def test_the_hard_carbon_template_has_four_furnace_runs(spec) -> None:
    assert spec.plate.furnace_runs == 4
    assert spec.plate.furnace_parameters == tuple(PROGRAM)


def test_a_first_plate_uses_k_programs_spread_over_the_range(spec) -> None:
    proposal = space_filling_plate(spec, spec.sample_well_count, seed=3)
    recipes = proposal.recipes
    assert len(recipes) == 92
    programs = _programs(recipes)
    assert len(programs) == 4
    # the centres of four strata of 800-1800 °C, one per run
    assert sorted(programs["carbonization_temperature_c"]) == [925, 1175, 1425, 1675]
    assert programs["heating_rate_c_per_min"].nunique() == 4
    assert EncodedSpace.for_spec(spec).violations(recipes) == []
    # the other parameters still vary inside each run
    runs = spec.furnace_run_numbers(recipes.to_dict(orient="records"))
    assert runs == sorted(runs) and [runs.count(r) for r in (1, 2, 3, 4)] == [23] * 4
    assert recipes.groupby(runs)["precursor"].nunique().min() >= 4
    assert [r["wells"] for r in proposal.model_info["furnace_runs"]] == [23] * 4


def test_without_furnace_runs_every_well_has_its_own_program(spec) -> None:
    data = spec.to_dict()
    data["plate"].update(furnace_runs=None, furnace_parameters=[])
    plain = CampaignSpec.from_dict(data)
    recipes = space_filling_plate(plain, plain.sample_well_count, seed=3).recipes
    assert len(_programs(recipes)) > 80
    assert set(plain.furnace_run_numbers(recipes.to_dict(orient="records"))) == {None}


def test_a_botorch_plate_on_a_flat_model_spreads_its_k_programs(spec) -> None:
    # Targets that do not depend on the recipe: the model has no opinion on temperature.
    X = space_filling_design(spec, 24, seed=5)
    rng = np.random.default_rng(5)
    Y = pd.DataFrame({"ice_pct": 82.0 + rng.normal(0, 0.3, 24),
                      "reversible_capacity_mah_per_g": 300.0 + rng.normal(0, 1.0, 24),
                      "plateau_capacity_mah_per_g": 100.0})
    snap = snapshot(spec, observations(spec, X, Y))
    proposal = propose_plate(snap, seed=2, q=16, fast=True)
    assert proposal.generator.startswith("botorch:")
    recipes = proposal.recipes
    programs = _programs(recipes)
    assert len(programs) <= 4
    temperature = programs["carbonization_temperature_c"]
    # not all at (or near) one bound: spread over at least a third of the range
    assert temperature.max() - temperature.min() >= 330.0
    assert not (temperature >= 1700).all() and not (temperature <= 900).all()
    # and no program in a corner of the program box (plain greedy put two within 4 % of a bound)
    lo = np.array([800.0, 1.0, 0.5])
    hi = np.array([1800.0, 20.0, 10.0])
    u = (programs.to_numpy(float) - lo) / (hi - lo)
    assert ((u >= 0.05) & (u <= 0.95)).all(), programs
    assert EncodedSpace.for_spec(spec).violations(recipes) == []
    runs = spec.furnace_run_numbers(recipes.to_dict(orient="records"))
    assert runs == sorted(runs)  # a run's wells sit together on the plate
    info = proposal.model_info["furnace_runs"]
    assert sum(r["wells"] for r in info) == 16 and len(info) == len(programs)


def test_a_shared_furnace_parameter_holds_for_the_plate_and_the_rest_form_runs(spec) -> None:
    data = spec.to_dict()
    data["plate"]["shared_parameters"] = ["carbonization_temperature_c"]
    shared = CampaignSpec.from_dict(data)
    recipes = space_filling_plate(shared, 20, seed=1).recipes
    assert recipes["carbonization_temperature_c"].nunique() == 1
    assert len(_programs(recipes)) == 4


def test_run_sizes_split_evenly() -> None:
    assert run_sizes(92, 4) == [23, 23, 23, 23]
    assert run_sizes(10, 4) == [3, 3, 2, 2]
    assert run_sizes(3, 4) == [1, 1, 1]


def test_farthest_program_fills_a_flat_range_like_strata() -> None:
    U = torch.linspace(0, 1, 201, dtype=torch.double).reshape(-1, 1)
    chosen: list[int] = []
    for _ in range(4):
        chosen.append(farthest_program(U, U[chosen] if chosen else None))
    values = sorted(float(U[i, 0]) for i in chosen)
    assert min(np.diff(values)) >= 0.16
    assert 0.05 < values[0] and values[-1] < 0.95  # never in a corner
    eligible = U[:, 0] > 0.8  # only near-best programs may be taken
    assert float(U[farthest_program(U, None, eligible), 0]) > 0.8


@pytest.mark.parametrize(
    ("plate", "message"),
    [({"furnace_runs": 4}, "furnace_runs needs furnace_parameters"),
     ({"furnace_runs": 4, "furnace_parameters": ["precursor"]}, "not a numeric parameter"),
     ({"furnace_runs": 200, "furnace_parameters": ["dwell_h"]}, "exceeds the")],
    ids=["no-parameters", "categorical", "too-many-runs"],
)
def test_bad_furnace_settings_are_refused_with_a_hint(spec, plate, message) -> None:
    data = spec.to_dict()
    data["plate"].update({"furnace_runs": None, "furnace_parameters": [],
                          "shared_parameters": [], **plate})
    with pytest.raises(SpecError, match=message) as err:
        CampaignSpec.from_dict(data)
    assert "Hint" in str(err.value)
