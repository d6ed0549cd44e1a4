"""Two-stage surrogate: recipe -> descriptors -> targets, composed by sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.models.ensemble import EnsembleModel

from surrogates import GPSurrogate
from surrogates.errors import InputDataError
from surrogates.evaluation import score
from surrogates.two_stage import TwoStageSurrogate

RECIPE = ["precursor", "carbonization_temperature_c"]
DESCRIPTORS = ("d002_nm", "bet_ssa_m2_per_g")
FAST = {"stage1_options": {"max_iter": 40}, "stage2_options": {"max_iter": 40}}


def _lab(n: int, seed: int) -> pd.DataFrame:
    """Temperature and precursor set the structure; the structure sets ICE (like the virtual
    lab: ICE falls with log surface area)."""
    rng = np.random.default_rng(seed)
    prec = rng.choice(["pitch", "lignin"], n)
    T = rng.uniform(800, 1800, n)
    u = (T - 800) / 1000
    porous = np.where(prec == "lignin", 0.8, 0.0)
    log_ssa = 2.4 - 1.6 * u + porous + rng.normal(0, 0.05, n)
    return pd.DataFrame({
        "precursor": prec, "carbonization_temperature_c": T,
        "d002_nm": 0.40 - 0.03 * u + rng.normal(0, 0.001, n),
        "bet_ssa_m2_per_g": 10**log_ssa,
        "ice_pct": 92 - 9 * log_ssa + rng.normal(0, 0.5, n),
    })


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _lab(30, seed=0), _lab(200, seed=1)


@pytest.fixture(scope="module")
def fitted(data) -> TwoStageSurrogate:
    train, _ = data
    return TwoStageSurrogate(descriptors=DESCRIPTORS, categorical=("precursor",), seed=0,
                             **FAST).fit(train[RECIPE + list(DESCRIPTORS)], train[["ice_pct"]])


def test_model_needs_the_recipe_only_after_fitting(fitted, data):
    _, test = data
    assert list(fitted.feature_names_in_) == RECIPE
    assert fitted.log_descriptors_ == ["bet_ssa_m2_per_g"]  # spans > 10x; d002 does not
    mean, std = fitted.predict(test[RECIPE])
    garbage = test.assign(d002_nm=9.9, bet_ssa_m2_per_g=1e6)  # measured descriptors are ignored
    mean2, std2 = fitted.predict(garbage[RECIPE + list(DESCRIPTORS)])
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(std, std2)
    s = score(test["ice_pct"].to_numpy(), mean[:, 0], std[:, 0])
    assert s["r2"] > 0.9 and 0.8 <= s["coverage90"] <= 0.99, s


def test_stage_one_predicts_descriptors_in_lab_units(fitted, data):
    _, test = data
    mean, std = fitted.descriptor_predictions(test[RECIPE])
    ssa = test["bet_ssa_m2_per_g"].to_numpy()
    assert np.corrcoef(np.log10(mean[:, 1]), np.log10(ssa))[0, 1] > 0.95
    assert (mean[:, 1] > 0).all() and (std > 0).all()


def test_uncertainty_of_stage_one_reaches_the_prediction(data):
    """Where stage 1 has not seen a recipe (lignin above 1300 °C), the composed prediction is
    less certain than where it has, although stage 2 saw such descriptors from pitch."""
    train, _ = data
    cold = train[(train["precursor"] == "pitch") | (train["carbonization_temperature_c"] < 1300)]
    model = TwoStageSurrogate(descriptors=DESCRIPTORS, categorical=("precursor",), seed=0,
                              **FAST).fit(cold[RECIPE + list(DESCRIPTORS)], cold[["ice_pct"]])
    probe = pd.DataFrame({"precursor": ["lignin", "lignin"],
                          "carbonization_temperature_c": [1000.0, 1750.0]})
    _, std = model.predict(probe, observation_noise=False)
    d_mean, d_std = model.descriptor_predictions(probe)
    relative = d_std[:, 1] / d_mean[:, 1]  # surface area on its log scale
    assert relative[1] > 2 * relative[0] and std[1, 0] > 2 * std[0, 0], (relative, std)


def test_botorch_model_composes_the_stages(fitted, data):
    _, test = data
    bm = fitted.to_botorch()
    assert isinstance(bm, EnsembleModel)
    X = fitted.encode(test[RECIPE].head(40))
    post = bm.posterior(X.unsqueeze(-2))  # 40 x 1 x d: one recipe per batch
    assert post.values.shape == (40, fitted.n_samples, 1, 1)
    mean, std = fitted.predict(test[RECIPE].head(40), observation_noise=False)
    # Both are Monte-Carlo estimates of the same mixture.
    assert np.abs(post.mean.detach().numpy()[:, 0, 0] - mean[:, 0]).max() < 1.0
    ratio = post.variance.detach().sqrt().numpy()[:, 0, 0] / std[:, 0]
    assert 0.5 < float(np.median(ratio)) < 1.5
    # Deterministic (fixed base samples) and differentiable in the recipe.
    Xg = X[:5].clone().requires_grad_(True)
    a = bm.posterior(Xg).mean
    a.sum().backward()
    assert torch.equal(a.detach(), bm.posterior(X[:5]).mean.detach())
    assert Xg.grad is not None and Xg.grad[:, 1].abs().sum() > 0  # temperature moves it
    # Joint draws over a q-batch: the same recipe twice gives the same member values (up to
    # the Cholesky jitter), two distant recipes do not.
    pair = bm.posterior(X[:1].expand(2, -1)).values
    torch.testing.assert_close(pair[..., 0, :], pair[..., 1, :], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("stage2", ["ensemble", "rf"])
def test_any_surrogate_can_be_stage_two(stage2, data):
    train, test = data
    options = {"ensemble": {"n_members": 4, "max_steps": 200}, "rf": {"n_estimators": 30}}
    model = TwoStageSurrogate(descriptors=DESCRIPTORS, stage2=stage2, categorical=("precursor",),
                              seed=0, stage1_options={"max_iter": 40},
                              stage2_options=options[stage2])
    model.fit(train[RECIPE + list(DESCRIPTORS)], train[["ice_pct"]])
    mean, _ = model.predict(test[RECIPE])
    assert score(test["ice_pct"].to_numpy(), mean[:, 0], np.ones(len(test)))["r2"] > 0.6
    values = model.to_botorch().posterior(model.encode(test[RECIPE].head(3))).values
    assert values.shape == (model.n_samples, 3, 1)


def test_rows_without_targets_teach_stage_one_and_gaps_are_filled(data):
    train, test = data
    part = train.copy()
    part.loc[:9, "ice_pct"] = np.nan  # failed cells: structure measured, no electrochemistry
    part.loc[10:14, "bet_ssa_m2_per_g"] = np.nan  # not measured: stage 1 fills it for stage 2
    with pytest.warns(UserWarning, match="Rows without a target value"):
        model = TwoStageSurrogate(descriptors=DESCRIPTORS, categorical=("precursor",), seed=0,
                                  **FAST).fit(part[RECIPE + list(DESCRIPTORS)], part[["ice_pct"]])
    assert model.stage1_.n_excluded_ == {"d002_nm": 0, "bet_ssa_m2_per_g": 5}
    assert model.stage2_.n_excluded_ == {"ice_pct": 0}
    assert len(model.stage2_.encoder_.feature_names_) == 4
    mean, _ = model.predict(test[RECIPE])
    assert score(test["ice_pct"].to_numpy(), mean[:, 0], np.ones(len(test)))["r2"] > 0.8


def test_descriptors_only_stage_two_ignores_the_recipe(data):
    train, _ = data
    model = TwoStageSurrogate(descriptors=DESCRIPTORS, stage2_inputs="descriptors",
                              categorical=("precursor",), seed=0, **FAST)
    model.fit(train[RECIPE + list(DESCRIPTORS)], train[["ice_pct"]])
    assert list(model.stage2_.feature_names_in_) == list(DESCRIPTORS)
    assert model.recipe_index_ == [-1, -2]


@pytest.mark.parametrize(
    ("kwargs", "columns", "match", "hint"),
    [({"descriptors": ("d002",)}, RECIPE + ["d002_nm"], "'d002' is not in X", "d002_nm"),
     ({"descriptors": ()}, RECIPE, "No descriptor column", "descriptors=("),
     ({"descriptors": DESCRIPTORS}, list(DESCRIPTORS), "recipe columns are missing", "recipe"),
     ({"descriptors": DESCRIPTORS, "stage2_inputs": "all"}, RECIPE + list(DESCRIPTORS),
      "stage2_inputs='all'", "recipe+descriptors"),
     ({"descriptors": DESCRIPTORS, "log_descriptors": ["d002_nm", "lc"]},
      RECIPE + list(DESCRIPTORS), "not descriptors", "")],
    ids=["misspelled", "none", "no-recipe", "stage2-inputs", "log-unknown"],
)
def test_bad_requests_are_named_with_a_hint(data, kwargs, columns, match, hint):
    train, _ = data
    with pytest.raises(InputDataError, match=match) as info:
        TwoStageSurrogate(categorical=("precursor",), **kwargs, **FAST).fit(
            train[columns], train[["ice_pct"]])
    assert hint in (info.value.hint or "")


def test_a_descriptor_measured_too_rarely_is_refused(data):
    train, _ = data
    few = train.assign(d002_nm=np.where(np.arange(len(train)) < 2, train["d002_nm"], np.nan))
    with pytest.raises(InputDataError, match=r"d002_nm.*too few measured values"):
        TwoStageSurrogate(descriptors=DESCRIPTORS, categorical=("precursor",), **FAST).fit(
            few[RECIPE + list(DESCRIPTORS)], few[["ice_pct"]])


def test_two_stage_beats_one_stage_when_structure_explains_the_target(data, fitted):
    """With 30 rows the GP from recipe to ICE must learn a precursor-specific curve; the
    structure (log surface area) makes ICE a straight line."""
    train, test = data
    one = GPSurrogate(categorical=("precursor",), seed=0, max_iter=40)
    one.fit(train[RECIPE], train[["ice_pct"]])
    y = test["ice_pct"].to_numpy()
    r2_one = score(y, *(a[:, 0] for a in one.predict(test[RECIPE])))["r2"]
    r2_two = score(y, *(a[:, 0] for a in fitted.predict(test[RECIPE])))["r2"]
    assert r2_two >= r2_one - 0.01, (r2_two, r2_one)
