"""Which recipes can be made at all: a feasibility model learned from failed syntheses.

A well with status ``failed_synthesis`` taught the lab that nothing came out of the furnace (the
precursor foamed, the dopant level was too high ...). Its targets are missing, so the surrogate
never sees it; without a feasibility model the planner would keep proposing the same region,
whose uncertainty stays high precisely because it never yields data.

The model is a Gaussian process on the success labels (1 = made, 0 = failed synthesis) in the
surrogate's encoding, with BoTorch's mixed kernel for categorical inputs: label regression, a
simple and robust stand-in for GP classification that plugs into any MC acquisition as one more
model output. The acquisition then carries the outcome constraint ``success score >= 0.5``, so
each candidate's value is weighted by the posterior probability that its score clears 0.5, i.e.
that it lies on the "made" side. The same probability, ``Phi((mean - 0.5) / std)``, is what
:meth:`FeasibilityModel.probability` reports per proposed well.

``failed_cell`` wells (the material was made, the cell failed) and outliers count as *made*:
they say nothing against the recipe. The model is only built when the campaign has at least one
failed synthesis.

Example::

    feas = fit_feasibility(snapshot, space, seed=0)
    if feas is not None:
        model = with_feasibility(surrogate.to_botorch(), feas)
        constraints.append(ConstraintSpec(model.num_outputs - 1, "max", feas.threshold))
"""

from __future__ import annotations

import warnings

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, ModelListGP, SingleTaskGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model import Model, ModelList
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from campaigns.snapshot import CampaignSnapshot
from planner.errors import PlanningError
from planner.space import EncodedSpace


class FeasibilityError(PlanningError):
    """The feasibility model could not be fitted."""


class FeasibilityModel:
    """GP on synthesis success labels; ``probability(X)`` is the chance a recipe can be made.

    Args:
        space: Encoded space of the campaign (tells which dimensions are categorical and the
            bounds used to scale the others to the unit cube).
        seed: Seed for the hyperparameter fit's random restarts.
        max_iter: L-BFGS iterations of the hyperparameter fit. Step-like 0/1 labels make the
            likelihood flat in the length scales, and an uncapped fit spends ~10x longer for
            no visible change in the probabilities.

    Fitted attributes:
        model_: the BoTorch model (one output, the success score on the 0/1 label scale).
        n_failed_: number of failed syntheses it learned from.
        n_made_: number of successful syntheses.
    """

    threshold: float = 0.5
    """Score above which a recipe counts as makeable (the outcome constraint's bound)."""

    def __init__(self, space: EncodedSpace, *, seed: int = 0, max_iter: int = 50) -> None:
        self.space = space
        self.seed = seed
        self.max_iter = max_iter

    def fit(self, X: Tensor, success: Tensor) -> FeasibilityModel:
        """Fit on ``n x d`` encoded recipes and ``n`` success flags (1 made, 0 failed).

        Returns:
            ``self``.

        Raises:
            FeasibilityError: no rows, or the hyperparameter fit failed outright.
        """
        X = X.to(torch.double).reshape(-1, self.space.dim)
        y = success.to(torch.double).reshape(-1, 1)
        if len(X) == 0:
            raise FeasibilityError("no synthesis outcomes to learn feasibility from.")
        cats = sorted(self.space.categories)
        cont = [j for j in range(self.space.dim) if j not in self.space.categories]
        transform = (
            Normalize(d=self.space.dim, indices=cont, bounds=self.space.bounds[:, cont])
            if cont else None
        )
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model: SingleTaskGP
                if cats:
                    model = MixedSingleTaskGP(X, y, cat_dims=cats, input_transform=transform,
                                              outcome_transform=Standardize(m=1))
                else:
                    model = SingleTaskGP(X, y, input_transform=transform,
                                         outcome_transform=Standardize(m=1))
                try:
                    fit_gpytorch_mll(
                        ExactMarginalLogLikelihood(model.likelihood, model),
                        optimizer_kwargs={"options": {"maxiter": self.max_iter}},
                    )
                except Exception as exc:  # BoTorch/linear_operator errors are not PlanningErrors
                    raise FeasibilityError(
                        f"the feasibility model could not be fitted: {type(exc).__name__}: {exc}",
                        hint="Proposals go ahead without avoiding failed-synthesis regions.",
                    ) from exc
        self.fit_warnings_ = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        self.model_ = model.eval()
        self.n_failed_ = int((y == 0).sum())
        self.n_made_ = int((y != 0).sum())
        return self

    def probability(self, X: Tensor) -> Tensor:
        """Probability that each of ``n x d`` encoded recipes can be made (``n`` values in 0..1)."""
        with torch.no_grad():
            post = self.model_.posterior(X.to(torch.double).reshape(-1, self.space.dim))
            mean = post.mean.reshape(-1)
            std = post.variance.clamp_min(1e-12).sqrt().reshape(-1)
        normal = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
        return normal.cdf((mean - self.threshold) / std)


def fit_feasibility(
    snapshot: CampaignSnapshot, space: EncodedSpace, *, seed: int = 0
) -> FeasibilityModel | None:
    """The campaign's feasibility model, or ``None`` when no synthesis has failed.

    Uses :meth:`CampaignSnapshot.synthesis_outcomes`: ``ok``, ``failed_cell`` and ``outlier``
    wells count as made, ``failed_synthesis`` wells as failed. Rows with a missing input are left
    out.

    Args:
        snapshot: The campaign's data.
        space: The encoded space (the surrogate's encoding).
        seed: Seed of the fit.

    Returns:
        A fitted :class:`FeasibilityModel`, or ``None``.
    """
    obs = snapshot.observations
    if obs is None or obs.empty or "status" not in obs.columns:
        return None
    X, success = snapshot.synthesis_outcomes()
    if len(X) == 0 or not bool((success == 0).any()):
        return None
    Xt = space.encode(X[list(space.feature_names)])
    keep = ~torch.isnan(Xt).any(dim=-1)
    y = torch.tensor(success.to_numpy(dtype=float, copy=True))[keep]
    if not bool((y == 0).any()):
        return None
    return FeasibilityModel(space, seed=seed).fit(Xt[keep], y)


def with_feasibility(model: Model, feasibility: FeasibilityModel) -> Model:
    """``model``'s outputs followed by the success score, as one BoTorch model.

    A list of GPs (``ModelListGP``) stays one, of the same class, with the feasibility GP
    appended: the acquisition can then cache the Cholesky factor of the baseline's posterior
    (``cache_root``), which makes each evaluation several times cheaper once a campaign has
    hundreds of wells. Any other model (an ensemble) is combined in a
    :class:`botorch.models.model.ModelList`. The last output is the score to constrain at
    ``feasibility.threshold``.
    """
    if isinstance(model, ModelListGP) and isinstance(feasibility.model_, GPyTorchModel):
        kwargs = {}
        if hasattr(model, "max_cholesky_size"):  # surrogates.gp.CholeskyModelListGP
            kwargs["max_cholesky_size"] = model.max_cholesky_size
        return type(model)(*model.models, feasibility.model_, **kwargs)
    return ModelList(model, feasibility.model_)
