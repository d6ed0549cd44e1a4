"""No surrogate predicts outside a target's physical bounds: means, interval ends, samples.

Every surrogate in :data:`surrogates.SURROGATES` (so a new one is covered the day it is
registered) is fitted on small random tables whose bounded target piles up at its bound (CE
values of exactly 100 %, capacities of exactly 0), with two-sided, lower and upper bounds, and
asked about the training rows and about inputs far outside them, where an unbounded model
extrapolates past the bound. Its mean, its 90 % interval ends and the samples its BoTorch
posterior gives an acquisition function must all lie within the bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surrogates import SURROGATES, make_surrogate
from surrogates.errors import InputDataWarning, SurrogateFitWarning

#: Unit-test sizes for whatever hyperparameters a surrogate has (the real stack, made small;
#: a model chooser picks among the two quickest candidates).
CHEAP = {"max_iter": 25, "n_members": 3, "max_steps": 120, "n_estimators": 16, "fast": True,
         "folds": 2, "max_rows": 40, "candidates": ("rf", "boosted")}
PROPERTY = settings(max_examples=3, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bounded_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, tuple, pd.DataFrame]:
    """Inputs, a bounded target ``y`` (many values at the bound) and a free target ``w``, the
    bounds, and query inputs inside and far outside the data."""
    n = draw(st.integers(8, 18))
    seed = draw(st.integers(0, 2**16))
    kind = draw(st.sampled_from(["two-sided", "lower", "upper"]))
    low = draw(st.floats(-50.0, 50.0, allow_nan=False))
    width = draw(st.floats(1.0, 200.0, allow_nan=False))
    at_bound = draw(st.floats(0.15, 0.5))  # share of rows pushed onto the bound
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(0, 1, n), "u": rng.uniform(0, 1, n)})
    trend = width * (1 + at_bound) * X["x"] + 0.05 * width * rng.normal(size=n)
    if kind == "two-sided":
        bounds = (low, low + width)
        y = np.clip(low + trend, *bounds)
    elif kind == "lower":
        bounds = (low, None)
        y = np.maximum(low + width * (1 + at_bound) - trend, low)
    else:
        bounds = (None, low)
        y = np.minimum(low - width * (1 + at_bound) + trend, low)
    Y = pd.DataFrame({"y": y, "w": 3.0 * X["u"] + rng.normal(size=n)})
    far = pd.DataFrame({"x": [-3.0, -0.5, 1.5, 4.0], "u": [2.0, -1.0, 0.5, 3.0]})
    return X, Y, bounds, pd.concat([X, far], ignore_index=True)


def _within(values: np.ndarray, bounds: tuple) -> bool:
    low, high = bounds
    ok = np.isfinite(values)
    if low is not None:
        ok &= values >= low
    if high is not None:
        ok &= values <= high
    return bool(ok.all())


@pytest.mark.parametrize("name", list(SURROGATES))
@PROPERTY
@given(table=bounded_tables())
def test_predictions_stay_within_the_bounds(name: str, table: tuple) -> None:
    X, Y, bounds, query = table
    model = make_surrogate(name, seed=0)
    model.set_params(**{k: v for k, v in CHEAP.items() if k in model.get_params()})
    with warnings.catch_warnings():
        # Fallbacks on tiny tables (noise floors, excluded rows) are recorded on the model.
        warnings.simplefilter("ignore", SurrogateFitWarning)
        warnings.simplefilter("ignore", InputDataWarning)
        model.fit(X, Y, bounds={"y": bounds})
    mean, std = model.predict(query)
    low, high = model.predict_interval(query, level=0.9)
    assert _within(mean[:, 0], bounds), (mean[:, 0], bounds)
    assert _within(low[:, 0], bounds) and _within(high[:, 0], bounds), (low, high, bounds)
    assert (low[:, 0] <= high[:, 0]).all() and np.isfinite(std).all() and (std >= 0).all()
    mean0, _ = model.predict(query, observation_noise=False)
    assert _within(mean0[:, 0], bounds)
    assert np.isfinite(mean[:, 1]).all() and (high[:, 1] - low[:, 1] > 0).all()  # free target
    posterior = model.to_botorch().posterior(model.encode(query))
    samples = posterior.rsample(torch.Size([32]))
    assert samples.shape[-1] == 2
    assert _within(samples[..., 0].detach().numpy().ravel(), bounds)
    assert _within(posterior.mean.detach().numpy()[..., 0].ravel(), bounds)
