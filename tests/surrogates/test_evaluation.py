"""cross_validate: the report's shape, grouped folds, parity and importance data, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from surrogates import cross_validate
from surrogates.errors import InputDataError
from surrogates.evaluation import METRICS, score

from .conftest import FAST, INPUTS, TARGETS


@pytest.fixture(scope="module")
def rf_report(hard_carbon):
    """Grouped CV of the fast forest on both targets (cheap: the report's mechanics)."""
    return cross_validate(
        hard_carbon,
        inputs=INPUTS,
        targets=TARGETS,
        categorical=["precursor"],
        group="paper",
        models=["rf"],
        folds=4,
        seed=1,
        progress=False,
        model_options=FAST,
        importance_repeats=2,
    )


def test_report_dict_has_exactly_the_documented_shape(rf_report, hard_carbon):
    d = rf_report.to_dict()
    assert set(d) == {"n_rows", "n_excluded", "models"}
    assert d["n_rows"] == len(hard_carbon)
    assert d["n_excluded"] == {t: int(hard_carbon[t].isna().sum()) for t in TARGETS}
    assert set(d["models"]) == {"rf"} and set(d["models"]["rf"]) == set(TARGETS)
    for target in TARGETS:
        assert set(d["models"]["rf"][target]) == set(METRICS)
        assert d["models"]["rf"][target]["fit_seconds"] > 0
    assert json.loads(json.dumps(d)) == d


def test_grouped_folds_never_split_a_paper(rf_report, hard_carbon):
    parity = rf_report.parity("rf", "ice_pct")
    assert len(parity) == hard_carbon["ice_pct"].notna().sum()  # every measured row, once
    assert parity["row"].is_unique
    papers = hard_carbon.loc[parity["row"], "paper"].to_numpy()
    folds_per_paper = parity.groupby(papers)["fold"].nunique()
    assert (folds_per_paper == 1).all()
    assert parity["fold"].nunique() == 4
    assert {"y_true", "mean", "std", "fold"} <= set(parity.columns)
    np.testing.assert_array_equal(
        parity["y_true"].to_numpy(), hard_carbon.loc[parity["row"], "ice_pct"].to_numpy()
    )


def test_metrics_are_computed_from_the_parity_data(rf_report):
    p = rf_report.parity("rf", "reversible_capacity_mah_per_g")
    expected = score(p["y_true"].to_numpy(), p["mean"].to_numpy(), p["std"].to_numpy())
    got = rf_report.metrics["rf"]["reversible_capacity_mah_per_g"]
    for k, v in expected.items():
        assert got[k] == pytest.approx(v)


def test_permutation_importance_finds_temperature_for_ice(rf_report):
    imp = rf_report.importance("rf", "ice_pct")
    assert set(imp["feature"]) == set(INPUTS)
    top = list(imp["feature"].head(3))
    assert "carbonization_temperature_c" in top or "bet_ssa_m2_per_g" in top, imp
    assert imp.set_index("feature").loc["carbonization_temperature_c", "importance"] > 0.05


def test_score_on_perfect_and_known_gaussian_predictions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=20_000)
    m = score(y, np.zeros_like(y), np.ones_like(y))
    assert m["coverage90"] == pytest.approx(0.90, abs=0.01)
    assert m["nlpd"] == pytest.approx(0.5 * np.log(2 * np.pi) + 0.5, abs=0.02)
    assert m["r2"] == pytest.approx(0.0, abs=0.01)
    assert score(y, y, np.full_like(y, 0.1))["r2"] == 1.0


def test_plain_kfold_and_fewer_groups_than_folds(hard_carbon):
    small = hard_carbon[hard_carbon["paper"].isin(hard_carbon["paper"].unique()[:3])]
    report = cross_validate(
        small, inputs=INPUTS, targets="ice_pct", categorical=["precursor"], group="paper",
        models="rf", folds=5, progress=False, model_options=FAST, importance_repeats=0,
    )
    assert report.folds == 3 and "3 folds" in report.notes[0]
    assert report.importance().empty
    plain = cross_validate(
        small, inputs=INPUTS, targets="ice_pct", categorical=["precursor"], models="rf",
        folds=3, progress=False, model_options=FAST, importance_repeats=0,
    )
    assert plain.group is None and plain.parity()["fold"].nunique() == 3


def test_request_errors_name_every_problem(hard_carbon):
    with pytest.raises(InputDataError) as info:
        cross_validate(
            hard_carbon,
            inputs=["carbonization_temp", "precursor"],
            targets="ice",
            categorical=["salt"],
            group="doi",
            models=["gp", "svm"],
            folds=1,
            progress=False,
        )
    text = str(info.value)
    for bit in ("'carbonization_temp'", "'ice'", "'salt'", "'doi'", "'svm'", "folds=1"):
        assert bit in text
    assert "Did you mean 'carbonization_temperature_c'?" in info.value.hint
    assert "'ice_pct'" in info.value.hint
