"""The deep ensemble: training options, Gaussian heads, resampling and its BoTorch model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.models.ensemble import EnsembleModel

from surrogates import EnsembleSurrogate
from surrogates.datasets import make_smooth_table
from surrogates.ensemble import calibrate_with_noise
from surrogates.errors import InputDataError

SMALL = {"n_members": 4, "max_steps": 300, "hidden": (32, 32)}


def _heteroscedastic(n: int, seed: int) -> pd.DataFrame:
    """``y = x`` with noise sd growing from 0.02 at x = 0 to 0.5 at x = 1."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    return pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.02 + 0.48 * x, n)})


@pytest.mark.parametrize("loss", ["mse", "nll"])
@pytest.mark.parametrize("resample", ["bootstrap", "folds"])
def test_every_option_fits_and_is_reproducible(loss, resample):
    df = make_smooth_table(60, seed=0)
    kwargs = {**SMALL, "loss": loss, "resample": resample, "seed": 3}
    a = EnsembleSurrogate(**kwargs).fit(df[["x1", "x2"]], df["y"])
    b = EnsembleSurrogate(**kwargs).fit(df[["x1", "x2"]], df["y"])
    mean_a, std_a = a.predict(df[["x1", "x2"]])
    mean_b, std_b = b.predict(df[["x1", "x2"]])
    np.testing.assert_array_equal(mean_a, mean_b)
    np.testing.assert_array_equal(std_a, std_b)
    assert float(np.corrcoef(mean_a[:, 0], df["y"])[0, 1]) > 0.9
    assert (std_a > 0).all()


def test_gaussian_heads_learn_noise_that_grows_with_the_input():
    train = _heteroscedastic(300, seed=0)
    model = EnsembleSurrogate(**{**SMALL, "max_steps": 600}, loss="nll", beta=0.5, seed=0)
    model.fit(train[["x"]], train["y"])
    grid = pd.DataFrame({"x": [0.05, 0.95]})
    _, std = model.predict(grid)
    assert std[1, 0] > 3 * std[0, 0], std
    # The noise is in the predictive std only, not in what the acquisition sees.
    _, latent = model.predict(grid, observation_noise=False)
    assert (latent < std).all()
    test = _heteroscedastic(400, seed=1)
    mean, std = model.predict(test[["x"]])
    z = np.abs(test["y"].to_numpy() - mean[:, 0]) / std[:, 0]
    assert 0.8 <= float(np.mean(z <= 1.645)) <= 0.97


def test_a_constant_noise_model_cannot_tell_the_ends_apart():
    train = _heteroscedastic(300, seed=0)
    model = EnsembleSurrogate(**{**SMALL, "max_steps": 600}, loss="mse", seed=0)
    model.fit(train[["x"]], train["y"])
    _, std = model.predict(pd.DataFrame({"x": [0.05, 0.95]}))
    assert std[1, 0] < 2 * std[0, 0], std


def test_folds_leave_whole_groups_out():
    model = EnsembleSurrogate(n_members=6, resample="folds", seed=0)
    groups = np.repeat(np.arange(9), 4)
    bag = model._folds(36, groups)
    assert bag.shape == (6, 36)
    for m in range(6):
        out = groups[(bag[m] == 0).numpy()]
        # every left-out group is left out whole, and each member keeps most rows
        assert all((groups == g).sum() == (out == g).sum() for g in np.unique(out))
        assert 0.5 < float(bag[m].mean()) < 1.0
    assert torch.equal(bag[0], bag[3])  # members m and m + K share a fold


@pytest.mark.parametrize("loss", ["mse", "nll"])
def test_botorch_model_is_an_ensemble_matching_predict(loss):
    df = make_smooth_table(60, seed=0)
    model = EnsembleSurrogate(**SMALL, loss=loss, seed=1).fit(df[["x1", "x2"]], df["y"])
    bm = model.to_botorch()
    assert isinstance(bm, EnsembleModel)
    X = model.encode(df[["x1", "x2"]].head(5)).requires_grad_(True)
    post = bm.posterior(X)
    mean, std = model.predict(df[["x1", "x2"]].head(5), observation_noise=False)
    np.testing.assert_allclose(post.mean.detach().numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(post.variance.detach().sqrt().numpy(), std, rtol=1e-6)
    post.mean.sum().backward()
    assert X.grad is not None and X.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"loss": "huber"}, "loss='huber'"), ({"resample": "jackknife"}, "resample='jackknife'"),
     ({"n_members": 1}, "n_members=1")],
    ids=["loss", "resample", "members"],
)
def test_bad_settings_are_named(kwargs, match):
    df = make_smooth_table(20, seed=0)
    with pytest.raises(InputDataError, match=match):
        EnsembleSurrogate(**kwargs).fit(df[["x1", "x2"]], df["y"])


def test_noise_calibration_recovers_known_factors():
    rng = np.random.default_rng(0)
    spread, noise = rng.uniform(0.1, 1, 4000), rng.uniform(0.1, 1, 4000)
    residual = rng.normal(0, np.sqrt(2.0 * spread + 0.5 * noise))
    scale, factor = calibrate_with_noise(residual, spread, noise)
    assert scale == pytest.approx(2.0, rel=0.25) and factor == pytest.approx(0.5, rel=0.25)
