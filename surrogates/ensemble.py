"""Deep-ensemble surrogate: PyTorch MLPs (each leaving a fold out, optional Gaussian heads) as a
BoTorch ``EnsembleModel``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.input import ChainedInputTransform, InputStandardize, Log10
from scipy.optimize import minimize
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

    Member outputs are the members' predicted means in target units, their spread around the
    ensemble mean scaled by the out-of-bag calibration, so the ``EnsemblePosterior`` variance is
    the calibrated uncertainty of the mean (measurement noise is not part of it, as for a GP's
    latent function). Differentiable in the inputs, so gradient-based acquisition optimization
    works. With Gaussian heads each member also predicts a noise variance
    (:meth:`noise_variance`), which ``predict`` adds for the predictive interval.
    """

    # Buffers (registered in __init__), declared for type checkers.
    y_mean: Tensor
    y_std: Tensor
    spread_scale: Tensor
    noise_scale: Tensor

    def __init__(
        self,
        *,
        encoder: TabularEncoder,
        input_transform: ChainedInputTransform,
        members: MemberMLPs,
        y_mean: Tensor,
        y_std: Tensor,
        spread_scale: Tensor,
        gaussian_heads: bool = False,
    ) -> None:
        super().__init__()
        # Not named ``input_transform``: BoTorch would then look for ``train_inputs`` this model
        # does not keep; the transform is applied in ``forward`` instead.
        self.encoded_transform = input_transform
        self.members = members
        self.cont_idx = list(encoder.continuous_indices_)
        self.cat_idx = list(encoder.categorical_indices_)
        self.n_levels = list(encoder.n_levels_)
        self.gaussian_heads = gaussian_heads
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        self.register_buffer("spread_scale", spread_scale)
        self.register_buffer("noise_scale", torch.ones_like(y_mean))
        self._num_outputs = int(y_mean.numel())

    def features(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> ``... x n x p`` network features."""
        X = self.encoded_transform(X)
        return torch.cat([X[..., self.cont_idx], one_hot(X[..., self.cat_idx], self.n_levels)], -1)

    def forward_standardized(self, X: Tensor) -> Tensor:
        """Members' means ``... x s x n x t`` in standardized target units."""
        return self.members(self.features(X))[..., : self._num_outputs]

    def forward(self, X: Tensor) -> Tensor:
        """Encoded ``... x n x d`` inputs -> calibrated ``... x s x n x t`` member values."""
        values = self.forward_standardized(X)
        center = values.mean(dim=-3, keepdim=True)
        values = center + self.spread_scale.sqrt() * (values - center)
        return values * self.y_std + self.y_mean

    def noise_variance(self, X: Tensor) -> Tensor:
        """Calibrated measurement-noise variance ``... x n x t`` in target units squared: the
        members' mean Gaussian-head variance (zeros without Gaussian heads)."""
        out = self.members(self.features(X))
        t = self._num_outputs
        if not self.gaussian_heads:
            return out.new_zeros(*out.shape[:-3], *out.shape[-2:-1], t)
        var = head_variance(out[..., t:]).mean(dim=-3)
        return self.noise_scale * var * self.y_std**2


#: Smallest noise variance a Gaussian head can predict (standardized units).
MIN_HEAD_VARIANCE = 1e-4


def head_variance(raw: Tensor) -> Tensor:
    """A Gaussian head's raw output -> variance (standardized units), smooth and positive."""
    return nn.functional.softplus(raw) + MIN_HEAD_VARIANCE


class EnsembleSurrogate(Surrogate):
    """Deep ensemble of MLPs, each trained from its own seed on its own part of the rows.

    One network per member predicts all targets (a row missing one target still trains the
    others: the loss is masked). Each member leaves out one of ``n_members // 2`` folds
    (``resample="folds"``, the default) or learns from a bootstrap resample
    (``resample="bootstrap"``); with ``groups`` passed to ``fit``, whole groups (papers, plates)
    are left out, so the out-of-bag rows are unseen groups. Inputs: missing cells imputed, log
    scale on heavy-tailed positive columns, standardized; categories one-hot.

    Training: AdamW on the member's rows (full batch up to ``batch_size`` rows, minibatches
    above); every member stops early on its own out-of-bag rows. ``loss="mse"`` (default) trains
    the means by squared error; ``loss="nll"`` gives each member a Gaussian head, a mean and a
    noise variance per target (a deep ensemble after Lakshminarayanan et al., 2017), trained by
    the beta-weighted Gaussian negative log-likelihood (Seitzer et al., 2022), for noise that
    varies across the space. Why each default is what it is (Gaussian heads cost held-out R² on
    the hard-carbon tables): ``benchmarks/results/ensemble_tuning.md``.

    Uncertainty: on out-of-bag rows, ``var = scale * spread^2 + noise`` is fitted by maximum
    likelihood per target (``scale >= 1``), where ``spread`` is the members' disagreement and
    ``noise`` is the heads' mean variance times a factor (a constant without heads). ``predict``
    includes the noise by default; the BoTorch model (:class:`DeepEnsembleModel`, a BoTorch
    ``EnsembleModel`` whose ``EnsemblePosterior`` every MC acquisition function accepts) carries
    ``scale * spread^2``.

    Args:
        categorical: names of categorical inputs (one-hot encoded for the networks).
        categories: optional levels per categorical column; their order gives the codes.
        log_columns: ``"auto"``, a list of names, or ``None`` (see :class:`GPSurrogate`).
        impute: ``"iterative"`` or ``"median"`` imputation of missing inputs.
        n_members: ensemble size (at least 5 for a usable spread).
        hidden: widths of the hidden layers.
        loss: ``"nll"`` (Gaussian heads) or ``"mse"`` (means only).
        beta: exponent of the beta-NLL weight (0: plain NLL; 1: the means train as under
            squared error).
        resample: ``"bootstrap"`` (each member a bootstrap resample) or ``"folds"`` (each
            member leaves one of ``n_members // 2`` folds out); groups are kept whole.
        max_steps: most optimizer steps per member.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: rows per minibatch; a member with fewer bootstrap rows trains full-batch.
        seed: seeds bootstrap draws, initial weights and minibatches.

    Example:
        >>> from surrogates.datasets import make_smooth_table
        >>> df = make_smooth_table(40, seed=0)
        >>> model = EnsembleSurrogate(n_members=4, max_steps=100).fit(df[["x1", "x2"]], df["y"])
        >>> mean, std = model.predict(df[["x1", "x2"]].head(2))
        >>> mean.shape, bool((std > 0).all())
        ((2, 1), True)
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
        loss: str = "mse",
        beta: float = 0.5,
        resample: str = "folds",
        max_steps: int = 1500,
        learning_rate: float = 1e-2,
        weight_decay: float = 1e-3,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.categories = categories
        self.log_columns = log_columns
        self.impute = impute
        self.n_members = n_members
        self.hidden = hidden
        self.loss = loss
        self.beta = beta
        self.resample = resample
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
        if self.resample not in ("bootstrap", "folds"):
            raise InputDataError(
                f"resample={self.resample!r} is not a resampling of the ensemble.",
                hint='Use resample="bootstrap" or resample="folds".',
            )
        if self.loss not in ("nll", "mse"):
            raise InputDataError(
                f"loss={self.loss!r} is not a training loss of the ensemble.",
                hint='Use loss="nll" (Gaussian heads) or loss="mse".',
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

        heads = self.loss == "nll"
        t = Y.shape[1]
        seeds = [self.seed * 1000 + m for m in range(self.n_members)]
        n_in = len(enc.continuous_indices_) + sum(enc.n_levels_)
        members = MemberMLPs(self.n_members, [n_in, *self.hidden, 2 * t if heads else t], seeds)
        model = DeepEnsembleModel(
            encoder=enc,
            input_transform=transform,
            members=members,
            y_mean=y_mean,
            y_std=y_std,
            spread_scale=torch.ones_like(y_mean),
            gaussian_heads=heads,
        )
        F = model.features(Xt).detach()
        boot = (self._bootstrap(len(F), groups) if self.resample == "bootstrap"
                else self._folds(len(F), groups))
        oob = self._train(members, F, Ys, w, boot, t)

        with torch.no_grad():
            out = members(F)  # s x n x (2)t, standardized
        values = out[..., :t]
        head_var = head_variance(out[..., t:]) if heads else None
        scale = torch.ones_like(y_mean)
        noise = torch.zeros_like(y_mean)
        for k, target in enumerate(self.target_names_):
            a, b = self._calibrate(
                values[..., k], None if head_var is None else head_var[..., k], Ys[:, k],
                oob & observed[:, k], target,
            )
            scale[k] = a
            noise[k] = b if heads else b * y_std[k] ** 2
        model.spread_scale = scale
        if heads:
            model.noise_scale = noise
        self.noise_variance_ = torch.zeros_like(y_mean) if heads else noise
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

    def _folds(self, n: int, groups: np.ndarray | None) -> Tensor:
        """``s x n`` in-bag weights (0 or 1): member ``m`` leaves out fold ``m mod K`` of
        ``K = max(2, s // 2)`` folds (of whole groups, with groups), so every row is out of bag
        for about two members and each member learns from ``1 - 1/K`` of the rows."""
        rng = np.random.default_rng(self.seed)
        k = max(2, self.n_members // 2)
        if groups is None or len(np.unique(groups)) < k:
            fold = rng.permutation(n) % k
        else:
            codes = np.unique(groups, return_inverse=True)[1]
            fold = (rng.permutation(codes.max() + 1) % k)[codes]
        members = np.arange(self.n_members)[:, None] % k
        return torch.as_tensor((fold[None, :] != members).astype(float))

    def _loss(self, out: Tensor, y: Tensor, w: Tensor, t: int, *, beta: float) -> Tensor:
        """Per-member masked loss of outputs ``s x b x (2)t`` against targets ``s x b x t``.

        ``beta``: with Gaussian heads, each row's NLL is weighted by its (detached) predicted
        variance to this power (0: plain NLL; 0.5: beta-NLL).
        """
        mu = out[..., :t]
        if self.loss == "nll":
            var = head_variance(out[..., t:])
            term = 0.5 * (torch.log(var) + (y - mu) ** 2 / var)
            if beta:
                term = term * var.detach() ** beta
        else:
            term = (mu - y) ** 2
        return (term * w).sum((-1, -2)) / w.sum((-1, -2)).clamp_min(1)

    def _train(
        self, members: MemberMLPs, F: Tensor, Ys: Tensor, w: Tensor, boot: Tensor, t: int
    ) -> Tensor:
        """Train every member on its rows; return the ``s x n`` out-of-bag mask.

        ``boot``: ``s x n`` bootstrap row indices (integers) or in-bag weights (floats).
        """
        s, n = self.n_members, F.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        if boot.is_floating_point():
            bag = boot.to(w)
        else:
            bag = torch.zeros(s, n, dtype=w.dtype).scatter_add_(
                1, boot, torch.ones(boot.shape, dtype=w.dtype))
        oob = bag == 0
        full = n <= self.batch_size
        opt = torch.optim.AdamW(
            members.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best = [p.detach().clone() for p in members.parameters()]
        best_loss = torch.full((s,), math.inf, dtype=torch.double)
        stale = torch.zeros(s, dtype=torch.long)
        check_every, patience = 25, 12
        ow = oob.unsqueeze(-1).to(w) * w  # s x n x t out-of-bag weights
        has_oob = ow.sum((-1, -2)) > 0  # members with any out-of-bag target
        wb = bag.unsqueeze(-1) * w  # s x n x t in-bag weights (bootstrap counts)

        for step in range(1, self.max_steps + 1):
            if full:
                loss = self._loss(members(F), Ys, wb, t, beta=self.beta)
            else:
                if boot.is_floating_point():
                    rows = torch.multinomial(bag, self.batch_size, replacement=True,
                                             generator=gen)
                else:
                    idx = torch.randint(0, n, (s, self.batch_size), generator=gen)
                    rows = boot.gather(1, idx)
                loss = self._loss(members.per_member(F[rows]), Ys[rows], w[rows], t,
                                  beta=self.beta)
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            if step % check_every and step != self.max_steps:
                continue
            with torch.no_grad():
                val = self._loss(members(F), Ys.expand(s, -1, -1), ow, t, beta=0.0)
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
        self, values: Tensor, head_var: Tensor | None, y: Tensor, oob: Tensor, target: str
    ) -> tuple[float, float]:
        """Out-of-bag ``(scale, noise)`` for one target from ``s x n`` member values.

        Without heads ``noise`` is a variance (standardized units); with heads it is the factor
        on the heads' mean variance.
        """
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
        residual = (y[rows] - mean).numpy()
        if head_var is None:
            return calibrate_variance(residual, var.numpy())
        noise = ((head_var[:, rows] * m).sum(0) / m.sum(0)).numpy()
        return calibrate_with_noise(residual, var.numpy(), noise)

    def _predict_encoded(self, Xt: Tensor, *, observation_noise: bool) -> tuple[Tensor, Tensor]:
        post = self.model_.posterior(Xt)
        mean, var = member_stats(post.values)
        if observation_noise:
            var = var + self.noise_variance_
            if self.model_.gaussian_heads:
                var = var + self.model_.noise_variance(Xt)
        return mean, var


def calibrate_with_noise(
    residual: np.ndarray, spread_var: np.ndarray, noise_var: np.ndarray
) -> tuple[float, float]:
    """Fit ``var = scale * spread_var + factor * noise_var`` to held-out residuals.

    Gaussian maximum likelihood, ``scale >= 1`` (as in :func:`surrogates.base.calibrate_variance`)
    and ``factor`` in ``[0.05, 20]``.

    Returns:
        ``(scale, factor)``.
    """
    r2 = np.asarray(residual, dtype=float) ** 2
    v = np.asarray(spread_var, dtype=float)
    h = np.asarray(noise_var, dtype=float)
    if len(r2) < 5:
        return 1.0, 1.0

    def nll(theta: np.ndarray) -> float:
        var = np.exp(theta[0]) * v + np.exp(theta[1]) * h + 1e-9
        return float(np.mean(np.log(var) + r2 / var))

    res = minimize(nll, np.zeros(2), method="L-BFGS-B", bounds=[(0.0, 6.0), (-3.0, 3.0)])
    scale, factor = np.exp(res.x)
    return float(scale), float(factor)
