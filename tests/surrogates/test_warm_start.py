"""Warm-start GP: prior data of a related source make a small campaign's model better."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from surrogates.errors import InputDataError, NotFittedError
from surrogates.gp import GPSurrogate
from surrogates.warm_start import WarmStartGP


def _truth(X: np.ndarray) -> np.ndarray:
    """A smooth 2-d response (think conductivity over molality and temperature)."""
    return np.sin(3.0 * X[:, 0]) + 0.5 * X[:, 1] ** 2


@pytest.fixture(scope="module")
def related() -> dict[str, pd.DataFrame]:
    """A prior source (another lab: 80 rows) and a target task (8 rows) offset by +0.7."""
    rng = np.random.default_rng(0)
    Xp, Xt, Xh = rng.uniform(0, 2, (80, 2)), rng.uniform(0, 2, (8, 2)), rng.uniform(0, 2, (150, 2))
    cols = ["molality", "temperature"]
    return {
        "X": pd.DataFrame(Xt, columns=cols),
        "Y": pd.DataFrame({"y": _truth(Xt) + 0.7 + rng.normal(0, 0.03, 8)}),
        "PX": pd.DataFrame(Xp, columns=cols),
        "PY": pd.DataFrame({"y": _truth(Xp) + rng.normal(0, 0.03, 80)}),
        "XH": pd.DataFrame(Xh, columns=cols),
        "YH": pd.DataFrame({"y": _truth(Xh) + 0.7}),
    }


def _rmse(model, data: dict[str, pd.DataFrame]) -> float:  # noqa: ANN001
    mean, _ = model.predict(data["XH"])
    return float(np.sqrt(np.mean((mean[:, 0] - data["YH"]["y"].to_numpy()) ** 2)))


@pytest.fixture(scope="module")
def cold_rmse(related: dict[str, pd.DataFrame]) -> float:
    return _rmse(GPSurrogate(max_iter=60, seed=0).fit(related["X"], related["Y"]), related)


@pytest.mark.parametrize("mode", ["multitask", "prior_mean"])
def test_warm_start_beats_cold_gp_on_held_out_rows(
        related, cold_rmse: float, mode: str) -> None:  # noqa: ANN001
    model = WarmStartGP(mode=mode, max_iter=60, seed=0)
    model.fit(related["X"], related["Y"], prior_X=related["PX"], prior_Y=related["PY"])
    warm = _rmse(model, related)
    assert warm < 0.6 * cold_rmse, (warm, cold_rmse)
    assert model.n_prior_ == {"y": 80}
    assert model.prior_weight_["y"] > 0.5  # it learned that the prior is related
    mean, std = model.predict(related["XH"].iloc[:5])
    assert mean.shape == std.shape == (5, 1) and (std > 0).all()
    # The BoTorch model answers for this campaign only, on the encoded space.
    Xt = model.encode(related["XH"].iloc[:5])
    assert Xt.shape == (5, 2) and Xt.dtype == torch.double
    post = model.to_botorch().posterior(Xt.unsqueeze(0))
    assert post.mean.shape == (1, 5, 1)
    np.testing.assert_allclose(post.mean[0].detach().numpy(), mean, rtol=1e-6, atol=1e-8)


def test_without_prior_it_is_a_plain_gp(related) -> None:  # noqa: ANN001
    warm = WarmStartGP(max_iter=60, seed=0).fit(related["X"], related["Y"])
    cold = GPSurrogate(max_iter=60, seed=0).fit(related["X"], related["Y"])
    np.testing.assert_allclose(warm.predict(related["XH"])[0], cold.predict(related["XH"])[0],
                               rtol=1e-3, atol=1e-3)


def test_one_measurement_with_prior_is_enough_and_categories_are_tasks(
        related) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    X = related["X"].iloc[:1].assign(salt="LiPF6")
    PX = related["PX"].assign(salt=rng.choice(["LiPF6", "LiBF4"], len(related["PX"])))
    labs = rng.choice(["lab-a", "lab-b"], len(PX))
    model = WarmStartGP(categorical=("salt",), max_iter=40, seed=0)
    model.fit(X, related["Y"].iloc[:1], prior_X=PX, prior_Y=related["PY"], prior_task=labs)
    assert model.tasks_[0] == "campaign" and sorted(model.tasks_[1:]) == ["lab-a", "lab-b"]
    assert model.categories_ == {"salt": ["LiBF4", "LiPF6"]}
    mean, _ = model.predict(PX.iloc[:4])
    assert np.isfinite(mean).all()
    with pytest.raises(InputDataError, match="at least 3"):  # no prior: a GP needs 3 rows
        WarmStartGP(categorical=("salt",), seed=0).fit(X, related["Y"].iloc[:1])


def test_bad_inputs_are_clear_errors(related) -> None:  # noqa: ANN001
    with pytest.raises(NotFittedError):
        WarmStartGP().predict(related["X"])
    with pytest.raises(InputDataError, match="go together"):
        WarmStartGP().fit(related["X"], related["Y"], prior_X=related["PX"])
    with pytest.raises(InputDataError, match="lack input column"):
        WarmStartGP().fit(related["X"], related["Y"], prior_X=related["PX"][["molality"]],
                          prior_Y=related["PY"])
    with pytest.raises(InputDataError, match="mode"):
        WarmStartGP(mode="transfer").fit(related["X"], related["Y"])


def test_follows_the_surrogate_contract_on_a_literature_table(hard_carbon) -> None:  # noqa: ANN001
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from sklearn.base import clone

    from tests.surrogates.conftest import INPUTS, TARGETS

    papers = hard_carbon["paper"].unique()
    prior = hard_carbon[hard_carbon["paper"].isin(papers[:8])]
    mine = hard_carbon[~hard_carbon["paper"].isin(papers[:8])].head(14)
    model = WarmStartGP(categorical=("precursor",), max_iter=30, seed=0)
    assert clone(model).get_params() == model.get_params()
    with pytest.warns(UserWarning, match="Rows without a target value"):
        model.fit(mine[INPUTS], mine[TARGETS], prior_X=prior[INPUTS], prior_Y=prior[TARGETS],
                  prior_task=prior["paper"])
    assert list(model.feature_names_in_) == INPUTS and model.target_names_ == TARGETS
    assert model.n_excluded_ == {t: int(mine[t].isna().sum()) for t in TARGETS}
    assert model.categorical_indices_ == [0] and model.log_columns_ == ["bet_ssa_m2_per_g"]
    assert len(model.tasks_) == 9  # this campaign + one task per prior paper
    mean, std = model.predict(mine[INPUTS])  # NaN inputs are imputed
    assert mean.shape == std.shape == (14, 2) and np.isfinite(mean).all() and (std > 0).all()
    assert 40 < mean[:, 0].mean() < 100 and 100 < mean[:, 1].mean() < 450
    botorch_model = model.to_botorch()
    assert botorch_model.num_outputs == 2
    X = model.encode(mine[INPUTS])
    acqf = qLogNoisyExpectedImprovement(botorch_model, X_baseline=X,
                                        objective=GenericMCObjective(lambda Z, X=None: Z[..., 0]))
    candidate = model.encode(prior[INPUTS].head(2)).requires_grad_(True)  # not in the baseline
    acqf(candidate.unsqueeze(0)).sum().backward()
    assert candidate.grad is not None and torch.isfinite(candidate.grad).all()


def test_groups_are_refused_with_a_hint(related) -> None:  # noqa: ANN001
    """WarmStartGP takes ``groups`` like every surrogate, and says it cannot use them."""
    with pytest.raises(InputDataError, match="groups") as info:
        WarmStartGP(seed=0).fit(related["X"], related["Y"], groups=np.zeros(8),
                                prior_X=related["PX"], prior_Y=related["PY"])
    assert "GPSurrogate" in (info.value.hint or "")
