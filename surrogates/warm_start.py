"""Warm-start GP: use another lab's (or the literature's) data as prior knowledge.

A new campaign has a handful of measurements; a shared data set may hold thousands of related
ones, measured elsewhere, with another protocol, another instrument. :class:`WarmStartGP` learns
from both without pretending they are the same:

* ``mode="multitask"`` — a multi-task GP (BoTorch ``MultiTaskGP``, ICM kernel) with the source
  as the task: this campaign is task 0, each prior source one more task. The task covariance
  learns how strongly the sources agree, and each task has its own constant mean, so a lab
  offset costs nothing. ``to_botorch()`` returns the model for task 0 only.
* ``mode="prior_mean"`` — a GP is fitted on the prior data alone; its posterior mean, scaled and
  shifted by two learned numbers (``a * mean + b``), is the mean function of a GP fitted on this
  campaign's data. Cheaper (the prior GP is fitted once per ``fit``) and robust when the prior
  is large; it cannot learn that the sources disagree except through ``a`` and ``b``.

Long priors: every prior row is used by default (``max_prior_rows=None``). When a target's
campaign and prior rows together exceed ``max_exact_rows`` (default 2,000), the GP that would see
them all becomes the variational GP of :mod:`surrogates.scalable`, fitted on every row: in
multitask mode an SVGP with the same ICM kernel (this campaign's rows are always inducing points,
the rest are picked by greedy variance reduction), in prior_mean mode the prior GP. Its
hyperparameters start from the exact model fitted on this campaign's rows plus a seeded subset
of ``init_rows`` prior rows (at least one per source). ``methods_`` says which was used.

Without prior data it is a plain GP, the same model as :class:`~surrogates.gp.GPSurrogate`.
Preprocessing (imputation, category codes, log scales) is the shared
:class:`~surrogates.preprocessing.TabularEncoder`, fitted on campaign and prior inputs together.

Example::

    ws = WarmStartGP(categorical=("salt",), mode="multitask", seed=0)
    ws.fit(X, Y, prior_X=shared_X, prior_Y=shared_Y)
    mean, std = ws.predict(X_new)          # n x t, target units, this campaign only
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gpytorch
import numpy as np
import pandas as pd
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, MultiTaskGP, SingleTaskGP
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, InputTransform, Log10, Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, ScaleKernel
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator import to_dense
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

from surrogates.base import Surrogate, single_thread
from surrogates.errors import InputDataError, InputDataWarning
from surrogates.gp import NOISE_FLOORS, CholeskyModelListGP
from surrogates.preprocessing import TabularEncoder, as_frame, numeric_column
from surrogates.scalable import (
    TaskMean,
    TaskVariationalGP,
    VariationalGP,
    VariationalSettings,
    fit_variational,
)

MODES = ("multitask", "prior_mean")
#: Most L-BFGS iterations of the exact GP that starts a variational one (the GP's own default:
#: ``benchmarks/results/settings.md``); the start fit dominates a long prior's cost.
START_MAX_ITER = 50


class WarmStartGP(Surrogate):
    """GP for one campaign that borrows strength from prior data of other sources.

    Args:
        categorical: names of categorical inputs (``("salt",)``).
        categories: optional levels per categorical column; prior rows with other levels are
            left out (counted in ``n_prior_dropped_``).
        log_columns: ``"auto"``, a list of names, or ``None`` (as :class:`GPSurrogate`).
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        mode: ``"multitask"`` or ``"prior_mean"`` (see the module docstring).
        max_prior_rows: most prior rows per target (a seeded random subset above that);
            ``None`` (default): every prior row.
        max_exact_rows: most rows (campaign + prior, per target) for an exact GP; above it the
            variational GP (see the module docstring).
        inducing_points: inducing points of the variational GP.
        variational_epochs: Adam passes over the rows for the variational GP. 0 by default:
            on CALiSol-23 (9 campaign rows, 7,892 prior rows) Adam on the ELBO made the
            campaign's predictions worse (pool RMSE 0.54 vs 0.43 mS/cm without it); ``q(u)``
            still conditions on every row.
        init_rows: rows of the exact GP whose hyperparameters start the variational GP.
        max_iter: L-BFGS iterations per hyperparameter fit.
        seed: seeds subsampling, restarts and the imputer.

    Fitted attributes (besides the :class:`Surrogate` ones):
        n_prior_: prior rows used per target.
        methods_: per target, ``"exact"`` or ``"variational"``.
        tasks_: task labels; position 0 is this campaign (multitask mode).
        prior_weight_: per target, how much the prior informs this campaign: the learned
            inter-task correlation (multitask) or the learned scale ``a`` (prior_mean);
            ``nan`` for targets without prior data.
    """

    name: ClassVar[str] = "warm_start_gp"
    model_: CholeskyModelListGP

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        mode: str = "multitask",
        max_prior_rows: int | None = None,
        max_exact_rows: int = 2000,
        inducing_points: int = 512,
        variational_epochs: int = 0,
        init_rows: int = 1000,
        max_iter: int = 200,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.mode = mode
        self.max_prior_rows = max_prior_rows
        self.max_exact_rows = max_exact_rows
        self.inducing_points = inducing_points
        self.variational_epochs = variational_epochs
        self.init_rows = init_rows
        self.max_iter = max_iter
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, Y: Any, *, groups: Any = None, prior_X: Any = None,
            prior_Y: Any = None, prior_task: Any = None) -> WarmStartGP:
        """Fit on this campaign's data, warm-started by prior data.

        Args:
            X: ``n x d`` inputs of this campaign (lab units; NaN allowed).
            Y: ``n x t`` targets of this campaign; a row without a target value is left out of
                that target's model. With prior data, one observed value per target suffices.
            prior_X: ``m x d'`` inputs of the prior data; must hold every column of ``X``
                (extra columns are ignored; a missing one is an error).
            prior_Y: ``m x t'`` prior targets; targets of ``Y`` it lacks get a plain GP.
            prior_task: optional ``m`` labels of the prior rows' sources (a lab, a paper);
                each label is its own task in multitask mode. Default: one prior task.
            groups: not supported (the warm-start GP is not calibrated by groups); must be
                ``None``. It is here so a WarmStartGP fits wherever a surrogate does.

        Returns:
            ``self``.
        """
        if groups is not None:
            raise InputDataError("The warm-start GP does not calibrate by groups.",
                                 hint="Fit it without groups, or use GPSurrogate for a "
                                      "leave-one-group-out calibration.")
        if self.mode not in MODES:
            raise InputDataError(f"Unknown warm-start mode {self.mode!r}.",
                                 hint=f"Use one of {', '.join(MODES)}.")
        X, Yf = as_frame(X), as_frame(Y, what="Y")
        if len(X) != len(Yf):
            raise InputDataError(f"X has {len(X)} rows but Y has {len(Yf)}.",
                                 hint="Pass inputs and targets of the same rows.")
        self.fit_warnings_: list[str] = []
        X = X.rename(columns=str)
        PX, PY, tasks = self._prior_frames(X, Yf, prior_X, prior_Y, prior_task)
        encoder = TabularEncoder(categorical=self.categorical, categories=self.categories,
                                 log_columns=self.log_columns, impute=self.impute,
                                 seed=self.seed).fit(pd.concat([X, PX], ignore_index=True))
        self.fit_warnings_.extend(encoder.warnings_)
        self._adopt_encoder(encoder)
        Ynp = self._target_array(Yf, min_rows=1 if len(PX) else 3)
        Pnp = np.column_stack([PY[c].to_numpy(float) if c in PY else np.full(len(PY), np.nan)
                               for c in self.target_names_]) if len(PY) else np.empty((0, 0))
        self.tasks_ = ["campaign", *tasks.unique().tolist()] if len(PX) else ["campaign"]
        task_ids = tasks.map({t: i for i, t in enumerate(self.tasks_)}).to_numpy(float)
        with torch.random.fork_rng(), single_thread():
            torch.manual_seed(self.seed)
            Xt = encoder.impute(encoder.encode(X, impute=False))
            Pt = encoder.impute(encoder.encode(PX, impute=False)) if len(PX) else None
            self.model_ = self._fit_all(Xt, torch.as_tensor(Ynp, dtype=torch.double), Pt,
                                        Pnp, task_ids)
        return self

    def _prior_frames(self, X: pd.DataFrame, Yf: pd.DataFrame, prior_X: Any, prior_Y: Any,
                      prior_task: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        """Prior inputs in ``X``'s column order, prior targets, task labels (rows aligned)."""
        if prior_X is None and prior_Y is None:
            self.n_prior_dropped_ = 0
            return X.iloc[:0], pd.DataFrame(), pd.Series([], dtype=object)
        if prior_X is None or prior_Y is None:
            raise InputDataError("prior_X and prior_Y go together.",
                                 hint="Pass both (the prior data's inputs and targets) or neither.")
        PX = as_frame(prior_X).rename(columns=str).reset_index(drop=True)
        PY = as_frame(prior_Y, what="prior_Y").rename(columns=str).reset_index(drop=True)
        if len(PX) != len(PY):
            raise InputDataError(f"prior_X has {len(PX)} rows but prior_Y has {len(PY)}.",
                                 hint="Pass inputs and targets of the same prior rows.")
        missing = [c for c in X.columns if c not in PX.columns]
        if missing:
            raise InputDataError(
                f"The prior data lack input column(s) {missing}.",
                hint="Add them to prior_X (NaN where unknown: they are imputed) or drop them "
                     "from X.")
        PX = PX[list(X.columns)]
        tasks = (pd.Series(["prior"] * len(PX)) if prior_task is None
                 else pd.Series(np.asarray(prior_task), dtype=object).astype(str))
        if len(tasks) != len(PX):
            raise InputDataError(f"prior_task has {len(tasks)} labels for {len(PX)} prior rows.")
        keep = np.ones(len(PX), dtype=bool)
        for col, levels in (self.categories or {}).items():
            if col in PX:
                allowed = {str(v) for v in levels}
                keep &= PX[col].isna().to_numpy() | PX[col].astype(str).isin(allowed).to_numpy()
        self.n_prior_dropped_ = int((~keep).sum())
        if self.n_prior_dropped_:
            self._warn(f"{self.n_prior_dropped_} prior row(s) have category levels outside "
                       "`categories` and were left out.", InputDataWarning)
        PY = PY[[c for c in PY.columns if c in Yf.columns.astype(str)]]
        return PX[keep].reset_index(drop=True), PY[keep].reset_index(drop=True), \
            tasks[keep].reset_index(drop=True)

    def _target_array(self, Yf: pd.DataFrame, *, min_rows: int) -> np.ndarray:
        names = [str(c) for c in Yf.columns]
        if not names:
            raise InputDataError("No target column was given.", hint="Pass at least one target.")
        Ynp = np.column_stack([numeric_column(Yf.iloc[:, k], name=n, hint="Targets must be "
                                              "numbers.") for k, n in enumerate(names)])
        self.target_names_ = names
        self.n_excluded_ = {n: int(np.isnan(Ynp[:, k]).sum()) for k, n in enumerate(names)}
        for n in names:
            if len(Ynp) - self.n_excluded_[n] < min_rows:
                raise InputDataError(
                    f"Target {n!r} has {len(Ynp) - self.n_excluded_[n]} measured value(s); at "
                    f"least {min_rows} {'is' if min_rows == 1 else 'are'} needed.",
                    hint="Measure more samples, give prior data, or drop this target.")
        excluded = {k: v for k, v in self.n_excluded_.items() if v}
        if excluded:
            self._warn("Rows without a target value were left out of that target's model: "
                       + ", ".join(f"{k}: {v} of {len(Ynp)}" for k, v in excluded.items()) + ".",
                       InputDataWarning)
        return Ynp

    def _fit_all(self, Xt: Tensor, Y: Tensor, Pt: Tensor | None, Pnp: np.ndarray,
                 task_ids: np.ndarray) -> CholeskyModelListGP:
        rng = np.random.default_rng(self.seed)
        models: list[Any] = []
        self.n_prior_, self.prior_weight_, self.methods_ = {}, {}, {}
        for k, target in enumerate(self.target_names_):
            rows = torch.as_tensor(np.flatnonzero(~torch.isnan(Y[:, k]).numpy()))
            X_k, y_k = Xt[rows], Y[rows, k:k + 1]
            prior_rows = (np.flatnonzero(~np.isnan(Pnp[:, k])) if Pt is not None
                          else np.empty(0, dtype=int))
            self.methods_[target] = "exact"
            if self.max_prior_rows is not None and len(prior_rows) > self.max_prior_rows:
                self._warn(f"{target}: {len(prior_rows)} prior rows exceed max_prior_rows="
                           f"{self.max_prior_rows}; a random subset is used.")
                prior_rows = np.sort(rng.choice(prior_rows, self.max_prior_rows, replace=False))
            self.n_prior_[target] = len(prior_rows)
            if len(prior_rows) == 0 or Pt is None:
                models.append(self._fit_mll(target, lambda f, X=X_k, y=y_k: self._single(X, y, f)))
                self.prior_weight_[target] = float("nan")
                continue
            idx = torch.as_tensor(prior_rows)
            P_k = Pt[idx]
            p_k = torch.as_tensor(Pnp[prior_rows, k:k + 1], dtype=torch.double)
            if len(X_k) + len(prior_rows) > self.max_exact_rows:
                models.append(self._fit_large(target, X_k, y_k, P_k, p_k,
                                              task_ids[prior_rows], rng))
                continue
            if self.mode == "multitask":
                t_k = torch.as_tensor(task_ids[prior_rows], dtype=torch.double).unsqueeze(-1)
                model = self._fit_mll(target, lambda f, X=X_k, y=y_k, P=P_k, p=p_k, t=t_k:
                                      self._multitask(X, y, P, p, t, f))
                models.append(model)
                self.prior_weight_[target] = _task_correlation(model.covar_module)
            else:
                bounds = self._bounds(torch.cat([X_k, P_k]))
                prior = self._fit_mll(f"{target} (prior)", lambda f, P=P_k, p=p_k, b=bounds:
                                      self._single(P, p, f, b))
                prior.requires_grad_(False)
                model = self._fit_mll(target, lambda f, X=X_k, y=y_k, pr=prior, b=bounds:
                                      self._with_prior_mean(X, y, pr, f, b))
                models.append(model)
                self.prior_weight_[target] = float(model.mean_module.scale.detach())
        return CholeskyModelListGP(*models, max_cholesky_size=self._cholesky_size(len(Xt)))

    def _cholesky_size(self, n_campaign: int = 0) -> int:
        """Largest exact solve: every exact GP here has at most this many rows."""
        return max(self.max_exact_rows, n_campaign) + 1

    def _fit_large(self, target: str, X: Tensor, y: Tensor, P: Tensor, p: Tensor,
                   tasks: np.ndarray, rng: np.random.Generator) -> Any:
        """The variational path for a target with more rows than ``max_exact_rows``."""
        settings = VariationalSettings(inducing_points=self.inducing_points,
                                       epochs=self.variational_epochs)
        start = _start_rows(tasks, max(self.init_rows - len(X), 1), rng)
        sub = torch.as_tensor(start)
        bounds = self._bounds(torch.cat([X, P]))
        none = np.zeros(len(X) + len(P), dtype=bool)
        self.methods_[target] = "variational"
        if self.mode == "multitask":
            t = torch.as_tensor(tasks, dtype=torch.double).unsqueeze(-1)
            template = self._fit_mll(f"{target} (start)", lambda f: self._multitask(
                X, y, P[sub], p[sub], t[sub], f, bounds), START_MAX_ITER)
            d = X.shape[-1]
            train_X = torch.cat([torch.cat([X, torch.zeros(len(X), 1, dtype=X.dtype)], -1),
                                 torch.cat([P, t], -1)])
            train_X[:, d] = template._map_tasks(
                task_values=train_X[:, d:d + 1].long()).squeeze(-1).to(train_X)
            campaign = np.arange(len(train_X)) < len(X)
            with self._recording(f"{target} variational GP"):
                fit = fit_variational(template, train_X, torch.cat([y, p]), none,
                                      settings=settings, seed=self.seed,
                                      always_inducing=campaign, model_class=TaskVariationalGP,
                                      mean_module=TaskMean(template.mean_module, d))
            self.prior_weight_[target] = _task_correlation(fit.model.model.covar_module)
            model: Any = fit.model
            what = f"multi-task SVGP on {len(X)} campaign + {len(P)} prior rows"
        else:
            template = self._fit_mll(f"{target} (prior, start)", lambda f: self._single(
                P[sub], p[sub], f, bounds), START_MAX_ITER)
            with self._recording(f"{target} variational GP"):
                fit = fit_variational(template, P, p, none[len(X):], settings=settings,
                                      seed=self.seed)
            prior = fit.model
            prior.requires_grad_(False)
            model = self._fit_mll(target, lambda f: self._with_prior_mean(X, y, prior, f, bounds))
            self.prior_weight_[target] = float(model.mean_module.scale.detach())
            what = f"prior GP: SVGP on {len(P)} prior rows"
        self.fit_warnings_.append(
            f"{target}: {len(X) + len(P)} rows exceed max_exact_rows={self.max_exact_rows}; "
            f"variational GP on every row ({what}, {fit.model.num_inducing} inducing points; "
            f"hyperparameters from an exact GP ({min(self.max_iter, START_MAX_ITER)} L-BFGS "
            f"iterations) on {len(X) if self.mode == 'multitask' else 0} "
            f"campaign + {len(start)} prior rows, refined by {settings.epochs} Adam epochs).")
        return model

    # ------------------------------------------------------------------ model builders
    def _transform(self, d: int, bounds: Tensor | None = None,
                   task_column: bool = False) -> ChainedInputTransform:
        enc: TabularEncoder = self.encoder_
        parts: dict[str, InputTransform] = {"complete": _CompleteFeatures(enc)}
        if enc.log_indices_:
            parts["log"] = Log10(indices=list(enc.log_indices_))
        if enc.continuous_indices_:
            cont = list(enc.continuous_indices_)
            parts["normalize"] = Normalize(d=d + task_column, indices=cont,
                                           bounds=None if bounds is None else bounds[:, cont])
        return ChainedInputTransform(**parts)

    def _bounds(self, X: Tensor) -> Tensor:
        """Fixed normalization bounds (log scale where modelled so) shared by prior and target."""
        Z = X.clone()
        for j in self.encoder_.log_indices_:
            Z[:, j] = torch.log10(self.encoder_.clamp_log(X)[:, j])
        lo, hi = Z.min(dim=0).values, Z.max(dim=0).values
        hi = torch.where(hi - lo < 1e-9, lo + 1.0, hi)
        return torch.stack([lo, hi])

    def _single(self, X: Tensor, y: Tensor, floor: float | None,
                bounds: Tensor | None = None) -> SingleTaskGP:
        transform = self._transform(X.shape[-1], bounds)
        cats = list(self.encoder_.categorical_indices_)
        model = (MixedSingleTaskGP(X, y, cat_dims=cats, input_transform=transform,
                                   outcome_transform=Standardize(m=1)) if cats
                 else SingleTaskGP(X, y, input_transform=transform,
                                   outcome_transform=Standardize(m=1)))
        return _noise_floor(model, floor)

    def _multitask(self, X: Tensor, y: Tensor, P: Tensor, p: Tensor, tasks: Tensor,
                   floor: float | None, bounds: Tensor | None = None) -> MultiTaskGP:
        d = X.shape[-1]
        train_X = torch.cat([torch.cat([X, torch.zeros(len(X), 1, dtype=X.dtype)], -1),
                             torch.cat([P, tasks], -1)])
        model = MultiTaskGP(train_X, torch.cat([y, p]), task_feature=d, output_tasks=[0],
                            covar_module=_data_kernel(d, self.encoder_.categorical_indices_),
                            input_transform=self._transform(d, bounds, task_column=True),
                            outcome_transform=Standardize(m=1))
        return _noise_floor(model, floor)

    def _with_prior_mean(self, X: Tensor, y: Tensor, prior: SingleTaskGP | VariationalGP,
                         floor: float | None,
                         bounds: Tensor) -> SingleTaskGP:
        model = self._single(X, y, floor, bounds)
        model.mean_module = PriorMean(prior, *_target_scale(model))
        return model

    def _fit_mll(self, target: str, build: Any, max_iter: int | None = None) -> Any:
        """Fit a model built by ``build(noise_floor)``, raising the noise floor on failure
        (``max_iter`` L-BFGS iterations, default ``self.max_iter``)."""
        failures: list[str] = []
        iterations = min(max_iter or self.max_iter, self.max_iter)
        with gpytorch.settings.max_cholesky_size(self._cholesky_size(10_000)):
            for floor in NOISE_FLOORS:
                with self._recording(f"{target} GP fit"):
                    model = build(floor)
                    mll = ExactMarginalLogLikelihood(model.likelihood, model)
                    try:
                        fit_gpytorch_mll(
                            mll, optimizer_kwargs={"options": {"maxiter": iterations}})
                    except (NotPSDError, ModelFittingError, RuntimeError, ValueError) as exc:
                        failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
                        continue
                if failures:
                    self._warn(f"{target}: GP fit failed ({failures[-1]}); refitted with a noise "
                               f"variance floor of {floor:g}.")
                return model.eval()
            self._warn(f"{target}: every GP fit failed ({failures[-1]}); the prior "
                       "hyperparameters are kept with a noise floor of 1e-2.")
            with self._recording(f"{target} GP fallback"):
                return build(NOISE_FLOORS[-1]).eval()

    def _fit_encoded(self, Xt: Tensor, Y: Tensor,
                     groups: np.ndarray | None) -> Model:  # pragma: no cover - fit overrides
        raise NotImplementedError("WarmStartGP.fit does its own encoding")

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        means, variances = [], []
        with gpytorch.settings.max_cholesky_size(self._cholesky_size(10_000)):
            for start in range(0, max(len(Xt), 1), 2048):  # bounds memory for long tables
                post = self.model_.posterior(Xt[start:start + 2048],
                                             observation_noise=observation_noise)
                means.append(post.mean.detach())
                variances.append(post.variance.detach())
        return torch.cat(means), torch.cat(variances)


class PriorMean(Mean):
    """GP mean ``a * m(x) + b``: ``m`` is a fitted prior GP's posterior mean (frozen).

    Works in the target GP's standardized units; ``x`` arrives transformed by the target GP's
    input transform, which uses the same fixed bounds as the prior GP's, so the prior GP can be
    evaluated on it directly.
    """

    def __init__(self, prior: SingleTaskGP | VariationalGP, y_mean: Tensor, y_std: Tensor) -> None:
        super().__init__()
        self._prior = [prior]  # a list hides it from nn.Module: not trained, not in state_dict
        self.register_buffer("y_mean", y_mean.detach().clone())
        self.register_buffer("y_std", y_std.detach().clone())
        self.register_parameter("raw_scale", torch.nn.Parameter(torch.ones((), dtype=torch.double)))
        self.register_parameter("offset", torch.nn.Parameter(torch.zeros((), dtype=torch.double)))

    @property
    def scale(self) -> Tensor:
        """The learned multiplier ``a`` of the prior mean."""
        return self.raw_scale

    def forward(self, x: Tensor) -> Tensor:
        """``... x n x d`` transformed inputs -> ``... x n`` mean (target standardized units)."""
        prior = self._prior[0]
        prior.eval()
        with gpytorch.settings.max_cholesky_size(100_000):
            latent = prior(x).mean
        mean, std = _target_scale(prior)
        raw = latent * std + mean
        return self.raw_scale * (raw - self.y_mean) / self.y_std + self.offset


class _CompleteFeatures(InputTransform):
    """Impute and log-clamp the first ``d`` columns; leave a trailing task column alone."""

    def __init__(self, encoder: TabularEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.d = len(encoder.feature_names_)
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True

    def transform(self, X: Tensor) -> Tensor:
        """``... x (d [+ 1])`` -> same shape, features complete and log-safe."""
        feats = self.encoder.clamp_log(self.encoder.impute(X[..., : self.d]))
        return torch.cat([feats, X[..., self.d:]], dim=-1) if X.shape[-1] > self.d else feats

    def equals(self, other: InputTransform) -> bool:
        """Equal when they share the fitted encoder."""
        return isinstance(other, _CompleteFeatures) and other.encoder is self.encoder


def _data_kernel(d: int, cat_dims: Sequence[int]) -> Kernel:
    """Kernel over the ``d`` features, like BoTorch's ``MixedSingleTaskGP`` when categorical."""
    cont = [j for j in range(d) if j not in cat_dims]
    if not cat_dims:
        return get_covar_module_with_dim_scaled_prior(ard_num_dims=d, active_dims=list(range(d)))

    def categorical() -> Kernel:
        return CategoricalKernel(ard_num_dims=len(cat_dims), active_dims=list(cat_dims),
                                 lengthscale_constraint=GreaterThan(1e-6))

    if not cont:
        return ScaleKernel(categorical())

    def continuous() -> Kernel:
        return get_covar_module_with_dim_scaled_prior(ard_num_dims=len(cont), active_dims=cont)

    return _DenseKernel(ScaleKernel(continuous() + ScaleKernel(categorical())) + ScaleKernel(
        continuous() * categorical()))


class _DenseKernel(Kernel):
    """Evaluates its kernel to a dense matrix.

    Multiplied by the task kernel, a structured (lazy) data kernel makes GPyTorch build a
    ``MulLinearOperator`` from root decompositions of both factors; the categorical part is
    rank-deficient by construction (repeated levels), so every prediction would add jitter and
    warn. A dense factor is multiplied element-wise instead: exact, and cheap at these sizes.
    """

    def __init__(self, base_kernel: Kernel) -> None:
        super().__init__()
        self.base_kernel = base_kernel

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Dense ``... x n x m`` covariance (or its diagonal)."""
        return to_dense(self.base_kernel(x1, x2, diag=diag, **params))


def _target_scale(model: SingleTaskGP | VariationalGP) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation (scalars) that the model's ``Standardize`` took off ``y``."""
    out = model.outcome_transform  # every GP here is built with Standardize(m=1)
    if isinstance(out, Standardize):
        means, stdvs = out.means, out.stdvs
        if isinstance(means, Tensor) and isinstance(stdvs, Tensor):
            return means.reshape(()), stdvs.reshape(())
    raise TypeError(f"expected a fitted Standardize outcome transform, got {out!r}")


def _noise_floor(model: Any, floor: float | None) -> Any:
    if floor is not None:
        noise = model.likelihood.noise_covar
        noise.register_constraint("raw_noise", GreaterThan(floor))
        noise.noise = torch.full_like(noise.noise, 2 * floor)
    return model


def _start_rows(tasks: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` prior rows (at least one per task) for a start fit."""
    if size >= len(tasks):
        return np.arange(len(tasks))
    first = np.array([rng.choice(np.flatnonzero(tasks == t)) for t in np.unique(tasks)])
    rest = np.setdiff1d(np.arange(len(tasks)), first)
    more = rng.choice(rest, max(size - len(first), 0), replace=False)
    return np.sort(np.concatenate([first, more]).astype(int))


def _task_correlation(covar_module: Kernel) -> float:
    """Mean correlation between task 0 (this campaign) and the prior tasks, from an ICM
    kernel ``data kernel * task kernel``."""
    task_kernel = covar_module.kernels[1]
    with torch.no_grad():
        cov = task_kernel.covar_matrix.to_dense()
    sd = cov.diagonal().sqrt()
    corr = cov / (sd.unsqueeze(0) * sd.unsqueeze(1))
    return float(corr[0, 1:].mean())


__all__ = ["MODES", "PriorMean", "WarmStartGP"]
