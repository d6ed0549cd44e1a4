"""BoTorch acquisition built from objective/constraint specs, on a GP and on an ensemble."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.ensemble import EnsembleModel

from planner.acquisition import (
    AcquisitionSpecError,
    ConstraintSpec,
    ObjectiveSpec,
    build_acquisition,
    reference_point,
)


class LinearEnsemble(EnsembleModel):
    """Five random linear members with positive weights, two outputs: a stand-in for the NN
    ensemble (outputs between 0 and about 4.5 on the unit cube)."""

    def __init__(self, d: int = 3, m: int = 2) -> None:
        super().__init__()
        self._num_outputs = m
        gen = torch.Generator().manual_seed(0)
        self.w = 0.5 + torch.rand(5, d, m, generator=gen, dtype=torch.double)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...nd,sdm->...snm", X, self.w)


def _data(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.rand(n, 3, generator=torch.Generator().manual_seed(1), dtype=torch.double)
    Y = torch.stack([(X - 0.3).pow(2).sum(-1), X.sum(-1)], dim=-1)
    return X, Y


def _gp_list(X: torch.Tensor, Y: torch.Tensor) -> ModelListGP:
    # Fixed (unfitted) hyperparameters: fast and deterministic, still a real GP posterior.
    return ModelListGP(*[SingleTaskGP(X, Y[:, j : j + 1]) for j in range(Y.shape[1])]).eval()


def _models() -> dict[str, object]:
    X, Y = _data()
    return {"gp": _gp_list(X, Y), "ensemble": LinearEnsemble()}


@pytest.mark.parametrize("model_name", ["gp", "ensemble"])
@pytest.mark.parametrize(
    ("objectives", "constraints", "cls"),
    [
        ([ObjectiveSpec(0, "max")], [], qLogNoisyExpectedImprovement),
        ([ObjectiveSpec(0, "min")], [ConstraintSpec(1, "max", 1.0)], qLogNoisyExpectedImprovement),
        (
            [ObjectiveSpec(0, "max"), ObjectiveSpec(1, "min")],
            [],
            qLogNoisyExpectedHypervolumeImprovement,
        ),
    ],
    ids=["single", "single-min-constrained", "two-objectives"],
)
def test_acquisition_is_finite_and_differentiable(model_name, objectives, constraints, cls) -> None:
    X, Y = _data()
    model = _models()[model_name]
    acqf = build_acquisition(
        model,
        X_baseline=X,
        objectives=objectives,
        constraints=constraints,
        Y_baseline=Y,
        mc_samples=32,
    )
    assert isinstance(acqf, cls)
    Xq = torch.rand(4, 2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    Xq.requires_grad_(True)
    values = acqf(Xq)
    assert values.shape == (4,)
    assert torch.isfinite(values).all()
    values.sum().backward()
    assert Xq.grad is not None and torch.isfinite(Xq.grad).all() and Xq.grad.abs().sum() > 0


def test_cached_cholesky_only_for_gp() -> None:
    X, Y = _data()
    models = _models()
    spec = [ObjectiveSpec(0, "max")]
    gp_acqf = build_acquisition(models["gp"], X_baseline=X, objectives=spec)
    ens_acqf = build_acquisition(models["ensemble"], X_baseline=X, objectives=spec)
    assert gp_acqf._cache_root is True
    assert ens_acqf._cache_root is False


def test_minimization_is_a_sign_flip() -> None:
    X, Y = _data()
    y = Y[:, :1]
    acqf = build_acquisition(
        SingleTaskGP(X, y).eval(), X_baseline=X, objectives=[ObjectiveSpec(0, "min")], seed=3
    )
    Z = torch.randn(7, 4, 1, dtype=torch.double)
    torch.testing.assert_close(acqf.objective(Z), -Z[..., 0])
    # ... so the acquisition prefers the region of low y, near (0.3, 0.3, 0.3), to the far corner.
    with torch.no_grad():
        near = acqf(torch.full((1, 1, 3), 0.3, dtype=torch.double))
        far = acqf(torch.ones(1, 1, 3, dtype=torch.double))
    assert near > far + 1.0


def test_same_seed_same_acquisition() -> None:
    X, Y = _data()
    model = _gp_list(X, Y)
    Xq = torch.rand(6, 2, 3, generator=torch.Generator().manual_seed(5), dtype=torch.double)
    spec = [ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")]
    with torch.no_grad():
        a = build_acquisition(model, X_baseline=X, objectives=spec, seed=11)(Xq)
        torch.rand(3)  # global RNG state must not matter
        b = build_acquisition(model, X_baseline=X, objectives=spec, seed=11)(Xq)
        c = build_acquisition(model, X_baseline=X, objectives=spec, seed=12)(Xq)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_constraint_lowers_value_where_infeasible() -> None:
    X, Y = _data()
    model = _gp_list(X, Y)
    Xq = torch.tensor([[[0.9, 0.9, 0.9]], [[0.05, 0.05, 0.05]]], dtype=torch.double)
    free = build_acquisition(model, X_baseline=X, objectives=[ObjectiveSpec(0, "max")])
    # Output 1 = sum(x): the first point (sum 2.7) violates sum <= 1, the second satisfies it.
    constrained = build_acquisition(
        model,
        X_baseline=X,
        objectives=[ObjectiveSpec(0, "max")],
        constraints=[ConstraintSpec(1, "min", 1.0)],
    )
    with torch.no_grad():
        drop = free(Xq) - constrained(Xq)
    assert drop[0] > drop[1] + 1.0


@pytest.mark.parametrize(
    ("spec", "values", "feasible"),
    [
        (ConstraintSpec(0, "max", 80.0), [85.0, 79.0], [True, False]),
        (ConstraintSpec(0, "min", 0.2), [0.1, 0.3], [True, False]),
    ],
    ids=["at-least", "at-most"],
)
def test_constraint_callable_is_negative_when_feasible(spec, values, feasible) -> None:
    Z = torch.tensor(values, dtype=torch.double).unsqueeze(-1)
    assert ((spec.as_callable()(Z) < 0).tolist()) == feasible


def test_reference_point_from_data_and_thresholds() -> None:
    Y = torch.tensor([[70.0, 300.0, 1.0], [90.0, 200.0, 3.0], [float("nan"), 250.0, 2.0]])
    objectives = [ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max"), ObjectiveSpec(2, "min")]
    ref = reference_point(Y, objectives, [ConstraintSpec(0, "max", 80.0)])
    # ICE from its threshold; capacity: 200 - 0.1 * 100; loss: -(3) - 0.1 * 2 in max convention.
    assert ref == pytest.approx([80.0, 190.0, -3.2])
    # A constraint bounding the objective from the good side is not a reference.
    assert reference_point(Y, objectives[:1], [ConstraintSpec(0, "min", 95.0)]) == pytest.approx(
        [68.0]
    )


def test_reference_point_used_for_hypervolume() -> None:
    X, Y = _data()
    acqf = build_acquisition(
        _gp_list(X, Y),
        X_baseline=X,
        Y_baseline=Y,
        objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "min")],
    )
    expected = reference_point(Y, [ObjectiveSpec(0, "max"), ObjectiveSpec(1, "min")])
    torch.testing.assert_close(acqf.ref_point, torch.tensor(expected, dtype=torch.double))


@pytest.mark.parametrize(
    ("objectives", "constraints", "ref"),
    [
        ([ObjectiveSpec(2, "max")], [], None),
        ([], [], None),
        ([ObjectiveSpec(0, "max")], [ConstraintSpec(5, "max", 1.0)], None),
        ([ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")], [], [0.0]),
    ],
    ids=["objective-index", "no-objective", "constraint-index", "ref-length"],
)
def test_bad_specs_raise_planning_errors(objectives, constraints, ref) -> None:
    X, Y = _data()
    with pytest.raises(AcquisitionSpecError):
        build_acquisition(
            _gp_list(X, Y),
            X_baseline=X,
            objectives=objectives,
            constraints=constraints,
            ref_point=ref,
        )
