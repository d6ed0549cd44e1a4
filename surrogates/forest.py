"""Random-forest baseline (scikit-learn) with calibrated uncertainty from its trees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel
from sklearn.ensemble import RandomForestRegressor
from torch import Tensor

from surrogates.base import Surrogate, calibrate_variance, calibrated_members, member_stats
from surrogates.preprocessing import TabularEncoder, one_hot


def _tree_predict(tree: Any, F: np.ndarray) -> np.ndarray:
    """One fitted tree on ``N x p`` float32 features -> ``N`` values (skips per-call checks)."""
    return tree.tree_.predict(F).reshape(len(F), -1)[:, 0]


class ForestFeatures:
    """Encoded inputs -> tree features: imputed numbers, one-hot categories, missing flags.

    A flag column is added for each input that had missing cells in the training rows: whether a
    paper reported La at all says something about that paper.
    """

    def __init__(self, encoder: TabularEncoder) -> None:
        self.encoder = encoder
        names = encoder.feature_names_
        self.flag_idx = [names.index(c) for c in encoder.missing_columns_]

    def __call__(self, Xt: Tensor) -> np.ndarray:
        """``N x d`` encoded inputs (NaN allowed) -> ``N x p`` float32 features."""
        enc = self.encoder
        flags = torch.isnan(Xt[:, self.flag_idx]).to(Xt)
        Xc = enc.impute(Xt)
        parts = [
            Xc[:, enc.continuous_indices_],
            one_hot(Xc[:, enc.categorical_indices_], enc.n_levels_),
            flags,
        ]
        return np.ascontiguousarray(torch.cat(parts, -1).detach().cpu().numpy(), dtype=np.float32)


class ForestEnsembleModel(EnsembleModel):
    """BoTorch view of the forests: each tree is an ensemble member.

    ``... x n x d`` encoded inputs -> ``... x T x n x t`` tree predictions in target units, their
    spread scaled by the out-of-bag calibration. Trees are piecewise constant, so **gradients
    with respect to the inputs are zero**: gradient-based acquisition optimizers do not move on
    this model; use it with discrete candidate sets (library mode) or as a baseline.
    """

    spread_scale: Tensor  # a buffer, registered in __init__

    def __init__(
        self, forests: Sequence[RandomForestRegressor], features: ForestFeatures, scale: Tensor
    ) -> None:
        super().__init__()
        self.forests = list(forests)
        self.feature_map = features
        self.register_buffer("spread_scale", scale)
        self._num_outputs = len(self.forests)

    def tree_values(self, X: Tensor) -> Tensor:
        """Uncalibrated ``... x T x n x t`` tree predictions (no gradient)."""
        batch, (n, d) = X.shape[:-2], X.shape[-2:]
        F = self.feature_map(X.detach().reshape(-1, d))
        cols = [
            np.stack([_tree_predict(tree, F) for tree in forest.estimators_])
            for forest in self.forests
        ]
        values = torch.as_tensor(np.stack(cols, -1), dtype=X.dtype, device=X.device)
        values = values.reshape(values.shape[0], *batch, n, len(cols))
        return values.movedim(0, -3)

    def forward(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> calibrated ``... x T x n x t`` values."""
        return calibrated_members(self.tree_values(X), self.spread_scale, X)


class ForestSurrogate(Surrogate):
    """scikit-learn random forest per target; uncertainty from the spread of its trees.

    The spread of tree predictions is calibrated on out-of-bag rows, by maximum likelihood, as
    ``var = scale * spread^2 + noise`` per target (rows, not groups: scikit-learn bootstraps
    rows, so ``groups`` passed to ``fit`` is ignored here). ``predict`` includes ``noise`` by
    default.
    ``to_botorch()`` returns a :class:`ForestEnsembleModel` whose members are the trees; its
    gradients are zero (trees are piecewise constant).

    Args:
        categorical: names of categorical inputs (one-hot encoded for the trees).
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: ``"auto"``, a list of names, or ``None`` (affects imputation only: trees do
            not care about monotone rescaling).
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        n_estimators: trees per target.
        min_samples_leaf: smallest leaf.
        max_features: features tried per split (scikit-learn meaning).
        n_jobs: parallel jobs for tree building (scikit-learn meaning).
        seed: seeds bootstrap draws and split choices.
    """

    name: ClassVar[str] = "rf"

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        n_estimators: int = 200,
        min_samples_leaf: int = 1,
        max_features: float | str | None = 1.0,
        n_jobs: int | None = None,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.seed = seed

    def _fit_encoded(
        self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None
    ) -> ForestEnsembleModel:
        # scikit-learn bootstraps rows, not groups: ``groups`` is not used by the forest.
        features = ForestFeatures(self.encoder_)
        F = features(Xt)
        forests, scales = [], []
        self.noise_variance_ = torch.zeros(Y.shape[1], dtype=torch.double)
        for k, target in enumerate(self.target_names_):
            rows = np.flatnonzero(~torch.isnan(Y[:, k]).numpy())
            y = Y[rows, k].numpy()
            forest = RandomForestRegressor(
                n_estimators=self.n_estimators,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                n_jobs=self.n_jobs,
                random_state=self.seed + k,
            )
            with self._recording(f"{target} forest"):
                forest.fit(F[rows], y)
            forests.append(forest)
            # Out-of-bag calibration of the tree spread, in standardized units.
            Fk = F[rows]
            values = np.stack([_tree_predict(t, Fk) for t in forest.estimators_])
            oob = np.ones_like(values, dtype=bool)
            for i, drawn in enumerate(forest.estimators_samples_):
                oob[i, drawn] = False
            ok = oob.sum(0) >= 2
            sd = float(np.std(y)) or 1.0
            v = np.where(oob[:, ok], values[:, ok], np.nan) / sd
            mean = np.nanmean(v, axis=0)
            spread = np.nanvar(v, axis=0, ddof=1)
            scale, noise = calibrate_variance(y[ok] / sd - mean, spread)
            scales.append(scale)
            self.noise_variance_[k] = noise * sd**2
        return ForestEnsembleModel(forests, features, torch.tensor(scales, dtype=torch.double))

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        mean, var = member_stats(self.model_(Xt))
        if observation_noise:
            var = var + self.noise_variance_
        return mean, var
