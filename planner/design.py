"""Space-filling designs for the first plate (before any data): scrambled Sobol over the space.

Every kind of parameter is honoured: continuous bounds (log scale where asked), integers,
categoricals (levels balanced across the plate), mixtures that sum to 1 (uniform on the simplex
within component bounds), linear constraints and the declared physical limits of
:mod:`campaigns.physchem` (rejection with a fresh Sobol draw).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import qmc

from campaigns.physchem import RecipeLimits
from campaigns.spec import (
    CampaignSpec,
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    LinearConstraint,
    MixtureGroup,
)
from planner.errors import PlanningError


def _dims(spec: CampaignSpec) -> int:
    return len(spec.parameters) + sum(len(m.components) - 1 for m in spec.mixtures)


def _simplex(u: np.ndarray, group: MixtureGroup) -> np.ndarray:
    """Map ``n x (k-1)`` uniforms to fractions on the bounded simplex (sum exactly 1).

    Uses sorted uniforms (the spacings of uniform order statistics are uniform on the simplex),
    then rescales into the component bounds: ``x = lo + (1 - sum(lo)) * s`` for the spacing
    vector ``s``, and rejects rows that break an upper bound.
    """
    n, k = u.shape[0], len(group.components)
    cuts = np.sort(u, axis=1)
    edges = np.concatenate([np.zeros((n, 1)), cuts, np.ones((n, 1))], axis=1)
    spacings = np.diff(edges, axis=1)
    lo = np.array([group.bound(c)[0] for c in group.components])
    x = lo + (1.0 - lo.sum()) * spacings
    x /= x.sum(axis=1, keepdims=True)  # exact sum 1 against rounding
    assert x.shape == (n, k)
    return x


def _satisfies(df: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    ok = np.ones(len(df), dtype=bool)
    for group in spec.mixtures:
        for comp in group.components:
            lo, hi = group.bound(comp)
            ok &= (df[comp] >= lo - 1e-12).to_numpy() & (df[comp] <= hi + 1e-12).to_numpy()
    for lc in spec.linear_constraints:
        ok &= linear_constraint_holds(df, lc)
    limits = RecipeLimits.from_spec(spec)
    if limits is not None:
        ok &= limits.holds(df.reset_index(drop=True))
    return ok


def linear_constraint_holds(df: pd.DataFrame, lc: LinearConstraint,
                            tol: float = 1e-9) -> np.ndarray:
    """Row mask: does each row of ``df`` satisfy the linear constraint ``lc``?"""
    lhs = sum(coef * df[name].to_numpy(dtype=float) for name, coef in lc.coefficients.items())
    if lc.operator == "<=":
        return lhs <= lc.rhs + tol
    if lc.operator == ">=":
        return lhs >= lc.rhs - tol
    return np.abs(lhs - lc.rhs) <= max(tol, 1e-6)


def _draw(spec: CampaignSpec, n: int, rng: np.random.Generator, seed: int) -> pd.DataFrame:
    d = _dims(spec)
    sampler = qmc.Sobol(d=d, scramble=True, seed=rng.integers(2**32))
    m = int(np.ceil(np.log2(max(n, 2))))
    u = sampler.random_base2(m)[:n]
    cols: dict[str, np.ndarray] = {}
    j = 0
    for p in spec.parameters:
        col = u[:, j]
        j += 1
        if isinstance(p, ContinuousParameter):
            if p.log_scale:
                cols[p.name] = np.exp(np.log(p.lower) + col * (np.log(p.upper) - np.log(p.lower)))
            else:
                cols[p.name] = p.lower + col * (p.upper - p.lower)
        elif isinstance(p, IntegerParameter):
            cols[p.name] = np.minimum(
                p.lower + np.floor(col * (p.upper - p.lower + 1)), p.upper
            ).astype(int)
        elif isinstance(p, CategoricalParameter):
            # Balanced levels: a random permutation of repeated levels, ordered by the Sobol
            # coordinate so the levels stay spread over the other dimensions.
            reps = np.resize(np.arange(len(p.levels)), n)
            rng.shuffle(reps)
            order = np.argsort(np.argsort(col))
            cols[p.name] = np.asarray(p.levels, dtype=object)[np.sort(reps)[order]]
    for group in spec.mixtures:
        k = len(group.components)
        x = _simplex(u[:, j : j + k - 1], group)
        j += k - 1
        for i, comp in enumerate(group.components):
            cols[comp] = x[:, i]
    return pd.DataFrame(cols)[spec.input_names]


def space_filling_design(spec: CampaignSpec, n: int, *, seed: int) -> pd.DataFrame:
    """``n`` recipes spread over the design space (scrambled Sobol), reproducible from ``seed``.

    Args:
        spec: Campaign spec in recipe mode.
        n: Number of recipes (the plate's sample wells).
        seed: Random seed; the same seed gives the same design.

    Returns:
        ``n x d`` frame with columns ``spec.input_names``; every row satisfies bounds, integer
        and categorical levels, mixture sums (exactly 1) and linear constraints.

    Raises:
        PlanningError: if the constraints leave (almost) no feasible region.
    """
    if spec.is_library:
        raise PlanningError(
            "space-filling designs are for recipe campaigns; this campaign uses a candidate "
            "library.",
            hint="Use library_design() to pick spread-out candidates from the table.",
        )
    rng = np.random.default_rng(seed)
    accepted: list[pd.DataFrame] = []
    have = 0
    for attempt in range(200):
        # First try exactly n points (keeps categorical levels balanced); oversample only when
        # constraints reject some.
        batch = _draw(spec, n if attempt == 0 else max(n, 16) * 2, rng, seed)
        batch = batch[_satisfies(batch, spec)]
        accepted.append(batch)
        have += len(batch)
        if have >= n:
            break
    if have < n:
        raise PlanningError(
            f"could only find {have} of {n} recipes satisfying the linear and mixture constraints.",
            hint="The constraints leave almost no room; check their directions and right-hand "
                 "sides.",
        )
    out = pd.concat(accepted, ignore_index=True).iloc[:n].reset_index(drop=True)
    return out


def library_design(library: pd.DataFrame, inputs: list[str], n: int, *, seed: int,
                   exclude: set[str] | None = None) -> pd.DataFrame:
    """Pick ``n`` spread-out candidates from a library (see :func:`spread_out_rows`).

    Args:
        exclude: ``candidate_id`` values never to pick (measured or on order).

    Returns:
        The chosen rows of ``library`` (all columns), in pick order.
    """
    library = library.reset_index(drop=True)
    mask = (library["candidate_id"].isin(exclude).to_numpy() if exclude
            else np.zeros(len(library), bool))
    rows = spread_out_rows(library, inputs, n, seed=seed, exclude=mask)
    return library.iloc[rows].reset_index(drop=True)


def spread_out_rows(table: pd.DataFrame, inputs: list[str], n: int, *, seed: int,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``n`` spread-out rows of ``table`` (greedy max-min distance, seeded).

    Numeric inputs are rank-scaled to [0, 1] (robust to heavy tails such as SSA), missing values
    sit at the column median, categoricals count as distance 1 when they differ.

    Args:
        table: Candidate rows.
        inputs: Columns that define the distance.
        n: Rows to pick.
        seed: Seeds the first pick.
        exclude: ``len(table)`` booleans: rows never to pick.

    Raises:
        PlanningError: fewer than ``n`` rows are left.
    """
    allowed = np.flatnonzero(~exclude) if exclude is not None else np.arange(len(table))
    pool = table.iloc[allowed]
    if len(pool) < n:
        raise PlanningError(
            f"the library has only {len(pool)} unused candidates, {n} were asked for.",
            hint="Add candidates to the library or use a smaller plate.",
        )
    feats = []
    for name in inputs:
        col = pool[name]
        if pd.api.types.is_numeric_dtype(col):
            r = col.rank(pct=True).fillna(0.5).to_numpy(dtype=float)
            feats.append(r[:, None])
        else:
            codes = pd.factorize(col.fillna("?"))[0]
            feats.append(np.eye(codes.max() + 1)[codes] / np.sqrt(2))
    X = np.hstack(feats) if feats else np.zeros((len(pool), 1))
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(pool)))]
    dist = np.linalg.norm(X - X[chosen[0]], axis=1)
    for _ in range(n - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(X - X[nxt], axis=1))
    return allowed[chosen]
