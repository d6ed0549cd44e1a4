"""Scores of a pool-based backtest: top candidates, best-so-far, enhancement and acceleration.

Every quantity is computed on *normalized* outcomes so that maximized and minimized targets, and
targets with negative values, are treated alike:

``u_j(x) = (y_j(x) - worst_j) / (best_j - worst_j)``, where ``best_j``/``worst_j`` are the best and
worst values of target ``j`` in the pool (direction-aware). ``u = 1`` is the best candidate of the
pool, ``u = 0`` the worst.

**Performance after n experiments** ``P(n)`` (the "best-so-far" curve):

* one target: ``P(n) = max_{i <= n} u(x_i)`` (0..1; 1 = the pool optimum was found);
* several targets: ``P(n) = HV({u(x_i)}_{i<=n}) / HV(pool)``, the dominated hypervolume of the
  picks in the normalized space with reference point 0, as a fraction of the hypervolume of the
  whole pool (0..1; 1 = the pool's whole Pareto front was found).

**Top candidates** (``--top f``): the ``k = max(1, ceil(f N))`` best of the ``N`` distinct
candidates, ties at the threshold included. One target: ranked by ``u``. Several targets: ranked
by the maximin (equal-weight Chebyshev) scalarization ``s(x) = min_j u_j(x)``, i.e. a top material
is good in *every* target.

**Experiments until the first top pick**: experiments run up to and including the *batch* that
contained the first top candidate (the initial design is the first batch), because a lab learns
the result of a plate only when the whole plate is measured. Seeds that miss within the budget
are censored (counted as +inf in the median/IQR; a non-finite statistic is reported as null).

**Random reference, exactly**: for uniform random picks without replacement from ``N``
candidates of which ``K`` are top, ``P(T > t) = prod_{i<t} (N - K - i) / (N - i)``; the median
and mean of the batch-rounded first-top count follow without simulation (``random_exact``).

**Enhancement factor** (Liang et al., npj Comput. Mater. 7, 188, 2021): with ``S(n)`` and
``R(n)`` the mean over seeds of ``P(n)`` for the strategy and for random sampling,

    ``EF(n) = S(n) / R(n)``                      for n = 1 .. budget

(1 during the shared initial design). The scalar ``enhancement_factor`` is the mean of
``EF(n)`` over the model-driven experiments ``n = init + 1 .. budget``. Using ``u`` instead of
raw values makes the ratio invariant to units and offsets, and is the "appropriately
normalized" version for minimization; for a maximized positive target with ``worst = 0`` it
equals the paper's raw best-so-far ratio.

**Acceleration factor**: with ``n_X(a) = min{n : X(n) >= a}`` the experiments curve ``X`` needs
to reach performance ``a``,

    ``AF(a) = n_R(a) / n_S(a)``

The scalar ``acceleration_factor`` takes ``a* = R(budget)``, the performance random sampling
reaches with the whole budget: "how many times fewer experiments the strategy needs to do as
well as random does with all of them". It is null when the strategy never reaches ``a*``.

**Seed by seed**: every strategy starts seed ``i`` from the same initial design, so two strategies'
first-top counts pair up by seed. :func:`paired_comparison` counts the seeds on which one needed
fewer, as many and more experiments than the other (a miss is more than any hit and ties with a
miss), and gives the exact one-sided sign test: the probability of at least that many "fewer"
among the untied seeds if either strategy were as likely as the other to be ahead. With censored
counts and steps of one batch, a sign test needs no assumption about the size of the differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated


def normalized_outcomes(Y: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``N x t`` outcomes mapped to ``u`` in [0, 1] per target, 1 = best in the pool.

    Args:
        Y: ``N x t`` outcomes in target units (no NaN).
        directions: ``t`` entries, ``"max"`` or ``"min"``.
    """
    Y = np.asarray(Y, dtype=float)
    sign = np.array([1.0 if d == "max" else -1.0 for d in directions])
    Z = Y * sign
    lo, hi = Z.min(axis=0), Z.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (Z - lo) / span


def candidate_scores(U: np.ndarray) -> np.ndarray:
    """Ranking score of each candidate: ``u`` (one target) or ``min_j u_j`` (several)."""
    return U.min(axis=1)


def top_mask(scores: np.ndarray, top: float) -> np.ndarray:
    """Boolean ``N`` mask of the top ``max(1, ceil(top N))`` candidates (ties included)."""
    n = len(scores)
    k = min(n, max(1, math.ceil(top * n - 1e-9)))
    threshold = np.sort(scores)[::-1][k - 1]
    return scores >= threshold


def pool_hypervolume(U: np.ndarray) -> float:
    """Dominated hypervolume of normalized outcomes ``U`` (``n x t``) above the origin."""
    if len(U) == 0:
        return 0.0
    Ut = torch.as_tensor(U, dtype=torch.double)
    front = Ut[is_non_dominated(Ut)]
    return float(Hypervolume(ref_point=torch.zeros(U.shape[1], dtype=torch.double)).compute(front))


def performance_curve(
    picks: Sequence[int], U: np.ndarray, hv_pool: float | None = None
) -> np.ndarray:
    """``P(n)`` for ``n = 1 .. len(picks)`` (see the module docstring).

    Args:
        picks: pool row indices in the order they were measured.
        U: ``N x t`` normalized outcomes of the pool.
        hv_pool: hypervolume of the whole pool (computed when missing; several targets only).
    """
    order = np.asarray(picks, dtype=int)
    if U.shape[1] == 1:
        return np.maximum.accumulate(U[order, 0])
    hv_pool = pool_hypervolume(U) if hv_pool is None else hv_pool
    out = np.empty(len(order))
    front = np.empty((0, U.shape[1]))
    last = 0.0
    for n, i in enumerate(order):
        u = U[i]
        if not np.any(np.all(front >= u, axis=1)):  # only a non-dominated pick adds volume
            front = np.vstack([front[~np.all(u >= front, axis=1)], u])
            last = pool_hypervolume(front) / hv_pool if hv_pool > 0 else 1.0
        out[n] = last
    return out


def batch_ends(budget: int, init: int, batch_size: int) -> np.ndarray:
    """Experiment counts at which each batch finishes: ``[init, init + b, ..., budget]``."""
    ends = [min(init, budget)] if init > 0 else []
    while not ends or ends[-1] < budget:
        ends.append(min((ends[-1] if ends else 0) + batch_size, budget))
    return np.asarray(ends, dtype=int)


def first_top(picks: Sequence[int], is_top: np.ndarray, ends: np.ndarray) -> float:
    """Experiments until the batch holding the first top pick is measured (inf if none)."""
    hits = np.flatnonzero(is_top[np.asarray(picks, dtype=int)])
    if hits.size == 0:
        return math.inf
    position = int(hits[0]) + 1
    return float(ends[np.searchsorted(ends, position)])


def random_first_top(n: int, k: int, ends: np.ndarray) -> dict[str, float]:
    """Exact statistics of the first-top count under uniform random picks (batch-rounded).

    Args:
        n: number of distinct candidates ``N``.
        k: number of top candidates ``K``.
        ends: batch end counts from :func:`batch_ends`.

    Returns:
        ``median`` and ``mean`` experiments until the first top pick with no budget limit
        (batches of the last size continue past the budget), and ``hit_rate`` within budget.
    """
    budget = int(ends[-1])
    step = int(ends[-1] - ends[-2]) if len(ends) > 1 else max(int(ends[-1]), 1)
    # survival[t] = P(T > t) for t = 0..n, T the position of the first top pick.
    factors = np.clip((n - k - np.arange(n)) / (n - np.arange(n)), 0.0, 1.0)
    survival = np.concatenate([[1.0], np.cumprod(factors)])[: n + 1]
    extra = np.arange(budget + step, n + step, step) if budget < n else np.array([], dtype=int)
    all_ends = np.minimum(np.concatenate([ends, extra]), n).astype(int)
    all_ends = np.unique(all_ends)
    cdf = 1.0 - survival[all_ends]
    median = float(all_ends[np.searchsorted(cdf, 0.5 - 1e-12)])
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    mean = float(np.sum(all_ends * pmf))
    hit = float(1.0 - survival[min(budget, n)])
    return {"median": median, "mean": mean, "hit_rate": hit}


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile that treats ``inf`` (a censored run) as larger than all."""
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return math.nan
    pos = q * (x.size - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    w = pos - lo
    if w == 0 or x[lo] == x[hi]:
        return float(x[lo])
    if math.isinf(x[hi]):
        return math.inf
    return float(x[lo] + w * (x[hi] - x[lo]))


def enhancement_curve(S: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``EF(n) = S(n) / R(n)``; NaN where ``R(n) = 0``."""
    S, R = np.asarray(S, dtype=float), np.asarray(R, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(R > 0, S / np.where(R > 0, R, 1.0), np.nan)


def enhancement_factor(S: np.ndarray, R: np.ndarray, init: int) -> float:
    """Mean of ``EF(n)`` over ``n = init + 1 .. budget`` (NaN entries skipped)."""
    ef = enhancement_curve(S, R)[init:]
    ef = ef[np.isfinite(ef)]
    return float(ef.mean()) if ef.size else math.nan


def experiments_to_reach(curve: np.ndarray, level: float) -> float:
    """``min{n : curve(n) >= level}`` (1-based), inf if never reached."""
    hits = np.flatnonzero(np.asarray(curve) >= level - 1e-12)
    return float(hits[0] + 1) if hits.size else math.inf


def acceleration_factor(S: np.ndarray, R: np.ndarray) -> float:
    """``n_R(a*) / n_S(a*)`` at ``a* = R(budget)``; NaN when the strategy never gets there."""
    level = float(R[-1])
    n_s = experiments_to_reach(S, level)
    if math.isinf(n_s):
        return math.nan
    return experiments_to_reach(R, level) / n_s


def paired_comparison(a: Sequence[float | None], b: Sequence[float | None]) -> dict[str, Any]:
    """Compare strategy ``a`` with ``b`` seed by seed on their experiments to the first top pick.

    Args:
        a, b: first-top counts per seed (``inf`` or ``None`` for a miss), seed ``i`` of both
            started from the same initial design. Only the seeds both ran are compared.

    Returns:
        ``seeds``; ``fewer``, ``same``, ``more``: seeds on which ``a`` needed fewer / as many /
        more experiments than ``b``; ``p_value``: exact one-sided sign test that ``a`` is ahead
        more often than behind (binomial over the untied seeds), ``None`` when every seed ties.
    """
    from scipy.stats import binomtest

    n = min(len(a), len(b))
    A = np.array([math.inf if v is None else v for v in a[:n]], dtype=float)
    B = np.array([math.inf if v is None else v for v in b[:n]], dtype=float)
    fewer, more = int(np.sum(A < B)), int(np.sum(A > B))
    untied = fewer + more
    p = float(binomtest(fewer, untied, 0.5, alternative="greater").pvalue) if untied else None
    return {"seeds": n, "fewer": fewer, "same": n - untied, "more": more, "p_value": p}


def paired_versus(
    strategies: Mapping[str, Mapping[str, Any]],
    reference: str = "gp",
    order: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`paired_comparison` of ``reference`` with every other strategy of a report.

    Args:
        strategies: a report's per-strategy entries, each with ``first_top_per_seed``.
        reference: the strategy compared with the others.
        order: strategy names in output order (default: the order of ``strategies``); names
            absent from ``strategies`` are skipped.

    Returns:
        ``{name: comparison}`` for every strategy but ``reference``; empty when ``reference``
        did not run.
    """
    if reference not in strategies:
        return {}
    ref = strategies[reference]["first_top_per_seed"]
    return {
        name: paired_comparison(ref, strategies[name]["first_top_per_seed"])
        for name in (order if order is not None else strategies)
        if name != reference and name in strategies
    }
