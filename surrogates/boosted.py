"""Gradient-boosted trees (scikit-learn ``HistGradientBoostingRegressor``), calibrated intervals.

A bagged ensemble: each member is a boosted model fitted on a bootstrap draw of the rows (of
whole groups when group labels are given). The members' mean is the prediction; their spread,
scaled by an out-of-bag calibration (:func:`surrogates.base.calibrate_variance`), is the
uncertainty. Missing inputs are handled by the trees themselves (a learned direction at each
split), not imputed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits
from torch import Tensor

from surrogates.base import Surrogate, calibrate_variance, calibrated_members, member_stats
from surrogates.errors import InputDataError
from surrogates.preprocessing import TabularEncoder

#: Fewest distinct groups for a group bootstrap (below it rows are bootstrapped).
MIN_GROUPS = 4


class BoostedFeatures:
    """Encoded inputs -> boosting features: numbers as they are (NaN kept), then level codes.

    Args:
        encoder: the surrogate's fitted encoder.
    """

    def __init__(self, encoder: TabularEncoder) -> None:
        self.continuous = list(encoder.continuous_indices_)
        self.categorical = list(encoder.categorical_indices_)

    @property
    def categorical_mask(self) -> np.ndarray:
        """Which feature columns are categorical (for ``categorical_features``)."""
        return np.array([False] * len(self.continuous) + [True] * len(self.categorical))

    def __call__(self, Xt: Tensor) -> np.ndarray:
        """``N x d`` encoded inputs (NaN allowed) -> ``N x d`` float64 features."""
        X = Xt.detach().cpu().to(torch.double)
        parts = [X[:, self.continuous], X[:, self.categorical]]
        return np.ascontiguousarray(torch.cat(parts, -1).numpy())


class BoostedEnsembleModel(EnsembleModel):
    """BoTorch view of the bagged boosted models: each bootstrap member is an ensemble member.

    ``... x n x d`` encoded inputs -> ``... x M x n x t`` member predictions in target units, their
    spread around the mean scaled by the out-of-bag calibration. Trees are piecewise constant,
    so **gradients with respect to the inputs are zero**: use it with candidate pools (library
    campaigns, the pool stage of recipe plates), not gradient-based optimizers.
    """

    spread_scale: Tensor  # a buffer, registered in __init__

    def __init__(self, members: Sequence[Sequence[HistGradientBoostingRegressor]],
                 features: BoostedFeatures, scale: Tensor) -> None:
        super().__init__()
        self.members = [list(m) for m in members]  # per target, M fitted regressors
        self.feature_map = features
        self.register_buffer("spread_scale", scale)
        self._num_outputs = len(self.members)

    def member_values(self, X: Tensor) -> Tensor:
        """Uncalibrated ``... x M x n x t`` member predictions (no gradient)."""
        batch, (n, d) = X.shape[:-2], X.shape[-2:]
        F = self.feature_map(X.detach().reshape(-1, d))
        with threadpool_limits(1):
            cols = [np.stack([m.predict(F) for m in per_target]) for per_target in self.members]
        values = torch.as_tensor(np.stack(cols, -1), dtype=X.dtype, device=X.device)
        values = values.reshape(values.shape[0], *batch, n, len(cols))
        return values.movedim(0, -3)

    def forward(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> calibrated ``... x M x n x t`` values."""
        return calibrated_members(self.member_values(X), self.spread_scale, X)


class BoostedSurrogate(Surrogate):
    """Bagged gradient-boosted trees per target, with out-of-bag calibrated uncertainty.

    Each of ``n_members`` members is a ``HistGradientBoostingRegressor`` fitted on a bootstrap
    draw: of whole groups when ``fit`` gets at least four group labels (so the calibration
    answers "how wrong for a new paper or plate"), else of rows. The spread of members is
    calibrated as ``var = scale * spread^2 + noise`` on out-of-bag rows by maximum likelihood;
    ``predict`` includes ``noise`` by default. Missing inputs go to the trees as missing (NaN),
    categorical inputs as native categorical splits.

    Args:
        categorical: names of categorical inputs.
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: ``"auto"``, a list of names, or ``None`` (affects imputation for the
            planner's :meth:`encode` only: trees do not care about monotone rescaling).
        impute: ``"iterative"`` or ``"median"`` imputation in :meth:`encode`.
        n_members: bootstrap members per target (at least 3).
        learning_rate: boosting shrinkage.
        max_iter: boosting rounds per member.
        max_leaf_nodes: leaves per tree.
        min_samples_leaf: smallest leaf; ``None`` scales it with the data (3 to 20 rows).
        l2_regularization: L2 penalty on leaf values.
        seed: seeds the bootstrap draws and the boosting.

    Example:
        >>> from surrogates.datasets import make_smooth_table
        >>> df = make_smooth_table(40)
        >>> model = BoostedSurrogate(n_members=4, max_iter=30).fit(df[["x1", "x2"]], df[["y"]])
        >>> mean, std = model.predict(df[["x1", "x2"]].head(3))
        >>> mean.shape, bool((std > 0).all())
        ((3, 1), True)
    """

    name: ClassVar[str] = "boosted"

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        n_members: int = 8,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int | None = None,
        l2_regularization: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.n_members = n_members
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.seed = seed

    def _fit_encoded(self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None
                     ) -> BoostedEnsembleModel:
        if self.n_members < 3:
            raise InputDataError(
                f"n_members={self.n_members} is too few for an out-of-bag calibration.",
                hint="Use n_members=8 (the default) or at least 3.",
            )
        features = BoostedFeatures(self.encoder_)
        F = features(Xt)
        members, scales = [], []
        self.noise_variance_ = torch.zeros(Y.shape[1], dtype=torch.double)
        self.bootstrap_ = "rows"
        for k, target in enumerate(self.target_names_):
            rows = np.flatnonzero(~torch.isnan(Y[:, k]).numpy())
            y = Y[rows, k].numpy()
            g = None if groups is None else np.asarray(groups)[rows]
            draws = self._draws(len(rows), g, self.seed + 1009 * k)
            if g is not None and len(np.unique(g)) >= MIN_GROUPS:
                self.bootstrap_ = "groups"
            leaf = self.min_samples_leaf or int(np.clip(len(rows) // 20, 3, 20))
            fitted, oob_values = [], np.full((self.n_members, len(rows)), np.nan)
            with self._recording(f"{target} boosting"), threadpool_limits(1):
                for m, drawn in enumerate(draws):
                    reg = HistGradientBoostingRegressor(
                        learning_rate=self.learning_rate,
                        max_iter=self.max_iter,
                        max_leaf_nodes=self.max_leaf_nodes,
                        min_samples_leaf=leaf,
                        l2_regularization=self.l2_regularization,
                        categorical_features=features.categorical_mask,
                        early_stopping=False,
                        random_state=self.seed + 1009 * k + m,
                    )
                    reg.fit(F[rows][drawn], y[drawn])
                    fitted.append(reg)
                    out = np.setdiff1d(np.arange(len(rows)), drawn)
                    if len(out):
                        oob_values[m, out] = reg.predict(F[rows][out])
            members.append(fitted)
            scale, noise = self._calibration(oob_values, y)
            scales.append(scale)
            self.noise_variance_[k] = noise
        return BoostedEnsembleModel(members, features, torch.tensor(scales, dtype=torch.double))

    def _draws(self, n: int, groups: np.ndarray | None, seed: int) -> list[np.ndarray]:
        """``n_members`` bootstrap index draws: of whole groups if there are enough, else rows."""
        rng = np.random.default_rng(seed)
        if groups is not None and len(np.unique(groups)) >= MIN_GROUPS:
            labels, codes = np.unique(groups, return_inverse=True)
            by_group = [np.flatnonzero(codes == j) for j in range(len(labels))]
            out = []
            for _ in range(self.n_members):
                picked = rng.integers(0, len(labels), len(labels))
                out.append(np.concatenate([by_group[j] for j in picked]))
            return out
        return [rng.integers(0, n, n) for _ in range(self.n_members)]

    @staticmethod
    def _calibration(oob_values: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(scale, noise variance in target units)`` from out-of-bag member predictions."""
        ok = np.sum(~np.isnan(oob_values), axis=0) >= 1
        sd = float(np.std(y)) or 1.0
        v = oob_values[:, ok] / sd
        mean = np.nanmean(v, axis=0)
        # A row out of bag for a single member has no spread to learn from: 0 (noise only).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "degrees of freedom <= 0"
            spread = np.nan_to_num(np.nanvar(v, axis=0, ddof=1))
        scale, noise = calibrate_variance(y[ok] / sd - mean, spread)
        return scale, noise * sd**2

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        mean, var = member_stats(self.model_(Xt))
        if observation_noise:
            var = var + self.noise_variance_
        return mean, var
