"""Deep-ensemble surrogate: bootstrapped PyTorch MLPs exposed as a BoTorch ``EnsembleModel``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.input import ChainedInputTransform, InputStandardize, Log10
from torch import Tensor, nn

from surrogates.base import Surrogate, calibrate_variance, member_stats
from surrogates.errors import InputDataError
from surrogates.preprocessing import CompleteInputs, TabularEncoder, one_hot


class MemberMLPs(nn.Module):
    """``s`` independent MLPs evaluated in one batched pass.

    Weights have a leading member axis, so every member trains on its own bootstrap batch in the
    same matrix product; members never share parameters or gradients.

    Args:
        n_members: ensemble size ``s``.
        sizes: layer widths ``[p, h1, ..., t]``.
        seeds: one seed per member for its initial weights.
    """

    def __init__(self, n_members: int, sizes: Sequence[int], seeds: Sequence[int]) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            w = torch.empty(n_members, fan_in, fan_out, dtype=torch.double)
            b = torch.empty(n_members, 1, fan_out, dtype=torch.double)
            bound = 1.0 / math.sqrt(fan_in)
            for m, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed) * 7919 + fan_in * 31 + fan_out)
                w[m].uniform_(-bound, bound, generator=gen)
                b[m].uniform_(-bound, bound, generator=gen)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def per_member(self, H: Tensor) -> Tensor:
        """``... x s x n x p`` (one input set per member) -> ``... x s x n x t``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            H = H @ w + b
            if i < last:
                H = nn.functional.silu(H)
        return H

    def forward(self, F: Tensor) -> Tensor:
        """Shared inputs ``... x n x p`` -> member outputs ``... x s x n x t``."""
        return self.per_member(F.unsqueeze(-3))


class DeepEnsembleModel(EnsembleModel):
    """BoTorch view of the fitted ensemble: ``... x n x d`` encoded inputs -> ``... x s x n x t``.

    Member outputs are returned in target units with their spread around the ensemble mean
    scaled by the out-of-bag calibration, so the ``EnsemblePosterior`` variance is the calibrated
    uncertainty of the mean (measurement noise is not part of it, as for a GP's latent function).
    Differentiable in the inputs, so gradient-based acquisition optimization works.
    """

    # Buffers (registered in __init__), declared for type checkers.
    y_mean: Tensor
    y_std: Tensor
    spread_scale: Tensor

    def __init__(
        self,
        *,
        encoder: TabularEncoder,
        input_transform: ChainedInputTransform,
        members: MemberMLPs,
        y_mean: Tensor,
        y_std: Tensor,
        spread_scale: Tensor,
    ) -> None:
        super().__init__()
        # Not named ``input_transform``: BoTorch would then look for ``train_inputs`` this model
        # does not keep; the transform is applied in ``forward`` instead.
        self.encoded_transform = input_transform
        self.members = members
        self.cont_idx = list(encoder.continuous_indices_)
        self.cat_idx = list(encoder.categorical_indices_)
        self.n_levels = list(encoder.n_levels_)
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        self.register_buffer("spread_scale", spread_scale)
        self._num_outputs = int(y_mean.numel())

    def features(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> ``... x n x p`` network features."""
        X = self.encoded_transform(X)
        return torch.cat([X[..., self.cont_idx], one_hot(X[..., self.cat_idx], self.n_levels)], -1)

    def forward_standardized(self, X: Tensor) -> Tensor:
        """Raw member outputs ``... x s x n x t`` in standardized target units."""
        return self.members(self.features(X))

    def forward(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> calibrated ``... x s x n x t`` member values."""
        values = self.forward_standardized(X)
        center = values.mean(dim=-3, keepdim=True)
        values = center + self.spread_scale.sqrt() * (values - center)
        return values * self.y_std + self.y_mean


class EnsembleSurrogate(Surrogate):
    """Deep ensemble of MLPs, each trained on its own bootstrap resample from its own seed.

    One network per member predicts all targets (a row missing one target still trains the
    others: the loss is masked). With ``groups`` passed to ``fit``, members resample whole groups
    (papers, plates), so the out-of-bag calibration reflects a new group. Training uses AdamW on
    minibatches; every member stops early on its own out-of-bag rows. Uncertainty: the members'
    spread, calibrated on out-of-bag rows by maximum likelihood as
    ``var = scale * spread^2 + noise`` per target (``scale >= 1``), so that intervals are honest
    rather than the raw (usually over-confident) spread. ``predict`` includes ``noise``
    by default; the BoTorch model (:class:`DeepEnsembleModel`, a BoTorch ``EnsembleModel`` whose
    ``EnsemblePosterior`` every MC acquisition function accepts) carries ``scale * spread^2``.

    Args:
        categorical: names of categorical inputs (one-hot encoded for the networks).
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: ``"auto"``, a list of names, or ``None`` (see :class:`GPSurrogate`).
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        n_members: ensemble size (at least 5 for a usable spread).
        hidden: widths of the hidden layers.
        max_steps: most optimizer steps per member.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: rows per minibatch (capped at the number of rows).
        seed: seeds bootstrap draws, initial weights and minibatches.
    """

    name: ClassVar[str] = "ensemble"
    model_: DeepEnsembleModel

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        n_members: int = 8,
        hidden: Sequence[int] = (64, 64),
        max_steps: int = 1500,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-3,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.n_members = n_members
        self.hidden = hidden
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.seed = seed

    def _fit_encoded(
        self, Xt: Tensor, Y: Tensor, groups: np.ndarray | None
    ) -> DeepEnsembleModel:
        if self.n_members < 2:
            raise InputDataError(
                f"n_members={self.n_members} gives no spread.", hint="Use n_members >= 5."
            )
        enc: TabularEncoder = self.encoder_
        d = Xt.shape[-1]
        parts: dict[str, Any] = {"complete": CompleteInputs(enc)}
        if enc.log_indices_:
            parts["log"] = Log10(indices=list(enc.log_indices_))
        if enc.continuous_indices_:
            parts["standardize"] = InputStandardize(d=d, indices=list(enc.continuous_indices_))
        transform = ChainedInputTransform(**parts)
        transform.train()
        transform(Xt)  # learns the standardization on the training rows
        transform.eval()

        keep = ~torch.isnan(Y).all(dim=-1)
        Xt, Y = Xt[keep], Y[keep]
        if groups is not None:
            groups = groups[keep.numpy()]
        observed = ~torch.isnan(Y)
        y_mean = torch.stack([Y[observed[:, k], k].mean() for k in range(Y.shape[1])])
        y_std = torch.stack([Y[observed[:, k], k].std() for k in range(Y.shape[1])])
        y_std = torch.where(y_std > 0, y_std, torch.ones_like(y_std))
        Ys = torch.nan_to_num((Y - y_mean) / y_std)
        w = observed.to(Ys)

        seeds = [self.seed * 1000 + m for m in range(self.n_members)]
        n_in = len(enc.continuous_indices_) + sum(enc.n_levels_)
        members = MemberMLPs(self.n_members, [n_in, *self.hidden, Y.shape[1]], seeds)
        model = DeepEnsembleModel(
            encoder=enc,
            input_transform=transform,
            members=members,
            y_mean=y_mean,
            y_std=y_std,
            spread_scale=torch.ones_like(y_mean),
        )
        F = model.features(Xt).detach()
        oob = self._train(members, F, Ys, w, self._bootstrap(len(F), groups))

        with torch.no_grad():
            values = members(F)  # s x n x t, standardized
        scale = torch.ones_like(y_mean)
        noise = torch.zeros_like(y_mean)
        for k, target in enumerate(self.target_names_):
            a, s2 = self._calibrate(values[..., k], Ys[:, k], oob & observed[:, k], target)
            scale[k], noise[k] = a, s2 * y_std[k] ** 2
        model.spread_scale = scale
        self.noise_variance_ = noise
        return model.eval()

    def _bootstrap(self, n: int, groups: np.ndarray | None) -> Tensor:
        """``s x n`` row indices, one bootstrap resample per member.

        With groups, whole groups are drawn with replacement, so a member's out-of-bag rows are
        whole unseen groups and the calibration measures error on a new paper or plate.
        """
        rng = np.random.default_rng(self.seed)
        if groups is None or len(np.unique(groups)) < 3:
            return torch.as_tensor(rng.integers(0, n, (self.n_members, n)))
        members_of = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        rows = []
        for _ in range(self.n_members):
            drawn = rng.integers(0, len(members_of), len(members_of))
            pool = np.concatenate([members_of[g] for g in drawn])
            rows.append(rng.choice(pool, n, replace=True))
        return torch.as_tensor(np.stack(rows))

    def _train(
        self, members: MemberMLPs, F: Tensor, Ys: Tensor, w: Tensor, boot: Tensor
    ) -> Tensor:
        """Train every member on its bootstrap rows; return the ``s x n`` out-of-bag mask."""
        s, n = self.n_members, F.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        oob = torch.ones(s, n, dtype=torch.bool)
        oob.scatter_(1, boot, False)
        batch = min(self.batch_size, n)
        opt = torch.optim.AdamW(
            members.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best = [p.detach().clone() for p in members.parameters()]
        best_loss = torch.full((s,), math.inf, dtype=torch.double)
        stale = torch.zeros(s, dtype=torch.long)
        check_every, patience = 25, 12
        has_oob = (oob.to(w) @ w).sum(-1) > 0  # members with any out-of-bag target

        for step in range(1, self.max_steps + 1):
            idx = boot.gather(1, torch.randint(0, n, (s, batch), generator=gen))
            pred = members.per_member(F[idx])
            wb = w[idx]
            loss = (((pred - Ys[idx]) ** 2) * wb).sum((-1, -2)) / wb.sum((-1, -2)).clamp_min(1)
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            if step % check_every and step != self.max_steps:
                continue
            with torch.no_grad():
                err = ((members(F) - Ys) ** 2 * w).sum(-1)  # s x n
                wo = oob.to(w) * w.sum(-1)
                val = (err * oob).sum(-1) / wo.sum(-1).clamp_min(1)
                val = torch.where(has_oob, val, loss.detach())
                better = val < best_loss
                best_loss = torch.where(better, val, best_loss)
                stale = torch.where(better, 0, stale + 1)
                for p, b in zip(members.parameters(), best, strict=True):
                    b[better] = p.detach()[better]
            if bool((stale >= patience).all()):
                break
        self.n_steps_ = step
        with torch.no_grad():
            for p, b in zip(members.parameters(), best, strict=True):
                p.copy_(b)
        return oob

    def _calibrate(
        self, values: Tensor, y: Tensor, oob: Tensor, target: str
    ) -> tuple[float, float]:
        """Out-of-bag ``(scale, noise)`` for one target from ``s x n`` member values."""
        counts = oob.sum(0)
        rows = counts >= 2
        if int(rows.sum()) < 5:
            self.fit_warnings_.append(
                f"{target}: too few out-of-bag rows to calibrate the ensemble; "
                "its spread is used as it is plus the out-of-bag noise estimate."
            )
        v = values[:, rows]
        m = oob[:, rows].to(v)
        mean = (v * m).sum(0) / m.sum(0)
        var = ((v - mean) ** 2 * m).sum(0) / (m.sum(0) - 1)
        return calibrate_variance((y[rows] - mean).numpy(), var.numpy())

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        post = self.model_.posterior(Xt)
        mean, var = member_stats(post.values)
        if observation_noise:
            var = var + self.noise_variance_
        return mean, var
