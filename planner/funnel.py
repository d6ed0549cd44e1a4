"""The screening funnel: from millions of library rows to a plate, in bounded memory.

Stage 2 of a proposal, the full acquisition (qLogNEI / qLogNEHVI with outcome constraints,
pending wells and lazy greedy selection, :func:`planner.pool.select_from_pool`), costs a joint
posterior over the baseline and the pending wells per candidate: about a millisecond a row.
That is fine for a few thousand candidates and far too slow for ten million. So a big pool is
screened first:

**Stage 1** scores every row, chunk by chunk (``batch_rows`` rows at a time, never the whole
table in memory), with a cheap screen taken from the *same fitted surrogate*: its posterior
mean and standard deviation (``Surrogate.predict``, one pass; any surrogate). Each of
``paths`` screening columns ranks the rows by a random Chebyshev scalarization of the
objectives (normalized over the measured rows), with outcome constraints entering as the
probability of feasibility:

* *optimistic* columns: ``cheb_w(mean + beta * std) + log P(feasible)``, ``beta`` in 0, 1, 2
  (exploitation to exploration);
* *Thompson* columns: one marginal posterior draw per row and column, ``cheb_w(draw)``, with
  rows whose drawn outcome breaks a constraint ranked last.

The weights ``w`` spread over the simplex (evenly for two objectives), so the columns reach
along the whole Pareto front. The **shortlist** (default ``max(20 q, 2000)`` rows) takes the
columns' best rows in turn, round-robin: each column gets the same quota, which is the
diversity rule: one corner of the front or one cluster of near-identical candidates cannot fill
it.

**Stage 2** is today's acquisition over the shortlist only. The funnel's plate keeps at least
98 % of the acquisition value of the exhaustive greedy plate at 100,000 rows
(``benchmarks/scale.py``; figures in ``benchmarks/results/scale.md``).

Chunks are independent tasks: the :mod:`planner.engine` in use runs them here or on Dask.
The pool is a DataFrame or a columnar library table (anything with ``n_rows``,
``iter_batches(columns, batch_rows)`` and ``take(positions)``, e.g. the Parquet store of
``campaigns.library_store``), wrapped by :func:`as_source`.

Example::

    result = screen_pool(as_source(library), screen, shortlist=2000, exclude=measured_rows)
    result.positions          # 2000 library row positions, ascending
    result.info()             # rows screened, seconds and peak memory of stage 1
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import log_ndtr
from torch import Tensor

from planner.engine import Engine, current_engine
from planner.errors import PlanningError
from planner.pool import pool_bounds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreeningSettings:
    """When and how a pool is screened before the full acquisition (``planning.screening``)."""

    min_rows: int = 10_000
    """Pools with more selectable rows than this go through the funnel; smaller ones are scored
    exhaustively by the full acquisition."""
    shortlist: int | None = None
    """Rows kept for stage 2; ``None``: ``max(per_well * q, floor)``."""
    per_well: int = 20
    """Shortlist rows per well of the plate (when ``shortlist`` is ``None``)."""
    floor: int = 2000
    """Smallest default shortlist."""
    batch_rows: int = 50_000
    """Rows scored per stage-1 task (memory: about ``batch_rows x training rows`` kernel entries
    per target)."""
    paths: int = 16
    """Screening columns (half optimistic, half Thompson draws), each with its own weights."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("min_rows", "per_well", "floor", "batch_rows", "paths"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.shortlist is not None and self.shortlist < 1:
            problems.append(f"shortlist must be at least 1, got {self.shortlist}")
        if self.paths < 2:
            problems.append(f"paths must be at least 2, got {self.paths}")
        if problems:
            raise PlanningError("invalid screening settings: " + "; ".join(problems) + ".",
                                hint="Use the defaults (planning.screening left out).")

    @classmethod
    def from_planning(cls, planning: object) -> ScreeningSettings:
        """The settings of a campaign spec's ``planning.screening`` block (defaults if none)."""
        block = getattr(planning, "screening", None)
        if block is None:
            return cls()
        names = ("min_rows", "shortlist", "per_well", "floor", "batch_rows", "paths")
        return cls(**{n: getattr(block, n) for n in names if hasattr(block, n)})

    def size(self, q: int) -> int:
        """Shortlist rows for a plate of ``q`` wells."""
        return int(self.shortlist) if self.shortlist else max(self.per_well * q, self.floor)

    def applies(self, selectable: int, q: int) -> bool:
        """Whether a pool with ``selectable`` rows is screened for a ``q``-well plate."""
        return selectable > self.min_rows and selectable > self.size(q)


# ---------------------------------------------------------------------------- pool sources
class PoolSource:
    """A candidate pool read in chunks: a DataFrame, or a columnar library table."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.is_frame = isinstance(pool, pd.DataFrame)
        if self.is_frame:
            self._frame = pool.reset_index(drop=True)
        elif not (hasattr(pool, "iter_batches") and hasattr(pool, "take")):
            raise PlanningError(
                f"a pool must be a DataFrame or a library table, not {type(pool).__name__}.",
                hint="Pass the candidate table, or a campaigns.library_store table.")

    @property
    def n_rows(self) -> int:
        """Rows in the pool."""
        return len(self._frame) if self.is_frame else int(self._pool.n_rows)

    @property
    def frame(self) -> pd.DataFrame:
        """The whole pool (DataFrame pools only)."""
        if not self.is_frame:
            raise PlanningError("this library is a columnar table; it is never read whole.")
        return self._frame

    def iter_batches(self, columns: Sequence[str], batch_rows: int
                     ) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(offset, frame)`` chunks in row order; ``frame`` holds ``columns``, index 0..n-1."""
        if self.is_frame:
            for start in range(0, len(self._frame), batch_rows):
                yield start, self._frame.iloc[start:start + batch_rows][list(columns)]
            return
        offset = 0
        for item in self._pool.iter_batches(list(columns), batch_rows):
            if isinstance(item, tuple):
                start, frame = int(item[0]), item[1]
            elif "row_offset" in item.attrs:
                start, frame = int(item.attrs["row_offset"]), item
            else:  # a frame whose index holds the global row positions
                frame = item
                start = int(frame.index[0]) if _int_index(frame, offset) else offset
            offset = start + len(frame)
            yield start, frame.reset_index(drop=True)

    def take(self, positions: np.ndarray, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows at ``positions`` (in that order), index 0..k-1."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.is_frame:
            out = self._frame.iloc[positions]
        elif columns is not None:
            out = self._pool.take(positions, list(columns))
        else:
            out = self._pool.take(positions)
        if columns is not None:
            out = out[list(columns)]
        return out.reset_index(drop=True)

    def bounds(self, columns: Sequence[str], categorical: Sequence[str] = ()
               ) -> dict[str, tuple[float, float]]:
        """``{column: (min, max)}`` of the numeric ``columns``."""
        if self.is_frame:
            return pool_bounds(self._frame[list(columns)], categorical=categorical)
        table_bounds = getattr(self._pool, "bounds", None)
        if callable(table_bounds):
            found = table_bounds()
            return {str(k): (float(v[0]), float(v[1])) for k, v in dict(found).items()
                    if k in columns and k not in categorical and v is not None
                    and all(math.isfinite(float(b)) for b in v)}
        lo: dict[str, float] = {}
        hi: dict[str, float] = {}
        numeric = [c for c in columns if c not in categorical]
        for _, frame in self.iter_batches(numeric, 500_000):
            for name, (a, b) in pool_bounds(frame).items():
                lo[name], hi[name] = min(lo.get(name, a), a), max(hi.get(name, b), b)
        return {k: (lo[k], hi[k]) for k in lo}

    def levels(self, column: str) -> list[str]:
        """Distinct non-missing values of a categorical column, as sorted strings."""
        if self.is_frame:
            values = self._frame[column].dropna().unique()
        elif callable(getattr(self._pool, "categories", None)) and column in (
                known := dict(self._pool.categories())):
            values = np.array(list(known[column]), dtype=object)
        else:
            found: set[Any] = set()
            for _, frame in self.iter_batches([column], 500_000):
                found.update(frame[column].dropna().unique())
            values = np.array(list(found), dtype=object)
        return sorted({str(v) for v in values})


def _int_index(frame: pd.DataFrame, offset: int) -> bool:
    """Whether ``frame``'s index holds global row positions (not a fresh 0..n-1)."""
    index = frame.index
    if not len(frame) or not pd.api.types.is_integer_dtype(index.dtype):
        return False
    return not (isinstance(index, pd.RangeIndex) and index.start == 0 and offset > 0)


def as_source(pool: Any) -> PoolSource:
    """Wrap a DataFrame or a library table (see :class:`PoolSource`); a source is returned as is."""
    return pool if isinstance(pool, PoolSource) else PoolSource(pool)


def positions_of(mask_or_positions: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Sorted unique row positions from ``n_rows`` booleans or from positions."""
    if mask_or_positions is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(mask_or_positions)
    if arr.dtype == bool:
        if arr.shape != (n_rows,):
            raise PlanningError(f"a row mask has {arr.size} values; the pool has {n_rows} rows.",
                                hint="Pass one boolean per pool row, or row positions.")
        return np.flatnonzero(arr).astype(np.int64)
    return np.unique(arr.astype(np.int64))


# ---------------------------------------------------------------------------- the screen
@dataclass(frozen=True)
class Screen:
    """The stage-1 scoring rule of one proposal: picklable, sent once to every worker.

    All outcomes are on the model's scale (the scale the surrogate was fitted on).
    """

    model: Any
    """The fitted surrogate (``predict(X, observation_noise=False)`` gives mean and std)."""
    features: tuple[str, ...]
    """Input columns, in the model's order."""
    objectives: tuple[tuple[int, float], ...]
    """``(output index, sign)`` per objective; sign +1 maximizes, -1 minimizes."""
    constraints: tuple[tuple[int, float, float], ...]
    """``(output index, sign, threshold)``: feasible when ``sign * (y - threshold) >= 0``."""
    low: tuple[float, ...]
    """Per objective, the worst measured ``sign * y`` (normalization origin)."""
    span: tuple[float, ...]
    """Per objective, the range of measured ``sign * y`` (normalization scale)."""
    paths: int = 16
    """Screening columns: the first half optimistic, the rest Thompson draws."""
    seed: int = 0
    """Seeds the Thompson draws (with each chunk's offset)."""
    exact: tuple[_ExactGP, ...] | None = None
    """Per output, the exact GP's cached solve (:class:`_ExactGP`), or ``None``: moments from
    the BoTorch model's posterior."""
    links: tuple[Any, ...] | None = None
    """Per output, the inverse link of a bounded target (``surrogates.bounds``: the model is
    Gaussian on the link scale, outcomes are ``link.inverse(z)``), or ``None``: Gaussian in
    target units."""

    @classmethod
    def build(cls, model: Any, Y: np.ndarray, objectives: Sequence[tuple[int, float]],
              constraints: Sequence[tuple[int, float, float]], *, paths: int = 16,
              seed: int = 0, X: pd.DataFrame | None = None) -> Screen:
        """A screen for ``model`` given the measured ``n x t`` outcomes ``Y`` (model scale) and
        the measured inputs ``X`` (to check the exact-GP shortcut against the posterior)."""
        low, span = [], []
        for index, sign in objectives:
            v = sign * np.asarray(Y, dtype=float)[:, index]
            v = v[np.isfinite(v)]
            lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
            low.append(lo)
            span.append(hi - lo if hi > lo else max(abs(lo), 1.0))
        screen = cls(model, tuple(str(f) for f in model.feature_names_in_),
                     tuple((int(i), float(s)) for i, s in objectives),
                     tuple((int(i), float(s), float(t)) for i, s, t in constraints),
                     tuple(low), tuple(span), int(paths), int(seed))
        botorch_model = model.to_botorch()
        links = getattr(botorch_model, "links", None)
        if isinstance(links, tuple) and hasattr(botorch_model, "model"):
            # A bounded model: Gaussian on the link scale, outcomes through the inverse links.
            screen = replace(screen, links=links)
            botorch_model = botorch_model.model
        exact = _ExactGP.of(botorch_model)
        if exact is None or X is None or not len(X):
            return screen
        # The shortcut must reproduce the model's own posterior: checked here, once, on the
        # measured rows and on points between them.
        Xt = model.encode(X.iloc[:64][list(screen.features)])
        Xt = torch.cat([Xt, 0.5 * (Xt + Xt.roll(1, dims=0))])
        fast = replace(screen, exact=exact)
        m0, s0 = screen.moments(Xt)
        m1, s1 = fast.moments(Xt)
        scale = np.maximum(np.abs(s0), 1e-9)
        if np.max(np.abs(m0 - m1) / scale) < 1e-5 and np.max(np.abs(s0 - s1) / scale) < 1e-5:
            return fast
        logger.info("screen: the exact-GP shortcut does not reproduce the posterior; not used.")
        return screen

    def moments(self, Xt: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (``n x t``, model scale, no observation noise) at encoded
        rows, as the acquisition's BoTorch model has them (on the link scale for a bounded
        model: see :attr:`links`)."""
        with torch.no_grad():
            if self.exact is not None:
                parts = [gp.moments(Xt) for gp in self.exact]
                mean = torch.stack([m for m, _ in parts], dim=-1)
                var = torch.stack([v for _, v in parts], dim=-1)
            else:
                means, variances = [], []
                model = self.model.to_botorch()
                if self.links is not None:
                    model = model.model  # the Gaussian model on the link scale
                for chunk in Xt.split(2048):
                    post = model.posterior(chunk)
                    means.append(post.mean)
                    variances.append(post.variance)
                mean, var = torch.cat(means), torch.cat(variances)
        return mean.numpy().astype(float), var.clamp_min(0).sqrt().numpy().astype(float)

    def weights(self) -> np.ndarray:
        """``paths x m`` scalarization weights (rows on the simplex); the two halves share them."""
        half = self.paths - self.paths // 2
        m = len(self.objectives)
        if m == 1:
            return np.ones((self.paths, 1))
        if m == 2:
            a = (np.arange(half) + 0.5) / half
            w = np.column_stack([a, 1.0 - a])
        else:
            w = np.random.default_rng([self.seed, 1]).dirichlet(np.ones(m), size=half)
        return np.vstack([w, w])[: self.paths]

    def betas(self) -> np.ndarray:
        """Per column: ``beta`` of an optimistic column, NaN for a Thompson column."""
        out = np.full(self.paths, np.nan)
        optimistic = self.paths // 2
        out[:optimistic] = np.resize([0.0, 1.0, 2.0], optimistic)
        return out

    def _outcome(self, index: int, z: np.ndarray) -> np.ndarray:
        """Outcome ``index`` in target units from its Gaussian-scale value ``z``."""
        if self.links is None:
            return z
        with torch.no_grad():
            return self.links[index].inverse(torch.as_tensor(z)).numpy().astype(float)

    def _log_pof(self, index: int, c_sign: float, threshold: float, mean: np.ndarray,
                 std: np.ndarray) -> np.ndarray:
        """``log P(c_sign * (y - threshold) >= 0)`` of outcome ``index`` (exact through a
        monotone link: the threshold is mapped onto the link scale)."""
        m, s = mean[:, index], std[:, index]
        if self.links is None:
            return log_ndtr(c_sign * (m - threshold) / s)
        z_t = float(np.asarray(self.links[index].forward(np.array([threshold])))[0])
        if not math.isfinite(z_t):  # a threshold on a bound: always or never met
            inside = self._outcome(index, np.zeros(1))[0]
            return np.zeros_like(m) if c_sign * (inside - threshold) >= 0 else np.full_like(
                m, -np.inf)
        rising = float(self._outcome(index, np.array([z_t + 1.0]))[0]) > threshold
        return log_ndtr(c_sign * (1.0 if rising else -1.0) * (m - z_t) / s)

    def scores(self, frame: pd.DataFrame, offset: int) -> np.ndarray:
        """``n x paths`` screening scores of the rows of ``frame`` (larger is better)."""
        mean, std = self.moments(self.encode(frame))
        std = np.maximum(std, 1e-12)
        n = len(frame)
        log_pof = np.zeros(n)
        for index, c_sign, threshold in self.constraints:
            log_pof += self._log_pof(index, c_sign, threshold, mean, std)
        sign = np.array([s for _, s in self.objectives])
        low, span = np.array(self.low), np.array(self.span)
        weights, betas = self.weights(), self.betas()
        rng = np.random.default_rng([self.seed, int(offset)])
        out = np.empty((n, self.paths))
        optimistic: dict[float, np.ndarray] = {}
        for k in range(self.paths):
            if np.isfinite(betas[k]):
                beta = float(betas[k])
                if beta not in optimistic:  # the upper quantile of each signed objective
                    optimistic[beta] = np.column_stack([
                        np.maximum(s_j * self._outcome(j, mean[:, j] + beta * std[:, j]),
                                   s_j * self._outcome(j, mean[:, j] - beta * std[:, j]))
                        for j, s_j in self.objectives])
                u = (optimistic[beta] - low) / span
                out[:, k] = _chebyshev(u, weights[k]) + log_pof
                continue
            z = mean + std * rng.standard_normal(mean.shape)
            draw = np.column_stack([self._outcome(j, z[:, j]) for j in range(z.shape[1])])
            feasible = np.ones(n, dtype=bool)
            for index, c_sign, threshold in self.constraints:
                feasible &= c_sign * (draw[:, index] - threshold) >= 0
            u = (sign * draw[:, [j for j, _ in self.objectives]] - low) / span
            out[:, k] = np.where(feasible, _chebyshev(u, weights[k]),
                                 _chebyshev(u, weights[k]) - 1e6)
        return np.where(np.isfinite(out), out, -np.inf)

    def encode(self, frame: pd.DataFrame) -> Tensor:
        """Rows encoded as the model sees them; only rows with a missing cell are imputed
        (the imputer works row by row, so this equals imputing the whole chunk)."""
        Xt = self.model.encode(frame[list(self.features)], impute=False)
        gaps = torch.isnan(Xt).any(dim=-1)
        if bool(gaps.any()):
            Xt[gaps] = self.model.impute_encoded(Xt[gaps])
        return Xt

    def describe(self) -> dict[str, Any]:
        """The screen as the proposal's model info records it."""
        return {"method": "posterior mean/std, random Chebyshev scalarizations; "
                          "optimistic (beta 0, 1, 2; x P(feasible)) and Thompson columns; "
                          "shortlist round-robin over columns",
                "moments": "exact GP (cached Cholesky)" if self.exact is not None
                           else "model posterior",
                "links": None if self.links is None else [
                    str(getattr(link, "name", type(link).__name__)) for link in self.links],
                "paths": self.paths, "constraints": len(self.constraints),
                "objectives": len(self.objectives)}


@dataclass(frozen=True)
class _ExactGP:
    """One exact GP output's posterior moments without GPyTorch's dense test covariance.

    ``mean = m(x) + k(x, X) alpha`` and ``var = k(x, x) - |L^-1 k(X, x)|^2`` with ``L`` the
    Cholesky factor of the noisy training covariance; GPyTorch forms the full test-by-test
    covariance of every chunk to take its diagonal, which costs a chunk-size factor more.
    Only for a ``SingleTaskGP`` (also mixed) with a ``Standardize`` outcome transform.
    """

    model: Any
    train: Tensor
    alpha: Tensor
    chol: Tensor
    means: Tensor
    stdvs: Tensor

    @classmethod
    def of(cls, model: Any) -> tuple[_ExactGP, ...] | None:
        """One per output of ``model`` (a GP or a model list of GPs), or ``None`` if any
        output is another kind of model."""
        from botorch.models import ModelListGP, SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.likelihoods import GaussianLikelihood

        members = list(model.models) if isinstance(model, ModelListGP) else [model]
        out = []
        try:
            for gp in members:
                ot = getattr(gp, "outcome_transform", None)
                if (not isinstance(gp, SingleTaskGP) or gp.num_outputs != 1
                        or not isinstance(ot, Standardize)
                        or not isinstance(gp.likelihood, GaussianLikelihood)):
                    return None
                with torch.no_grad():
                    train = gp.train_inputs[0]
                    if train.ndim != 2:
                        return None
                    K = gp.covar_module(train).to_dense()
                    noise = gp.likelihood.noise.reshape(-1)
                    K = K + torch.diag_embed(noise.expand(train.shape[0]))
                    chol = torch.linalg.cholesky(K)
                    resid = (gp.train_targets - gp.mean_module(train)).unsqueeze(-1)
                    alpha = torch.cholesky_solve(resid, chol).squeeze(-1)
                out.append(cls(gp, train, alpha, chol, ot.means.reshape(-1),
                               ot.stdvs.reshape(-1)))
        except Exception as exc:  # noqa: BLE001 - the generic posterior path remains
            logger.info("screen: no exact-GP shortcut (%s)", exc)
            return None
        return tuple(out)

    def moments(self, Xt: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance (model scale) at ``n x d`` encoded rows."""
        gp = self.model
        means, variances = [], []
        for chunk in Xt.split(4096):
            x = gp.transform_inputs(chunk)
            kx = gp.covar_module(x, self.train).to_dense()
            mean = gp.mean_module(x) + kx @ self.alpha
            v = torch.linalg.solve_triangular(self.chol, kx.T, upper=False)
            var = gp.covar_module(x, diag=True) - (v * v).sum(dim=0)
            means.append(mean * self.stdvs + self.means)
            variances.append(var.clamp_min(0) * self.stdvs**2)
        return torch.cat(means), torch.cat(variances)


def _chebyshev(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Augmented Chebyshev scalarization of ``n x m`` normalized outcomes (maximization)."""
    wu = u * w
    return wu.min(axis=1) + 0.05 * wu.sum(axis=1)


@dataclass(frozen=True)
class _Batch:
    """One stage-1 task: a chunk of rows and what it must return."""

    offset: int
    frame: pd.DataFrame
    excluded: np.ndarray
    """Positions (global) in this chunk never to shortlist."""
    k: int
    """Best rows kept per column."""


def score_batch(screen: Screen, batch: _Batch) -> tuple[np.ndarray, np.ndarray, int]:
    """Stage-1 task: the ``k`` best rows of one chunk per screening column.

    Returns:
        ``(positions, scores, rows)``: ``paths x k'`` global positions and their scores (best
        first, ``k' = min(k, selectable rows)``), and the rows scored.
    """
    n = len(batch.frame)
    scores = screen.scores(batch.frame, batch.offset)
    if batch.excluded.size:
        scores[batch.excluded - batch.offset, :] = -np.inf
        keep = np.ones(n, dtype=bool)
        keep[batch.excluded - batch.offset] = False
    else:
        keep = np.ones(n, dtype=bool)
    local = np.flatnonzero(keep)
    k = min(batch.k, local.size)
    pos = np.empty((screen.paths, k), dtype=np.int64)
    val = np.empty((screen.paths, k))
    for c in range(screen.paths):
        col = scores[local, c]
        top = np.argpartition(-col, k - 1)[:k] if k < local.size else np.arange(local.size)
        top = top[np.argsort(-col[top], kind="stable")]
        pos[c], val[c] = local[top] + batch.offset, col[top]
    return pos, val, n


class _TopK:
    """The running ``k`` best rows per column over all chunks."""

    def __init__(self, paths: int, k: int) -> None:
        self.k = k
        self.pos = [np.zeros(0, dtype=np.int64) for _ in range(paths)]
        self.val = [np.zeros(0) for _ in range(paths)]

    def add(self, pos: np.ndarray, val: np.ndarray) -> None:
        for c in range(len(self.pos)):
            p = np.concatenate([self.pos[c], pos[c]])
            v = np.concatenate([self.val[c], val[c]])
            # Best first; ties to the lower position, so the result does not depend on the
            # order in which chunks finish.
            order = np.lexsort((p, -v))[: self.k]
            self.pos[c], self.val[c] = p[order], v[order]

    def round_robin(self, size: int) -> np.ndarray:
        """Up to ``size`` distinct positions: each column's next best in turn."""
        chosen: dict[int, None] = {}
        depth = max((len(p) for p in self.pos), default=0)
        for r in range(depth):
            for c in range(len(self.pos)):
                if r < len(self.pos[c]) and np.isfinite(self.val[c][r]):
                    chosen.setdefault(int(self.pos[c][r]), None)
                    if len(chosen) >= size:
                        return np.fromiter(chosen, dtype=np.int64)
        return np.fromiter(chosen, dtype=np.int64)


class MemoryPeak:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MiB."""
        return self.peak / 2**20


@dataclass(frozen=True)
class ScreenResult:
    """What stage 1 kept and what it cost."""

    positions: np.ndarray
    """Shortlisted pool row positions, ascending."""
    rows_screened: int
    """Rows scored (every row of the pool)."""
    rows_excluded: int
    """Rows never shortlisted (measured, on order)."""
    seconds: float
    """Wall seconds of stage 1."""
    cpu_seconds: float
    """CPU seconds of this process in stage 1 (Dask workers' time not included)."""
    peak_rss_mb: float
    """Peak resident memory of this process during stage 1, MiB."""
    engine: dict[str, Any] = field(default_factory=dict)
    """The engine that ran it (:meth:`planner.engine.Engine.describe`)."""
    screen: dict[str, Any] = field(default_factory=dict)
    """The screening rule (:meth:`Screen.describe`)."""

    def info(self) -> dict[str, Any]:
        """JSON-safe summary for the proposal's model info."""
        return {"rows_screened": self.rows_screened, "rows_excluded": self.rows_excluded,
                "shortlist": len(self.positions), "seconds": round(self.seconds, 3),
                "cpu_seconds": round(self.cpu_seconds, 3),
                "peak_rss_mb": round(self.peak_rss_mb, 1), "engine": self.engine,
                "screen": self.screen}


def screen_pool(source: PoolSource, screen: Screen, *, shortlist: int,
                exclude: np.ndarray | None = None, batch_rows: int = 50_000,
                engine: Engine | None = None) -> ScreenResult:
    """Stage 1: score every row of ``source`` in chunks and keep a diverse shortlist.

    Args:
        source: The pool (:func:`as_source`).
        screen: The scoring rule.
        shortlist: Rows to keep.
        exclude: Sorted row positions never to keep (measured, on order).
        batch_rows: Rows per task.
        engine: Where the tasks run; default :func:`planner.engine.current_engine`.

    Returns:
        The :class:`ScreenResult` (positions ascending).

    Raises:
        PlanningError: no selectable row (with fewer than ``shortlist``, all are kept).
    """
    engine = engine or current_engine()
    excl = positions_of(exclude, source.n_rows)
    if source.n_rows - excl.size < 1:
        raise PlanningError("the pool has no selectable row to screen.",
                            hint="Add candidates to the library.")
    t0, c0 = time.perf_counter(), time.process_time()
    top = _TopK(screen.paths, shortlist)
    rows = 0

    def batches() -> Iterator[_Batch]:
        for offset, frame in source.iter_batches(screen.features, batch_rows):
            lo, hi = np.searchsorted(excl, [offset, offset + len(frame)])
            yield _Batch(offset, frame, excl[lo:hi], shortlist)

    with MemoryPeak() as memory:
        for pos, val, n in engine.imap(score_batch, batches(), shared=screen, ordered=False):
            top.add(pos, val)
            rows += n
        positions = np.sort(top.round_robin(shortlist))
    result = ScreenResult(positions, rows, int(excl.size), time.perf_counter() - t0,
                          time.process_time() - c0, memory.peak_mb, engine.describe(),
                          screen.describe())
    logger.info("screened %d rows in %.1f s (%s): %d shortlisted", rows, result.seconds,
                result.engine.get("engine"), len(positions))
    return result
