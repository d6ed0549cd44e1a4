"""The feasibility model learned from failed syntheses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize

from campaigns.templates import load_template
from planner.acquisition import ConstraintSpec, ObjectiveSpec, build_acquisition
from planner.design import space_filling_design
from planner.feasibility import FeasibilityModel, fit_feasibility, with_feasibility
from planner.space import EncodedSpace
from tests.planner.proposal_data import hard_carbon_truth, observations, snapshot

pytestmark = pytest.mark.filterwarnings(
    # gpytorch adds jitter to near-singular kernels of small GPs.
    "ignore:A not p.d., added jitter:linear_operator.utils.warnings.NumericalWarning",
)

SPEC = load_template("hard-carbon", name="feas")
SPACE = EncodedSpace.from_spec(SPEC, SPEC.input_names, SPEC.categorical_inputs)


def _snapshot(cold_status: str, n: int = 40, seed: int = 3):
    """Wells below 1000 °C get ``cold_status``; the rest are ``ok``."""
    X = space_filling_design(SPEC, n, seed=seed)
    status = np.where(X["carbonization_temperature_c"] < 1000, cold_status, "ok")
    return snapshot(SPEC, observations(SPEC, X, hard_carbon_truth(X), status))


def _at(temperatures: list[float]) -> torch.Tensor:
    rows = pd.DataFrame({"precursor": "cellulose", "carbonization_temperature_c": temperatures,
                         "heating_rate_c_per_min": 5.0, "dwell_h": 2.0, "n_doping_at_pct": 1.0,
                         "s_doping_at_pct": 1.0})
    return SPACE.encode(rows[SPEC.input_names])


@pytest.fixture(scope="module")
def feasibility() -> FeasibilityModel:
    model = fit_feasibility(_snapshot("failed_synthesis"), SPACE, seed=0)
    assert model is not None
    return model


def test_inactive_without_failed_syntheses() -> None:
    assert fit_feasibility(_snapshot("ok"), SPACE) is None
    # A failed cell means the material was made: no lesson about the recipe.
    assert fit_feasibility(_snapshot("failed_cell"), SPACE) is None
    assert fit_feasibility(snapshot(SPEC), SPACE) is None  # no data at all


def test_failed_region_is_improbable(feasibility) -> None:
    p = feasibility.probability(_at([850.0, 900.0, 1300.0, 1600.0]))
    assert p.shape == (4,) and ((p >= 0) & (p <= 1)).all()
    assert p[:2].max() < 0.3 and p[2:].min() > 0.7
    assert feasibility.n_failed_ > 0 and feasibility.n_made_ > 0


def test_failed_cells_count_as_made() -> None:
    """Same cold wells; half failed synthesis, half failed cells: only the former are failures."""
    snap = _snapshot("failed_synthesis")
    obs = snap.observations.copy()
    cold = obs.index[obs["status"] == "failed_synthesis"]
    obs.loc[cold[::2], "status"] = "failed_cell"
    model = fit_feasibility(snapshot(SPEC, obs), SPACE, seed=0)
    assert model is not None
    assert model.n_failed_ == len(cold[1::2])
    assert model.n_made_ == len(obs) - len(cold[1::2])


def test_as_an_outcome_constraint_it_steers_the_acquisition(feasibility) -> None:
    """Below 1000 °C the objective is best, but the constraint makes the acquisition avoid it."""
    X = SPACE.encode(space_filling_design(SPEC, 30, seed=1))
    y = -(X[:, [SPACE.index("carbonization_temperature_c")]] - 800.0) / 1000.0  # colder = better
    model = SingleTaskGP(X, y, outcome_transform=Standardize(1),
                         input_transform=Normalize(SPACE.dim, bounds=SPACE.bounds)).eval()
    combined = with_feasibility(model, feasibility)
    assert combined.num_outputs == 2
    objectives = [ObjectiveSpec(0, "max")]
    plain = build_acquisition(model, X_baseline=X, objectives=objectives, mc_samples=64)
    constrained = build_acquisition(combined, X_baseline=X, objectives=objectives, mc_samples=64,
                                    constraints=[ConstraintSpec(1, "max", feasibility.threshold)])
    cold, warm = _at([850.0]).unsqueeze(-2), _at([1300.0]).unsqueeze(-2)
    with torch.no_grad():
        assert plain(cold) > plain(warm)
        assert constrained(cold) < constrained(warm)
