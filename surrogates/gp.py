"""Exact Gaussian-process surrogate: one BoTorch GP per target, mixed kernel for categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gpytorch
import numpy as np
import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, ModelListGP, SingleTaskGP
from botorch.models.transforms.input import ChainedInputTransform, Log10, Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.posteriors import GPyTorchPosterior, PosteriorList
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

from surrogates.base import Surrogate
from surrogates.errors import InputDataError
from surrogates.preprocessing import CompleteInputs, TabularEncoder, did_you_mean
from surrogates.scalable import VariationalSettings, fit_variational, holdout_rows

#: Noise-variance floors (standardized units) tried in turn when fitting fails.
NOISE_FLOORS = (None, 1e-3, 1e-2)
#: Rows per posterior call in ``predict``.
PREDICT_CHUNK = 2048


class CholeskyModelListGP(ModelListGP):
    """A ``ModelListGP`` whose posterior always uses an exact Cholesky solve.

    GPyTorch switches to iterative (approximate, noisy) solvers above 800 training points; the
    exact GPs here hold at most ``max_exact_rows`` rows (larger targets get a variational GP),
    so exact solves stay affordable and reproducible.
    """

    def __init__(self, *models: Any, max_cholesky_size: int = 800) -> None:
        super().__init__(*models)
        self.max_cholesky_size = max_cholesky_size

    # ModelListGPyTorchModel, whose signature this is, narrows GPyTorchModel's the same way.
    def posterior(  # type: ignore[override]
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
    ) -> GPyTorchPosterior | PosteriorList:
        """Posterior at ``... x q x d`` encoded inputs, ``t`` outputs in target units."""
        with gpytorch.settings.max_cholesky_size(self.max_cholesky_size):
            return super().posterior(X, output_indices, observation_noise, posterior_transform)


class GPSurrogate(Surrogate):
    """Exact GP per target (BoTorch ``SingleTaskGP``, or ``MixedSingleTaskGP`` with categories).

    Inputs: missing cells imputed, log scale on heavy-tailed positive columns, then ``Normalize``
    to the unit cube; ARD length scales per input; categorical columns get BoTorch's categorical
    kernel. Outputs: ``Standardize``, so predictions are in target units. Hyperparameters by
    type-II maximum likelihood (``fit_gpytorch_mll``, which retries from prior samples). When that
    still fails (non-PD matrices, optimizer errors) the fit is repeated with a raised noise floor,
    and as a last resort the prior hyperparameters are kept; each fallback is recorded in
    ``fit_warnings_`` and raised as a :class:`~surrogates.errors.SurrogateFitWarning`.

    Calibration: after fitting, the variances are scaled by the factor that makes leave-one-out
    residuals standard normal (leave-one-*group*-out when ``groups`` are passed to ``fit``; never
    shrunk), recorded in ``variance_scale_``.

    Large data: an exact GP costs ``O(n^3)`` per optimizer step. Above ``max_exact_rows`` rows
    of a target (default 2,000) that target gets a variational GP that learns from every row
    (:mod:`surrogates.scalable`): hyperparameters start from an exact GP fitted on a seeded
    subset of ``init_rows`` training rows, ``inducing_points`` inducing points are picked by
    greedy variance reduction, ``q(u)`` is set in closed form over every row and the whole model
    is refined by ``variational_epochs`` passes of mini-batch Adam on the ELBO. Its variances are
    calibrated on held-out rows (whole held-out groups with ``groups``) instead of leave-one-out;
    the final posterior includes the held-out rows. ``methods_`` says per target which model was
    used (``"exact"`` or ``"variational"``) and ``fit_warnings_`` records how.

    Args:
        categorical: names of categorical inputs (e.g. ``("precursor",)``).
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: ``"auto"`` (positive columns named like a surface area, or with skewness
            above 2), a list of names, or ``None``.
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        max_exact_rows: most rows of a target for the exact GP; above it, the variational GP.
        inducing_points: inducing points of the variational GP.
        variational_epochs: Adam passes over the rows for the variational GP (0: keep the
            hyperparameters of the exact GP on the subset).
        init_rows: rows of the exact GP whose hyperparameters start the variational GP.
        max_iter: L-BFGS iterations per hyperparameter fit. 50 by default: half the time of 100
            for the same held-out accuracy (``benchmarks/results/settings.md``).
        input_bounds: optional ``{column: (low, high)}`` of the search space (a candidate pool's
            range, a recipe parameter's bounds). Numeric inputs are then scaled to the unit cube
            over that range (widened to cover the training rows) instead of over the few rows
            measured so far: with six rows, most of the space otherwise lies outside the unit
            cube the length-scale priors are made for. Columns not named keep the training
            range.
        seed: seeds subsampling, restarts and the imputer.

    Example:
        >>> import numpy as np, pandas as pd
        >>> X = pd.DataFrame({"precursor": ["pitch", "lignin", "starch"] * 4,
        ...                   "carbonization_temperature_c": np.linspace(800, 1800, 12)})
        >>> Y = pd.DataFrame({"ice_pct": 60 + X["carbonization_temperature_c"] / 100})
        >>> gp = GPSurrogate(categorical=("precursor",), seed=0).fit(X, Y)
        >>> mean, std = gp.predict(X.head(3))        # n x t each, target units
        >>> mean.shape, std.shape
        ((3, 1), (3, 1))
    """

    name: ClassVar[str] = "gp"
    model_: CholeskyModelListGP

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        max_exact_rows: int = 2000,
        inducing_points: int = 512,
        variational_epochs: int = 3,
        init_rows: int = 1000,
        max_iter: int = 50,
        input_bounds: Mapping[str, tuple[float, float]] | None = None,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.max_exact_rows = max_exact_rows
        self.inducing_points = inducing_points
        self.variational_epochs = variational_epochs
        self.init_rows = init_rows
        self.max_iter = max_iter
        self.input_bounds = input_bounds
        self.seed = seed

    def _fit_encoded(
        self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None
    ) -> CholeskyModelListGP:
        Xt = self.encoder_.impute(Xt)  # BoTorch refuses NaN in training inputs
        self.variance_scale_: dict[str, float] = {}
        self.methods_: dict[str, str] = {}
        models: list[Any] = []
        rng = np.random.default_rng(self.seed)
        for k, target in enumerate(self.target_names_):
            rows = np.flatnonzero(~torch.isnan(Y[:, k]).numpy())
            idx = torch.as_tensor(rows)
            row_groups = groups[rows] if groups is not None else None
            if len(rows) > self.max_exact_rows:
                models.append(self._fit_variational(Xt[idx], Y[idx, k : k + 1], target,
                                                    row_groups, rng))
                continue
            model = self._fit_one(Xt[idx], Y[idx, k : k + 1], target)
            held_out = row_groups if row_groups is not None else np.arange(len(rows))
            self.variance_scale_[target] = self._calibrate(model, held_out)
            self.methods_[target] = "exact"
            models.append(model)
        return CholeskyModelListGP(*models, max_cholesky_size=self.max_exact_rows + 1)

    def _fit_variational(self, X: Tensor, y: Tensor, target: str, groups: np.ndarray | None,
                         rng: np.random.Generator) -> Any:
        """Variational GP on every row of one target (see :mod:`surrogates.scalable`)."""
        settings = VariationalSettings(inducing_points=self.inducing_points,
                                       epochs=self.variational_epochs)
        held_out = holdout_rows(len(X), groups, settings, rng)
        train = np.flatnonzero(~held_out)
        start = np.sort(rng.choice(train, min(self.init_rows, len(train)), replace=False))
        idx = torch.as_tensor(start)
        template = self._fit_one(X[idx], y[idx], f"{target} (start, {len(start)} rows)",
                                 bounds_from=X)
        with self._recording(f"{target} variational GP"):
            fit = fit_variational(template, X, y, held_out, settings=settings, seed=self.seed)
        self.variance_scale_[target] = fit.variance_scale
        self.methods_[target] = "variational"
        self.fit_warnings_.append(
            f"{target}: {len(X)} rows exceed max_exact_rows={self.max_exact_rows}; variational "
            f"GP on every row ({fit.model.num_inducing} inducing points; hyperparameters from an "
            f"exact GP on {len(start)} rows, refined by {settings.epochs} Adam epochs over "
            f"{fit.n_train} rows; variance scale {fit.variance_scale:.3g} from {fit.n_holdout} "
            "held-out rows, which the final posterior includes)."
        )
        return fit.model

    def _build(self, X: Tensor, y: Tensor, noise_floor: float | None,
               bounds_from: Tensor | None = None) -> SingleTaskGP:
        enc: TabularEncoder = self.encoder_
        d = X.shape[-1]
        parts: dict[str, Any] = {"complete": CompleteInputs(enc)}
        if enc.log_indices_:
            parts["log"] = Log10(indices=list(enc.log_indices_))
        if enc.continuous_indices_:
            bounds = (self._normalize_bounds(X, parts) if bounds_from is None
                      else self._normalize_bounds(bounds_from, parts, fixed=True))
            parts["normalize"] = Normalize(
                d=d, indices=list(enc.continuous_indices_), bounds=bounds
            )
        transform = ChainedInputTransform(**parts)
        if enc.categorical_indices_:
            model: SingleTaskGP = MixedSingleTaskGP(
                X, y, cat_dims=list(enc.categorical_indices_), input_transform=transform,
                outcome_transform=Standardize(m=1),
            )
        else:
            model = SingleTaskGP(X, y, input_transform=transform,
                                 outcome_transform=Standardize(m=1))
        if noise_floor is not None:
            noise = model.likelihood.noise_covar
            noise.register_constraint("raw_noise", GreaterThan(noise_floor))
            noise.noise = torch.full_like(noise.noise, 2 * noise_floor)
        return model

    def _normalize_bounds(self, X: Tensor, steps: Mapping[str, Any],
                          fixed: bool = False) -> Tensor | None:
        """``2 x c`` bounds of the continuous inputs as the GP sees them, or ``None`` (learned).

        ``X`` is the training input (every row, when a subset is fitted: then ``fixed``);
        ``steps`` the input transforms before ``Normalize``.
        """
        if not self.input_bounds and not fixed:
            return None
        with torch.no_grad():
            for step in steps.values():
                X = step.transform(X)
        enc: TabularEncoder = self.encoder_
        unknown = sorted(set(self.input_bounds or {}) - set(enc.feature_names_))
        if unknown:
            raise InputDataError(
                f"input_bounds names columns that are not inputs: {unknown}.",
                hint=did_you_mean(unknown[0], enc.feature_names_),
            )
        cols = list(enc.continuous_indices_)
        lo, hi = X[:, cols].amin(dim=0).clone(), X[:, cols].amax(dim=0).clone()
        for k, j in enumerate(cols):
            name = enc.feature_names_[j]
            if name not in (self.input_bounds or {}):
                continue
            low, high = (float(v) for v in (self.input_bounds or {})[name])
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise InputDataError(
                    f"input_bounds[{name!r}] = ({low}, {high}) is not a finite range.",
                    hint="Give (low, high) with low <= high.",
                )
            if j in enc.log_indices_:
                if low <= 0:  # chosen as a log column from positive data; keep the data's floor
                    low = float(10 ** lo[k])
                high = max(high, low)
                low, high = np.log10(low), np.log10(high)
            lo[k], hi[k] = min(float(lo[k]), low), max(float(hi[k]), high)
        flat = (hi - lo) < 1e-8
        hi[flat] = lo[flat] + 1.0
        return torch.stack([lo, hi])

    def _fit_one(self, X: Tensor, y: Tensor, target: str,
                 bounds_from: Tensor | None = None) -> SingleTaskGP:
        failures = []
        with gpytorch.settings.max_cholesky_size(max(self.max_exact_rows, len(X)) + 1):
            for floor in NOISE_FLOORS:
                with self._recording(f"{target} GP fit"):
                    model = self._build(X, y, floor, bounds_from)
                    mll = ExactMarginalLogLikelihood(model.likelihood, model)
                    try:
                        fit_gpytorch_mll(
                            mll, optimizer_kwargs={"options": {"maxiter": self.max_iter}}
                        )
                    except (NotPSDError, ModelFittingError, RuntimeError, ValueError) as exc:
                        failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
                        self.fit_warnings_.append(
                            f"{target}: GP fit attempt (noise floor {floor or 'default'}) "
                            f"failed: {failures[-1]}"
                        )
                        continue
                if failures:
                    self._warn(
                        f"{target}: GP fit failed ({failures[-1]}); refitted with a noise "
                        f"variance floor of {floor:g} (standardized units)."
                    )
                return model.eval()
            self._warn(
                f"{target}: every GP fit failed ({failures[-1]}); the GP keeps its prior "
                "hyperparameters with a noise floor of 1e-2. Check for duplicated rows with "
                "conflicting values or a constant target."
            )
            with self._recording(f"{target} GP fallback"):
                return self._build(X, y, NOISE_FLOORS[-1], bounds_from).eval()

    def _calibrate(self, model: SingleTaskGP, held_out: np.ndarray) -> float:
        """Scale the GP's variances so held-out residuals are standard normal; return the scale.

        Leave-one-out (or leave-one-group-out, with ``groups``) residuals of an exact GP have a
        closed form: for the held-out block ``G``, ``r_G = B^-1 (K^-1 y)_G`` with covariance
        ``B^-1``, ``B = (K^-1)_GG`` (``K`` includes the noise). Their mean squared z-score is the
        maximum-likelihood factor ``a`` on both signal and noise variance, kept in ``[1, 25]``;
        scaling both leaves the posterior mean unchanged and multiplies every variance by ``a``.
        """
        with torch.no_grad(), gpytorch.settings.max_cholesky_size(self.max_exact_rows + 1):
            X = model.train_inputs[0]
            y = model.train_targets - model.mean_module(X)
            K = model.covar_module(X).to_dense()
            K = K + model.likelihood.noise * torch.eye(len(y), dtype=K.dtype)
            try:
                Kinv = torch.cholesky_inverse(torch.linalg.cholesky(K))
            except RuntimeError:
                return 1.0
            alpha = Kinv @ y
            z2 = []
            for g in np.unique(held_out):
                G = torch.as_tensor(np.flatnonzero(held_out == g))
                cov = torch.linalg.inv(Kinv[G][:, G])
                r = cov @ alpha[G]
                z2.append((r**2 / cov.diagonal()).numpy())
            scale = float(np.clip(np.mean(np.concatenate(z2)), 1.0, 25.0))
        if scale > 1.0:
            model.covar_module = ScaleKernel(model.covar_module)
            model.covar_module.outputscale = scale
            model.covar_module.raw_outputscale.requires_grad_(False)
            model.likelihood.noise = model.likelihood.noise * scale
            # Drop caches built with the old kernel. (gpytorch ships no types, so mypy takes the
            # attribute for a torch Module's Tensor | Module.)
            model.prediction_strategy = None  # type: ignore[assignment]
        return scale

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        means, variances = [], []
        for start in range(0, max(len(Xt), 1), PREDICT_CHUNK):  # bounds memory for long tables
            post = self.model_.posterior(Xt[start:start + PREDICT_CHUNK],
                                         observation_noise=observation_noise)
            means.append(post.mean.detach())
            variances.append(post.variance.detach())
        return torch.cat(means), torch.cat(variances)
