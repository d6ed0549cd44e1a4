"""Intervals are honest on data with known noise, and on grouped literature-style data."""

from __future__ import annotations

import numpy as np
import pytest

from surrogates.datasets import make_smooth_table
from surrogates.evaluation import Z90, cross_validate

from .conftest import FAST, INPUTS, MODELS, fast_model

NOISE = 0.1


@pytest.mark.parametrize("name", MODELS, ids=MODELS)
def test_held_out_coverage_matches_known_noise(name):
    train = make_smooth_table(120, noise=NOISE, seed=0)
    test = make_smooth_table(400, noise=NOISE, seed=1)
    model = fast_model(name, categorical=()).fit(train[["x1", "x2"]], train["y"])
    mean, std = model.predict(test[["x1", "x2"]])
    z = np.abs(test["y"].to_numpy() - mean[:, 0]) / std[:, 0]
    coverage = float(np.mean(z <= Z90))
    assert 0.8 <= coverage <= 0.97, coverage
    # The predictive std is mostly the known noise, not wildly wider.
    assert 0.08 < float(np.median(std)) < 0.2


def test_gp_learns_the_noise_level():
    train = make_smooth_table(120, noise=NOISE, seed=0)
    model = fast_model("gp", categorical=()).fit(train[["x1", "x2"]], train["y"])
    _, total = model.predict(train[["x1", "x2"]].head(50))
    _, latent = model.predict(train[["x1", "x2"]].head(50), observation_noise=False)
    noise_sd = np.sqrt(np.median(total**2 - latent**2))
    assert 0.07 < noise_sd < 0.14, noise_sd


@pytest.fixture(scope="module")
def grouped_report(hard_carbon):
    """Grouped 4-fold CV of all three models on the literature-like table (ICE)."""
    return cross_validate(
        hard_carbon,
        inputs=INPUTS,
        targets="ice_pct",
        categorical=["precursor"],
        group="paper",
        folds=4,
        progress=False,
        model_options=FAST,
        importance_repeats=2,
    )


def test_best_model_matches_random_forest_on_grouped_literature_data(grouped_report):
    metrics = grouped_report.to_dict()["models"]
    best = max(("gp", "ensemble"), key=lambda m: metrics[m]["ice_pct"]["r2"])
    assert metrics[best]["ice_pct"]["r2"] >= metrics["rf"]["ice_pct"]["r2"] - 0.05, metrics
    assert metrics[best]["ice_pct"]["r2"] > 0.6, metrics
    assert 0.75 <= metrics[best]["ice_pct"]["coverage90"] <= 0.97, metrics


@pytest.mark.parametrize("name", MODELS, ids=MODELS)
def test_every_model_is_calibrated_on_held_out_papers(grouped_report, name):
    m = grouped_report.metrics[name]["ice_pct"]
    assert 0.75 <= m["coverage90"] <= 0.99, m
    assert np.isfinite(m["nlpd"]) and m["nlpd"] < 4.0, m
