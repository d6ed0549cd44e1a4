from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from campaigns.spec import CampaignSpec, CategoricalParameter, IntegerParameter
from campaigns.templates import load_template
from planner.design import library_design, linear_constraint_holds, space_filling_design
from planner.errors import PlanningError
from tests.strategies import campaign_specs


def _check_design(spec: CampaignSpec, design: pd.DataFrame) -> None:
    assert list(design.columns) == spec.input_names
    for p in spec.parameters:
        col = design[p.name]
        if isinstance(p, CategoricalParameter):
            assert set(col) <= set(p.levels)
        else:
            assert col.min() >= p.lower - 1e-9 and col.max() <= p.upper + 1e-9
            if isinstance(p, IntegerParameter):
                assert np.all(np.asarray(col) == np.round(np.asarray(col, dtype=float)))
    for m in spec.mixtures:
        sums = design[list(m.components)].sum(axis=1)
        assert np.abs(sums - 1).max() <= 1e-12
        assert (design[list(m.components)] >= 0).all().all()
    for lc in spec.linear_constraints:
        assert linear_constraint_holds(design, lc).all()


@pytest.mark.parametrize("template", ["hard-carbon", "electrolyte"])
def test_template_designs_honour_the_space(template: str) -> None:
    spec = load_template(template)
    design = space_filling_design(spec, spec.sample_well_count, seed=3)
    assert len(design) == spec.sample_well_count
    _check_design(spec, design)


def test_design_is_reproducible_and_seed_dependent() -> None:
    spec = load_template("hard-carbon")
    a = space_filling_design(spec, 24, seed=1)
    pd.testing.assert_frame_equal(a, space_filling_design(spec, 24, seed=1))
    assert not a.equals(space_filling_design(spec, 24, seed=2))


def test_design_spreads_categoricals_and_space() -> None:
    spec = load_template("hard-carbon")
    design = space_filling_design(spec, 92, seed=0)
    counts = design["precursor"].value_counts()
    assert counts.max() - counts.min() <= 1  # balanced levels
    t = design["carbonization_temperature_c"]
    # Sobol covers every tenth of the range.
    assert len(np.unique(np.floor((t - 800) / 100))) == 10


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaign_specs())
def test_any_valid_spec_gets_a_valid_design_or_a_clear_error(spec: CampaignSpec) -> None:
    try:
        design = space_filling_design(spec, 8, seed=0)
    except PlanningError as exc:  # only when linear constraints leave no room
        assert spec.linear_constraints and exc.hint
        return
    _check_design(spec, design)


def test_library_design_picks_unique_unused_candidates() -> None:
    rng = np.random.default_rng(0)
    lib = pd.DataFrame({"candidate_id": [f"c{i}" for i in range(300)],
                        "d002_nm": rng.uniform(0.36, 0.41, 300),
                        "bet_ssa_m2_per_g": np.exp(rng.uniform(0, 7, 300))})
    lib.loc[::3, "d002_nm"] = np.nan
    picks = library_design(lib, ["d002_nm", "bet_ssa_m2_per_g"], 20, seed=0, exclude={"c0", "c1"})
    assert picks["candidate_id"].is_unique and len(picks) == 20
    assert not {"c0", "c1"} & set(picks["candidate_id"])
    with pytest.raises(PlanningError):
        library_design(lib, ["d002_nm"], 400, seed=0)
