"""Choosing a batch from a finite pool of candidates (a library, a lab table, a backtest).

Sequential greedy selection with the semantics of BoTorch's ``optimize_acqf_discrete``
(``unique=True``): pick the best row, add it to the acquisition's pending points, re-score the
pool, repeat ``q`` times. Unlike it, this returns *row indices* (what a pool-based campaign
needs), never picks excluded rows, and keeps memory bounded for pools of 100,000 rows by scoring
in chunks without gradients.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

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


@torch.no_grad()
def _score(acqf: AcquisitionFunction, pool: Tensor, rows: Tensor, max_batch_size: int) -> Tensor:
    """Acquisition value of each selected pool row as a single-point batch (``len(rows)``)."""
    out = torch.empty(rows.numel(), dtype=pool.dtype, device=pool.device)
    with warnings.catch_warnings():
        # A candidate equal to a pending or measured point makes the joint covariance singular;
        # the jitter GPyTorch adds is the right fix and its warning is expected noise here.
        warnings.simplefilter("ignore", NumericalWarning)
        for start in range(0, rows.numel(), max_batch_size):
            chunk = rows[start : start + max_batch_size]
            out[start : start + chunk.numel()] = acqf(pool[chunk].unsqueeze(-2)).reshape(-1)
    return out


def select_from_pool(
    acqf: AcquisitionFunction,
    pool: Tensor,
    q: int,
    *,
    exclude: Tensor | None = None,
    max_batch_size: int = 2048,
    lazy: bool = True,
) -> tuple[Tensor, Tensor]:
    """Greedy batch of ``q`` distinct pool rows maximizing the acquisition function.

    Each step scores the still-selectable rows jointly with the rows already chosen (set as the
    acquisition's pending points, on top of any pending points it already had), then takes the
    best. The caller's acquisition function is not modified (a copy gets the pending points).
    Rows whose acquisition value is not finite rank below every finite one but can still fill the
    batch.

    With ``lazy=True`` (default) steps after the first use *lazy greedy* evaluation (Minoux,
    1978): improvement-type acquisitions (EI, NEI, EHVI, NEHVI) only shrink as pending points are
    added, so the previous step's value of a row bounds its current value. Rows are re-scored in
    order of their bound until the best fresh value beats every remaining bound. This gives the
    same batch as full re-scoring up to Monte-Carlo noise and usually costs a few chunks per step
    instead of the whole pool. Pass ``lazy=False`` for acquisitions without diminishing returns
    (e.g. pure-exploration or non-MC acquisitions).

    Args:
        acqf: A BoTorch acquisition function supporting ``set_X_pending`` (any MC acquisition).
        pool: ``N x d`` encoded candidate rows (same encoding as the model's training inputs).
        q: Number of rows to choose.
        exclude: Rows never to pick (already measured or pending): integer indices, an ``N``
            boolean mask, or ``m x d`` points to match exactly; see :func:`exclusion_mask`.
        max_batch_size: Rows scored per forward pass; bounds memory to roughly
            ``max_batch_size x (pending + 1) x mc_samples`` posterior samples.
        lazy: Re-score only as many rows as needed after the first step (see above).

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
    excluded = exclusion_mask(pool, exclude)
    available = torch.nonzero(~excluded).reshape(-1)
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
    base_pending = acqf.X_pending
    chosen: list[int] = []
    values: list[Tensor] = []
    # Latest known value of every available row (an upper bound on its current value).
    bounds = torch.full((pool.shape[0],), -torch.inf, dtype=pool.dtype, device=pool.device)
    lazy_chunk = min(max_batch_size, 256)
    for step in range(q):
        if step == 0 or not lazy:
            bounds[available] = _clean(_score(acqf, pool, available, max_batch_size))
            best_row = int(available[torch.argmax(bounds[available])])
        else:
            best_row = _lazy_best(acqf, pool, available, bounds, lazy_chunk)
        chosen.append(best_row)
        values.append(bounds[best_row].clone())
        available = available[available != best_row]
        picked = pool[torch.tensor(chosen, device=pool.device)]
        acqf.set_X_pending(
            picked if base_pending is None else torch.cat([base_pending, picked], dim=-2)
        )
    return torch.tensor(chosen, dtype=torch.long), torch.stack(values)


def _clean(scores: Tensor) -> Tensor:
    """NaN scores rank last (as -inf) but stay selectable."""
    return torch.where(torch.isnan(scores), -torch.inf, scores)


def _lazy_best(
    acqf: AcquisitionFunction, pool: Tensor, available: Tensor, bounds: Tensor, chunk: int
) -> int:
    """Row with the best fresh value, re-scoring rows in order of their stale bound.

    Updates ``bounds`` in place for every re-scored row.
    """
    order = available[torch.argsort(bounds[available], descending=True, stable=True)]
    stale = bounds[order].clone()
    best_row, best_val = int(order[0]), -torch.inf
    for start in range(0, order.numel(), chunk):
        rows = order[start : start + chunk]
        fresh = _clean(_score(acqf, pool, rows, chunk))
        bounds[rows] = fresh
        top = int(torch.argmax(fresh))
        if best_val == -torch.inf or fresh[top] > best_val:
            best_row, best_val = int(rows[top]), float(fresh[top])
        nxt = start + chunk
        if nxt >= order.numel() or best_val >= float(stale[nxt]):
            break
    return best_row
