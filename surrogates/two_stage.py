"""Two-stage surrogate: recipe -> measured descriptors -> targets, composed by sampling.

A hard-carbon lab measures the structure of every carbon it makes (XRD d002, Lc and La, BET
surface area, Raman ID/IG) before the cell results, and the structure explains much of the
electrochemistry. :class:`TwoStageSurrogate` learns both links: stage 1 is a GP per descriptor
on the recipe; stage 2 maps descriptors (and, by default, the recipe too) to the targets with any
surrogate. For planning, :class:`TwoStageModel` is a BoTorch ``EnsembleModel`` whose members are
joint draws of the descriptors from stage 1 pushed through stage 2, so stage 1's uncertainty
reaches the acquisition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.model import Model
from botorch.posteriors import Posterior, PosteriorList
from linear_operator.utils.cholesky import psd_safe_cholesky
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from surrogates.base import MIN_ROWS, Surrogate
from surrogates.errors import InputDataError
from surrogates.gp import GPSurrogate
from surrogates.preprocessing import as_frame, did_you_mean, numeric_column


class TwoStageModel(EnsembleModel):
    """BoTorch view of a two-stage surrogate: ``... x q x d`` recipes -> ``... x S x q x t``.

    Member ``s`` is one joint draw of the descriptors at the ``q`` recipes from the stage-1 GPs,
    pushed through stage 2: with an ensemble stage 2 (neural networks, forest) through its member
    ``s mod s2``; with a GP stage 2 as one joint draw of its latent function. The draws use fixed
    normal base samples per ``q`` (shared over batch dimensions), so the model is deterministic
    and differentiable in the recipes, as gradient-based acquisition optimization needs.

    Args:
        stage1: BoTorch model of the descriptors over the encoded recipe, ``k`` outputs (log10
            for the columns in ``log_descriptors``).
        stage2: BoTorch model of the targets over the stage-2 encoded inputs.
        recipe_index: for each stage-2 input column, its position in the encoded recipe, or
            ``-1 - j`` for descriptor ``j``.
        log_descriptors: positions of descriptors that stage 1 models as log10.
        n_samples: descriptor draws ``S`` (ensemble members).
        seed: seeds the base samples.
    """

    def __init__(self, *, stage1: Model, stage2: Model, recipe_index: Sequence[int],
                 log_descriptors: Sequence[int], n_samples: int, seed: int) -> None:
        super().__init__()
        self.stage1 = stage1
        self.stage2 = stage2
        self.recipe_index = list(recipe_index)
        self.log_descriptors = list(log_descriptors)
        self.n_samples = int(n_samples)
        self.seed = int(seed)
        self._num_outputs = int(stage2.num_outputs)
        self._base: dict[tuple[str, int, int], Tensor] = {}

    def base_samples(self, stage: str, q: int, m: int) -> Tensor:
        """Fixed ``S x q x m`` standard-normal draws for ``stage`` at batch size ``q``."""
        key = (stage, q, m)
        if key not in self._base:
            gen = torch.Generator().manual_seed(
                self.seed * 1_000_003 + q * 101 + m * 7 + (0 if stage == "stage1" else 1))
            self._base[key] = torch.randn(self.n_samples, q, m, generator=gen,
                                          dtype=torch.double)
        return self._base[key]

    def descriptor_samples(self, X: Tensor) -> Tensor:
        """Encoded recipes ``... x q x d`` -> ``S x ... x q x k`` descriptor draws (lab units)."""
        post: Any = self.stage1.posterior(X)
        q, k = post.mean.shape[-2:]
        eps = self.base_samples("stage1", q, k)
        eps = eps.view(self.n_samples, *([1] * (X.dim() - 2)), q, k)
        Z = joint_draw(post, eps)
        if self.log_descriptors:
            idx = self.log_descriptors
            Z = Z.clone()
            Z[..., idx] = 10 ** Z[..., idx].clamp(max=12.0)
        return Z

    def stage2_inputs(self, X: Tensor, Z: Tensor) -> Tensor:
        """``... x q x d`` recipes and ``S x ... x q x k`` draws -> ``... x S x q x d2``."""
        Xe = X.unsqueeze(0).expand(Z.shape[0], *X.shape)
        cols = [Xe[..., j] if j >= 0 else Z[..., -1 - j] for j in self.recipe_index]
        return torch.stack(cols, dim=-1).movedim(0, -3)

    def forward(self, X: Tensor) -> Tensor:
        """Encoded ``... x q x d`` recipes -> ``... x S x q x t`` member values, target units."""
        X2 = self.stage2_inputs(X, self.descriptor_samples(X))
        S = self.n_samples
        if isinstance(self.stage2, EnsembleModel):
            V = self.stage2(X2)  # ... x S x s2 x q x t
            draw = torch.arange(S)
            return V[..., draw, draw % V.shape[-3], :, :]
        post: Any = self.stage2.posterior(X2)  # ... x S x q x t
        q, t = post.mean.shape[-2:]
        return joint_draw(post, self.base_samples("stage2", q, t))


def joint_draw(posterior: Posterior, eps: Tensor) -> Tensor:
    """``mean + L eps``: a draw, joint over the ``q`` points and the outputs, from a Gaussian
    posterior.

    Args:
        posterior: ``... x q x m`` posterior: a GPyTorch posterior (one output, or several as a
            multitask normal, e.g. from a ``ModelListGP``) or a list of them; any other kind is
            drawn point by point from its mean and variance.
        eps: standard-normal base samples broadcastable to ``... x q x m``.

    Returns:
        The draws, shape of ``posterior.mean`` broadcast with ``eps``.
    """
    posts: list[Any] = (list(posterior.posteriors) if isinstance(posterior, PosteriorList)
                        else [posterior])
    out, j = [], 0
    for p in posts:
        mean = p.mean
        q, m = mean.shape[-2:]
        e = eps[..., j : j + m]
        dist = getattr(p, "distribution", None)
        if dist is None or not hasattr(dist, "lazy_covariance_matrix"):
            out.append(mean + p.variance.clamp_min(0).sqrt() * e)
        else:
            cov = dist.lazy_covariance_matrix.to_dense()  # ... x qm x qm
            # On the correlation scale, so the jitter a repeated point needs is relative to
            # each output's own variance (d002 varies by 1e-3 nm, surface area by 100s m²/g).
            sd = cov.diagonal(dim1=-2, dim2=-1).clamp_min(1e-30).sqrt()
            with warnings.catch_warnings():  # a repeated point (a pending well) needs jitter
                warnings.simplefilter("ignore", NumericalWarning)
                Lc = psd_safe_cholesky(cov / (sd.unsqueeze(-1) * sd.unsqueeze(-2)))
            L = sd.unsqueeze(-1) * Lc
            # A multitask normal orders its q*m entries point-major when interleaved.
            point_major = m == 1 or bool(getattr(dist, "_interleaved", True))
            e = e.expand(*e.shape[:-2], q, m)
            flat = (e if point_major else e.transpose(-1, -2)).reshape(*e.shape[:-2], q * m)
            draw = (L @ flat.unsqueeze(-1)).squeeze(-1)
            draw = (draw.reshape(*draw.shape[:-1], q, m) if point_major
                    else draw.reshape(*draw.shape[:-1], m, q).transpose(-1, -2))
            out.append(mean + draw)
        j += m
    return torch.cat(out, dim=-1)


class TwoStageSurrogate(Surrogate):
    """Recipe -> descriptors (a GP each) -> targets (any surrogate), composed by sampling.

    ``fit`` takes the recipe columns **and** the measured descriptor columns in ``X`` (named by
    ``descriptors``); afterwards the model needs the recipe only: ``feature_names_in_``,
    ``encode`` and ``to_botorch`` are over the recipe, and descriptor columns passed to
    ``predict`` are ignored (the model predicts them). Stage 1 fits one GP per descriptor on the
    rows where it was measured (also rows without a target, e.g. a failed cell). Stage 2 fits on
    the rows with a target, a missing descriptor filled with stage 1's prediction. Descriptors
    spanning more than a factor of 10 (BET surface area) are modelled as log10 in stage 1.

    ``predict``: ``n_samples`` draws of the descriptors per row from stage 1 pushed through stage
    2; mean and variance of the resulting mixture (stage 2's noise included unless
    ``observation_noise=False``). ``to_botorch``: :class:`TwoStageModel`.

    Args:
        descriptors: names of the descriptor columns of ``X`` (stage 1's targets).
        stage2: short name of the stage-2 surrogate (``gp``, ``ensemble``, ``rf``, ...).
        stage2_inputs: ``"recipe+descriptors"`` (default) or ``"descriptors"``.
        categorical: names of categorical recipe inputs.
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: log10 recipe inputs: ``"auto"``, a list of names, or ``None``.
        log_descriptors: ``"auto"`` (positive and spanning more than a factor of 10), a list of
            names, or ``None``.
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        input_bounds: optional ``{recipe column: (low, high)}`` of the search space (see
            :class:`~surrogates.gp.GPSurrogate`).
        n_samples: descriptor draws per prediction (and members of the BoTorch model).
        stage1_options: extra arguments of the stage-1 :class:`GPSurrogate`.
        stage2_options: extra arguments of the stage-2 surrogate.
        seed: seeds both stages and the draws.

    Example:
        >>> import numpy as np, pandas as pd
        >>> T = np.linspace(800, 1800, 12)
        >>> X = pd.DataFrame({"carbonization_temperature_c": T,
        ...                   "bet_ssa_m2_per_g": 300 * np.exp(-(T - 800) / 300)})
        >>> Y = pd.DataFrame({"ice_pct": 90 - 5 * np.log10(X["bet_ssa_m2_per_g"])})
        >>> model = TwoStageSurrogate(descriptors=("bet_ssa_m2_per_g",), seed=0).fit(X, Y)
        >>> list(model.feature_names_in_), model.predict(X.head(2))[0].shape
        (['carbonization_temperature_c'], (2, 1))
    """

    name: ClassVar[str] = "two_stage"
    model_: TwoStageModel

    def __init__(
        self,
        *,
        descriptors: Sequence[str] = (),
        stage2: str = "gp",
        stage2_inputs: str = "recipe+descriptors",
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        log_descriptors: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        input_bounds: Mapping[str, tuple[float, float]] | None = None,
        n_samples: int = 32,
        stage1_options: Mapping[str, Any] | None = None,
        stage2_options: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.descriptors = descriptors
        self.stage2 = stage2
        self.stage2_inputs = stage2_inputs
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.log_descriptors = log_descriptors
        self.impute = impute
        self.input_bounds = input_bounds
        self.n_samples = n_samples
        self.stage1_options = stage1_options
        self.stage2_options = stage2_options
        self.seed = seed

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> TwoStageSurrogate:
        """Fit both stages.

        Args:
            X: ``n x (d + k)`` frame: the recipe inputs and the ``k`` descriptor columns named by
                ``descriptors`` (NaN where not measured).
            Y: ``n x t`` targets (NaN where not measured; rows without any target still teach
                stage 1).
            groups: optional ``n`` group labels (plates, papers), passed to both stages.

        Returns:
            ``self``.
        """
        X = as_frame(X).rename(columns=str)
        names = [str(c) for c in self.descriptors]
        self._check_request(X, names)
        D = pd.DataFrame(
            {c: numeric_column(X[c], name=c, hint="Descriptors must be numbers; remove units "
                               "or comments from the cells.") for c in names},
            index=X.index,
        )
        self._fit_frames = (X.drop(columns=names), D, as_frame(Y, what="Y"), groups)
        try:
            super().fit(X.drop(columns=names), Y, groups=groups)
        finally:
            del self._fit_frames
        return self

    def _check_request(self, X: pd.DataFrame, names: list[str]) -> None:
        problems, hints = [], []
        if not names:
            problems.append("no descriptor column was named.")
            hints.append("Pass descriptors=(...) naming the measured descriptor columns of X.")
        for c in names:
            if c not in X.columns:
                problems.append(f"descriptor column {c!r} is not in X.")
                hints.append(did_you_mean(c, X.columns) or "Add the measured descriptors to X.")
        if len(set(names)) < len(names):
            problems.append(f"descriptors repeat: {names}.")
            hints.append("Name each descriptor once.")
        if self.stage2_inputs not in ("recipe+descriptors", "descriptors"):
            problems.append(f"the setting stage2_inputs={self.stage2_inputs!r} is not known.")
            hints.append('Use "recipe+descriptors" or "descriptors".')
        if not problems and len(X.columns) == len(names):
            problems.append("X holds descriptors only; the recipe columns are missing.")
            hints.append("Pass the recipe inputs together with the descriptors.")
        if problems:
            raise InputDataError(" ".join(p[0].upper() + p[1:] for p in problems),
                                 hint=" ".join(dict.fromkeys(hints)))

    def _fit_encoded(self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None) -> TwoStageModel:
        from surrogates import make_surrogate  # here: the package imports this module

        Xr, D, Yf, raw_groups = self._fit_frames
        names = list(D.columns)
        counts = D.notna().sum()
        few = {c: int(counts[c]) for c in names if counts[c] < MIN_ROWS}
        if few:
            raise InputDataError(
                f"Descriptors {sorted(few)} have too few measured values ({few}); at least "
                f"{MIN_ROWS} are needed to model them.",
                hint="Measure them on more samples or leave them out of descriptors.",
            )
        self.descriptor_names_ = names
        self.log_descriptors_ = self._log_descriptors(D)
        Dm = D.copy()
        for c in self.log_descriptors_:
            Dm[c] = np.log10(Dm[c])
        cats = {c: list(v) for c, v in self.categories_.items()}
        recipe_cats = tuple(c for c in self.categorical if c in Xr.columns)
        bounds = dict(self.input_bounds or {})
        stage1 = GPSurrogate(categorical=recipe_cats, categories=cats or None,
                             log_columns=self.log_columns, impute=self.impute,
                             input_bounds=bounds or None, seed=self.seed,
                             **dict(self.stage1_options or {}))
        with self._recording("stage 1"):
            stage1.fit(Xr, Dm, groups=raw_groups)
        self.fit_warnings_.extend(f"stage 1: {w}" for w in stage1.fit_warnings_)
        if list(stage1.feature_names_in_) != list(self.feature_names_in_):
            raise InputDataError(  # cannot happen with the same frame; guards the index map
                "stage 1 encoded the recipe in another column order.",
                hint="Report this as a bug.")

        # Stage 2 learns from measured descriptors; a missing one is stage 1's prediction.
        with torch.no_grad():
            mean1, _ = stage1._predict_encoded(Xt, observation_noise=False)
        filled = Dm.to_numpy(dtype=float, copy=True)
        gaps = np.isnan(filled)
        filled[gaps] = mean1.numpy()[gaps]
        Df = pd.DataFrame(filled, columns=names, index=D.index)
        for c in self.log_descriptors_:
            Df[c] = 10 ** Df[c]
        with_recipe = self.stage2_inputs == "recipe+descriptors"
        X2 = pd.concat([Xr, Df], axis=1) if with_recipe else Df
        rows = ~torch.isnan(Y).all(dim=-1).numpy()
        options: dict[str, Any] = {"categorical": recipe_cats if with_recipe else (),
                                   "categories": (cats or None) if with_recipe else None,
                                   "log_columns": "auto", "seed": self.seed,
                                   **dict(self.stage2_options or {})}
        if self.stage2 == "gp" and with_recipe and bounds:
            options.setdefault("input_bounds", bounds)
        stage2 = make_surrogate(self.stage2, **options)
        g2 = None if raw_groups is None else np.asarray(raw_groups, dtype=object)[rows]
        with self._recording("stage 2"):
            stage2.fit(X2[rows], Yf[rows], groups=g2)
        self.fit_warnings_.extend(f"stage 2: {w}" for w in stage2.fit_warnings_)
        self.stage1_, self.stage2_ = stage1, stage2

        recipe = list(self.feature_names_in_)
        index = [recipe.index(c) if c in recipe else -1 - names.index(c)
                 for c in stage2.feature_names_in_]
        self.recipe_index_ = index
        return TwoStageModel(
            stage1=stage1.to_botorch(), stage2=stage2.to_botorch(), recipe_index=index,
            log_descriptors=[names.index(c) for c in self.log_descriptors_],
            n_samples=self.n_samples, seed=self.seed,
        ).eval()

    def _log_descriptors(self, D: pd.DataFrame) -> list[str]:
        if self.log_descriptors is None:
            return []
        if not isinstance(self.log_descriptors, str):
            chosen = [str(c) for c in self.log_descriptors]
            bad = [c for c in chosen if c not in D.columns]
            if bad:
                raise InputDataError(f"log_descriptors names {bad}, which are not descriptors.",
                                     hint=did_you_mean(bad[0], D.columns))
            nonpositive = [c for c in chosen if (D[c].dropna() <= 0).any()]
            if nonpositive:
                raise InputDataError(
                    f"log_descriptors {nonpositive} hold values <= 0, which have no log.",
                    hint="Leave them out of log_descriptors.")
            return chosen
        if self.log_descriptors != "auto":
            raise InputDataError(f"log_descriptors={self.log_descriptors!r} is not known.",
                                 hint='Use "auto", a list of descriptor names, or None.')
        out = []
        for c in D.columns:
            v = D[c].dropna()
            if len(v) and (v > 0).all() and v.max() / v.min() > 10:
                out.append(str(c))
        return out

    # ------------------------------------------------------------------ predict
    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        mean1, var1 = self.stage1_._predict_encoded(Xt, observation_noise=False)
        n, k = mean1.shape
        gen = torch.Generator().manual_seed(self.seed + 17)
        eps = torch.randn(self.n_samples, n, k, generator=gen, dtype=mean1.dtype)
        Z = mean1 + var1.clamp_min(0).sqrt() * eps  # S x n x k
        for j in self.model_.log_descriptors:
            Z[..., j] = 10 ** Z[..., j].clamp(max=12.0)
        X2 = self.model_.stage2_inputs(Xt, Z)  # S x n x d2
        mean2, var2 = self.stage2_._predict_encoded(
            X2.reshape(-1, X2.shape[-1]), observation_noise=observation_noise)
        mean2 = mean2.reshape(self.n_samples, n, -1)
        var2 = var2.reshape(self.n_samples, n, -1)
        mean = mean2.mean(0)
        var = var2.mean(0) + mean2.var(0, unbiased=False)
        return mean, var

    def descriptor_predictions(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1's predicted descriptors: ``n x k`` mean and std, lab units (``descriptor_names_``
        order; log10 descriptors are back-transformed, so their mean is the median)."""
        self._check_fitted()
        Xt = self.encoder_.encode(X, impute=False)
        with torch.no_grad():
            m, v = self.stage1_._predict_encoded(Xt, observation_noise=False)
        mean, std = m.numpy().astype(float), v.clamp_min(0).sqrt().numpy().astype(float)
        for j, c in enumerate(self.descriptor_names_):
            if c in self.log_descriptors_:  # delta method on the log scale
                mean[:, j] = 10 ** mean[:, j]
                std[:, j] = mean[:, j] * math.log(10) * std[:, j]
        return mean, std
