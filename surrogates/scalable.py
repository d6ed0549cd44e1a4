"""Scalable GP for long histories: a variational GP that learns from every row.

An exact GP costs ``O(n^3)`` per optimizer step; above a few thousand rows per target it is too
slow to refit for every plate. :func:`fit_variational` turns a BoTorch exact GP (the *template*,
fitted on a seeded subset of the rows to start the hyperparameters well) into a stochastic
variational GP (SVGP, Hensman et al. 2013; GPyTorch's ``VariationalStrategy`` with whitening)
over **all** rows:

1. inputs go through the template's (fixed) input transform once; targets are standardized
   once over the training rows, so mini-batches never refit a transform;
2. ``M`` inducing points are chosen among the training rows by greedy variance reduction
   (:func:`greedy_variance`: a pivoted Cholesky of the template's kernel, one kernel row at a
   time), so they cover where the data are; categorical codes stay whole numbers;
3. the variational distribution ``q(u)`` is set to its optimum for a Gaussian likelihood in
   closed form (Titsias 2009), an ``O(n M^2)`` pass over every row;
4. kernel hyperparameters, noise, inducing locations and ``q(u)`` are refined on every training
   row by mini-batch Adam on the variational ELBO (``epochs`` passes), and ``q(u)`` is reset to
   its closed-form optimum;
5. calibration stays honest: steps 1-4 use the *training* rows only; on the held-out rows the
   mean squared z-score of the observations gives the variance scale ``a`` (kept in
   ``[1, 25]``, as the exact GP's leave-one-out scale); signal and noise variance are both
   multiplied by ``a`` and ``q(u)`` is recomputed in closed form over *all* rows, held-out rows
   included. Hyperparameters never saw the held-out rows; the final posterior uses every row.

The result is a BoTorch ``ApproximateGPyTorchModel``: its ``posterior`` costs ``O(M^2)`` per point
whatever the history's size, and it plugs into the same acquisition functions as the exact GP.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.models.approximate_gp import ApproximateGPyTorchModel, _SingleTaskVariationalGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from botorch.posteriors import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import ScaleKernel
from gpytorch.likelihoods.hadamard_gaussian_likelihood import HadamardGaussianLikelihood
from gpytorch.utils.memoize import clear_cache_hook
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

logger = logging.getLogger(__name__)

#: Rows per chunk in the closed-form passes and in predictions (bounds memory at ``chunk x M``).
CHUNK = 4096


@dataclass(frozen=True)
class VariationalSettings:
    """How the variational GP is fitted (defaults measured in ``benchmarks/scale_gp.py``).

    Attributes:
        inducing_points: number of inducing points ``M`` (at most the training rows).
        epochs: passes of mini-batch Adam over the training rows (0: hyperparameters stay
            those of the exact GP fitted on the subset; ``q(u)`` still uses every row).
        batch_size: rows per Adam step.
        lr: Adam learning rate.
        holdout_fraction: share of rows held out for the variance calibration.
        max_holdout: most held-out rows.
    """

    inducing_points: int = 512
    epochs: int = 3
    batch_size: int = 1024
    lr: float = 0.01
    holdout_fraction: float = 0.1
    max_holdout: int = 2000


class VariationalGP(ApproximateGPyTorchModel):
    """SVGP over inputs in the template's transformed space, outputs in target units.

    ``posterior`` applies the input transform (imputation, log10, fixed normalization bounds)
    and untransforms the standardized outputs, like the exact GP it replaces.
    """

    def __init__(self, inner: _SingleTaskVariationalGP, likelihood: Any,
                 input_transform: Any, outcome_transform: Standardize) -> None:
        super().__init__(model=inner, likelihood=likelihood, num_outputs=1)
        self.input_transform = input_transform
        self.outcome_transform = outcome_transform

    @property
    def batch_shape(self) -> torch.Size:
        """No batch of models: one output per model."""
        return torch.Size()

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,  # type: ignore[override]
                  observation_noise: bool = False, posterior_transform: Any = None) -> Any:
        """Posterior at ``... x q x d`` encoded inputs, target units; with
        ``observation_noise`` the likelihood's noise (per task, for a task model) is added."""
        if output_indices is not None:
            raise NotImplementedError("a VariationalGP has one output")
        self.eval()
        Xn = self.transform_inputs(X)
        dist = self.model(Xn)
        if observation_noise:
            noise = row_noise(self.likelihood, Xn).expand(dist.mean.shape)
            dist = MultivariateNormal(dist.mean, dist.lazy_covariance_matrix.add_diagonal(noise))
        posterior = self.outcome_transform.untransform_posterior(GPyTorchPosterior(dist), X=Xn)
        return posterior if posterior_transform is None else posterior_transform(posterior)

    @property
    def num_inducing(self) -> int:
        """Number of inducing points."""
        return int(self.model.variational_strategy.inducing_points.shape[-2])


class TaskVariationalGP(VariationalGP):
    """A :class:`VariationalGP` over ``d`` features plus a trailing task column (an ICM kernel,
    as BoTorch's ``MultiTaskGP``); ``posterior`` answers for task 0 (this campaign) and takes
    ``... x d`` inputs without the task column."""

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,  # type: ignore[override]
                  observation_noise: bool = False, posterior_transform: Any = None) -> Any:
        """Posterior of task 0 at ``... x q x d`` encoded inputs, target units."""
        task = torch.zeros(X.shape[:-1] + (1,), dtype=X.dtype, device=X.device)
        return super().posterior(torch.cat([X, task], dim=-1), output_indices,
                                 observation_noise, posterior_transform)


class TaskMean(gpytorch.means.Mean):
    """A ``MultiTaskGP``'s mean (one constant per task) on inputs with the task in column ``d``."""

    def __init__(self, base: gpytorch.means.Mean, d: int) -> None:
        super().__init__()
        self.base = base
        self.d = d

    def forward(self, x: Tensor) -> Tensor:
        """``... x n x (d + 1)`` -> ``... x n`` mean."""
        from botorch.models.multitask import _compute_multitask_mean

        task = x[..., self.d:self.d + 1].long()
        return _compute_multitask_mean(self.base, x[..., :self.d], task, x[..., self.d + 1:])


@dataclass
class VariationalFit:
    """A fitted :class:`VariationalGP` and how it was obtained."""

    model: VariationalGP
    variance_scale: float
    n_train: int
    n_holdout: int
    seconds: dict[str, float]


def holdout_rows(n: int, groups: np.ndarray | None, settings: VariationalSettings,
                 rng: np.random.Generator) -> np.ndarray:
    """``n`` booleans: rows held out for calibration (whole groups when ``groups`` is given)."""
    want = max(1, min(settings.max_holdout, int(round(settings.holdout_fraction * n))))
    mask = np.zeros(n, dtype=bool)
    if groups is None or len(np.unique(groups)) < 4:
        mask[rng.choice(n, want, replace=False)] = True
        return mask
    for g in rng.permutation(np.unique(groups)):
        if mask.sum() >= want:
            break
        candidate = mask | (groups == g)
        if candidate.sum() > 2 * want and mask.any():  # a huge group: skip it, keep looking
            continue
        mask = candidate
    if mask.all():  # every group held out: fall back to rows
        mask[:] = False
        mask[rng.choice(n, want, replace=False)] = True
    return mask


def fit_variational(template: Model, X: Tensor, y: Tensor, held_out: np.ndarray, *,
                    settings: VariationalSettings, seed: int,
                    always_inducing: np.ndarray | None = None,
                    model_class: type[VariationalGP] = VariationalGP,
                    mean_module: gpytorch.means.Mean | None = None) -> VariationalFit:
    """Fit a :class:`VariationalGP` on every row, started from an exact GP ``template``.

    Args:
        template: a fitted BoTorch exact GP (``SingleTaskGP`` / ``MixedSingleTaskGP``) with an
            input transform whose normalization bounds are fixed (they must cover ``X``) and a
            ``Standardize`` outcome transform; its kernel, mean and likelihood start the SVGP.
        X: ``n x d`` complete encoded inputs (every row of the target).
        y: ``n x 1`` targets.
        held_out: ``n`` booleans: rows for the variance calibration only.
        settings: inducing points, Adam epochs, batch size.
        seed: seeds mini-batch order.
        always_inducing: optional ``n`` booleans: rows that are always inducing points (the
            few rows of a new campaign among thousands of prior rows); greedy variance reduction
            picks the others.
        model_class: :class:`VariationalGP` or :class:`TaskVariationalGP`.
        mean_module: the SVGP's mean (default: a copy of the template's).

    Returns:
        The fit, in eval mode.
    """
    seconds: dict[str, float] = {}
    tick = time.process_time()
    train = torch.as_tensor(~held_out)
    transform: Any = copy.deepcopy(template.input_transform)
    transform.eval()
    with torch.no_grad():
        Xn = transform(X)
    out = Standardize(m=1)
    out.train()
    out(y[train])
    out.eval()
    ys = out(y)[0].squeeze(-1)
    kernel = copy.deepcopy(template.covar_module)
    mean = copy.deepcopy(template.mean_module) if mean_module is None else mean_module
    likelihood = copy.deepcopy(template.likelihood)
    n_train = int(train.sum())
    Z = _inducing_points(Xn, train.numpy(), always_inducing, kernel,
                         min(settings.inducing_points, n_train))
    inner = _SingleTaskVariationalGP(train_X=Z, covar_module=kernel, mean_module=mean,
                                     inducing_points=Z.clone())
    model = model_class(inner, likelihood, transform, out).to(Xn)
    seconds["inducing"] = time.process_time() - tick
    tick = time.process_time()
    set_optimal_variational(model, Xn[train], ys[train])
    seconds["closed_form"] = time.process_time() - tick
    tick = time.process_time()
    if settings.epochs > 0:
        _adam(model, Xn[train], ys[train], settings, seed)
        set_optimal_variational(model, Xn[train], ys[train])
    seconds["adam"] = time.process_time() - tick
    tick = time.process_time()
    scale = 1.0
    if held_out.any():
        h = torch.as_tensor(held_out)
        mu, var = _latent(model, Xn[h])
        with torch.no_grad():
            z2 = (ys[h] - mu) ** 2 / (var + row_noise(model.likelihood, Xn[h]))
        scale = float(np.clip(float(z2.mean()), 1.0, 25.0))
    if scale > 1.0:
        with torch.no_grad():
            scaled = ScaleKernel(model.model.covar_module).to(Xn)
            scaled.outputscale = scale
            scaled.raw_outputscale.requires_grad_(False)
            model.model.covar_module = scaled
            model.likelihood.noise = model.likelihood.noise * scale
    set_optimal_variational(model, Xn, ys)  # every row, held-out ones included
    seconds["calibrate"] = time.process_time() - tick
    model.eval()
    return VariationalFit(model, scale, n_train, int(held_out.sum()), seconds)


def _inducing_points(Xn: Tensor, train: np.ndarray, always: np.ndarray | None, kernel: Any,
                     m: int) -> Tensor:
    """``M x d`` inducing points: the ``always`` rows (deduplicated), then greedy variance
    reduction among the other training rows."""
    fixed = (torch.unique(Xn[torch.as_tensor(always & train)], dim=0) if always is not None
             else Xn[:0])
    pool = train & ~always if always is not None else train
    k = min(max(m - len(fixed), 1), int(pool.sum()))
    if k == 0:
        return fixed
    return torch.cat([fixed, greedy_variance(Xn[torch.as_tensor(pool)], kernel, k)])


def greedy_variance(X: Tensor, kernel: Any, m: int, tol: float = 1e-6) -> Tensor:
    """Up to ``m`` rows of ``X`` by greedy variance reduction (a pivoted Cholesky of the kernel
    matrix, Burt et al. 2020; what BoTorch's ``GreedyVarianceReduction`` does), one kernel row
    at a time: ``O(n m)`` memory instead of the ``n x n`` kernel matrix, which does not fit at
    50,000 rows. Stops early once every row's remaining variance is below ``tol`` times the
    largest prior variance (the chosen points then explain the rest)."""
    with torch.no_grad():
        # In chunks: BoTorch's CategoricalKernel forms the n x n matrix even for its diagonal.
        residual = torch.cat([kernel(x, diag=True).to_dense().reshape(-1)
                              for x in X.split(CHUNK)])
        floor = tol * float(residual.max())
        rows = torch.zeros(m, len(X), dtype=X.dtype)
        chosen: list[int] = []
        for k in range(m):
            j = int(torch.argmax(residual))
            if float(residual[j]) <= floor:
                break
            chosen.append(j)
            kj = kernel(X[j:j + 1], X).to_dense().reshape(-1)
            row = (kj - rows[:k, j] @ rows[:k]) / residual[j].sqrt()
            rows[k] = row
            residual -= row ** 2
            residual[j] = 0.0
    return X[torch.as_tensor(chosen)]


def set_optimal_variational(model: VariationalGP, Xn: Tensor, ys: Tensor) -> None:
    """Set ``q(u)`` to its optimum for a Gaussian likelihood, in closed form (Titsias 2009).

    Whitened parameterization ``u = mu_Z + L v`` with ``L L^T = K_ZZ``: for ``Phi = L^-1 K_ZX``
    and noise variances ``s2`` (one per row), ``q(v) = N(m, S)`` with
    ``S = (I + Phi diag(1/s2) Phi^T)^-1`` and ``m = S Phi ((y - mu_X) / s2)``. ``O(n M^2)``, in
    chunks of :data:`CHUNK` rows.
    """
    inner = model.model
    strategy = inner.variational_strategy
    with torch.no_grad(), gpytorch.settings.max_cholesky_size(0):
        Z = strategy.inducing_points.detach()
        Kzz = inner.covar_module(Z).to_dense()
        Kzz = Kzz + strategy.jitter_val * torch.eye(len(Z), dtype=Kzz.dtype)
        L = psd_safe_cholesky(Kzz)
        A = torch.zeros_like(Kzz)
        b = torch.zeros(len(Z), dtype=Kzz.dtype)
        for start in range(0, len(Xn), CHUNK):
            x = Xn[start:start + CHUNK]
            noise = row_noise(model.likelihood, x)
            Kzx = inner.covar_module(Z, x).to_dense()
            phi = torch.linalg.solve_triangular(L, Kzx, upper=False)
            A += (phi / noise) @ phi.T
            b += phi @ ((ys[start:start + CHUNK] - inner.mean_module(x)) / noise)
        A = torch.eye(len(Z), dtype=A.dtype) + A
        LA = psd_safe_cholesky(A)
        mean = torch.cholesky_solve(b.unsqueeze(-1), LA).squeeze(-1)
        S = torch.cholesky_inverse(LA)
        dist = strategy._variational_distribution
        dist.variational_mean.copy_(mean)
        dist.chol_variational_covar.copy_(psd_safe_cholesky(S))
        strategy.variational_params_initialized.fill_(1)
        strategy.updated_strategy.fill_(True)
    clear_cache_hook(strategy)


def _latent(model: VariationalGP, Xn: Tensor) -> tuple[Tensor, Tensor]:
    """Latent mean and variance (standardized units) at transformed inputs, in chunks."""
    model.eval()
    clear_cache_hook(model.model.variational_strategy)
    means, variances = [], []
    with torch.no_grad():
        for start in range(0, len(Xn), CHUNK):
            dist = model.model(Xn[start:start + CHUNK])
            means.append(dist.mean)
            variances.append(dist.variance)
    return torch.cat(means), torch.cat(variances)


def row_noise(likelihood: Any, Xn: Tensor) -> Tensor:
    """Noise variance of each row of ``... x n x d`` transformed inputs (``... x n``): one
    level, or one per task for a multi-task likelihood."""
    noise = likelihood.noise.reshape(-1)
    if isinstance(likelihood, HadamardGaussianLikelihood):
        return noise[Xn[..., likelihood.task_feature_index].long()]
    return noise[0].expand(Xn.shape[:-1])


def _elbo_loss(model: VariationalGP, x: Tensor, y: Tensor, n_total: int) -> Tensor:
    """Negative variational ELBO per row (GPyTorch's ``VariationalELBO``, with a per-row
    noise so multi-task likelihoods work too), hyperparameter priors included."""
    inner = model.model
    f = inner(x)
    s2 = row_noise(model.likelihood, x)
    expected = -0.5 * (torch.log(2 * math.pi * s2) + ((y - f.mean) ** 2 + f.variance) / s2)
    kl = inner.variational_strategy.kl_divergence().sum()
    log_prior = sum((prior.log_prob(closure(module)).sum()
                     for part in (inner, model.likelihood)
                     for _, module, prior, closure, _ in part.named_priors()),
                    torch.zeros((), dtype=x.dtype))
    return -(expected.sum() * (n_total / len(x)) - kl + log_prior) / n_total


def _project(model: VariationalGP) -> None:
    """Clamp parameters whose constraint has no transform (BoTorch bounds them in L-BFGS-B
    instead, e.g. the multi-task noise) back into their interval after an Adam step."""
    with torch.no_grad():
        for part in (model.model, model.likelihood):
            for _, param, constraint in part.named_parameters_and_constraints():
                if constraint is not None and not constraint.enforced:
                    param.clamp_(float(constraint.lower_bound.min()),
                                 float(constraint.upper_bound.max()))


def _adam(model: VariationalGP, Xn: Tensor, ys: Tensor, settings: VariationalSettings,
          seed: int) -> None:
    """Mini-batch Adam on the variational ELBO over every training row."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    generator = torch.Generator().manual_seed(seed)
    batches = max(1, math.ceil(len(Xn) / settings.batch_size))
    for _ in range(settings.epochs):
        order = torch.randperm(len(Xn), generator=generator)
        for k in range(batches):
            idx = order[k * settings.batch_size:(k + 1) * settings.batch_size]
            optimizer.zero_grad()
            loss = _elbo_loss(model, Xn[idx], ys[idx], len(Xn))
            loss.backward()
            optimizer.step()
            _project(model)
    model.eval()


__all__ = ["TaskMean", "TaskVariationalGP", "VariationalFit", "VariationalGP",
           "VariationalSettings", "fit_variational", "greedy_variance", "holdout_rows", "row_noise",
           "set_optimal_variational"]
