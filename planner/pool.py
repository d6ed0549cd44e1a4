"""Choosing a batch from a finite pool of candidates (a library, a lab table, a backtest).

Sequential greedy selection with the semantics of BoTorch's ``optimize_acqf_discrete``
(``unique=True``): pick the best row, add it to the acquisition's pending points, re-score the
pool, repeat ``q`` times. Unlike it, this returns *row indices* (what a pool-based campaign
needs), never picks excluded rows, re-scores lazily (:func:`lazy_greedy`) and keeps memory
bounded for pools of 100,000 rows by scoring in chunks without gradients. The recipe planner
(:mod:`planner.optimize`) fills most of a plate with the same :func:`lazy_greedy` over a
candidate pool it draws from the design space.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence

import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from planner import progress
from planner.errors import PlanningError


def pool_bounds(X: pd.DataFrame, categorical: Sequence[str] = ()) -> dict[str, tuple[float, float]]:
    """``{column: (min, max)}`` of each numeric pool column with at least one value.

    The search space of a pool campaign (a library, a backtest table), for
    ``GPSurrogate(input_bounds=...)``.
    """
    bounds = {}
    for name in X.columns:
        if name in categorical:
            continue
        col = pd.to_numeric(X[name], errors="coerce")
        if col.notna().any():
            bounds[str(name)] = (float(col.min()), float(col.max()))
    return bounds


class PoolExhaustedError(PlanningError):
    """Fewer selectable rows remain in the pool than the batch asks for."""


def exclusion_mask(pool: Tensor, exclude: Tensor | None) -> Tensor:
    """Boolean mask of the pool rows that must not be picked.

    Args:
        pool: ``N x d`` candidate rows.
        exclude: One of: ``None``; a 1-d integer tensor of row indices; a 1-d boolean mask of
            length ``N``; or an ``m x d`` float tensor of points (rows of the pool exactly equal
            to one of them are excluded, e.g. measured or pending designs).

    Returns:
        ``N`` boolean tensor, True where the row is excluded.
    """
    n = pool.shape[0]
    mask = torch.zeros(n, dtype=torch.bool, device=pool.device)
    if exclude is None or exclude.numel() == 0:
        return mask
    if exclude.dtype == torch.bool:
        if exclude.shape != (n,):
            raise PlanningError(
                f"Exclusion mask has shape {tuple(exclude.shape)}; the pool has {n} rows.",
                hint="Pass one boolean per pool row, row indices, or the points to avoid.",
            )
        return exclude.to(pool.device).clone()
    if not exclude.is_floating_point():
        idx = exclude.reshape(-1).long()
        if idx.numel() and (idx.min() < 0 or idx.max() >= n):
            raise PlanningError(
                f"Exclusion index out of range for a pool of {n} rows "
                f"(got {idx.min().item()}..{idx.max().item()}).",
                hint="Row indices are 0-based positions in the pool.",
            )
        mask[idx.to(pool.device)] = True
        return mask
    if exclude.ndim != 2 or exclude.shape[-1] != pool.shape[-1]:
        raise PlanningError(
            f"Points to avoid have shape {tuple(exclude.shape)}; pool rows have "
            f"{pool.shape[-1]} columns.",
            hint="Encode the measured/pending designs the same way as the pool.",
        )
    # Exact row matching via a joint `unique`: a pool row is excluded if it shares its
    # inverse index with any of the avoided points.
    both = torch.cat([pool, exclude.to(pool)], dim=0)
    _, inverse = torch.unique(both, dim=0, return_inverse=True)
    avoided = torch.zeros(int(inverse.max()) + 1, dtype=torch.bool, device=pool.device)
    avoided[inverse[n:]] = True
    return avoided[inverse[:n]]


def select_from_pool(
    acqf: AcquisitionFunction,
    pool: Tensor,
    q: int,
    *,
    exclude: Tensor | None = None,
    max_batch_size: int = 256,
    lazy: bool = True,
) -> tuple[Tensor, Tensor]:
    """Greedy batch of ``q`` distinct pool rows maximizing the acquisition function.

    Each step adds the row with the largest marginal gain given the rows already chosen (set as
    the acquisition's pending points, on top of any pending points it already had); see
    :func:`lazy_greedy`. The caller's acquisition function is not modified (a copy gets the
    pending points). Rows whose acquisition value is not finite rank below every finite one but
    can still fill the batch.

    Args:
        acqf: A BoTorch acquisition function supporting ``set_X_pending`` (any MC acquisition).
        pool: ``N x d`` encoded candidate rows (same encoding as the model's training inputs).
        q: Number of rows to choose.
        exclude: Rows never to pick (already measured or pending): integer indices, an ``N``
            boolean mask, or ``m x d`` points to match exactly; see :func:`exclusion_mask`.
        max_batch_size: Rows scored per acquisition call; bounds memory to roughly
            ``max_batch_size x (baseline + pending + 1) x training rows`` kernel entries.
        lazy: Re-score only as many rows as needed after the first step (see
            :func:`lazy_greedy`). ``False`` re-scores every row at every step, for acquisitions
            without diminishing returns (e.g. pure-exploration or non-MC acquisitions).

    Returns:
        ``(indices, values)``: ``q`` long tensor of distinct pool row indices in the order they
        were chosen, and the ``q`` acquisition values each had when chosen.

    Raises:
        PoolExhaustedError: fewer than ``q`` rows are selectable.
    """
    if q < 1:
        raise PlanningError(f"Batch size q must be at least 1, got {q}.")
    if pool.ndim != 2:
        raise PlanningError(f"The pool must be an N x d tensor, got shape {tuple(pool.shape)}.")
    available = torch.nonzero(~exclusion_mask(pool, exclude)).reshape(-1)
    if available.numel() < q:
        raise PoolExhaustedError(
            f"Only {available.numel()} of {pool.shape[0]} pool rows can still be picked; "
            f"{q} were asked for.",
            hint="Reduce the batch size or add candidates to the library.",
        )
    # Work on a copy: BoTorch's noisy hypervolume acquisitions cache pending points in their box
    # decompositions and ``set_X_pending(None)`` does not undo that (``optimize_acqf_discrete``
    # leaks the same way), so the caller's acquisition is never touched.
    acqf = copy.deepcopy(acqf)
    rows, values = lazy_greedy(
        acqf, pool[available], q, base_pending=acqf.X_pending,
        batch=16 if lazy else available.numel(), chunk=max_batch_size,
    )
    return available[torch.tensor(rows, dtype=torch.long)], torch.tensor(values, dtype=pool.dtype)


@torch.no_grad()
def lazy_greedy(
    acqf: AcquisitionFunction,
    pool: Tensor,
    q: int,
    *,
    base_pending: Tensor | None = None,
    chosen: Sequence[Tensor] = (),
    batch: int = 16,
    chunk: int = 256,
) -> tuple[list[int], list[float]]:
    """Add ``q`` pool rows to a batch by lazy greedy acquisition maximization.

    The marginal gain of a candidate ``x`` after the rows ``P`` is
    ``exp(acqf(x | P)) - exp(acqf(p | P))`` for a point ``p`` already in ``P`` (the value of
    adding nothing): the same definition serves noisy EI (whose value counts the pending rows, so
    it *grows* as ``P`` grows) and incremental NEHVI (whose value does not). The gain of a
    candidate never grows as ``P`` grows (expected improvement and hypervolume improvement are
    submodular per posterior sample, up to Monte-Carlo noise and the smoothing of BoTorch's log
    acquisitions), so a stale gain bounds the fresh one: each step re-scores the ``batch`` best
    stale candidates until the best candidate's gain is fresh (Minoux's lazy greedy, 1978).
    The first step scores the whole pool.

    Args:
        acqf: Acquisition whose pending points are ``base_pending`` + ``chosen``; it gets each
            picked row as a further pending point.
        pool: ``N x d`` valid encoded candidates.
        q: Rows to add.
        base_pending: Pending points the acquisition had before the batch.
        chosen: Rows of this batch already picked (in order), already pending in ``acqf``.
        batch: Candidates re-scored per round; ``N`` re-scores everything every step.
        chunk: Most candidates per acquisition call when many are scored at once.

    Returns:
        ``(rows, values)``: ``q`` distinct indices into ``pool`` in pick order, and the
        acquisition value (log scale for log acquisitions) each had given the rows before it.
    """
    picks = list(chosen)
    n = len(pool)
    gains = torch.full((n,), math.inf, dtype=torch.double)
    fresh_at = torch.full((n,), -1, dtype=torch.long)
    logv = torch.full((n,), -math.inf, dtype=torch.double)
    available = torch.ones(n, dtype=torch.bool)
    shift: float | None = None  # common scale of exp(values), fixed after the first scoring
    rows_out: list[int] = []
    values: list[float] = []
    for step in range(q):
        # The value of adding nothing: ``acqf`` at a point already pending, scored in the same
        # call as the first re-scored candidates (a call costs far more than a row).
        if picks:
            last: Tensor | None = picks[-1]
        else:
            last = base_pending[-1] if base_pending is not None and len(base_pending) else None
        # ``unscored``: the pending point whose value is the base, until it has been scored.
        base, unscored = -math.inf, last
        while True:
            best = _argmax_masked(gains, available)
            if fresh_at[best] == step and unscored is None:
                break
            stale = available & (fresh_at != step)
            order = torch.argsort(torch.where(stale, gains, -math.inf), descending=True,
                                  stable=True)
            k = int(stale.sum()) if step == 0 else min(batch, int(stale.sum()))
            rows = order[:k]
            Xs = pool[rows]
            if unscored is not None:
                Xs = torch.cat([Xs, unscored.reshape(1, -1).to(Xs)])
            lv = _score(acqf, Xs, chunk)
            if unscored is not None:
                base, lv, unscored = float(lv[-1]), lv[:-1], None
            if shift is None:
                finite = lv[torch.isfinite(lv)]
                shift = float(finite.max()) if finite.numel() else 0.0
                shift = max(shift, base) if math.isfinite(base) else shift
            logv[rows] = lv
            gains[rows] = _gain(lv, base, shift)
            fresh_at[rows] = step
        available[best] = False
        rows_out.append(best)
        values.append(float(logv[best]))
        picks.append(pool[best])
        set_pending_points(acqf, base_pending, picks)
        progress.report("wells", len(picks), len(chosen) + q)
    return rows_out, values


def set_pending_points(acqf: AcquisitionFunction, base: Tensor | None,
                       picks: Sequence[Tensor]) -> None:
    """Make ``base`` (pending before this batch) plus ``picks`` the acquisition's pending points.

    qLogNEI re-prunes its baseline whenever its pending points change, and BoTorch's
    ``prune_inferior_points`` draws its samples from torch's global generator, whose state a
    caller may not have seeded. The pruning is seeded here from the acquisition's own sampler seed
    and the number of picks, so a batch depends on the seed it was built with and on nothing else.
    """
    chosen = torch.stack(list(picks)).to(torch.double)
    sampler = getattr(acqf, "sampler", None)
    seed = int(getattr(sampler, "seed", 0) or 0) + len(picks)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        acqf.set_X_pending(
            chosen if base is None else torch.cat([base.to(chosen), chosen], dim=-2)
        )


def _score(acqf: AcquisitionFunction, X: Tensor, chunk: int) -> Tensor:
    """Acquisition value of each row of ``X`` as a single-point batch; NaN becomes ``-inf``."""
    with warnings.catch_warnings():
        # A candidate equal to a pending or measured point makes the joint covariance singular;
        # the jitter GPyTorch adds is the right fix and its warning is expected noise here.
        warnings.simplefilter("ignore", NumericalWarning)
        values = torch.cat([acqf(x.unsqueeze(-2)).reshape(-1).double() for x in X.split(chunk)])
    return torch.nan_to_num(values, nan=-math.inf)


def _argmax_masked(x: Tensor, mask: Tensor) -> int:
    # Ties (e.g. every gain underflowed to 0) go to the lowest index: deterministic.
    return int(torch.argmax(torch.where(mask, x, -math.inf)))


def _gain(log_values: Tensor, base: float, shift: float) -> Tensor:
    """``exp(v) - exp(base)`` on the common scale ``exp(-shift)`` (comparable across steps)."""
    gain = torch.exp((log_values - shift).clamp(max=700.0))
    if math.isfinite(base):
        gain = gain - math.exp(min(base - shift, 700.0))
    return gain
