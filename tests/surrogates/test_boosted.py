"""Bagged gradient boosting: NaN inputs natively, calibrated intervals, a BoTorch ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.posteriors.ensemble import EnsemblePosterior

from surrogates import make_surrogate
from surrogates.boosted import BoostedSurrogate
from surrogates.datasets import make_smooth_table
from surrogates.errors import InputDataError
from surrogates.evaluation import Z90

from .conftest import INPUTS, TARGETS

SMALL = {"n_members": 6, "max_iter": 60, "learning_rate": 0.12}


@pytest.fixture(scope="module")
def boosted(hard_carbon) -> BoostedSurrogate:
    with pytest.warns(UserWarning, match="Rows without a target value"):
        model = BoostedSurrogate(categorical=("precursor",), **SMALL).fit(
            hard_carbon[INPUTS], hard_carbon[TARGETS], groups=hard_carbon["paper"])
    return model


def test_registered_under_its_short_name():
    assert isinstance(make_surrogate("boosted", seed=1), BoostedSurrogate)


def test_missing_inputs_reach_the_trees_as_missing(boosted, hard_carbon):
    rows = hard_carbon[INPUTS].head(6).copy()
    rows["la_nm"] = np.nan
    mean, std = boosted.predict(rows)
    assert mean.shape == (6, 2) and np.isfinite(mean).all() and (std > 0).all()
    # The trees learned a direction for "La not reported": a filled-in La changes the answer.
    filled = rows.assign(la_nm=6.0)
    assert not np.allclose(boosted.predict(filled)[0], mean)


def test_groups_are_bootstrapped_whole(boosted):
    assert boosted.bootstrap_ == "groups"
    assert (boosted.model_.spread_scale >= 1).all()
    assert (boosted.noise_variance_ > 0).all()


def test_botorch_posterior_is_the_prediction(boosted, hard_carbon):
    X = hard_carbon[INPUTS].head(5)
    assert X.isna().any().any()
    Xt = boosted.encode(X, impute=False)  # the BoTorch model takes gaps as the trees do
    posterior = boosted.to_botorch().posterior(Xt)
    assert isinstance(posterior, EnsemblePosterior)
    mean, std = boosted.predict(X, observation_noise=False)
    np.testing.assert_allclose(posterior.mean.detach().numpy(), mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(posterior.variance.detach().numpy(), std**2, rtol=1e-6,
                               atol=1e-8)
    _, noisy = boosted.predict(X)
    np.testing.assert_allclose(noisy**2 - std**2,
                               np.broadcast_to(boosted.noise_variance_.numpy(), std.shape),
                               rtol=1e-6)


def test_usable_by_an_acquisition_function(boosted, hard_carbon):
    Xt = boosted.encode(hard_carbon[INPUTS])
    acqf = qLogNoisyExpectedImprovement(
        boosted.to_botorch(), X_baseline=Xt[:20],
        objective=_first_output)
    X = Xt[20:26].unsqueeze(1).clone().requires_grad_(True)
    values = acqf(X)
    assert values.shape == (6,) and torch.isfinite(values).all()
    values.sum().backward()  # trees are flat: zero gradients, but no error
    assert X.grad is not None and float(X.grad.abs().sum()) == 0.0


def _first_output(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    return samples[..., 0]


def test_intervals_are_calibrated_on_new_rows():
    train, test = make_smooth_table(150, noise=0.15, seed=1), make_smooth_table(300, seed=2,
                                                                                noise=0.15)
    model = BoostedSurrogate(seed=0, **SMALL).fit(train[["x1", "x2"]], train[["y"]])
    mean, std = model.predict(test[["x1", "x2"]])
    z = np.abs(test["y"].to_numpy() - mean[:, 0]) / std[:, 0]
    assert 0.8 <= float(np.mean(z <= Z90)) <= 0.99
    r2 = 1 - np.mean((test["y"] - mean[:, 0]) ** 2) / np.var(test["y"])
    assert r2 > 0.8


def test_same_seed_same_model_other_seed_other_members():
    df = make_smooth_table(50, seed=4)
    a = BoostedSurrogate(seed=3, **SMALL).fit(df[["x1", "x2"]], df[["y"]])
    b = BoostedSurrogate(seed=3, **SMALL).fit(df[["x1", "x2"]], df[["y"]])
    c = BoostedSurrogate(seed=4, **SMALL).fit(df[["x1", "x2"]], df[["y"]])
    probe = pd.DataFrame({"x1": [0.2, 0.7], "x2": [0.5, 0.1]})
    np.testing.assert_array_equal(a.predict(probe)[0], b.predict(probe)[0])
    assert not np.array_equal(a.predict(probe)[0], c.predict(probe)[0])


def test_too_few_members_is_refused_with_a_hint():
    df = make_smooth_table(20)
    with pytest.raises(InputDataError, match="n_members=2") as info:
        BoostedSurrogate(n_members=2).fit(df[["x1", "x2"]], df[["y"]])
    assert info.value.hint


def test_bounded_target_stays_within_its_bounds():
    df = make_smooth_table(60, seed=5)
    df["y"] = (df["y"] - df["y"].min()) / (df["y"].max() - df["y"].min()) * 100  # 0..100 %
    model = BoostedSurrogate(seed=0, **SMALL).fit(df[["x1", "x2"]], df[["y"]],
                                                  bounds={"y": (0.0, 100.0)})
    probe = pd.DataFrame({"x1": np.linspace(-0.5, 1.5, 25), "x2": np.linspace(1.5, -0.5, 25)})
    mean, _ = model.predict(probe)
    low, high = model.predict_interval(probe, level=0.9)
    assert (mean >= 0).all() and (mean <= 100).all()
    assert (low >= 0).all() and (high <= 100).all() and (low <= high).all()
    samples = model.to_botorch().posterior(model.encode(probe)).mean
    assert float(samples.min()) >= 0 and float(samples.max()) <= 100
