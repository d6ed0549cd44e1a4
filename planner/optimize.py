"""Optimizing an acquisition function over a mixed recipe space, one plate at a time.

A plate is built by *sequential greedy* selection: each well maximizes the acquisition given the
wells chosen before it (they are the acquisition's pending points), which is what BoTorch's
``sequential=True`` does. Two ways of finding each well are combined:

1. **Gradient-based mixed search** for the first ``optimized_wells`` wells: BoTorch's
   :func:`~botorch.optim.optimize_mixed.optimize_acqf_mixed_alternating`, which alternates
   L-BFGS/SLSQP steps on the continuous inputs with neighbourhood moves on categorical and integer
   inputs, so category combinations are never enumerated. Mixture sums are passed to it as
   *equality constraints* (supported for continuous dimensions in BoTorch 0.18) and linear
   constraints as inequality constraints; the returned point is then snapped onto the exact
   simplex (:meth:`EncodedSpace.snap`).
2. **Lazy greedy over a candidate pool** for the remaining wells: a space-filling pool of valid
   recipes plus perturbations ("spray") around the optimized wells and the measured incumbents is
   scored once; afterwards each well re-scores only the candidates whose last score could still
   win. This is Minoux's lazy greedy: the marginal gain of a candidate never grows as the plate
   fills up (expected improvement and hypervolume improvement are submodular per posterior
   sample; up to Monte-Carlo noise and the smoothing of BoTorch's log acquisitions), so a stale
   gain is an upper bound and most of the pool is never re-scored.

Why both: a gradient-based well costs seconds of CPU, so a whole plate optimized well by well
would take minutes; the first wells, where exploitation happens, get the full optimizer and the
exploration wells come from the pool at a fraction of the cost. The measurements (and the
timings of a 92- and a 96-well plate) are in ``benchmarks/results/settings.md``; see
:class:`OptimizerSettings` and :mod:`planner.runtime`.

Everything is seeded (torch, numpy, the pool's Sobol draw), so the same inputs and seed give the
same plate. Set ``PLANNER_FAST=1`` (as tests/conftest.py does) or pass :data:`FAST` for tiny
settings.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from torch import Tensor

from planner import progress
from planner.design import space_filling_design
from planner.errors import PlanningError, PlanningWarning
from planner.pool import exclusion_mask, lazy_greedy, set_pending_points
from planner.space import EncodedSpace

logger = logging.getLogger(__name__)

FAST_ENV = "PLANNER_FAST"
"""Environment variable: ``1`` makes :func:`default_settings` return :data:`FAST`."""


PROGRAM_CANDIDATES = 24
"""Furnace programs scored as whole runs per run (the best by their best well)."""
RUN_SAMPLES = 16
"""Settings of the other inputs each candidate program is scored with."""


class OptimizationError(PlanningError):
    """The acquisition optimizer failed to produce a valid batch."""


@dataclass(frozen=True)
class OptimizerSettings:
    """How hard to search for each plate.

    The defaults were tuned with ``benchmarks/suggest_speed.py`` to keep most of the
    hypervolume gain of much more effort while the demo's 96-well ``planner suggest`` stays under
    a minute on two cores; why each is what it is, with the figures, is in
    ``benchmarks/results/settings.md``.
    """

    num_restarts: int = 4
    """Starting points refined per gradient-optimized well."""
    raw_samples: int = 128
    """Random points scored to choose the starting points."""
    options: Mapping[str, Any] = field(
        default_factory=lambda: {
            "initialization_strategy": "random",
            "maxiter_alternating": 2,
            "maxiter_continuous": 16,
            "maxiter_discrete": 2,
        }
    )
    """Options of :func:`optimize_acqf_mixed_alternating`. Random starts (plus BoTorch's spray
    around the incumbents) instead of a continuous relaxation: the same optimum, for less."""
    optimized_wells: int = 3
    """Wells found by the gradient-based mixed search; the rest come from the pool."""
    pool_size: int = 1024
    """Space-filling candidates in the pool (plus the spray; at least twice the wells left).
    Larger pools cost time for no measurable hypervolume gain."""
    spray_per_anchor: int = 32
    """Perturbed candidates added around each optimized well and each incumbent."""
    spray_scale: float = 0.05
    """Std of the continuous perturbations, as a fraction of each input's range."""
    max_anchors: int = 8
    """Most measured incumbents used as spray anchors (those kept by the acquisition's pruning)."""
    lazy_batch: int = 8
    """Candidates re-scored together in one lazy-greedy round. Each call costs about
    ``lazy_batch x (baseline + pending)`` posterior rows and most steps need one round, so a
    small batch is cheaper."""
    score_chunk: int = 256
    """Most candidates scored in one acquisition call (the pool's first scoring, and BoTorch's
    ``init_batch_limit`` for the raw samples of the mixed optimizer). Each candidate carries the
    joint posterior of the baseline and the pending wells, so one call over the whole pool would
    build candidates x (baseline + pending) x training-rows kernel matrices: slower than chunks,
    and at a thousand observations gigabytes of memory."""
    mc_samples: int | None = None
    """Cap on the acquisition's quasi-MC samples (``None``: the campaign's
    ``planning.mc_samples``, see :class:`planner.acquisition.ProposalSettings`)."""
    fit_max_iter: int | None = None
    """Cap on the surrogate's hyperparameter iterations (``max_iter``, where it has one);
    ``None`` keeps the surrogate's default."""
    program_tolerance: float = 0.6931471805599453
    """Furnace programs (:func:`optimize_furnace_runs`): a candidate program whose best well's
    log acquisition is within this of the best candidate's (ln 2: at least half its expected
    improvement) is as good; among those the one farthest from the programs already chosen
    wins, so a model with no opinion gets spread-out programs rather than k copies of one."""
    threads: int | None = None
    """Torch intra-op threads while planning; ``None`` leaves torch's setting as it is: all cores
    in a ``planner suggest`` process, one in a backtest worker (which pins itself, so parallel
    seeds do not oversubscribe the cores). Two threads shorten a plate's wall time at more CPU
    time."""


DEFAULT = OptimizerSettings()
"""Settings for real campaigns."""

FAST = OptimizerSettings(
    num_restarts=2,
    raw_samples=32,
    options={"initialization_strategy": "random", "maxiter_alternating": 1,
             "maxiter_continuous": 4, "maxiter_discrete": 1},
    optimized_wells=1,
    pool_size=128,
    spray_per_anchor=8,
    max_anchors=4,
    lazy_batch=8,
    mc_samples=32,
    fit_max_iter=50,
    threads=1,
)
"""Tiny settings for unit tests and CI (BoTorch's "fast optimize" spirit): valid, not good."""


def default_settings(fast: bool = False) -> OptimizerSettings:
    """:data:`FAST` when ``fast`` or ``$PLANNER_FAST`` is set to 1/true, else :data:`DEFAULT`."""
    env = os.environ.get(FAST_ENV, "").strip().lower() in ("1", "true", "yes")
    return FAST if (fast or env) else DEFAULT


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (no-op for ``None``)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def optimize_mixed(
    acqf: AcquisitionFunction,
    space: EncodedSpace,
    q: int,
    *,
    seed: int,
    fixed_features: Mapping[int, float] | None = None,
    shared_dims: Sequence[int] = (),
    avoid: Tensor | None = None,
    num_restarts: int | None = None,
    raw_samples: int | None = None,
    options: Mapping[str, Any] | None = None,
    settings: OptimizerSettings | None = None,
) -> tuple[Tensor, Tensor]:
    """Choose ``q`` wells maximizing ``acqf`` over a mixed space, by sequential greedy selection.

    The acquisition's pending points grow by each chosen well (BoTorch acquisition functions with
    cached pending points cannot forget them, so ``acqf`` should not be reused afterwards).

    Args:
        acqf: BoTorch acquisition on the encoded space (``b x 1 x d -> b``), with
            ``set_X_pending``; its current ``X_pending`` (e.g. wells already on order) is kept.
        space: The encoded search space (bounds, categories, integers, constraints).
        q: Number of wells.
        seed: Seeds torch and numpy; same inputs and seed give the same wells.
        fixed_features: Encoded dimension → value held for every well (on top of
            ``space.fixed_features``).
        shared_dims: Dimensions chosen freely for the first well and then held at that value for
            all others (one furnace temperature per plate).
        avoid: ``m x d`` encoded points never to propose again (measured and pending wells),
            compared after snapping to the space's grid.
        num_restarts: Overrides ``settings.num_restarts``.
        raw_samples: Overrides ``settings.raw_samples``.
        options: Overrides ``settings.options`` (passed to ``optimize_acqf_mixed_alternating``).
        settings: Search effort; default :func:`default_settings`.

    Returns:
        ``(X, values)``: ``q x d`` encoded wells in pick order, already snapped onto the space
        (exact mixture sums, whole levels), and ``q`` acquisition values, each the value of
        its well given the wells before it (BoTorch's log scale for log acquisitions).

    Warns:
        PlanningWarning: BoTorch's mixed optimizer failed; the remaining wells came from the pool.

    Raises:
        OptimizationError: fewer valid candidates than wells (constraints leave no room).
    """
    if q < 1:
        raise OptimizationError(f"a plate needs at least one well, got q={q}.")
    s = settings or default_settings()
    s = replace(
        s,
        num_restarts=num_restarts or s.num_restarts,
        raw_samples=raw_samples or s.raw_samples,
        options=dict(options if options is not None else s.options),
    )
    space = space if not fixed_features else _with_fixed_dims(space, fixed_features)
    picks: list[Tensor] = []
    values: list[float] = []
    with torch_threads(s.threads), torch.random.fork_rng():
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        base_pending = acqf.X_pending
        incumbents = _incumbents(acqf, s.max_anchors)
        taken = space.snap(avoid.reshape(-1, space.dim)) if avoid is not None else None
        n_first = min(q, s.optimized_wells)
        for k in range(n_first):
            progress.report("first", k, n_first)
            try:
                x, v = _optimize_one(acqf, space, s)
            except OptimizationError as exc:
                message = f"{exc} The remaining wells come from a candidate pool."
                logger.warning(message)
                warnings.warn(message, PlanningWarning, stacklevel=2)
                break
            if _is_taken(x, taken, picks):
                break  # the optimum is already measured, pending or on this plate: use the pool
            if not bool(space.contains(x)[0]):
                logger.info("the optimized well breaks a physical limit; the pool fills the plate")
                break
            picks.append(x)
            values.append(v)
            if len(picks) == 1 and shared_dims:
                space = _with_fixed_dims(space, {j: float(x[j]) for j in shared_dims})
            set_pending_points(acqf, base_pending, picks)
        if len(picks) < q and shared_dims and not picks:
            # The plate-wide value comes from the best pool row, then holds for the rest.
            pool = _enough(_pool(space, s, seed, rng, incumbents, picks, taken), 1)
            rows, first_value = lazy_greedy(acqf, pool, 1, base_pending=base_pending,
                                            batch=s.lazy_batch, chunk=s.score_chunk)
            picks.append(pool[rows[0]])
            values.extend(first_value)
            space = _with_fixed_dims(space, {j: float(picks[0][j]) for j in shared_dims})
        if len(picks) < q:
            need = q - len(picks)
            pool = _enough(_pool(space, s, seed, rng, incumbents, picks, taken, need=need), need)
            rows, more_values = lazy_greedy(acqf, pool, need, base_pending=base_pending,
                                            chosen=picks, batch=s.lazy_batch,
                                            chunk=s.score_chunk)
            picks.extend(pool[r] for r in rows)
            values.extend(more_values)
    return torch.stack(picks), torch.tensor(values, dtype=torch.double)


def run_sizes(q: int, runs: int) -> list[int]:
    """Wells per furnace run: ``q`` split as evenly as possible, larger runs first.

    >>> run_sizes(92, 4), run_sizes(10, 4)
    ([23, 23, 23, 23], [3, 3, 2, 2])
    """
    runs = max(1, min(int(runs), int(q)))
    return [q // runs + (1 if j < q % runs else 0) for j in range(runs)]


def optimize_furnace_runs(
    acqf: AcquisitionFunction,
    space: EncodedSpace,
    q: int,
    *,
    program_dims: Sequence[int],
    runs: int,
    seed: int,
    avoid: Tensor | None = None,
    shared_dims: Sequence[int] = (),
    settings: OptimizerSettings | None = None,
) -> tuple[Tensor, Tensor, list[int]]:
    """Choose ``q`` wells that share at most ``runs`` furnace programs (values of
    ``program_dims``), by greedy selection run after run.

    For run ``j``: candidate programs (a space-filling pool with spray around the incumbents and
    the wells so far, plus the gradient optimizer's best well) are scored by the acquisition
    given every well chosen before (they are pending points, so a program near an earlier run's
    is worth less); among the programs within ``settings.program_tolerance`` of the best, the one
    farthest from the earlier programs (and from the edges of the range) is taken. The run's wells
    are then chosen by :func:`optimize_mixed` with the program held fixed (gradient-searched wells
    in the first run only; each run's pool is ``pool_size / runs``). A model with no opinion
    thus gets programs spread over the range; a confident one gets its best program first and
    the next-best, given that one, after.

    Args:
        acqf: As for :func:`optimize_mixed`; its pending points grow by every chosen well.
        space: The encoded space.
        q: Wells.
        program_dims: Encoded dimensions that make up a furnace program.
        runs: Furnace runs (at most ``q``); wells per run from :func:`run_sizes`.
        seed: Seeds everything.
        avoid: Encoded points never to propose (measured, pending).
        shared_dims: Dimensions held for the whole plate at the first well's value.
        settings: Search effort; the gradient wells and the pool are shared between the runs.

    Returns:
        ``(X, values, run)``: ``q x d`` wells grouped by run (run 1's wells first), their
        acquisition values, and each well's run number (1 … ``runs``).
    """
    s = settings or default_settings()
    dims = [int(j) for j in program_dims if j not in space.fixed_features]
    if not dims or runs <= 1:  # one run: the program is chosen once, as a plate-wide value
        X, v = optimize_mixed(acqf, space, q, seed=seed, shared_dims=[*shared_dims, *dims],
                              avoid=avoid, settings=s)
        return X, v, [1] * q
    sizes = run_sizes(q, runs)
    # Gradient-searched wells in the first run only: later runs, with many pending wells, are
    # filled from their pool (a gradient search costs seconds per well there).
    first_run = replace(s, pool_size=max(64, s.pool_size // len(sizes)))
    later_runs = replace(first_run, optimized_wells=0)
    picks: list[Tensor] = []
    values: list[Tensor] = []
    labels: list[int] = []
    programs: list[Tensor] = []
    with torch_threads(s.threads), torch.random.fork_rng():
        torch.manual_seed(seed)
        for j, n in enumerate(sizes):
            taken = avoid.reshape(-1, space.dim).to(torch.double) if avoid is not None else None
            so_far = torch.cat(picks) if picks else None
            if so_far is not None:
                taken = so_far if taken is None else torch.cat([taken, so_far])
            program = _choose_program(acqf, space, dims, programs, so_far, s, seed + 7919 * j)
            programs.append(program)
            run_space = _with_fixed_dims(space, {d: float(v) for d, v in zip(dims, program,
                                                                              strict=True)})
            X, v = optimize_mixed(acqf, run_space, n, seed=seed + 7919 * j, avoid=taken,
                                  shared_dims=shared_dims if j == 0 else (),
                                  settings=first_run if j == 0 else later_runs)
            if j == 0 and shared_dims:
                space = _with_fixed_dims(space, {d: float(X[0, d]) for d in shared_dims})
            picks.append(X)
            values.append(v)
            labels += [j + 1] * n
    return torch.cat(picks), torch.cat(values), labels


def program_coordinates(space: EncodedSpace, dims: Sequence[int], X: Tensor) -> Tensor:
    """``n x len(dims)`` program values scaled to [0, 1] by their bounds (log10 for log-scale
    inputs): the coordinates in which programs are spread out."""
    lo, hi = space.bounds[0, list(dims)], space.bounds[1, list(dims)]
    Z = X[..., list(dims)].to(torch.double).clone()
    for k, j in enumerate(dims):
        if j in space.log_dims:
            Z[..., k] = torch.log10(Z[..., k].clamp_min(lo[k]))
            lo[k], hi[k] = math.log10(lo[k]), math.log10(hi[k])
    return ((Z - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.0, 1.0)


def farthest_program(U: Tensor, chosen: Tensor | None, eligible: Tensor | None = None) -> int:
    """Row of ``U`` (``n x m`` programs in [0, 1]) farthest from the ``chosen`` ones, edges
    counting as mirrors (distance to an edge counts twice): k picks from a flat range land near
    the centres of k equal strata, not in the corners. Ties go to the lowest row.

    >>> U = torch.linspace(0, 1, 101).reshape(-1, 1)
    >>> a = farthest_program(U, None); b = farthest_program(U, U[[a]])
    >>> round(float(U[a, 0]), 2), round(abs(float(U[b, 0]) - 0.5), 2)   # 1/6 or 5/6 next
    (0.5, 0.33)
    """
    edge = 2.0 * torch.minimum(U, 1.0 - U).min(dim=-1).values
    score = edge
    if chosen is not None and len(chosen):
        score = torch.minimum(edge, torch.cdist(U, chosen.to(U)).min(dim=-1).values)
    if eligible is not None:
        score = torch.where(eligible, score, -math.inf)
    return int(torch.argmax(score))


def _choose_program(acqf: AcquisitionFunction, space: EncodedSpace, dims: list[int],
                    programs: list[Tensor], so_far: Tensor | None, s: OptimizerSettings,
                    seed: int) -> Tensor:
    """The next run's program: the farthest from earlier runs among the nearly-best."""
    rng = np.random.default_rng(seed)
    anchors = [a for a in (_incumbents(acqf, s.max_anchors), so_far) if a is not None]
    pool = candidate_pool(space, min(s.pool_size, 256), seed=seed, rng=rng,
                          anchors=torch.cat(anchors) if anchors else None,
                          per_anchor=s.spray_per_anchor, scale=s.spray_scale)
    if s.optimized_wells > 0 and not programs:
        # The first run's program from the gradient optimizer too (the best well of the plate);
        # later runs score the pool only: with many pending wells a gradient search is costly.
        try:
            x, _ = _optimize_one(acqf, space, s)
            if bool(space.contains(x)[0]):
                pool = torch.cat([x.reshape(1, -1), pool])
        except OptimizationError as exc:
            logger.info("furnace program search without the gradient optimizer: %s", exc)
    pool = _enough(pool, 1)
    scores = _score_rows(acqf, pool, s.score_chunk)
    done = torch.stack(programs) if programs else None
    fresh = torch.ones(len(pool), dtype=torch.bool)
    if done is not None:
        same = (pool[:, dims].unsqueeze(1) == done.unsqueeze(0)).all(dim=-1).any(dim=-1)
        fresh = ~same if bool((~same).any()) else fresh
    # The most promising programs (by their best well) are then scored as a run would use
    # them: with many settings of the other inputs, so that a program whose good wells are
    # few (at the edge of the feasible region, say) ranks below one that holds a whole run.
    order = torch.argsort(torch.where(fresh, scores, -math.inf), descending=True, stable=True)
    top = order[:PROGRAM_CANDIDATES]
    pool, scores = pool[top], _run_scores(acqf, space, dims, pool[top], pool, scores[top], s, rng)
    fresh = fresh[top]
    U = program_coordinates(space, dims, pool)
    Uc = program_coordinates(space, dims, _program_rows(space, dims, done)) if done is not None \
        else None
    finite = torch.isfinite(scores) & fresh
    if bool(finite.any()):
        best = float(scores[finite].max())
        eligible = finite & (scores >= best - s.program_tolerance)
    else:
        eligible = fresh
    row = farthest_program(U, Uc, eligible)
    return pool[row, dims].clone()


def _run_scores(acqf: AcquisitionFunction, space: EncodedSpace, dims: list[int],
                candidates: Tensor, pool: Tensor, own: Tensor, s: OptimizerSettings,
                rng: np.random.Generator) -> Tensor:
    """Score of each candidate's program as a run: the mean log acquisition of the better half
    of ``RUN_SAMPLES`` wells with that program (the other inputs taken from pool rows) and the
    candidate's own well."""
    m = min(RUN_SAMPLES, len(pool))
    others = pool[torch.as_tensor(rng.choice(len(pool), m, replace=False))]
    rows = others.unsqueeze(0).repeat(len(candidates), 1, 1)
    rows[..., dims] = candidates[:, dims].unsqueeze(1)
    rows = space.snap(rows.reshape(-1, space.dim))
    ok = space.contains(rows)
    values = torch.full((len(rows),), -math.inf, dtype=torch.double)
    if bool(ok.any()):
        values[ok] = _score_rows(acqf, rows[ok], s.score_chunk)
    values = torch.cat([own.reshape(-1, 1), values.reshape(len(candidates), m)], dim=1)
    finite = values[torch.isfinite(values)]
    floor = float(finite.min()) - 10.0 if finite.numel() else -1e6
    best_half = torch.sort(values.clamp_min(floor), dim=1, descending=True).values
    return best_half[:, : max(1, (m + 1) // 2)].mean(dim=1)


def _program_rows(space: EncodedSpace, dims: list[int], programs: Tensor) -> Tensor:
    """Full encoded rows holding ``programs`` on ``dims`` (other dimensions at their lower
    bound), for :func:`program_coordinates`."""
    rows = space.bounds[0].repeat(len(programs), 1)
    rows[:, dims] = programs.to(rows)
    return rows


@torch.no_grad()
def _score_rows(acqf: AcquisitionFunction, X: Tensor, chunk: int) -> Tensor:
    """Acquisition value of each row (one-point batches, given the pending points)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = torch.cat([acqf(x.unsqueeze(-2)).reshape(-1).double() for x in X.split(chunk)])
    return torch.nan_to_num(values, nan=-math.inf)


def _is_taken(x: Tensor, taken: Tensor | None, picks: list[Tensor]) -> bool:
    """Is ``x`` exactly a measured, pending or already chosen point?"""
    rows = ([taken] if taken is not None else []) + [p.reshape(1, -1) for p in picks]
    return bool(rows) and bool((torch.cat(rows) == x.reshape(1, -1)).all(dim=-1).any())


def _untaken(pool: Tensor, taken: Tensor | None, picks: list[Tensor]) -> Tensor:
    """Pool rows that are not exactly a measured, pending or already chosen point."""
    rows = ([taken] if taken is not None else []) + ([torch.stack(picks)] if picks else [])
    if not rows or not len(pool):
        return pool
    return pool[~exclusion_mask(pool, torch.cat(rows).to(pool))]


def _enough(pool: Tensor, n: int) -> Tensor:
    if len(pool) < n:
        raise OptimizationError(
            f"only {len(pool)} valid candidates for {n} wells.",
            hint="The constraints (or shared values) leave almost no room; relax them or ask for "
            "fewer wells.",
        )
    return pool


def _with_fixed_dims(space: EncodedSpace, fixed: Mapping[int, float]) -> EncodedSpace:
    extra = {int(k): float(v) for k, v in fixed.items()}
    return replace(space, fixed_features={**space.fixed_features, **extra})


def _optimize_one(acqf: AcquisitionFunction, space: EncodedSpace,
                  s: OptimizerSettings) -> tuple[Tensor, float]:
    """One well by BoTorch's alternating mixed optimizer, snapped onto the exact space.

    Log-scale inputs are searched as their log10 (see :class:`Log10Search`); the optimizer's
    point is decoded back to lab units before it is snapped (bounds, resolution)."""
    fixed = dict(space.fixed_features)
    free_dims = [j for j in range(space.dim) if j not in fixed]
    if not free_dims:
        x = space.snap(_fixed_point(space))
    else:
        search = Log10Search.of(acqf, space)
        try:
            with warnings.catch_warnings(record=True) as caught:
                # Record rather than raise inside BoTorch: a warning escalated to an error (as in
                # a strict test run) would abort its optimizer half-way. Re-emitted below.
                warnings.simplefilter("always")
                X, _ = optimize_acqf_mixed_alternating(
                    search or acqf,
                    bounds=search.bounds if search else space.bounds,
                    discrete_dims={j: v for j, v in space.discrete_dims.items()
                                   if j not in fixed} or None,
                    cat_dims={j: v for j, v in space.cat_dims.items() if j not in fixed} or None,
                    options={"init_batch_limit": s.score_chunk, **s.options},
                    q=1,
                    raw_samples=s.raw_samples,
                    num_restarts=s.num_restarts,
                    fixed_features=fixed or None,
                    inequality_constraints=space.inequality_constraints or None,
                    equality_constraints=_active_equalities(space) or None,
                )
        except Exception as exc:  # BoTorch raises plain RuntimeError/ValueError subclasses
            message = f"the mixed acquisition optimizer failed: {type(exc).__name__}: {exc}"
            raise OptimizationError(
                message.splitlines()[0],
                hint="The planner falls back to scoring a candidate pool.",
            ) from exc
        _reemit(caught)
        X = search.to_lab(X) if search else X
        x = space.snap(X.reshape(-1, space.dim))[0]
    with torch.no_grad():
        value = float(acqf(x.reshape(1, 1, -1)).reshape(-1)[0])
    return x, value


class Log10Search(AcquisitionFunction):
    """An acquisition function seen in the optimizer's coordinates: log10 of log-scale inputs.

    ``optimize_acqf_mixed_alternating`` draws its random starts uniformly within the bounds and
    takes gradient steps of similar size everywhere; for a parameter spanning decades (a dopant
    from 0.01 to 10 %) that would leave the lowest decade almost unexplored. This wrapper gives
    the optimizer ``log10(x)`` on those dimensions, with bounds in log space, and evaluates the
    wrapped acquisition (which, like the surrogate, works in lab units) at ``10 ** z``. Other
    dimensions pass through unchanged.

    A log-scale input that a linear constraint names, or that is held fixed, is searched in lab
    units: the constraint would not be linear in its log. Candidate pools still spread it
    log-uniformly (:func:`planner.design.space_filling_design`).
    """

    def __init__(self, acqf: AcquisitionFunction, space: EncodedSpace, dims: Sequence[int]) -> None:
        super().__init__(model=acqf.model)
        self.acqf = acqf
        self.dims = list(dims)
        self._lower = space.bounds[0].clone()
        self.bounds = self.to_search(space.bounds)
        baseline = getattr(acqf, "X_baseline", None)
        self._baseline = None if baseline is None else self.to_search(baseline.detach())

    @classmethod
    def of(cls, acqf: AcquisitionFunction, space: EncodedSpace) -> Log10Search | None:
        """The wrapper for ``space``'s searchable log-scale dimensions, or ``None`` if none."""
        constrained = {j for idx, _, _ in (*space.equality_constraints,
                                           *space.inequality_constraints)
                       for j in idx.tolist()}
        dims = [j for j in space.log_dims
                if j not in constrained and j not in space.fixed_features]
        return cls(acqf, space, dims) if dims else None

    @property
    def X_baseline(self) -> Tensor:  # noqa: N802 - BoTorch's name; its spray starts use it
        """The wrapped acquisition's baseline points, in search coordinates."""
        if self._baseline is None:
            raise AttributeError("X_baseline")
        return self._baseline

    def to_search(self, X: Tensor) -> Tensor:
        """``... x d`` lab-unit points → search coordinates (log10 on the log dimensions)."""
        Z = X.clone()
        lower = self._lower.to(X)[self.dims]
        Z[..., self.dims] = torch.log10(torch.maximum(X[..., self.dims], lower))
        return Z

    def to_lab(self, Z: Tensor) -> Tensor:
        """``... x d`` search coordinates → lab units (differentiable)."""
        X = Z.clone()
        X[..., self.dims] = torch.pow(10.0, Z[..., self.dims])
        return X

    def forward(self, X: Tensor) -> Tensor:
        """``b x q x d`` points in search coordinates → ``b`` acquisition values."""
        return self.acqf(self.to_lab(X))


def _reemit(caught: list[warnings.WarningMessage]) -> None:
    """Re-emit BoTorch's warnings, once each, minus one known false alarm.

    BoTorch 0.18's mixed optimizer passes a ``tol`` option to SciPy's SLSQP (used once equality
    constraints are present), which SciPy reports as an unknown option: noise, not a problem.
    """
    seen: set[tuple[type[Warning], str]] = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key in seen or "Unknown solver options: tol" in key[1]:
            continue
        seen.add(key)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fixed_point(space: EncodedSpace) -> Tensor:
    x = space.bounds.mean(dim=0)
    for j, v in space.fixed_features.items():
        x[j] = v
    return x


def _active_equalities(space: EncodedSpace) -> list[tuple[Tensor, Tensor, float]]:
    """Equality constraints with fixed dimensions folded into the right-hand side.

    BoTorch's mixed optimizer drops fixed dimensions from its continuous sub-problems, so a
    constraint may only mention free dimensions.
    """
    out = []
    for idx, coef, rhs in space.equality_constraints:
        keep = [k for k, j in enumerate(idx.tolist()) if j not in space.fixed_features]
        moved = sum(float(coef[k]) * space.fixed_features[j]
                    for k, j in enumerate(idx.tolist()) if j in space.fixed_features)
        if keep:
            out.append((idx[keep], coef[keep], float(rhs) - moved))
    return out


def _incumbents(acqf: AcquisitionFunction, n: int) -> Tensor | None:
    """Up to ``n`` measured points the acquisition kept after pruning (likely-best designs)."""
    baseline = getattr(acqf, "X_baseline", None)
    if baseline is None or n <= 0:
        return None
    return baseline.detach().reshape(-1, baseline.shape[-1])[:n].to(torch.double)


def _pool(space: EncodedSpace, s: OptimizerSettings, seed: int, rng: np.random.Generator,
          incumbents: Tensor | None, picks: list[Tensor], taken: Tensor | None,
          need: int = 1) -> Tensor:
    """The candidate pool around the incumbents and the wells so far, minus taken points.

    At least twice as many space-filling rows as the ``need`` wells still to fill are drawn, so
    that a small ``pool_size`` (the fast settings) still fills a 96-well plate.
    """
    parts = [torch.stack(picks)] if picks else []
    if incumbents is not None:
        parts.append(incumbents)
    pool = candidate_pool(space, max(s.pool_size, 2 * need), seed=seed, rng=rng,
                          anchors=torch.cat(parts) if parts else None,
                          per_anchor=s.spray_per_anchor, scale=s.spray_scale)
    return _untaken(pool, taken, picks)


def candidate_pool(
    space: EncodedSpace,
    n: int,
    *,
    seed: int,
    rng: np.random.Generator | None = None,
    anchors: Tensor | None = None,
    per_anchor: int = 0,
    scale: float = 0.05,
) -> Tensor:
    """Valid encoded candidates: a space-filling design plus perturbations around anchors.

    Args:
        space: The encoded space; its fixed features are imposed on every candidate.
        n: Space-filling candidates (scrambled Sobol via
            :func:`planner.design.space_filling_design`).
        seed: Seed of the space-filling design.
        rng: Generator for the perturbations (default: seeded from ``seed``).
        anchors: ``m x d`` encoded points to perturb around.
        per_anchor: Perturbed candidates per anchor.
        scale: Std of continuous perturbations as a fraction of each range (of its log10 for
            a log-scale input); each categorical input switches to a random level with
            probability 0.25, integers move by -1/0/+1.

    Returns:
        ``N x d`` double tensor of distinct candidates that satisfy every bound, level, mixture
        sum, linear constraint and fixed feature.
    """
    rng = rng or np.random.default_rng(seed)
    parts = [space.encode(space_filling_design(space.spec, n, seed=seed))] if n > 0 else []
    if anchors is not None and anchors.numel() and per_anchor > 0:
        A = anchors.reshape(-1, space.dim).detach().cpu().numpy()
        Z = np.repeat(A, per_anchor, axis=0)
        lo, hi = space.bounds.numpy().copy()
        cont = [j for j in range(space.dim)
                if j not in space.categories and j not in space.integers]
        # Log-scale inputs are perturbed by factors: a step is a share of the decades they span.
        logs = list(space.log_dims)
        Z[:, logs] = np.log10(np.clip(Z[:, logs], lo[logs], hi[logs]))
        lo[logs], hi[logs] = np.log10(lo[logs]), np.log10(hi[logs])
        Z[:, cont] += rng.normal(0.0, scale, (len(Z), len(cont))) * (hi - lo)[cont]
        Z[:, logs] = 10.0 ** Z[:, logs]
        for j, levels in space.categories.items():
            flip = rng.random(len(Z)) < 0.25
            Z[flip, j] = rng.integers(0, len(levels), int(flip.sum()))
        for j in space.integers:
            Z[:, j] += rng.integers(-1, 2, len(Z))
        parts.append(torch.as_tensor(Z, dtype=torch.double))
    if not parts:
        return torch.empty(0, space.dim, dtype=torch.double)
    X = space.snap(torch.cat(parts))
    X = X[space.contains(X)]
    return torch.unique(X, dim=0) if len(X) else X
