"""Acquisition functions: the one place that turns objectives and constraints into BoTorch.

Objectives and outcome constraints are given by *model output index*, so the same code serves a
GP (`ModelListGP`, `SingleTaskGP`) and the ensemble/forest surrogates (BoTorch `EnsembleModel`).

The acquisition is a named setting of the campaign (``planning.acquisition`` in the spec,
:class:`ProposalSettings` here); ``suggest`` and ``backtest`` build it through
:func:`build_acquisition`, so changing it here changes both:

* ``auto`` (default): `qLogNoisyExpectedImprovement` for one objective (noise-aware, numerically
  robust in the tails), `qLogNoisyExpectedHypervolumeImprovement` with a reference point for
  several.
* ``qLogNEI``, ``qLogNEHVI``: those two, named explicitly.
* ``qLogNParEGO``: random Chebyshev scalarizations of several objectives (cheaper than NEHVI
  when there are many objectives).

Minimized objectives are handled by a sign flip in the MC objective, so every acquisition value
is a maximization. Outcome constraints become BoTorch constraint callables (negative =
feasible) on the raw model outputs, in target units.

Example::

    acqf = build_acquisition(
        model, X_baseline=X,
        objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")],
        constraints=[ConstraintSpec(0, "max", 80.0)],   # ICE >= 80 %
    )
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.cached_cholesky import supports_cache_root
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import Model
from botorch.sampling.get_sampler import get_sampler
from torch import Tensor

from planner.errors import PlanningError
from planner.runtime import skip_botorch_jit_kernel

Direction = Literal["max", "min"]

#: Acquisition names a campaign may choose (``planning.acquisition``).
ACQUISITIONS = ("auto", "qLogNEI", "qLogNEHVI", "qLogNParEGO")


@dataclass(frozen=True)
class ProposalSettings:
    """How a proposal turns a fitted model into picks: the one settings object that
    ``planner suggest`` (recipe and library campaigns) and ``planner backtest`` share."""

    acquisition: str = "auto"
    """One of :data:`ACQUISITIONS`."""
    mc_samples: int = 64
    """Quasi-MC posterior samples of the acquisition (fixed base samples, seeded)."""
    log_targets: str = "auto"
    """``auto``, ``on`` or ``off``: see :class:`planner.transforms.TargetTransform`."""

    def __post_init__(self) -> None:
        if self.acquisition not in ACQUISITIONS:
            raise AcquisitionSpecError(
                f"unknown acquisition {self.acquisition!r}.",
                hint=f"Choose one of {', '.join(ACQUISITIONS)}.")
        if self.mc_samples < 1:
            raise AcquisitionSpecError(f"mc_samples must be positive, got {self.mc_samples}.",
                                       hint="Use 128 (the default).")
        if self.log_targets not in ("auto", "on", "off"):
            raise AcquisitionSpecError(f"log_targets must be auto, on or off, not "
                                       f"{self.log_targets!r}.", hint="Use auto.")

    @classmethod
    def from_planning(cls, planning: object) -> ProposalSettings:
        """The settings of a campaign spec's ``planning`` block."""
        return cls(acquisition=str(getattr(planning, "acquisition", "auto")),
                   mc_samples=int(getattr(planning, "mc_samples", 64)),
                   log_targets=str(getattr(planning, "log_targets", "auto")))

    def resolved(self, n_objectives: int) -> str:
        """The BoTorch class short name for ``n_objectives`` (``auto`` resolved).

        Raises:
            AcquisitionSpecError: the named acquisition does not fit the number of objectives.
        """
        name = self.acquisition
        if name == "auto":
            return "qLogNEI" if n_objectives == 1 else "qLogNEHVI"
        if name == "qLogNEI" and n_objectives != 1:
            raise AcquisitionSpecError(
                f"qLogNEI optimizes one objective; this campaign has {n_objectives}.",
                hint="Use planning.acquisition: auto, qLogNEHVI or qLogNParEGO.")
        if name in ("qLogNEHVI", "qLogNParEGO") and n_objectives < 2:
            raise AcquisitionSpecError(
                f"{name} needs two or more objectives; this campaign has {n_objectives}.",
                hint="Use planning.acquisition: auto or qLogNEI.")
        return name


class AcquisitionSpecError(PlanningError):
    """Objectives, constraints or the reference point do not fit the model."""


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective of the campaign."""

    index: int
    """Position of the objective among the model outputs (0-based)."""
    direction: Direction
    """``"max"`` to maximize the output, ``"min"`` to minimize it."""

    @property
    def sign(self) -> float:
        """+1 for maximization, -1 for minimization."""
        return 1.0 if self.direction == "max" else -1.0


@dataclass(frozen=True)
class ConstraintSpec:
    """An outcome constraint: ``y[index] >= threshold`` (``"max"``) or ``<= threshold``."""

    index: int
    """Position of the constrained quantity among the model outputs (0-based)."""
    direction: Direction
    """``"max"``: feasible when the output is at least ``threshold``; ``"min"``: at most."""
    threshold: float
    """The bound, in the output's units (e.g. 80.0 for ICE >= 80 %)."""

    def as_callable(self) -> Callable[[Tensor], Tensor]:
        """BoTorch constraint callable ``(... x q x m) -> (... x q)``; negative = feasible."""
        index, threshold = self.index, float(self.threshold)
        if self.direction == "max":
            return lambda Z: threshold - Z[..., index]
        return lambda Z: Z[..., index] - threshold


def _check_specs(
    num_outputs: int, objectives: Sequence[ObjectiveSpec], constraints: Sequence[ConstraintSpec]
) -> None:
    if not objectives:
        raise AcquisitionSpecError(
            "No objective was given.", hint="Give at least one target with a direction."
        )
    problems = []
    specs: tuple[ObjectiveSpec | ConstraintSpec, ...] = (*objectives, *constraints)
    for spec in specs:
        if spec.direction not in ("max", "min"):
            problems.append(f"{spec}: direction must be 'max' or 'min', not {spec.direction!r}")
        if not 0 <= spec.index < num_outputs:
            problems.append(
                f"{spec}: index {spec.index} is not one of the model's "
                f"{num_outputs} outputs (0..{num_outputs - 1})"
            )
    for spec in constraints:
        if not math.isfinite(spec.threshold):
            problems.append(f"{spec}: threshold must be a finite number")
    indices = [o.index for o in objectives]
    if len(set(indices)) != len(indices):
        problems.append(f"objective indices repeat: {indices}")
    if problems:
        raise AcquisitionSpecError(
            "Invalid acquisition setup: " + "; ".join(problems),
            hint="Objectives and constraints refer to model outputs by position.",
        )


def reference_point(
    Y: Tensor,
    objectives: Sequence[ObjectiveSpec],
    constraints: Sequence[ConstraintSpec] = (),
    *,
    margin: float = 0.1,
) -> list[float]:
    """Hypervolume reference point, one entry per objective, in the maximization convention.

    Where a constraint bounds an objective from the "bad" side (``ICE >= 80`` on a maximized ICE,
    ``loss <= 0.2`` on a minimized loss), the threshold itself is the reference: only designs
    that satisfy it add hypervolume. Otherwise the point is taken from the data,
    ``min(s * y) - margin * range(s * y)`` with ``s = +1`` (max) or ``-1`` (min).

    Args:
        Y: ``n x m`` outcomes in target units (observed values or posterior means); NaN allowed.
        objectives: The objectives; their order sets the order of the returned point.
        constraints: Outcome constraints; only those on an objective's index matter here.
        margin: Fraction of the observed range to step below the worst value.

    Returns:
        ``len(objectives)`` floats, each the sign-flipped bound (e.g. ``[80.0, -0.2]``).

    Raises:
        AcquisitionSpecError: an objective has no finite observation and no constraint.
    """
    ref: list[float] = []
    for obj in objectives:
        bound = [
            c.threshold
            for c in constraints
            if c.index == obj.index and c.direction == obj.direction
        ]
        if bound:
            # Several constraints on one objective: the tightest one decides.
            ref.append(max(obj.sign * t for t in bound))
            continue
        values = obj.sign * Y[..., obj.index].reshape(-1).double()
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            raise AcquisitionSpecError(
                f"Objective at output {obj.index} has no finite observation to place the "
                "hypervolume reference point.",
                hint="Measure a few designs first, or give ref_point explicitly.",
            )
        lo, hi = values.min().item(), values.max().item()
        span = hi - lo
        if span <= 0:
            span = max(abs(lo), 1.0)
        ref.append(lo - margin * span)
    return ref


def build_acquisition(
    model: Model,
    *,
    X_baseline: Tensor,
    objectives: Sequence[ObjectiveSpec],
    constraints: Sequence[ConstraintSpec] = (),
    Y_baseline: Tensor | None = None,
    X_pending: Tensor | None = None,
    ref_point: Sequence[float] | None = None,
    mc_samples: int = 128,
    seed: int = 0,
    acquisition: str = "auto",
) -> AcquisitionFunction:
    """The campaign's acquisition function (by default noisy log-EI, or log-NEHVI for several
    objectives).

    Args:
        model: Fitted BoTorch model on the encoded input space with ``m`` outputs in target
            units (a GP, a `ModelListGP` or an `EnsembleModel`).
        X_baseline: ``n x d`` encoded inputs already measured (the incumbents).
        objectives: What to optimize, by output index and direction.
        constraints: Outcome constraints, by output index, direction and threshold.
        Y_baseline: ``n x m`` observed outcomes, used only to place the reference point of a
            multi-objective problem; when missing, the posterior mean at ``X_baseline`` is used.
        X_pending: ``p x d`` encoded inputs proposed but not yet measured; the acquisition
            values the *additional* improvement over them.
        ref_point: Reference point in the maximization convention (one value per objective,
            minimized objectives negated); default from :func:`reference_point`.
        mc_samples: Number of quasi-MC posterior samples (ensembles: members drawn).
        seed: Seed of the base samples, for reproducible proposals.
        acquisition: One of :data:`ACQUISITIONS` (see :class:`ProposalSettings`).

    Returns:
        A BoTorch acquisition function taking ``b x q x d`` and returning ``b`` values (larger
        is better; log scale).

    BoTorch's fused qLogNEHVI kernel is not compiled in this process (unless
    ``PLANNER_BOTORCH_FUSED=1``): see :func:`planner.runtime.skip_botorch_jit_kernel`.

    Raises:
        AcquisitionSpecError: objective/constraint indices do not match the model outputs, the
            reference point has the wrong length, or the acquisition does not fit the number of
            objectives.
    """
    _check_specs(model.num_outputs, objectives, constraints)
    # Here, not on import: every planning path (suggest, backtest, notebooks) builds its
    # acquisition through this function, and importing the planner changes nothing in BoTorch.
    skip_botorch_jit_kernel()
    name = ProposalSettings(acquisition=acquisition).resolved(len(objectives))
    X_baseline = X_baseline.to(torch.double)
    if X_baseline.ndim != 2 or X_baseline.shape[0] == 0:
        raise AcquisitionSpecError(
            f"X_baseline must be a non-empty n x d tensor, got shape {tuple(X_baseline.shape)}.",
            hint="Fit the surrogate on at least one measured design first.",
        )
    if X_pending is not None:
        X_pending = X_pending.to(X_baseline)
        if X_pending.numel() == 0:
            X_pending = None
    with torch.random.fork_rng():
        # Baseline pruning draws its own unseeded samples from torch's global generator; seed it
        # so that a proposal is reproducible from its seed.
        torch.manual_seed(seed)
        return _build(
            model,
            X_baseline,
            objectives,
            constraints,
            Y_baseline,
            X_pending,
            ref_point,
            mc_samples,
            seed,
            name,
        )


#: Most measured designs kept as the baseline of qLogNEHVI (those most likely to be on the Pareto
#: front). Each evaluation costs about (baseline + candidates) posterior rows; with hundreds of
#: wells BoTorch's pruning alone kept ~70, which made a 96-well plate take minutes.
MAX_BASELINE = 24


def _build(
    model: Model,
    X_baseline: Tensor,
    objectives: Sequence[ObjectiveSpec],
    constraints: Sequence[ConstraintSpec],
    Y_baseline: Tensor | None,
    X_pending: Tensor | None,
    ref_point: Sequence[float] | None,
    mc_samples: int,
    seed: int,
    name: str,
) -> AcquisitionFunction:
    with torch.no_grad():
        posterior = model.posterior(X_baseline[:1])
    # get_sampler dispatches on every posterior type (an ensemble's too); its annotation names
    # only TorchPosterior.
    sampler = get_sampler(posterior,  # type: ignore[arg-type]
                          sample_shape=torch.Size([mc_samples]), seed=seed)
    constraint_fns = [c.as_callable() for c in constraints] or None
    # The cached-Cholesky trick only exists for GPyTorch models; ensembles need it off.
    cache_root = supports_cache_root(model)

    if name == "qLogNEI":
        index, sign = objectives[0].index, objectives[0].sign

        def signed_objective(Z: Tensor, X: Tensor | None = None) -> Tensor:
            return sign * Z[..., index]

        objective = GenericMCObjective(signed_objective)
        return qLogNoisyExpectedImprovement(
            model=model,
            X_baseline=X_baseline,
            sampler=sampler,
            objective=objective,
            X_pending=X_pending,
            constraints=constraint_fns,
            prune_baseline=True,
            cache_root=cache_root,
        )

    mo_objective = WeightedMCMultiOutputObjective(
        weights=torch.tensor([o.sign for o in objectives], dtype=torch.double),
        outcomes=[o.index for o in objectives],
        num_outcomes=model.num_outputs,
    )
    if name == "qLogNParEGO":
        # Seeded random weights on the simplex: a new scalarization for each proposal seed.
        weights = torch.distributions.Dirichlet(torch.ones(len(objectives), dtype=torch.double)
                                                ).sample()
        return qLogNParEGO(
            model=model, X_baseline=X_baseline, scalarization_weights=weights, sampler=sampler,
            objective=mo_objective, constraints=constraint_fns, X_pending=X_pending,
            prune_baseline=True, cache_root=cache_root,
        )
    if ref_point is None:
        if Y_baseline is None:
            with torch.no_grad():
                # Every posterior our models return has a mean; botorch's base class does not
                # declare it.
                Y_baseline = model.posterior(X_baseline).mean  # type: ignore[attr-defined]
        ref_point = reference_point(Y_baseline, objectives, constraints)
    if len(ref_point) != len(objectives):
        raise AcquisitionSpecError(
            f"ref_point has {len(ref_point)} values for {len(objectives)} objectives.",
            hint="Give one reference value per objective, in the maximization convention.",
        )
    ref = [float(r) for r in ref_point]
    pruned = X_baseline.shape[0] > MAX_BASELINE
    if pruned:
        # Every evaluation takes the joint posterior of the baseline and the candidates; keep
        # the designs most likely to be on the Pareto front (BoTorch's own pruning, capped).
        X_baseline = prune_inferior_points_multi_objective(
            model, X_baseline, torch.tensor(ref, dtype=torch.double), objective=mo_objective,
            constraints=constraint_fns, max_frac=MAX_BASELINE / X_baseline.shape[0],
        )
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref,
        X_baseline=X_baseline,
        sampler=sampler,
        objective=mo_objective,
        constraints=constraint_fns,
        X_pending=X_pending,
        prune_baseline=not pruned,  # pruned above already: don't sample the posterior twice
        cache_root=cache_root,
    )
