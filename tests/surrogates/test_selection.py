"""Model choice per target by grouped cross-validation (``model: auto``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from botorch.models.model import ModelList

import surrogates.evaluation as evaluation
import surrogates.selection as selection
from surrogates import make_surrogate
from surrogates.errors import InputDataError, SurrogateError
from surrogates.selection import (
    AutoSurrogate,
    Selection,
    TargetChoice,
    choose,
    clear_cache,
    select_models,
)

from .conftest import INPUTS, TARGETS

CHEAP = {"gp": {"max_iter": 30}, "rf": {"n_estimators": 40},
         "boosted": {"n_members": 4, "max_iter": 40, "learning_rate": 0.15}}


def _two_kinds(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """``smooth`` is a sine of x1 (a GP's home ground); ``step`` jumps at x2 = 0.5; plates of
    12 rows."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.random(n), rng.random(n)
    return pd.DataFrame({
        "x1": x1, "x2": x2, "plate": np.arange(n) // 12,
        "smooth": np.sin(4 * x1) + rng.normal(0, 0.05, n),
        "step": np.where(x2 > 0.5, 3.0, 0.0) + 0.3 * x1 + rng.normal(0, 0.05, n),
    })


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


# ------------------------------------------------------------------------------ the rule
def test_the_best_calibrated_model_wins():
    model, reason = choose({"gp": {"r2": 0.70, "coverage90": 0.9},
                            "rf": {"r2": 0.78, "coverage90": 0.88},
                            "boosted": {"r2": 0.80, "coverage90": 0.91}})
    assert model == "boosted" and "best held-out R² 0.800" in reason and "91 %" in reason


def test_a_calibrated_model_near_the_best_beats_a_miscalibrated_best():
    model, reason = choose({"gp": {"r2": 0.795, "coverage90": 0.89},
                            "boosted": {"r2": 0.80, "coverage90": 0.70},
                            "rf": {"r2": 0.75, "coverage90": 0.9}})
    assert model == "gp"
    assert "within 0.01 of the best (boosted 0.800)" in reason and "not calibrated" in reason


def test_never_below_the_random_forest():
    model, _ = choose({"gp": {"r2": 0.805, "coverage90": 0.9},
                       "rf": {"r2": 0.81, "coverage90": 0.8}})
    assert model == "rf"  # 0.805 is within 0.01 of the best, but below the forest


def test_ties_go_to_the_smooth_model_and_failures_are_skipped():
    model, reason = choose({"rf": {"r2": 0.80, "coverage90": 0.9},
                            "gp": {"r2": 0.80, "coverage90": 0.9},
                            "ensemble": {"error": "boom"}})
    assert model == "gp"
    with pytest.raises(SurrogateError):
        choose({"gp": {"error": "boom"}, "rf": {"r2": None}})


def test_without_a_calibrated_candidate_the_closest_coverage_is_taken():
    model, reason = choose({"gp": {"r2": 0.80, "coverage90": 0.60},
                            "boosted": {"r2": 0.801, "coverage90": 0.80}})
    assert model == "boosted" and "this one is closest" in reason


# ------------------------------------------------------------------------------ selection
def test_grouped_choice_per_target_with_scores_and_reasons():
    df = _two_kinds()
    result = select_models(df[["x1", "x2"]], df[["smooth", "step"]], groups=df["plate"],
                           candidates=("gp", "rf", "boosted"), model_options=CHEAP, folds=3)
    assert result.split == "groups" and result.folds == 3
    assert list(result.models) == ["smooth", "step"]
    assert result.models["smooth"] == "gp"
    for choice in result.choices.values():
        r2 = {m: s["r2"] for m, s in choice.scores.items()}
        assert set(r2) == {"gp", "rf", "boosted"}
        assert r2[choice.model] >= max(r2.values()) - 0.01 - 1e-12
        assert r2[choice.model] >= r2["rf"] or choice.model == "rf"
        assert choice.reason
    # JSON round trip (the cache and the batch's model info)
    assert Selection.from_dict(result.to_dict()).models == result.models


def test_result_is_cached_by_data_content(monkeypatch, tmp_path):
    df = _two_kinds(40)
    calls = []
    real = evaluation.cross_validate

    def counting(*args, **kwargs):
        calls.append(kwargs["models"])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "cross_validate", counting)
    kwargs = {"candidates": ("gp", "rf"), "model_options": CHEAP, "folds": 2,
              "cache_dir": tmp_path}
    first = select_models(df[["x1", "x2"]], df[["smooth"]], **kwargs)
    assert len(calls) == 2 and not first.cached and first.seconds > 0
    again = select_models(df[["x1", "x2"]].copy(), df[["smooth"]].copy(), **kwargs)
    assert again.cached and again.models == first.models and len(calls) == 2
    clear_cache()  # a new process: the disk copy answers
    from_disk = select_models(df[["x1", "x2"]], df[["smooth"]], **kwargs)
    assert from_disk.cached and len(calls) == 2
    changed = df.assign(smooth=df["smooth"] + 0.01)  # one new result: a new choice is made
    select_models(changed[["x1", "x2"]], changed[["smooth"]], **kwargs)
    assert len(calls) == 4


def test_few_rows_get_the_default_and_one_plate_is_split_by_rows():
    df = _two_kinds(30)
    few = df.assign(step=np.where(np.arange(30) < 8, df["step"], np.nan))
    result = select_models(few[["x1", "x2"]], few[["smooth", "step"]], groups=np.zeros(30),
                           candidates=("gp", "rf"), model_options=CHEAP, folds=3)
    assert result.choices["step"].model == "gp"
    assert "8 measured value(s)" in result.choices["step"].reason
    assert result.split == "rows"
    assert any("one group" in n for n in result.notes)


def test_a_candidate_that_fails_is_not_chosen():
    df = _two_kinds(40)
    result = select_models(df[["x1", "x2"]], df[["smooth"]], candidates=("gp", "boosted"),
                           model_options={**CHEAP, "boosted": {"n_members": 2}}, folds=2)
    assert result.models["smooth"] == "gp"
    assert "error" in result.choices["smooth"].scores["boosted"]
    assert any("boosted could not be cross-validated" in n for n in result.notes)


def test_bad_requests_name_the_problem():
    df = _two_kinds(20)
    with pytest.raises(InputDataError, match="Unknown candidate"):
        select_models(df[["x1"]], df[["smooth"]], candidates=("gp", "svm"))
    with pytest.raises(InputDataError, match="groups has 3 labels for 20 rows"):
        select_models(df[["x1"]], df[["smooth"]], groups=[1, 2, 3])


# ------------------------------------------------------------------------------ AutoSurrogate
def _fixed(models: dict[str, str]):
    def fake(X, Y, **kwargs):
        choices = {t: TargetChoice(t, m, "fixed for the test", {}) for t, m in models.items()}
        return Selection(choices=choices, folds=0, split="none", n_rows=len(X),
                         n_rows_used=len(X), key="test", seconds=0.0)
    return fake


def test_targets_that_chose_different_models_share_one_botorch_model(monkeypatch,
                                                                     hard_carbon):
    monkeypatch.setattr(selection, "select_models",
                        _fixed({"ice_pct": "boosted", "reversible_capacity_mah_per_g": "gp"}))
    X, Y = hard_carbon[INPUTS], hard_carbon[TARGETS]
    auto = make_surrogate("auto", categorical=("precursor",), model_options=CHEAP)
    with pytest.warns(UserWarning, match="Rows without a target value"):
        auto.fit(X, Y, groups=hard_carbon["paper"])
    assert isinstance(auto, AutoSurrogate)
    assert [name for name, _, _ in auto.members_] == ["boosted", "gp"]
    assert auto.chosen_ == {"ice_pct": "boosted", "reversible_capacity_mah_per_g": "gp"}
    assert not auto.differentiable_
    botorch_model = auto.to_botorch()
    assert isinstance(botorch_model, ModelList) and botorch_model.num_outputs == 2
    rows = X.dropna().head(4)
    mean, std = auto.predict(rows, observation_noise=False)
    for k, (_, _, member) in enumerate(auto.members_):
        np.testing.assert_allclose(mean[:, k], member.predict(rows)[0][:, 0])
    posterior = botorch_model.posterior(auto.encode(rows))
    np.testing.assert_allclose(posterior.mean.detach().numpy(), mean, rtol=1e-5, atol=1e-6)
    assert auto.target_names_ == TARGETS


def test_one_choice_for_all_targets_is_one_model(monkeypatch, hard_carbon):
    monkeypatch.setattr(selection, "select_models",
                        _fixed({"ice_pct": "rf", "reversible_capacity_mah_per_g": "rf"}))
    with pytest.warns(UserWarning):
        auto = AutoSurrogate(categorical=("precursor",), model_options=CHEAP).fit(
            hard_carbon[INPUTS], hard_carbon[TARGETS])
    assert len(auto.members_) == 1 and not isinstance(auto.to_botorch(), ModelList)


def test_nested_cross_validation_scores_the_choice():
    df = _two_kinds(48)
    report = evaluation.cross_validate(
        df, inputs=["x1", "x2"], targets="smooth", group="plate", models=["auto"], folds=2,
        progress=False, importance_repeats=0,
        model_options={"auto": {"candidates": ("gp", "rf"), "model_options": CHEAP,
                                "folds": 2}})
    assert report.metrics["auto"]["smooth"]["r2"] > 0.8


def test_miscalibrated_intervals_are_rescaled_to_cover_90_percent(monkeypatch, hard_carbon):
    rng = np.random.default_rng(0)
    y = rng.normal(0, 2.0, 400)  # the model claims std 1: twice too confident
    parity = pd.DataFrame({"y_true": y, "mean": 0.0, "std": 1.0})
    assert selection._interval_scale(parity) == pytest.approx(2.0, rel=0.1)
    assert selection._interval_scale(parity.head(5)) is None

    def fake(X, Y, **kwargs):
        choices = {t: TargetChoice(t, "rf", "fixed", {}, interval_scale=2.0 if k else 1.0)
                   for k, t in enumerate(TARGETS)}
        return Selection(choices=choices, folds=0, split="none", n_rows=len(X),
                         n_rows_used=len(X), key="scale", seconds=0.0)

    monkeypatch.setattr(selection, "select_models", fake)
    with pytest.warns(UserWarning):
        auto = AutoSurrogate(categorical=("precursor",), model_options=CHEAP).fit(
            hard_carbon[INPUTS], hard_carbon[TARGETS])
    rows = hard_carbon[INPUTS].head(5)
    (_, _, forest), = auto.members_
    _, std = auto.predict(rows)
    _, raw = forest.predict(rows)
    np.testing.assert_allclose(std, raw * np.array([1.0, 2.0]))
