"""GP specifics: fallbacks instead of crashes, the exact GP on every row, calibration scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from linear_operator.utils.errors import NotPSDError

import surrogates.gp as gp_module
from surrogates import GPSurrogate
from surrogates.datasets import make_smooth_table
from surrogates.errors import InputDataError, SurrogateFitWarning


@pytest.fixture
def smooth():
    return make_smooth_table(40, noise=0.1, seed=2)


def test_failed_fit_is_retried_with_a_noise_floor(monkeypatch, smooth):
    real = gp_module.fit_gpytorch_mll
    calls = []

    def flaky(mll, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise NotPSDError("Matrix not positive definite after repeatedly adding jitter")
        return real(mll, **kwargs)

    monkeypatch.setattr(gp_module, "fit_gpytorch_mll", flaky)
    model = GPSurrogate(max_iter=30)
    with pytest.warns(SurrogateFitWarning, match="noise variance floor of 0.001"):
        model.fit(smooth[["x1", "x2"]], smooth["y"])
    assert len(calls) == 2
    assert any("NotPSDError" in w for w in model.fit_warnings_)
    noise = model.model_.models[0].likelihood.noise.item()
    assert noise >= 1e-3
    assert np.isfinite(model.predict(smooth[["x1", "x2"]])[0]).all()


def test_hopeless_fit_keeps_prior_hyperparameters(monkeypatch, smooth):
    def broken(mll, **kwargs):
        raise NotPSDError("not p.d.")

    monkeypatch.setattr(gp_module, "fit_gpytorch_mll", broken)
    model = GPSurrogate()
    with pytest.warns(SurrogateFitWarning, match="every GP fit failed"):
        model.fit(smooth[["x1", "x2"]], smooth["y"])
    mean, std = model.predict(smooth[["x1", "x2"]])
    assert np.isfinite(mean).all() and (std > 0).all()
    assert sum("fit attempt" in w for w in model.fit_warnings_) == len(gp_module.NOISE_FLOORS)


def test_exact_gp_learns_every_row_up_to_max_exact_rows():
    # Above max_exact_rows the GP is variational (tests/surrogates/test_scalable_gp.py); at or
    # below it the exact GP sees every row: no subset.
    big = make_smooth_table(150, noise=0.1, seed=3)
    model = GPSurrogate(max_exact_rows=150, max_iter=30).fit(big[["x1", "x2"]], big["y"])
    assert model.methods_ == {"y": "exact"}
    assert model.model_.models[0].train_targets.shape[-1] == 150
    assert not any("subset" in w for w in model.fit_warnings_)
    mean, _ = model.predict(big[["x1", "x2"]])
    assert np.corrcoef(mean[:, 0], big["y"])[0, 1] > 0.9


def test_groups_widen_intervals_when_papers_disagree():
    rng = np.random.default_rng(4)
    df = make_smooth_table(60, noise=0.05, seed=4)
    groups = np.repeat(np.arange(12), 5)
    df["y"] += rng.normal(0, 0.4, 12)[groups]  # a paper-level offset the inputs cannot explain
    X = df[["x1", "x2"]]
    plain = GPSurrogate(max_iter=40).fit(X, df["y"])
    grouped = GPSurrogate(max_iter=40).fit(X, df["y"], groups=groups)
    assert grouped.variance_scale_["y"] > plain.variance_scale_["y"] >= 1.0
    assert (grouped.predict(X)[1] > plain.predict(X)[1]).all()
    np.testing.assert_allclose(grouped.predict(X)[0], plain.predict(X)[0], rtol=1e-8)


def test_input_bounds_scale_inputs_to_the_search_space_on_the_model_scale():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"ssa_m2_per_g": rng.uniform(10, 20, 8), "t": rng.uniform(0.4, 0.6, 8)})
    y = pd.DataFrame({"y": X["t"] * 3})
    model = GPSurrogate(seed=0, input_bounds={"ssa_m2_per_g": (1.0, 1000.0), "t": (0.0, 1.0)})
    model.fit(X, y)
    assert model.log_columns_ == ["ssa_m2_per_g"]  # surface areas are modelled as log10
    bounds = model.to_botorch().models[0].input_transform["normalize"].bounds
    torch.testing.assert_close(bounds, torch.tensor([[0.0, 0.0], [3.0, 1.0]], dtype=torch.double))
    # A narrower bound is widened to cover the measured rows.
    narrow = GPSurrogate(seed=0, input_bounds={"t": (0.45, 0.5)}).fit(X, y)
    b = narrow.to_botorch().models[0].input_transform["normalize"].bounds
    assert float(b[0, 1]) == pytest.approx(X["t"].min())
    assert float(b[1, 1]) == pytest.approx(X["t"].max())


@pytest.mark.parametrize(
    ("bounds", "message"),
    [({"tt": (0.0, 1.0)}, "not inputs"), ({"t": (1.0, 0.0)}, "not a finite range")],
)
def test_bad_input_bounds_are_named(bounds, message):
    X = pd.DataFrame({"t": np.linspace(0, 1, 6)})
    with pytest.raises(InputDataError, match=message) as err:
        GPSurrogate(seed=0, input_bounds=bounds).fit(X, pd.DataFrame({"y": X["t"]}))
    if "tt" in bounds:
        assert "t" in str(err.value.hint)
