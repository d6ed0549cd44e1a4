"""The GP above max_exact_rows: a variational GP on every row, calibrated on held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement

from surrogates import GPSurrogate
from surrogates.datasets import HARD_CARBON_INPUTS, make_hard_carbon_table, make_smooth_table
from surrogates.scalable import (
    VariationalGP,
    VariationalSettings,
    fit_variational,
    holdout_rows,
)

#: Small and fast: the variational path switched on at 150 rows.
SMALL = {"max_exact_rows": 150, "init_rows": 80, "inducing_points": 48,
         "variational_epochs": 2, "max_iter": 30}


@pytest.fixture(scope="module")
def smooth() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = make_smooth_table(700, noise=0.1, seed=5)
    return table.head(400), table.tail(300)


@pytest.fixture(scope="module")
def variational(smooth) -> GPSurrogate:  # noqa: ANN001
    train, _ = smooth
    return GPSurrogate(seed=0, **SMALL).fit(train[["x1", "x2"]], train["y"])


def _rmse(model: GPSurrogate, test: pd.DataFrame) -> float:
    mean, _ = model.predict(test[["x1", "x2"]])
    return float(np.sqrt(np.mean((mean[:, 0] - np.sin(3 * test["x1"]) - test["x2"] ** 2) ** 2)))


def test_above_the_threshold_every_row_goes_into_a_variational_gp(smooth, variational) -> None:  # noqa: ANN001
    train, test = smooth
    assert variational.methods_ == {"y": "variational"}
    submodel = variational.to_botorch().models[0]
    assert isinstance(submodel, VariationalGP)
    note = next(w for w in variational.fit_warnings_ if "variational GP on every row" in w)
    assert "400 rows exceed max_exact_rows=150" in note
    assert "40 held-out rows" in note  # 10 % held out for calibration, then included
    # As accurate as the exact GP on every row, and better than the exact GP on a subset.
    exact = GPSurrogate(seed=0, max_iter=30, max_exact_rows=400).fit(train[["x1", "x2"]],
                                                                      train["y"])
    subset = train.sample(n=40, random_state=0)
    small = GPSurrogate(seed=0, max_iter=30).fit(subset[["x1", "x2"]], subset["y"])
    assert exact.methods_ == {"y": "exact"}
    assert _rmse(variational, test) < 1.5 * _rmse(exact, test) + 0.01
    assert _rmse(variational, test) < _rmse(small, test)


def test_intervals_hold_new_measurements(smooth, variational) -> None:  # noqa: ANN001
    _, test = smooth
    mean, std = variational.predict(test[["x1", "x2"]])
    inside = np.abs(mean[:, 0] - test["y"].to_numpy()) <= 1.645 * std[:, 0]
    assert 0.8 <= inside.mean() <= 0.98
    assert variational.variance_scale_["y"] >= 1.0


def test_closed_form_posterior_equals_the_exact_gp_with_every_row_inducing() -> None:
    table = make_smooth_table(40, noise=0.1, seed=1)
    exact = GPSurrogate(seed=0, max_iter=30).fit(table[["x1", "x2"]], table["y"])
    template = exact.to_botorch().models[0]
    X = exact.encode(table[["x1", "x2"]])
    y = torch.tensor(table[["y"]].to_numpy(), dtype=torch.double)
    # Undo the exact GP's leave-one-out scale so both models share hyperparameters.
    scale = exact.variance_scale_["y"]
    if scale > 1.0:
        template.covar_module.outputscale = 1.0
        template.likelihood.noise = template.likelihood.noise / scale
        template.prediction_strategy = None
    fit = fit_variational(template, X, y, np.zeros(40, dtype=bool),
                          settings=VariationalSettings(inducing_points=40, epochs=0), seed=0)
    grid = torch.rand(25, 2, dtype=torch.double)
    with torch.no_grad():
        a, b = template.posterior(grid), fit.model.posterior(grid)
    torch.testing.assert_close(b.mean, a.mean, atol=2e-3, rtol=0)
    torch.testing.assert_close(b.variance, a.variance, atol=2e-3, rtol=0.05)


# torch warns once per process when linear_operator builds a sparse interpolation matrix.
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_categorical_inputs_and_acquisition_work_on_the_variational_gp() -> None:
    table = make_hard_carbon_table(60, 6, seed=3)
    table = table.dropna(subset=["ice_pct", "reversible_capacity_mah_per_g"]).head(260)
    X, Y = table[list(HARD_CARBON_INPUTS)], table[["ice_pct", "reversible_capacity_mah_per_g"]]
    model = GPSurrogate(categorical=("precursor",), seed=0,
                        **{**SMALL, "max_exact_rows": 200}).fit(X, Y, groups=table["paper"])
    assert set(model.methods_.values()) == {"variational"}
    mean, std = model.predict(X.head(20))
    assert np.isfinite(mean).all() and (std > 0).all()
    Xt = model.encode(X.head(20))
    post = model.to_botorch().posterior(Xt)
    np.testing.assert_allclose(post.mean.detach().numpy(),
                               model.predict(X.head(20), observation_noise=False)[0], rtol=1e-6)
    # Categorical codes of the inducing points stay whole numbers (they index levels).
    z = model.to_botorch().models[0].model.variational_strategy.inducing_points.detach()
    codes = z[:, model.categorical_indices_[0]]
    assert torch.equal(codes, codes.round())
    acqf = qLogNoisyExpectedImprovement(model.to_botorch().models[0], X_baseline=Xt[:5])
    candidates = Xt[5:9].clone().unsqueeze(1).requires_grad_(True)
    value = acqf(candidates)
    value.sum().backward()
    assert torch.isfinite(value).all() and candidates.grad is not None


def test_calibration_holds_out_whole_groups() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(50), 10)
    mask = holdout_rows(500, groups, VariationalSettings(), rng)
    assert 40 <= mask.sum() <= 100
    for g in np.unique(groups):  # a group is either held out entirely or not at all
        assert mask[groups == g].all() or not mask[groups == g].any()
    rows = holdout_rows(500, None, VariationalSettings(holdout_fraction=0.2), rng)
    assert rows.sum() == 100


def test_same_seed_same_variational_model(smooth) -> None:  # noqa: ANN001
    train, test = smooth
    a = GPSurrogate(seed=3, **SMALL).fit(train[["x1", "x2"]].head(200), train["y"].head(200))
    b = GPSurrogate(seed=3, **SMALL).fit(train[["x1", "x2"]].head(200), train["y"].head(200))
    np.testing.assert_array_equal(a.predict(test[["x1", "x2"]])[0],
                                  b.predict(test[["x1", "x2"]])[0])
