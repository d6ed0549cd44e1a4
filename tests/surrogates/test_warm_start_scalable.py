"""Warm start with a long prior: every prior row, through the variational GP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from surrogates.gp import GPSurrogate
from surrogates.scalable import TaskVariationalGP
from surrogates.warm_start import WarmStartGP

SMALL = {"max_exact_rows": 200, "init_rows": 100, "inducing_points": 48,
         "variational_epochs": 1, "max_iter": 30}


def _truth(X: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * X[:, 0]) + 0.5 * X[:, 1] ** 2


@pytest.fixture(scope="module")
def long_prior() -> dict[str, pd.DataFrame | np.ndarray]:
    """Three prior sources (450 rows, small offsets) and a campaign of 8 rows offset by +0.7."""
    rng = np.random.default_rng(1)
    cols = ["molality", "temperature"]
    Xp, Xc, Xh = rng.uniform(0, 2, (450, 2)), rng.uniform(0, 2, (8, 2)), rng.uniform(0, 2, (200, 2))
    source = rng.choice(["lab a", "lab b", "lab c"], 450)
    offset = pd.Series(source).map({"lab a": 0.0, "lab b": 0.15, "lab c": -0.1}).to_numpy()
    return {
        "X": pd.DataFrame(Xc, columns=cols),
        "Y": pd.DataFrame({"y": _truth(Xc) + 0.7 + rng.normal(0, 0.03, 8)}),
        "PX": pd.DataFrame(Xp, columns=cols),
        "PY": pd.DataFrame({"y": _truth(Xp) + offset + rng.normal(0, 0.03, 450)}),
        "source": source,
        "XH": pd.DataFrame(Xh, columns=cols),
        "YH": _truth(Xh) + 0.7,
    }


def _rmse(model, data) -> float:  # noqa: ANN001
    mean, _ = model.predict(data["XH"])
    return float(np.sqrt(np.mean((mean[:, 0] - data["YH"]) ** 2)))


@pytest.mark.parametrize("mode", ["multitask", "prior_mean"])
def test_every_prior_row_is_used_through_the_variational_gp(long_prior, mode: str) -> None:  # noqa: ANN001
    data = long_prior
    model = WarmStartGP(mode=mode, seed=0, **SMALL).fit(
        data["X"], data["Y"], prior_X=data["PX"], prior_Y=data["PY"], prior_task=data["source"])
    assert model.methods_ == {"y": "variational"}
    assert model.n_prior_ == {"y": 450}  # no subset: max_prior_rows is None by default
    assert not any("random subset" in w for w in model.fit_warnings_)
    assert any("variational GP on every row" in w for w in model.fit_warnings_)
    cold = GPSurrogate(max_iter=30, seed=0).fit(data["X"], data["Y"])
    assert _rmse(model, data) < 0.6 * _rmse(cold, data)
    mean, std = model.predict(data["XH"].head(5))
    assert mean.shape == std.shape == (5, 1) and (std > 0).all()
    post = model.to_botorch().posterior(model.encode(data["XH"].head(5)).unsqueeze(0))
    assert post.mean.shape == (1, 5, 1)
    if mode == "multitask":
        svgp = model.to_botorch().models[0]
        assert isinstance(svgp, TaskVariationalGP)
        assert 0.0 < model.prior_weight_["y"] <= 1.0
        # This campaign's rows are inducing points (task 0): its few rows are kept exactly.
        z = svgp.model.variational_strategy.inducing_points.detach()
        assert int((z[:, -1] == 0).sum()) == 8
        # With observation noise, the campaign's own (task 0) noise is added.
        Xt = model.encode(data["XH"].head(5))
        with torch.no_grad():
            latent = svgp.posterior(Xt).variance
            noisy = svgp.posterior(Xt, observation_noise=True).variance
        assert (noisy > latent).all()


def test_a_cap_still_subsamples_when_asked(long_prior) -> None:  # noqa: ANN001
    data = long_prior
    with pytest.warns(UserWarning, match="max_prior_rows=100"):
        model = WarmStartGP(mode="prior_mean", seed=0, max_prior_rows=100,
                            **{**SMALL, "max_exact_rows": 2000}).fit(
            data["X"], data["Y"], prior_X=data["PX"], prior_Y=data["PY"])
    assert model.n_prior_ == {"y": 100}
    assert model.methods_ == {"y": "exact"}
