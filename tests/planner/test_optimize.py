"""Mixed-space acquisition optimization against plain BoTorch models (tiny settings)."""

from __future__ import annotations

import pytest
import torch
from botorch.models import MixedSingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize

import planner.optimize as optimize_module
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.acquisition import ObjectiveSpec, build_acquisition
from planner.design import space_filling_design
from planner.errors import PlanningWarning
from planner.optimize import FAST, candidate_pool, optimize_mixed
from planner.pool import lazy_greedy
from planner.space import EncodedSpace

pytestmark = pytest.mark.filterwarnings(
    # gpytorch adds jitter to near-singular kernels of the tiny random test GPs.
    "ignore:A not p.d., added jitter:linear_operator.utils.warnings.NumericalWarning",
)


def _space(spec: CampaignSpec) -> EncodedSpace:
    return EncodedSpace.from_spec(spec, spec.input_names, spec.categorical_inputs)


def _acqf(space: EncodedSpace, n: int = 16, seed: int = 0, target: int = 0):
    """qLogNEI on a MixedSingleTaskGP fitted to a smooth function of the encoded inputs."""
    X = space.encode(space_filling_design(space.spec, n, seed=seed))
    lo, hi = space.bounds
    Z = (X - lo) / (hi - lo).clamp_min(1e-9)
    y = (torch.sin(3 * Z[:, [target + 1]]) + Z[:, [target + 2]] - (Z[:, [0]] - 0.5) ** 2)
    cont = [j for j in range(space.dim) if j not in space.categories]
    model = MixedSingleTaskGP(
        X, y, cat_dims=sorted(space.categories),
        input_transform=Normalize(space.dim, indices=cont, bounds=space.bounds[:, cont]),
        outcome_transform=Standardize(1),
    ).eval()
    return build_acquisition(model, X_baseline=X, objectives=[ObjectiveSpec(0, "max")],
                             mc_samples=32, seed=seed)


@pytest.fixture(scope="module")
def electrolyte_space() -> EncodedSpace:
    return _space(load_template("electrolyte", name="e"))


@pytest.fixture(scope="module")
def integer_space() -> EncodedSpace:
    return _space(CampaignSpec.from_dict({
        "name": "int",
        "parameters": [
            {"kind": "categorical", "name": "precursor", "levels": ["a", "b", "c"]},
            {"kind": "integer", "name": "milling_passes", "lower": 0, "upper": 4},
            {"kind": "continuous", "name": "carbonization_temperature_c", "lower": 800,
             "upper": 1800},
            {"kind": "continuous", "name": "dwell_h", "lower": 0.5, "upper": 10},
        ],
        "targets": [{"name": "ice_pct"}],
    }))


def test_mixture_wells_sum_to_one_and_respect_constraints(electrolyte_space) -> None:
    space = electrolyte_space
    X, values = optimize_mixed(_acqf(space), space, 4, seed=0, settings=FAST)
    assert X.shape == (4, space.dim) and values.shape == (4,)
    assert torch.isfinite(values).all()
    assert space.contains(X).all()
    recipes = space.decode(X)
    fracs = recipes[list(space.spec.mixtures[0].components)].to_numpy()
    assert abs(fracs.sum(axis=1) - 1.0).max() <= 1e-9
    assert space.violations(recipes) == []
    assert set(recipes["salt"]) <= set(space.spec.parameter("salt").levels)
    assert len(recipes.drop_duplicates()) == 4


def test_integers_stay_integers_and_fixed_features_hold(integer_space) -> None:
    space = integer_space
    t = space.index("carbonization_temperature_c")
    X, _ = optimize_mixed(_acqf(space), space, 3, seed=1, settings=FAST,
                          fixed_features={t: 1234.0})
    recipes = space.decode(X)
    assert recipes["milling_passes"].dtype.kind == "i"
    assert recipes["milling_passes"].between(0, 4).all()
    assert (recipes["carbonization_temperature_c"] == 1234.0).all()


@pytest.mark.parametrize("optimized_wells", [1, 0], ids=["optimized-first-well", "pool-only"])
def test_shared_dims_take_the_first_wells_value(integer_space, optimized_wells) -> None:
    space = integer_space
    shared = [space.index("precursor"), space.index("dwell_h")]
    settings = optimize_module.replace(FAST, optimized_wells=optimized_wells)
    X, _ = optimize_mixed(_acqf(space), space, 5, seed=2, shared_dims=shared, settings=settings)
    assert (X[:, shared] == X[0, shared]).all()
    assert len(torch.unique(X, dim=0)) == 5


def test_same_seed_same_wells(electrolyte_space) -> None:
    a, va = optimize_mixed(_acqf(electrolyte_space), electrolyte_space, 3, seed=5, settings=FAST)
    b, vb = optimize_mixed(_acqf(electrolyte_space), electrolyte_space, 3, seed=5, settings=FAST)
    assert torch.equal(a, b) and torch.equal(va, vb)


def test_first_well_beats_the_pool(integer_space) -> None:
    """The gradient-based well is at least as good as anything in a 256-row random pool."""
    space = integer_space
    acqf = _acqf(space)
    pool = candidate_pool(space, 256, seed=9)
    with torch.no_grad():
        best_pool = acqf(pool.unsqueeze(-2)).max()
    X, values = optimize_mixed(acqf, space, 1, seed=0,
                               settings=optimize_module.replace(FAST, num_restarts=4,
                                                                raw_samples=128))
    assert values[0] >= best_pool - 1e-6


def test_lazy_greedy_matches_plain_greedy(integer_space) -> None:
    """Re-scoring only a few stale candidates per step picks what full re-scoring picks."""
    space = integer_space
    pool = candidate_pool(space, 200, seed=4)
    lazy, lazy_values = lazy_greedy(_acqf(space), pool, 6, batch=4)
    full, full_values = lazy_greedy(_acqf(space), pool, 6, batch=len(pool))
    assert lazy == full and len(set(lazy)) == 6
    assert lazy_values == pytest.approx(full_values)
    with torch.no_grad():
        first = int(torch.argmax(_acqf(space)(pool.unsqueeze(-2))))
    assert lazy[0] == first


def test_candidate_pool_is_valid_and_honours_fixed_features(electrolyte_space) -> None:
    space = electrolyte_space.with_fixed({"salt": "LiTFSI"})
    anchors = space.encode(space_filling_design(space.spec, 4, seed=1))
    pool = candidate_pool(space, 64, seed=0, anchors=anchors, per_anchor=16)
    assert len(pool) > 64  # space-filling rows plus valid perturbations
    assert space.contains(pool).all()
    assert (pool[:, space.index("salt")] == 2.0).all()
    assert len(torch.unique(pool, dim=0)) == len(pool)


def test_optimizer_failure_falls_back_to_the_pool(electrolyte_space, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(optimize_module, "optimize_acqf_mixed_alternating", broken)
    with pytest.warns(PlanningWarning, match="mixed acquisition optimizer failed"):
        X, values = optimize_mixed(_acqf(electrolyte_space), electrolyte_space, 3, seed=0,
                                   settings=FAST)
    assert electrolyte_space.contains(X).all() and len(torch.unique(X, dim=0)) == 3


def test_a_full_96_well_plate(integer_space) -> None:
    """q = 92 sample wells: every well distinct and valid, values finite."""
    space = integer_space
    X, values = optimize_mixed(_acqf(space), space, 92, seed=0, settings=FAST)
    assert X.shape == (92, space.dim)
    assert len(torch.unique(X, dim=0)) == 92
    assert space.contains(X).all() and torch.isfinite(values).all()


def test_fast_settings_fill_a_plate_larger_than_their_pool(electrolyte_space) -> None:
    """FAST draws 128 space-filling rows; 200 wells still get 200 distinct valid candidates."""
    from dataclasses import replace

    settings = replace(FAST, spray_per_anchor=0)  # no perturbation rows to make up the shortfall
    X, values = optimize_mixed(_acqf(electrolyte_space), electrolyte_space, 200, seed=0,
                               settings=settings)
    assert X.shape[0] == 200 and len(torch.unique(X, dim=0)) == 200
    assert electrolyte_space.contains(X).all() and torch.isfinite(values).all()


def test_acquisition_calls_stay_within_the_score_chunk(integer_space) -> None:
    """Memory bound: neither the pool's first scoring nor BoTorch's raw samples exceed the chunk.

    Every candidate carries the joint posterior of baseline and pending points, so one call over
    a whole pool of thousands built gigabytes of kernel matrices at 1,000 observations.
    """
    space = integer_space
    acqf = _acqf(space)
    sizes: list[int] = []
    acqf.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    settings = optimize_module.replace(FAST, pool_size=200, raw_samples=64, score_chunk=24)
    X, _ = optimize_mixed(acqf, space, 4, seed=3, settings=settings)
    assert len(torch.unique(X, dim=0)) == 4
    assert sizes and max(sizes) <= 24
    assert sum(sizes) > 200  # the whole pool was scored, in pieces
