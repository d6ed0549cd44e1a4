"""The encoded search space: bounds, categories, integers, mixture and linear constraints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.spec import CampaignSpec, ContinuousParameter
from campaigns.templates import TEMPLATES, load_template
from planner.design import linear_constraint_holds, space_filling_design
from planner.errors import PlanningError
from planner.space import EncodedSpace, SpaceError, project_to_simplex


@pytest.fixture(scope="module")
def electrolyte():
    spec = load_template("electrolyte", name="e")
    return spec, EncodedSpace.from_spec(spec, spec.input_names, spec.categorical_inputs)


@pytest.fixture(scope="module")
def mixed_spec() -> CampaignSpec:
    """Integer, one-level categorical, bounded mixture and a >= constraint."""
    return CampaignSpec.from_dict({
        "name": "mixed",
        "parameters": [
            {"kind": "categorical", "name": "salt", "levels": ["LiPF6", "LiFSI", "LiTFSI"]},
            {"kind": "categorical", "name": "separator", "levels": ["glass_fiber"]},
            {"kind": "integer", "name": "washing_steps", "lower": 0, "upper": 5},
            {"kind": "continuous", "name": "temperature_c", "lower": -20, "upper": 60},
        ],
        "mixtures": [{"name": "solvent", "components": ["ec_frac", "dmc_frac", "emc_frac"],
                      "lower": {"ec_frac": 0.1}, "upper": {"dmc_frac": 0.6}}],
        "linear_constraints": [{"coefficients": {"temperature_c": 1, "washing_steps": 4},
                                "operator": ">=", "rhs": 0}],
        "targets": [{"name": "coulombic_efficiency_pct"}],
    })


def test_hard_carbon_space_follows_the_encoding_order() -> None:
    spec = load_template("hard-carbon", name="hc")
    names = list(reversed(spec.input_names))
    levels = list(reversed(spec.parameter("precursor").levels))
    space = EncodedSpace.from_spec(spec, names, {"precursor": levels})
    j = space.index("precursor")
    assert j == len(names) - 1
    assert space.cat_dims == {j: [float(i) for i in range(6)]}
    assert space.bounds[:, j].tolist() == [0.0, 5.0]
    t = space.index("carbonization_temperature_c")
    assert space.bounds[:, t].tolist() == [800.0, 1800.0]
    assert not space.equality_constraints and not space.inequality_constraints
    # codes follow the given level order, not the spec's
    X = torch.zeros(1, space.dim)
    X[0, j] = 0.0
    assert space.decode(X)["precursor"].iloc[0] == levels[0]
    assert list(space.decode(X).columns) == spec.input_names


def test_mixture_becomes_an_equality_and_le_constraints_are_negated(electrolyte) -> None:
    spec, space = electrolyte
    (idx, coef, rhs), = space.equality_constraints
    fracs = [space.index(c) for c in spec.mixtures[0].components]
    assert idx.tolist() == fracs and coef.tolist() == [1.0] * 7 and rhs == 1.0
    (idx, coef, rhs), = space.inequality_constraints  # fec + vc <= 12  ->  -fec - vc >= -12
    assert idx.tolist() == [space.index("fec_wt_pct"), space.index("vc_wt_pct")]
    assert coef.tolist() == [-1.0, -1.0]
    assert -12.0 < rhs < -12.0 + 1e-4  # tightened a hair for the optimizer's tolerance


def test_integer_fixed_and_bounded_mixture(mixed_spec) -> None:
    space = EncodedSpace.from_spec(mixed_spec, mixed_spec.input_names,
                                   mixed_spec.categorical_inputs)
    w = space.index("washing_steps")
    assert space.discrete_dims == {w: [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
    assert space.fixed_features == {space.index("separator"): 0.0}
    assert space.inequality_constraints[0][1].tolist() == [1.0, 4.0]
    ec, dmc = space.index("ec_frac"), space.index("dmc_frac")
    assert space.bounds[:, ec].tolist() == [0.1, 1.0]
    assert space.bounds[:, dmc].tolist() == [0.0, 0.6]


def test_decode_makes_valid_recipes_from_any_point(mixed_spec) -> None:
    space = EncodedSpace.from_spec(mixed_spec, mixed_spec.input_names,
                                   mixed_spec.categorical_inputs)
    gen = torch.Generator().manual_seed(0)
    lo, hi = space.bounds
    X = lo + (hi - lo) * torch.rand(200, space.dim, generator=gen, dtype=torch.double) * 1.4 - 0.2
    df = space.decode(X)
    fracs = df[["ec_frac", "dmc_frac", "emc_frac"]].to_numpy()
    assert np.abs(fracs.sum(axis=1) - 1.0).max() <= 1e-12
    assert (fracs[:, 0] >= 0.1).all() and (fracs[:, 1] <= 0.6).all() and (fracs >= 0).all()
    assert df["washing_steps"].dtype == np.int64
    assert set(df["salt"]) <= {"LiPF6", "LiFSI", "LiTFSI"}
    assert set(df["separator"]) == {"glass_fiber"}
    assert df["temperature_c"].between(-20, 60).all()
    # snap is decode, re-encoded
    assert torch.equal(space.snap(X), space.encode(df))


def test_encode_decode_round_trip_on_a_design(electrolyte) -> None:
    spec, space = electrolyte
    design = space_filling_design(spec, 32, seed=3)
    X = space.encode(design)
    assert space.contains(X).all()
    back = space.decode(X)
    # decoding is the plate's rounding to the lab's resolution, nothing more
    pd.testing.assert_frame_equal(back, space.rounded(design))
    assert (back["salt"] == design["salt"]).all()
    np.testing.assert_allclose(back["temperature_c"], design["temperature_c"], atol=0.5 + 1e-9)
    assert space.violations(back) == []
    assert torch.equal(space.encode(space.decode(space.encode(back))), space.encode(back))


def test_resolution_rounding_keeps_mixtures_exact(electrolyte) -> None:
    spec, space = electrolyte
    lo, hi = space.bounds
    X = lo + (hi - lo) * torch.rand(64, space.dim, generator=torch.Generator().manual_seed(2),
                                    dtype=torch.double)
    df = space.decode(X)
    comps = list(spec.mixtures[0].components)
    assert np.abs(df[comps].to_numpy().sum(axis=1) - 1.0).max() <= 1e-12
    ok = space.valid_rows(df)
    step = spec.parameter("temperature_c").resolution
    on_grid = np.isclose(df["temperature_c"] / step, np.round(df["temperature_c"] / step))
    assert on_grid[ok].all()  # rows whose rounding broke a constraint would stay unrounded
    fracs = df.loc[ok, comps].to_numpy() / spec.mixtures[0].resolution
    assert np.isclose(fracs, np.round(fracs), atol=1e-6).all()


def test_violations_name_row_and_problem(electrolyte) -> None:
    spec, space = electrolyte
    design = space_filling_design(spec, 4, seed=0)
    design.loc[1, "ec_frac"] += 0.01
    design.loc[2, "fec_wt_pct"], design.loc[2, "vc_wt_pct"] = 9.0, 9.0
    design.loc[3, "salt"] = "NaPF6"
    problems = space.violations(design)
    assert any(p.startswith("row 1, mixture 'solvent'") for p in problems)
    assert any(p.startswith("row 2: linear constraint 0") for p in problems)
    assert any(p.startswith("row 3, 'salt'") for p in problems)
    assert space.valid_rows(design).tolist() == [True, False, False, False]
    assert space.contains(space.encode(design.iloc[[0, 1, 2]])).tolist() == [True, False, False]


def test_with_fixed_encodes_levels_and_rejects_bad_values(electrolyte) -> None:
    _, space = electrolyte
    fixed = space.with_fixed({"salt": "LiFSI", "temperature_c": 25})
    assert fixed.fixed_features == {space.index("salt"): 1.0, space.index("temperature_c"): 25.0}
    assert space.fixed_features == {}  # the original is untouched
    with pytest.raises(SpaceError, match="not a level") as err:
        space.with_fixed({"salt": "NaPF6"})
    assert isinstance(err.value, PlanningError) and "LiPF6" in err.value.hint
    with pytest.raises(SpaceError, match="outside its bounds"):
        space.with_fixed({"temperature_c": 99})
    with pytest.raises(SpaceError, match="not an input"):
        space.with_fixed({"pressure_bar": 1})


def test_mismatched_encoding_is_refused() -> None:
    spec = load_template("hard-carbon", name="hc")
    with pytest.raises(SpaceError, match="missing") as err:
        EncodedSpace.from_spec(spec, spec.input_names[:-1], spec.categorical_inputs)
    assert err.value.hint
    with pytest.raises(SpaceError, match="levels"):
        EncodedSpace.from_spec(spec, spec.input_names, {"precursor": ["wood", "coal"]})


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 7),
    data=st.data(),
)
def test_projection_lands_on_the_bounded_simplex(k: int, data) -> None:
    lower = np.array(data.draw(st.lists(st.floats(0, 1.0 / k), min_size=k, max_size=k)))
    upper = np.array(data.draw(st.lists(st.floats(1.0 / k, 1), min_size=k, max_size=k)))
    x = np.array(data.draw(st.lists(st.lists(st.floats(-2, 2), min_size=k, max_size=k),
                                    min_size=1, max_size=5)))
    z = project_to_simplex(x, lower, upper)
    assert np.abs(z.sum(axis=1) - 1.0).max() <= 1e-12
    assert (z >= lower - 1e-12).all() and (z <= upper + 1e-12).all()
    np.testing.assert_allclose(project_to_simplex(z, lower, upper), z, atol=1e-9)  # idempotent


def test_linear_constraints_hold_after_decode(electrolyte) -> None:
    spec, space = electrolyte
    lo, hi = space.bounds
    X = lo + (hi - lo) * torch.rand(64, space.dim, generator=torch.Generator().manual_seed(1),
                                    dtype=torch.double)
    df = space.decode(X)
    inside = linear_constraint_holds(df, spec.linear_constraints[0])
    assert inside.any() and not inside.all()  # decode does not repair linear constraints ...
    # ... but the checks see exactly those rows (and the declared physical limits)
    assert (space.valid_rows(df) == (inside & space.limits.holds(df))).all()


def _on_grid(values: pd.Series | np.ndarray, step: float) -> np.ndarray:
    steps = np.asarray(values, dtype=float) / step
    return np.isclose(steps, np.round(steps), rtol=0, atol=1e-6)


@pytest.mark.parametrize("template", TEMPLATES)
def test_rounded_puts_a_design_on_the_labs_grid_once(template: str) -> None:
    from tests.planner.test_design import _check_design

    spec = load_template(template)
    space = EncodedSpace.for_spec(spec)
    design = space_filling_design(spec, 40, seed=5)
    rounded = space.rounded(design)
    _check_design(spec, rounded)
    assert space.violations(rounded) == []
    for p in spec.parameters:
        if isinstance(p, ContinuousParameter) and p.resolution:
            assert _on_grid(rounded[p.name], p.resolution).all(), p.name
            assert not _on_grid(design[p.name], p.resolution).all(), p.name  # it did round
    for m in spec.mixtures:
        fracs = rounded[list(m.components)].to_numpy()
        assert np.abs(fracs.sum(axis=1) - 1).max() <= 1e-12
        assert m.resolution and _on_grid(fracs, m.resolution).all()
    pd.testing.assert_frame_equal(space.rounded(rounded), rounded)  # twice is once


def test_rounded_handles_integers_resolution_and_mixture_steps(mixed_spec) -> None:
    spec = CampaignSpec.from_dict({
        **mixed_spec.to_dict(),
        "parameters": [
            {**p, "resolution": 0.5} if p["name"] == "temperature_c" else p
            for p in mixed_spec.to_dict()["parameters"]
        ],
        "mixtures": [{**mixed_spec.to_dict()["mixtures"][0], "resolution": 0.05}],
        # row 1 (60 % DMC at -20 °C) would freeze; this test is about rounding only
        "physical_limits": {"liquid_solvent": False},
    })
    space = EncodedSpace.for_spec(spec)
    recipes = pd.DataFrame({
        "salt": ["LiFSI", "LiPF6", "LiTFSI"],
        "separator": ["glass_fiber"] * 3,
        "washing_steps": [2.4, 4.6, 0.0],
        "temperature_c": [21.26, -19.9, 59.8],
        "ec_frac": [0.333, 0.1, 0.52],
        "dmc_frac": [0.333, 0.6, 0.13],
        "emc_frac": [0.334, 0.3, 0.35],
    })
    out = space.rounded(recipes)
    assert out["washing_steps"].dtype == np.int64
    assert out["washing_steps"].tolist() == [2, 5, 0]
    assert out["temperature_c"].tolist() == [21.5, -20.0, 60.0]
    fracs = out[["ec_frac", "dmc_frac", "emc_frac"]].to_numpy()
    assert np.abs(fracs.sum(axis=1) - 1.0).max() <= 1e-12
    assert _on_grid(fracs, 0.05).all()
    # 0.333/0.333/0.334 -> 0.35 each would sum to 1.05: the largest (first on ties) gives way
    np.testing.assert_allclose(fracs[0], [0.3, 0.35, 0.35], atol=1e-12)
    np.testing.assert_allclose(fracs[1], [0.1, 0.6, 0.3], atol=1e-12)  # already on the grid
    assert space.violations(out) == []


def test_rounding_that_would_break_a_constraint_leaves_the_row_unrounded() -> None:
    spec = CampaignSpec.from_dict({
        "name": "edge",
        "parameters": [{"kind": "continuous", "name": "x_c", "lower": 0, "upper": 10,
                        "resolution": 1},
                       {"kind": "continuous", "name": "y_c", "lower": 0, "upper": 10}],
        "linear_constraints": [{"coefficients": {"x_c": 1}, "operator": ">=", "rhs": 4.3}],
        "targets": [{"name": "yield_pct"}],
    })
    space = EncodedSpace.for_spec(spec)
    out = space.rounded(pd.DataFrame({"x_c": [4.4, 4.6, 7.2], "y_c": [1.234, 1.234, 9.99]}))
    assert out["x_c"].tolist() == [4.4, 5.0, 7.0]  # 4.4 -> 4 would break x >= 4.3
    assert out["y_c"].tolist() == [1.234, 1.234, 9.99]  # no resolution: untouched
    assert space.violations(out) == []
