"""Every surrogate passes the same checks: the contract the planner codes against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.ensemble import EnsembleModel
from sklearn.base import clone

from surrogates import EnsembleSurrogate, ForestSurrogate, GPSurrogate, make_surrogate
from surrogates.errors import InputDataError, InputDataWarning, NotFittedError, SurrogateError

from .conftest import INPUTS, MODELS, TARGETS, fast_model

pytestmark = pytest.mark.parametrize("name", MODELS, ids=MODELS)


def _complete_rows(df: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    rows = df.dropna(subset=INPUTS).head(n)
    assert len(rows) == n
    return rows


def test_fit_returns_self_and_warns_about_rows_without_target(name, hard_carbon):
    small = hard_carbon.head(30)
    model = fast_model(name)
    with pytest.warns(InputDataWarning, match=r"reversible_capacity_mah_per_g: \d+ of 30"):
        assert model.fit(small[INPUTS], small[TARGETS]) is model
    n_missing = int(small["reversible_capacity_mah_per_g"].isna().sum())
    assert n_missing > 0 and model.n_excluded_["reversible_capacity_mah_per_g"] == n_missing


def test_fitted_model_predicts_mean_and_std_in_target_units(name, hard_carbon, fitted):
    model = fitted[name]
    mean, std = model.predict(hard_carbon[INPUTS].head(7))
    assert mean.shape == std.shape == (7, 2)
    assert np.isfinite(mean).all() and (std > 0).all()
    # Predictions sit in the targets' own units (ICE in %, capacity in mAh/g).
    assert 40 < mean[:, 0].mean() < 100 and 100 < mean[:, 1].mean() < 450
    assert list(model.feature_names_in_) == INPUTS
    assert model.target_names_ == TARGETS
    assert model.n_excluded_ == {
        t: int(hard_carbon[t].isna().sum()) for t in TARGETS
    }
    assert model.categorical_indices_ == [0]
    assert model.categories_["precursor"] == sorted(hard_carbon["precursor"].unique())
    assert model.log_columns_ == ["bet_ssa_m2_per_g"]


def test_unfitted_model_raises_not_fitted(name, hard_carbon):
    model = make_surrogate(name)
    for call in (
        lambda: model.predict(hard_carbon[INPUTS]),
        lambda: model.encode(hard_carbon[INPUTS]),
        model.to_botorch,
    ):
        with pytest.raises(NotFittedError, match="not fitted") as info:
            call()
        assert isinstance(info.value, SurrogateError) and info.value.hint


def test_follows_scikit_learn_parameter_contract(name):
    model = fast_model(name, seed=7)
    params = model.get_params()
    assert params["seed"] == 7 and params["categorical"] == ("precursor",)
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert not hasattr(twin, "model_")


def test_same_seed_gives_same_predictions(name, hard_carbon):
    small = hard_carbon.dropna(subset=["ice_pct"]).head(40)
    first = fast_model(name).fit(small[INPUTS], small["ice_pct"])
    again = fast_model(name).fit(small[INPUTS], small["ice_pct"])
    other = fast_model(name, seed=1).fit(small[INPUTS], small["ice_pct"])
    X = small[INPUTS]
    np.testing.assert_allclose(again.predict(X)[0], first.predict(X)[0], rtol=1e-9)
    np.testing.assert_allclose(again.predict(X)[1], first.predict(X)[1], rtol=1e-9)
    if name != "gp":  # a GP's optimum does not depend on the seed when no restart is needed
        assert not np.allclose(other.predict(X)[0], first.predict(X)[0], rtol=1e-6)


def test_missing_inputs_are_imputed_not_dropped(name, hard_carbon, fitted):
    model = fitted[name]
    X = hard_carbon[INPUTS]
    gappy = X[X["la_nm"].isna() & X["bet_ssa_m2_per_g"].isna()]
    assert len(gappy) > 0
    mean, std = model.predict(gappy)
    assert mean.shape == (len(gappy), 2) and np.isfinite(mean).all() and np.isfinite(std).all()
    Xt = model.encode(gappy)
    assert not torch.isnan(Xt).any()
    raw = model.encode(gappy, impute=False)
    assert torch.isnan(raw[:, INPUTS.index("la_nm")]).all()
    torch.testing.assert_close(model.impute_encoded(raw), Xt)


def test_row_missing_one_target_still_trains_the_other(name, hard_carbon, fitted):
    df = hard_carbon.copy()
    only_ice = df["reversible_capacity_mah_per_g"].isna() & df["ice_pct"].notna()
    assert only_ice.sum() >= 5
    df.loc[only_ice, "ice_pct"] += 25.0  # seen by the ICE model only
    with pytest.warns(InputDataWarning):
        model = fast_model(name).fit(df[INPUTS], df[TARGETS])
    X = df.loc[only_ice, INPUTS]
    changed = np.abs(model.predict(X)[0] - fitted[name].predict(X)[0]).mean(axis=0)
    assert changed[0] > 5  # the ICE model learned from those rows
    if name != "ensemble":  # separate models per target: capacity cannot notice
        assert changed[1] < 1.0


def test_encode_uses_given_category_order_and_refuses_unseen_levels(name, hard_carbon):
    levels = ["starch", "pitch", "lignin", "phenolic_resin", "coconut_shell", "cellulose"]
    df = hard_carbon.dropna(subset=["ice_pct"]).head(40)
    model = fast_model(name, categories={"precursor": levels}).fit(df[INPUTS], df["ice_pct"])
    Xt = model.encode(df[INPUTS])
    assert Xt.dtype == torch.double and Xt.shape == (len(df), len(INPUTS))
    expected = df["precursor"].map(levels.index).to_numpy()
    np.testing.assert_array_equal(Xt[:, 0].numpy(), expected)
    bad = df[INPUTS].head(2).assign(precursor="graphite")
    with pytest.raises(InputDataError, match="graphite") as info:
        model.predict(bad)
    assert "categories" in info.value.hint


def test_botorch_model_matches_predict(name, hard_carbon, fitted):
    model = fitted[name]
    rows = _complete_rows(hard_carbon)
    post = model.to_botorch().posterior(model.encode(rows[INPUTS]))
    mean, std = model.predict(rows[INPUTS], observation_noise=False)
    np.testing.assert_allclose(post.mean.detach().numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(post.variance.detach().sqrt().numpy(), std, rtol=1e-4)
    noisy = model.predict(rows[INPUTS])[1]
    assert (noisy > std).all()  # measurement noise widens the predictive interval
    # NaN cells may also go straight into the BoTorch model, which imputes them itself.
    gappy = hard_carbon[INPUTS][hard_carbon["la_nm"].isna()].head(4)
    a = model.to_botorch().posterior(model.encode(gappy, impute=False)).mean
    np.testing.assert_allclose(a.detach().numpy(), model.predict(gappy)[0], rtol=1e-6)
    b = model.to_botorch().posterior(model.encode(gappy)).mean
    if name == "rf":  # the forest also sees "La was not reported" flags, lost once imputed
        assert not torch.allclose(a, b)
    else:
        torch.testing.assert_close(a, b)


def test_acquisition_functions_evaluate_and_backpropagate(name, hard_carbon, fitted):
    model = fitted[name]
    bm = model.to_botorch()
    X_baseline = model.encode(hard_carbon[INPUTS])
    shift = torch.zeros(len(INPUTS), dtype=torch.double)
    shift[INPUTS.index("carbonization_temperature_c")] = 25.0  # new points, not the data
    cand = (X_baseline[:6] + shift).reshape(3, 2, -1).requires_grad_(True)
    ice = GenericMCObjective(lambda Z, X=None: Z[..., 0])
    acqs = [
        qLogNoisyExpectedImprovement(
            bm, X_baseline=X_baseline, objective=ice, prune_baseline=False
        ),
        qLogNoisyExpectedHypervolumeImprovement(
            bm,
            ref_point=torch.tensor([60.0, 150.0], dtype=torch.double),
            X_baseline=X_baseline,
            prune_baseline=False,
        ),
    ]
    for acq in acqs:
        cand.grad = None
        value = acq(cand)
        assert value.shape == (3,) and torch.isfinite(value).all()
        value.sum().backward()
        assert cand.grad is not None and torch.isfinite(cand.grad).all()
        if name == "rf":
            assert (cand.grad == 0).all()  # trees are piecewise constant
        else:
            assert cand.grad[..., INPUTS.index("carbonization_temperature_c")].abs().sum() > 0


def test_bad_inputs_give_actionable_errors(name, hard_carbon, fitted):
    X = hard_carbon[INPUTS].copy()
    with pytest.raises(InputDataError, match="carbonization_temperature_c") as info:
        fitted[name].predict(X.rename(columns={INPUTS[1]: "carbonisation_temp"}))
    assert "Did you mean" in info.value.hint
    X["d002_nm"] = X["d002_nm"].astype(object)
    X.loc[X.index[3], "d002_nm"] = "n/a?"
    with pytest.raises(InputDataError, match=r"^Column 'd002_nm'.*'n/a\?' \(row 3\)") as info:
        fast_model(name).fit(X, hard_carbon["ice_pct"])
    assert "categorical" in info.value.hint
    with pytest.raises(InputDataError, match="log scale"):
        fast_model(name, log_columns=["d002_nm"]).fit(
            X.assign(d002_nm=0.0), hard_carbon["ice_pct"].fillna(80)
        )


def test_make_surrogate_names_every_class(name):
    classes = {"gp": GPSurrogate, "ensemble": EnsembleSurrogate, "rf": ForestSurrogate}
    assert type(make_surrogate(name)) is classes[name]
    with pytest.raises(InputDataError, match="Unknown surrogate"):
        make_surrogate(name + "x")


def test_ensemble_models_are_botorch_ensembles(name, fitted):
    bm = fitted[name].to_botorch()
    assert isinstance(bm, EnsembleModel) == (name != "gp")
    assert bm.num_outputs == 2
