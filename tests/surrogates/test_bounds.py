"""Bounded targets: the links, their checks, and the surrogate and BoTorch models that use them."""

from __future__ import annotations

import inspect
import math
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from sklearn.base import clone

from surrogates import ForestSurrogate, GPSurrogate
from surrogates.bounds import (
    BoundedModel,
    Identity,
    Logit,
    OneSided,
    check_bounds,
    fit_link,
    mapped_moments,
)
from surrogates.errors import InputDataError

pytestmark = pytest.mark.filterwarnings(
    # Tiny data: GP fits may need a fallback, which is recorded on the model.
    "ignore::surrogates.errors.SurrogateFitWarning",
)


def _ce_table(n: int = 30, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CE rising with x to the 100 % ceiling (several wells exactly at 100), capacity >= 0."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": np.linspace(0.0, 1.0, n), "z": rng.uniform(0, 1, n)})
    ce = np.minimum(96.0 + 5.0 * X["x"] + rng.normal(0, 0.2, n), 100.0)
    cap = np.maximum(250.0 * X["z"] - 40.0 + rng.normal(0, 5, n), 0.0)
    return X, pd.DataFrame({"ce_pct": ce, "cap_mah_per_g": cap})


BOUNDS = {"ce_pct": (0, 100), "cap_mah_per_g": (0, None)}
FAR = pd.DataFrame({"x": [1.0, 1.5, 3.0, -2.0], "z": [-1.0, 0.0, 2.0, 0.5]})


# --- links --------------------------------------------------------------------------------------
def test_logit_link_keeps_values_at_the_bound_finite_ordered_and_inside() -> None:
    y = np.array([91.0, 99.5, 99.9, 100.0, 0.0])
    link = fit_link(y, 0.0, 100.0)
    assert isinstance(link, Logit)
    z = link.forward(y)
    assert np.isfinite(z).all()
    assert z[3] > z[2] > z[1] > z[0] > z[4]  # 100.0 and 0.0 moved inside, order kept
    back = link.inverse(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(back[:3], y[:3], rtol=1e-12)
    assert 99.9 < back[3] < 100.0  # half-way to the nearest other value
    extreme = link.inverse(torch.tensor([-1e4, -40.0, 40.0, 1e4], dtype=torch.double))
    assert ((extreme >= 0.0) & (extreme <= 100.0)).all()


@pytest.mark.parametrize("kind", ["softplus", "log"])
def test_one_sided_links_stay_on_their_side(kind: str) -> None:
    y = np.array([0.0, 0.5, 5.0, 50.0, 300.0])
    lower = fit_link(y, 0.0, None, one_sided=kind)
    upper = fit_link(-y, None, 0.0, one_sided=kind)
    assert isinstance(lower, OneSided) and lower.name == kind
    z = torch.linspace(-800.0, 800.0, 41, dtype=torch.double)
    assert (lower.inverse(z) >= 0).all() and (upper.inverse(z) <= 0).all()
    for link, values in ((lower, y), (upper, -y)):
        zs = link.forward(values)
        assert np.isfinite(zs).all() and (np.diff(zs) * np.sign(np.diff(values)) > 0).all()
        np.testing.assert_allclose(link.inverse(torch.as_tensor(zs)).numpy()[1:], values[1:],
                                   rtol=1e-9)


def test_softplus_link_is_the_identity_far_from_the_bound() -> None:
    y = np.array([200.0, 250.0, 300.0, 350.0])
    link = fit_link(y, 0.0, None)  # softness: a tenth of the median, 27.5 mAh/g
    np.testing.assert_allclose(link.forward(np.array([200.0, 400.0])), [200.0, 400.0], rtol=2e-4)
    # ... where a log would squash the top of a maximized target.
    logged = fit_link(y, 0.0, None, one_sided="log").forward(y)
    assert np.ptp(logged) < 1.0 < np.ptp(link.forward(y)) / 100


def test_unbounded_target_gets_the_identity() -> None:
    assert isinstance(fit_link(np.array([1.0, 2.0]), None, None), Identity)
    assert isinstance(fit_link(np.array([1.0, 2.0]), -math.inf, math.inf), Identity)


def test_quadrature_moments_match_monte_carlo() -> None:
    link = Logit(0.0, 100.0, 0.01, 0.01)
    mean = torch.tensor([[3.0, 0.0]], dtype=torch.double)
    var = torch.tensor([[1.5**2, 0.4**2]], dtype=torch.double)
    m, v = mapped_moments(mean, var, [link, Identity()])
    normal = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.double)
    draws = link.inverse(3.0 + 1.5 * normal)
    assert float(m[0, 0]) == pytest.approx(float(draws.mean()), abs=0.02)
    assert float(v[0, 0].sqrt()) == pytest.approx(float(draws.std()), rel=0.01)
    assert float(m[0, 1]) == 0.0 and float(v[0, 1]) == pytest.approx(0.16)  # identity kept


# --- checks -------------------------------------------------------------------------------------
def test_bad_bounds_are_refused_with_the_row_column_and_value() -> None:
    Y = pd.DataFrame({"ce_pct": [99.0, 100.4, 98.0, -1.0]})
    with pytest.raises(InputDataError) as info:
        check_bounds({"ce_pct": (0, 100)}, Y)
    message = str(info.value)
    assert "row 1, column 'ce_pct': 100.4" in message and "row 3, column 'ce_pct': -1" in message
    assert "fraction" in info.value.hint
    with pytest.raises(InputDataError, match="not a target") as info:
        check_bounds({"ce_pc": (0, 100)}, Y)
    assert "ce_pct" in info.value.hint
    with pytest.raises(InputDataError, match="low is not below high"):
        check_bounds({"ce_pct": (100, 0)}, Y)
    with pytest.raises(InputDataError, match="pair of numbers"):
        check_bounds({"ce_pct": "0-100"}, Y)
    assert check_bounds({"ce_pct": (None, None)}, Y) == {}


# --- surrogates ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gp_pair() -> tuple[GPSurrogate, GPSurrogate]:
    X, Y = _ce_table()
    free = GPSurrogate(max_iter=40, seed=0).fit(X, Y)
    bounded = GPSurrogate(max_iter=40, seed=0).fit(X, Y, bounds=BOUNDS)
    return free, bounded


def test_gp_without_bounds_leaves_them_and_with_bounds_does_not(gp_pair) -> None:
    free, bounded = gp_pair
    mean, _ = free.predict(FAR)
    low, high = free.predict_interval(FAR)
    assert high[:, 0].max() > 100.0 and low[:, 1].min() < 0.0  # what the issue reported
    mean, std = bounded.predict(FAR)
    low, high = bounded.predict_interval(FAR)
    for a in (mean, low, high):
        assert (a[:, 0] <= 100.0).all() and (a[:, 0] >= 0.0).all() and (a[:, 1] >= 0.0).all()
    assert (low <= mean + 1e-9).all() and (mean <= high + 1e-9).all() and (std >= 0).all()
    assert [link.name for link in bounded.output_links_] == ["logit", "softplus"]
    assert bounded.output_bounds_ == {"ce_pct": (0.0, 100.0), "cap_mah_per_g": (0.0, None)}
    assert free.output_links_ is None


def test_unbounded_interval_is_mean_plus_minus_z_std(gp_pair) -> None:
    free, _ = gp_pair
    mean, std = free.predict(FAR, observation_noise=False)
    low, high = free.predict_interval(FAR, level=0.8, observation_noise=False)
    np.testing.assert_allclose(high - mean, 1.2815515655446004 * std, rtol=1e-9)
    np.testing.assert_allclose(mean - low, 1.2815515655446004 * std, rtol=1e-9)
    with pytest.raises(InputDataError, match="probability"):
        free.predict_interval(FAR, level=90)


def test_botorch_model_samples_within_bounds_and_matches_predict(gp_pair) -> None:
    _, bounded = gp_pair
    model = bounded.to_botorch()
    assert isinstance(model, BoundedModel) and model.num_outputs == 2
    Xt = bounded.encode(FAR)
    post = model.posterior(Xt)
    samples = post.rsample(torch.Size([256]))
    assert (samples[..., 0] <= 100.0).all() and (samples[..., 1] >= 0.0).all()
    mean, std = bounded.predict(FAR, observation_noise=False)
    np.testing.assert_allclose(post.mean.detach().numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(post.variance.detach().sqrt().numpy(), std, rtol=1e-5)
    one = model.posterior(Xt, output_indices=[1]).rsample(torch.Size([16]))
    assert one.shape[-1] == 1 and (one >= 0.0).all()


def test_acquisition_on_a_bounded_model_backpropagates(gp_pair) -> None:
    _, bounded = gp_pair
    X, _ = _ce_table()
    model = bounded.to_botorch()
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=bounded.encode(X), prune_baseline=False,
        objective=GenericMCObjective(lambda Z, X=None: Z[..., 0]))
    cand = bounded.encode(FAR).reshape(2, 2, -1).clone().requires_grad_(True)
    value = acq(cand)
    value.sum().backward()
    assert torch.isfinite(value).all() and cand.grad is not None
    assert torch.isfinite(cand.grad).all() and cand.grad.abs().sum() > 0


def test_bounds_keep_the_scikit_learn_contract(gp_pair) -> None:
    _, bounded = gp_pair
    assert "bounds" in inspect.signature(bounded.fit).parameters
    assert "bounds" not in bounded.get_params()  # data, not a hyperparameter
    twin = clone(bounded)
    assert not hasattr(twin, "model_") and twin.get_params() == bounded.get_params()


class _Shifted(ForestSurrogate):
    """A subclass whose own predict calls the parent's: bounds must be mapped once."""

    def predict(self, X, *, observation_noise=True):  # noqa: ANN001, ANN201
        mean, std = super().predict(X, observation_noise=observation_noise)
        return mean, std


def test_a_subclass_that_overrides_predict_is_mapped_once() -> None:
    X, Y = _ce_table()
    parent = ForestSurrogate(n_estimators=30, seed=1).fit(X, Y, bounds=BOUNDS)
    child = _Shifted(n_estimators=30, seed=1).fit(X, Y, bounds=BOUNDS)
    np.testing.assert_allclose(child.predict(FAR)[0], parent.predict(FAR)[0], rtol=1e-12)
    np.testing.assert_allclose(child.predict_interval(FAR)[1], parent.predict_interval(FAR)[1],
                               rtol=1e-12)
    # Threads sharing one fitted model (the dashboard's cache) all get bounded values.
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(child.predict_interval(FAR)[1][:, 0])
            results.append(child.predict(FAR)[0][:, 0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and all((r <= 100.0).all() and (r > 90.0).all() for r in results)


@pytest.mark.filterwarnings("ignore::surrogates.errors.InputDataWarning")
def test_warm_start_prior_targets_are_linked_alike() -> None:
    from surrogates.warm_start import WarmStartGP

    X, Y = _ce_table(12, seed=2)
    PX, PY = _ce_table(40, seed=3)
    model = WarmStartGP(max_iter=30, seed=0).fit(
        X, Y[["ce_pct"]], prior_X=PX, prior_Y=PY[["ce_pct"]], bounds={"ce_pct": (0, 100)})
    mean, _ = model.predict(FAR)
    low, high = model.predict_interval(FAR)
    assert (high <= 100.0).all() and (mean <= 100.0).all() and (low >= 0.0).all()
    assert mean[0, 0] > 98.0  # learned on the link scale, prior included: near the ceiling
