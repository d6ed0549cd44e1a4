"""``log_scale: true`` on a parameter, end to end: design, optimizer, pool and surrogate."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.transforms.input import Log10

import planner.optimize as optimize_module
import planner.propose as propose_module
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.design import space_filling_design
from planner.optimize import FAST, Log10Search, candidate_pool, optimize_mixed
from planner.propose import propose_plate
from planner.space import EncodedSpace
from tests.planner.proposal_data import hard_carbon_snapshot


def _dopant_spec(**extra) -> CampaignSpec:  # noqa: ANN003
    return CampaignSpec.from_dict({
        "name": "dopant",
        "parameters": [
            {"kind": "continuous", "name": "dopant_pct", "lower": 0.01, "upper": 10,
             "log_scale": True, "resolution": 0.001},
            {"kind": "continuous", "name": "temperature_c", "lower": 800, "upper": 1800,
             "resolution": 1},
        ],
        "targets": [{"name": "ice_pct"}],
        **extra,
    })


def test_a_space_filling_plate_spreads_a_log_scale_parameter_over_decades() -> None:
    spec = _dopant_spec()
    design = space_filling_design(spec, 92, seed=0)
    dopant, temperature = design["dopant_pct"], design["temperature_c"]
    # Below the arithmetic 10 % point (1.009 %) lie two of the three decades: about 2/3 of wells.
    assert (dopant < 0.01 + 0.1 * (10 - 0.01)).mean() > 0.6
    for decade in (0.01, 0.1, 1.0):
        assert ((dopant >= decade) & (dopant < 10 * decade)).sum() >= 25
    assert (temperature < 900).mean() < 0.15  # a linear parameter stays uniform


def test_the_space_knows_its_log_dimensions() -> None:
    spec = _dopant_spec()
    space = EncodedSpace.from_spec(spec, ["temperature_c", "dopant_pct"], {})
    assert space.log_dims == (1,)
    assert EncodedSpace.for_spec(load_template("hard-carbon")).log_dims == ()


class _Bump(AcquisitionFunction):
    """A narrow bump at 0.02 % dopant (1300 °C) and a decoy slope towards 10 %."""

    def __init__(self) -> None:
        super().__init__(GenericDeterministicModel(lambda X: X[..., :1]))
        self.set_X_pending(None)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        dopant, temperature = X[..., 0, 0], X[..., 0, 1]
        bump = torch.exp(-((torch.log10(dopant) - math.log10(0.02)) / 0.1) ** 2)
        return bump + 0.03 * dopant - ((temperature - 1300) / 1000) ** 2


def test_log10_search_has_log_bounds_and_decodes_back() -> None:
    space = EncodedSpace.for_spec(_dopant_spec())
    search = Log10Search.of(_Bump(), space)
    assert search is not None and search.dims == [0]
    np.testing.assert_allclose(search.bounds[:, 0].numpy(), [-2.0, 1.0])
    assert search.bounds[:, 1].tolist() == [800.0, 1800.0]
    X = torch.tensor([[0.05, 1000.0], [3.0, 1500.0]], dtype=torch.double)
    torch.testing.assert_close(search.to_lab(search.to_search(X)), X)
    Z = search.to_search(X).reshape(2, 1, 2)
    torch.testing.assert_close(search(Z), _Bump()(X.reshape(2, 1, 2)))


def test_log_dimensions_named_by_a_linear_constraint_are_searched_linearly() -> None:
    constrained = _dopant_spec(linear_constraints=[
        {"coefficients": {"dopant_pct": 100, "temperature_c": 1}, "operator": "<=",
         "rhs": 2500}])
    assert Log10Search.of(_Bump(), EncodedSpace.for_spec(constrained)) is None
    held = EncodedSpace.for_spec(_dopant_spec()).with_fixed({"dopant_pct": 0.5})
    assert Log10Search.of(_Bump(), held) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_optimizer_finds_an_optimum_in_the_lowest_decade(seed: int, monkeypatch) -> None:
    space = EncodedSpace.for_spec(_dopant_spec())
    settings = replace(FAST, optimized_wells=1)
    X, values = optimize_mixed(_Bump(), space, 1, seed=seed, settings=settings)
    recipe = space.decode(X).iloc[0]
    assert 0.015 <= recipe["dopant_pct"] <= 0.027 and float(values[0]) > 0.9
    assert space.violations(space.decode(X)) == []
    assert recipe["dopant_pct"] == round(recipe["dopant_pct"], 3)  # on the 0.001 % resolution
    # Searching in lab units, the random starts miss the bump and the decoy wins.
    monkeypatch.setattr(optimize_module.Log10Search, "of", classmethod(lambda *_: None))
    X_lin, _ = optimize_mixed(_Bump(), space, 1, seed=seed, settings=settings)
    assert space.decode(X_lin).iloc[0]["dopant_pct"] > 1.0


def test_spray_around_an_anchor_moves_log_inputs_by_factors() -> None:
    space = EncodedSpace.for_spec(_dopant_spec())
    anchor = torch.tensor([[0.05, 1300.0]], dtype=torch.double)
    pool = candidate_pool(space, 0, seed=0, anchors=anchor, per_anchor=200, scale=0.05)
    dopant = pool[:, 0].numpy()
    assert space.contains(pool).all() and len(pool) > 150
    ratio = np.log10(dopant / 0.05)
    # std 0.05 of three decades = 0.15 decades; a linear step (0.5 %) would be 10x the anchor
    assert 0.08 < ratio.std() < 0.25 and dopant.max() < 0.3 and dopant.min() > 0.01


def test_the_gp_models_log_scale_parameters_as_log10(monkeypatch) -> None:
    data = load_template("hard-carbon", name="hc").to_dict()
    for p in data["parameters"]:
        if p["name"] == "heating_rate_c_per_min":
            p["log_scale"] = True
    spec = CampaignSpec.from_dict(data)
    snap = hard_carbon_snapshot(16, spec=spec)
    fitted = []
    make = propose_module.make_surrogate
    monkeypatch.setattr(propose_module, "make_surrogate",
                        lambda *a, **k: fitted.append(make(*a, **k)) or fitted[-1])
    proposal = propose_plate(snap, seed=0, q=6, fast=True)
    assert proposal.generator.endswith("/gp")
    (gp,) = fitted
    assert gp.log_columns_ == ["heating_rate_c_per_min"]
    j = list(gp.feature_names_in_).index("heating_rate_c_per_min")
    for model in gp.to_botorch().models:
        logs = [t for t in model.input_transform.values() if isinstance(t, Log10)]
        assert [t.indices.tolist() for t in logs] == [[j]]
    assert proposal.model_info["surrogate_params"]["log_columns"] == ["heating_rate_c_per_min"]
    rate = proposal.recipes["heating_rate_c_per_min"]
    assert rate.between(1, 20).all() and np.allclose(rate / 0.5, np.round(rate / 0.5))
    assert EncodedSpace.for_spec(spec).violations(proposal.recipes) == []
