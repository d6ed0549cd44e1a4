"""The weekly loop's first plate: a space-filling design rounded once to the lab's resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from campaigns.spec import ContinuousParameter
from campaigns.store import Store
from campaigns.templates import load_template
from planner.design import space_filling_design
from planner.space import EncodedSpace
from planner.weekly import default_seed, suggest_plate


def test_first_plate_is_the_design_rounded_once_to_the_labs_resolution(store: Store) -> None:
    spec = load_template("electrolyte", name="e1")
    store.create_campaign(spec)
    result = suggest_plate(store, "e1", week="2026-W10")
    samples = [w for w in result.batch.wells if w.role == "sample"]
    stored = pd.DataFrame([w.recipe for w in samples])[spec.input_names]
    design = space_filling_design(spec, spec.plate.sample_wells,
                                  seed=default_seed("e1", "2026-W10"))
    expected = EncodedSpace.for_spec(spec).rounded(design)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
    for p in spec.parameters:
        if isinstance(p, ContinuousParameter) and p.resolution:
            steps = stored[p.name].to_numpy(float) / p.resolution
            assert np.allclose(steps, np.round(steps), rtol=0, atol=1e-6), p.name
    (solvent,) = spec.mixtures
    fracs = stored[list(solvent.components)].to_numpy(float)
    assert np.abs(fracs.sum(axis=1) - 1.0).max() <= 1e-12
    assert EncodedSpace.for_spec(spec).violations(stored) == []


def test_a_first_plate_runs_one_furnace_program(store: Store) -> None:
    """A plate-wide parameter takes one value across the first, space-filling plate too."""
    base = load_template("hard-carbon", name="hc1")
    spec = base.model_copy(update={"plate": base.plate.model_copy(
        update={"shared_parameters": ("carbonization_temperature_c",)})})
    store.create_campaign(spec)
    result = suggest_plate(store, "hc1", week="2026-W10")
    temps = {w.recipe["carbonization_temperature_c"] for w in result.batch.wells
             if w.role == "sample"}
    assert len(temps) == 1
    # the rest of the plate is still spread out (heating rate and dwell form the template's
    # four furnace runs; the doping varies per well)
    others = {w.recipe["n_doping_at_pct"] for w in result.batch.wells if w.role == "sample"}
    assert len(others) > 10
