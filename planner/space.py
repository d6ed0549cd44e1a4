"""The search space in the surrogate's encoding: what BoTorch's optimizers need, and the way back.

A recipe campaign's inputs are encoded the way :mod:`surrogates` encodes them: one column per
input in ``feature_names`` order, numeric columns in lab units (a temperature stays in °C),
categorical columns as level codes ``0..k-1`` in the order given by ``categories``. The
:class:`EncodedSpace` describes that box for BoTorch:

* ``bounds`` (``2 x d``): parameter bounds; a categorical spans ``[0, k-1]``; a mixture
  component spans its component bounds.
* ``cat_dims`` / ``discrete_dims``: categorical codes and integer values, in the form of
  :func:`botorch.optim.optimize_mixed.optimize_acqf_mixed_alternating`.
* ``equality_constraints``: each mixture sums to exactly 1, and ``==`` linear constraints.
* ``inequality_constraints``: ``>=`` constraints as given, ``<=`` ones negated (BoTorch only
  knows ``sum(c * x) >= rhs``).
* ``fixed_features``: dimensions that cannot move (a one-level categorical, a mixture component
  whose lower and upper bound coincide) plus whatever the caller fixes (a plate-wide furnace
  temperature).

:meth:`EncodedSpace.decode` turns optimizer output back into recipes a chemist can weigh out:
level names, whole numbers for integers, and mixture fractions projected onto the bounded simplex
so that every row sums to 1 in float64.

Example:
    >>> from campaigns.templates import load_template
    >>> spec = load_template("hard-carbon")
    >>> space = EncodedSpace.from_spec(spec, feature_names=spec.input_names,
    ...                                categories=spec.categorical_inputs)
    >>> space.bounds.shape
    torch.Size([2, 6])
    >>> recipes = space.decode(space.bounds)     # q x d tensor -> q-row DataFrame
    >>> recipes["precursor"].tolist(), recipes["dwell_h"].tolist()
    (['cellulose', 'phenolic_resin'], [0.5, 10.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from campaigns.physchem import RecipeLimits
from campaigns.spec import (
    CampaignSpec,
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
)
from planner.design import linear_constraint_holds
from planner.errors import PlanningError

BoTorchConstraint = tuple[Tensor, Tensor, float]
"""``(indices, coefficients, rhs)``: ``sum(coefficients * X[..., indices]) (>=|==) rhs``."""

#: Inequality constraints are tightened by this much (relative to ``1 + |rhs|``) for the
#: optimizer, so that SLSQP's constraint tolerance never yields a recipe that breaks the spec.
CONSTRAINT_MARGIN = 1e-7
#: Tolerance of the validity checks (as in :func:`planner.design.linear_constraint_holds`).
CHECK_TOL = 1e-9


class SpaceError(PlanningError):
    """The surrogate's encoding does not match the campaign spec, or a value is out of the space."""


@dataclass(frozen=True)
class MixtureDims:
    """Encoded positions and bounds of one mixture group."""

    name: str
    """Group name (``solvent``)."""
    dims: tuple[int, ...]
    """Positions of the components in the encoding."""
    lower: tuple[float, ...]
    """Component lower bounds (fractions)."""
    upper: tuple[float, ...]
    """Component upper bounds (fractions)."""
    resolution: float | None = None
    """Dosing step of the fractions (``0.01``), or ``None``."""


@dataclass(frozen=True)
class EncodedSpace:
    """A recipe campaign's design space in the surrogate's encoded coordinates.

    Build it with :meth:`from_spec`; every field is derived from the spec and the encoding.
    """

    spec: CampaignSpec = field(repr=False)
    """The campaign spec the space was built from."""
    feature_names: tuple[str, ...]
    """Input names in encoding order (``surrogate.feature_names_in_``)."""
    bounds: Tensor
    """``2 x d`` double tensor of lower and upper bounds, lab units / level codes."""
    categories: dict[int, tuple[Any, ...]]
    """Categorical dimension → levels; code ``i`` means ``levels[i]``."""
    integers: dict[int, tuple[int, int]]
    """Integer dimension → ``(lower, upper)``, inclusive."""
    mixtures: tuple[MixtureDims, ...]
    """Mixture groups (components sum to exactly 1)."""
    equality_constraints: list[BoTorchConstraint]
    """BoTorch equality constraints: mixture sums and ``==`` linear constraints."""
    inequality_constraints: list[BoTorchConstraint]
    """BoTorch ``>=`` constraints (spec ``<=`` constraints negated), slightly tightened."""
    fixed_features: dict[int, float]
    """Dimension → encoded value for dimensions that do not move."""
    resolution: dict[int, float] = field(default_factory=dict)
    """Continuous dimension → the smallest step the lab can set (1 °C on a furnace)."""
    log_dims: tuple[int, ...] = ()
    """Dimensions of ``log_scale`` parameters (a dopant from 0.01 to 10 %). They stay in lab units
    here, as everywhere the surrogate sees them (it takes its own log10); the optimizer searches
    their log10 (:func:`planner.optimize.optimize_mixed`) and designs and candidate pools spread
    them log-uniformly."""
    limits: RecipeLimits | None = None
    """Declared physical limits (a liquid solvent blend, salt below its solubility; see
    :mod:`campaigns.physchem`) that :meth:`contains` and :meth:`violations` check too; ``None``
    when none applies to this campaign."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(
        cls,
        spec: CampaignSpec,
        feature_names: Sequence[str],
        categories: Mapping[str, Sequence[Any]],
    ) -> EncodedSpace:
        """Describe ``spec``'s recipe space in the encoding ``feature_names`` / ``categories``.

        Args:
            spec: A recipe-mode campaign spec.
            feature_names: The ``d`` encoded column names, in order (the surrogate's
                ``feature_names_in_``); must be exactly ``spec.input_names`` in some order.
            categories: Categorical input → levels in code order (the surrogate's
                ``categories_``); must hold the spec's levels.

        Returns:
            The encoded space.

        Raises:
            SpaceError: library-mode spec, names that do not match, or levels that differ.
        """
        if spec.is_library:
            raise SpaceError(
                "a candidate-library campaign has no continuous search space.",
                hint="Score the library with planner.pool.select_from_pool instead.",
            )
        names = [str(n) for n in feature_names]
        expected = spec.input_names
        if sorted(names) != sorted(expected):
            missing = sorted(set(expected) - set(names))
            extra = sorted(set(names) - set(expected))
            raise SpaceError(
                f"the model's inputs do not match the campaign: missing {missing}, unexpected "
                f"{extra}.",
                hint="Fit the surrogate on snapshot.training_data(), whose columns are "
                "spec.input_names.",
            )
        pos = {n: j for j, n in enumerate(names)}
        d = len(names)
        lower = torch.zeros(d, dtype=torch.double)
        upper = torch.zeros(d, dtype=torch.double)
        cats: dict[int, tuple[Any, ...]] = {}
        ints: dict[int, tuple[int, int]] = {}
        fixed: dict[int, float] = {}
        steps: dict[int, float] = {}
        logs: list[int] = []
        for p in spec.parameters:
            j = pos[p.name]
            if isinstance(p, CategoricalParameter):
                levels = tuple(categories.get(p.name, p.levels))
                if sorted(map(str, levels)) != sorted(p.levels):
                    raise SpaceError(
                        f"categorical {p.name!r}: the model knows levels {list(levels)}, the "
                        f"spec {list(p.levels)}.",
                        hint=f"Pass categories={{{p.name!r}: spec levels}} to the surrogate.",
                    )
                cats[j] = levels
                lower[j], upper[j] = 0.0, float(len(levels) - 1)
                if len(levels) == 1:
                    fixed[j] = 0.0
            elif isinstance(p, IntegerParameter):
                ints[j] = (int(p.lower), int(p.upper))
                lower[j], upper[j] = float(p.lower), float(p.upper)
            elif isinstance(p, ContinuousParameter):
                lower[j], upper[j] = float(p.lower), float(p.upper)
                if p.resolution is not None:
                    steps[j] = float(p.resolution)
                if p.log_scale:
                    logs.append(j)
        equalities: list[BoTorchConstraint] = []
        mixtures = []
        for group in spec.mixtures:
            dims = tuple(pos[c] for c in group.components)
            lo = tuple(group.bound(c)[0] for c in group.components)
            hi = tuple(group.bound(c)[1] for c in group.components)
            for j, a, b in zip(dims, lo, hi, strict=True):
                lower[j], upper[j] = a, b
                if a == b:
                    fixed[j] = a
            mixtures.append(MixtureDims(group.name, dims, lo, hi,
                                        group.resolution))
            ones = torch.ones(len(dims), dtype=torch.double)
            equalities.append((torch.tensor(dims, dtype=torch.long), ones, 1.0))
        inequalities: list[BoTorchConstraint] = []
        for lc in spec.linear_constraints:
            idx = torch.tensor([pos[n] for n in lc.coefficients], dtype=torch.long)
            coef = torch.tensor(list(lc.coefficients.values()), dtype=torch.double)
            margin = CONSTRAINT_MARGIN * (1.0 + abs(lc.rhs))
            if lc.operator == ">=":
                inequalities.append((idx, coef, float(lc.rhs) + margin))
            elif lc.operator == "<=":
                inequalities.append((idx, -coef, -float(lc.rhs) + margin))
            else:
                equalities.append((idx, coef, float(lc.rhs)))
        return cls(
            spec=spec,
            feature_names=tuple(names),
            bounds=torch.stack([lower, upper]),
            categories=cats,
            integers=ints,
            mixtures=tuple(mixtures),
            equality_constraints=equalities,
            inequality_constraints=inequalities,
            fixed_features=fixed,
            resolution=steps,
            log_dims=tuple(sorted(logs)),
            limits=RecipeLimits.from_spec(spec),
        )

    @classmethod
    def for_spec(cls, spec: CampaignSpec) -> EncodedSpace:
        """The space in the spec's own encoding: ``spec.input_names`` order, the spec's levels.

        For work that needs no surrogate (rounding a first plate, checking recipes).
        """
        return cls.from_spec(spec, spec.input_names, spec.categorical_inputs)

    # ------------------------------------------------------------------ views for BoTorch
    @property
    def dim(self) -> int:
        """Number of encoded dimensions ``d``."""
        return len(self.feature_names)

    @property
    def cat_dims(self) -> dict[int, list[float]]:
        """Categorical dimension → allowed codes, for ``optimize_acqf_mixed_alternating``."""
        return {j: [float(i) for i in range(len(lv))] for j, lv in self.categories.items()}

    @property
    def discrete_dims(self) -> dict[int, list[float]]:
        """Integer dimension → allowed values, for ``optimize_acqf_mixed_alternating``."""
        return {j: [float(v) for v in range(lo, hi + 1)] for j, (lo, hi) in self.integers.items()}

    def index(self, name: str) -> int:
        """Encoded position of input ``name``."""
        try:
            return self.feature_names.index(name)
        except ValueError:
            raise SpaceError(
                f"{name!r} is not an input of this campaign.",
                hint=f"Inputs: {', '.join(self.feature_names)}.",
            ) from None

    def encode_value(self, name: str, value: Any) -> float:
        """Encode one recipe value of input ``name`` (a level name becomes its code).

        Raises:
            SpaceError: unknown level, or a number outside the input's bounds.
        """
        j = self.index(name)
        if j in self.categories:
            levels = [str(v) for v in self.categories[j]]
            if str(value) not in levels:
                raise SpaceError(
                    f"{value!r} is not a level of {name!r}.", hint=f"Levels: {', '.join(levels)}."
                )
            return float(levels.index(str(value)))
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise SpaceError(f"{name!r} needs a number, got {value!r}.") from None
        lo, hi = self.bounds[:, j].tolist()
        if not lo <= x <= hi:
            raise SpaceError(
                f"{name!r} = {x:g} is outside its bounds [{lo:g}, {hi:g}].",
                hint="Give a value inside the campaign's bounds or widen them in the spec.",
            )
        if j in self.integers and x != round(x):
            raise SpaceError(f"{name!r} is an integer parameter, got {x:g}.")
        return x

    def with_fixed(self, values: Mapping[str, Any]) -> EncodedSpace:
        """A copy of the space with inputs held at ``values`` (recipe units or level names)."""
        fixed = dict(self.fixed_features)
        for name, value in values.items():
            fixed[self.index(name)] = self.encode_value(name, value)
        return replace(self, fixed_features=fixed)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, recipes: pd.DataFrame) -> Tensor:
        """Encode recipe rows (columns ``feature_names``) into an ``n x d`` double tensor.

        Level names become codes; numeric values stay in lab units. Unknown levels raise
        :class:`SpaceError`; missing numbers stay NaN.
        """
        out = torch.empty(len(recipes), self.dim, dtype=torch.double)
        for j, name in enumerate(self.feature_names):
            col = recipes[name]
            if j in self.categories:
                codes = {str(v): i for i, v in enumerate(self.categories[j])}
                bad = sorted({str(v) for v in col.dropna() if str(v) not in codes})
                if bad:
                    raise SpaceError(
                        f"column {name!r} holds unknown level(s) {bad}.",
                        hint=f"Levels: {', '.join(codes)}.",
                    )
                vals = [np.nan if pd.isna(v) else codes[str(v)] for v in col]
                out[:, j] = torch.tensor(vals, dtype=torch.double)
            else:
                out[:, j] = torch.tensor(pd.to_numeric(col).to_numpy(dtype=float, copy=True))
        return out

    def decode(self, X: Tensor) -> pd.DataFrame:
        """Turn ``n x d`` encoded points back into recipes.

        Continuous values are clipped to their bounds; integers rounded; categorical codes
        rounded to the nearest level; each mixture projected (Euclidean) onto
        ``{x : lower <= x <= upper, sum(x) = 1}`` in float64, so fractions sum to 1 within
        float64 rounding (well below 1e-12). Where the spec gives a ``resolution``, values are
        then rounded to it (see :meth:`rounded`; mixtures keep their exact sum); a row whose
        rounding would break a bound or constraint stays unrounded.

        Args:
            X: ``n x d`` tensor in this space's encoding.

        Returns:
            ``n``-row DataFrame with columns ``spec.input_names`` (recipe order): level names for
            categoricals, ``int64`` for integers, ``float64`` otherwise.
        """
        Xn = self._snap(X)
        data: dict[str, Any] = {}
        for j, name in enumerate(self.feature_names):
            if j in self.categories:
                levels = np.asarray(self.categories[j], dtype=object)
                data[name] = levels[Xn[:, j].astype(int)]
            elif j in self.integers:
                data[name] = Xn[:, j].astype(np.int64)
            else:
                data[name] = Xn[:, j]
        return pd.DataFrame(data)[self.spec.input_names]

    def rounded(self, recipes: pd.DataFrame) -> pd.DataFrame:
        """Recipe rows as the lab will make them: the one rounding to the lab's resolution.

        The same as ``decode(encode(recipes))``: continuous values rounded to their
        ``resolution`` (and kept in bounds), mixture fractions to theirs with the sum kept at
        exactly 1 (the rounding error goes to the largest component), integers as ``int64``.
        A row whose rounding would break a bound or a linear constraint stays unrounded. Rows
        that are already valid and on the grid come back unchanged, so rounding twice is
        rounding once.

        Args:
            recipes: ``n`` rows with (at least) the columns ``feature_names``, inside the space.

        Returns:
            ``n``-row DataFrame with columns ``spec.input_names``.
        """
        return self.decode(self.encode(recipes[list(self.feature_names)]))

    def snap(self, X: Tensor) -> Tensor:
        """``... x d`` points moved onto the valid space: what :meth:`decode` would write, encoded.

        Used to put proposed wells into the acquisition's pending points exactly as they will be
        made.
        """
        shape = X.shape
        return torch.as_tensor(self._snap(X), dtype=X.dtype, device=X.device).reshape(shape)

    def _snap(self, X: Tensor) -> np.ndarray:
        Xn = X.detach().to(torch.double).cpu().numpy().reshape(-1, self.dim).copy()
        lo, hi = self.bounds.numpy()
        Xn = np.clip(Xn, lo, hi)
        for j, v in self.fixed_features.items():
            Xn[:, j] = v
        for j in (*self.categories, *self.integers):
            Xn[:, j] = np.rint(Xn[:, j])
        for group in self.mixtures:
            cols = list(group.dims)
            Xn[:, cols] = project_to_simplex(Xn[:, cols], np.array(group.lower),
                                             np.array(group.upper))
        if self.resolution or any(g.resolution for g in self.mixtures):
            Xr = self._round_to_resolution(Xn)
            ok = self.contains(torch.as_tensor(Xr), physical=False).numpy()
            Xn[ok] = Xr[ok]  # a row whose rounding would break a constraint stays unrounded
        return Xn

    def _round_to_resolution(self, Xn: np.ndarray) -> np.ndarray:
        """Round to the lab's steps (the planner's only rounding): continuous values to their
        resolution (kept in bounds), mixture fractions to theirs with the rounding error put on
        the largest component so the sum stays 1."""
        Xr = Xn.copy()
        lo, hi = self.bounds.numpy()
        for j, step in self.resolution.items():
            if j not in self.fixed_features:
                Xr[:, j] = np.clip(np.round(np.round(Xn[:, j] / step) * step, 10), lo[j], hi[j])
        for group in self.mixtures:
            if not group.resolution:
                continue
            cols = list(group.dims)
            # Work in whole steps so the component that absorbs the rounding error is chosen
            # from integers (ties broken by position): snapping twice changes nothing.
            counts = np.round(Xn[:, cols] / group.resolution)
            rows = np.arange(len(counts))
            big = np.argmax(counts, axis=1)
            whole = 1.0 / group.resolution
            if abs(whole - round(whole)) < 1e-9:
                counts[rows, big] += round(whole) - counts.sum(axis=1)
                big = np.argmax(counts, axis=1)  # the same choice for an already-rounded row
            vals = np.round(counts * group.resolution, 10)
            vals[rows, big] = 0.0
            vals[rows, big] = 1.0 - vals.sum(axis=1)
            Xr[:, cols] = vals
        return Xr

    def contains(self, X: Tensor, *, tol: float = CHECK_TOL, physical: bool = True) -> Tensor:
        """Boolean ``n`` mask: which encoded rows are valid recipes of this space.

        Checks bounds, whole codes for categoricals and integers, fixed features, equality
        constraints (mixture sums) and the spec's linear inequalities, each within ``tol``, and
        (unless ``physical=False``) the declared physical :attr:`limits`.
        """
        X = X.reshape(-1, self.dim).to(torch.double)
        ok = ((X >= self.bounds[0] - tol) & (X <= self.bounds[1] + tol)).all(dim=-1)
        for j in (*self.categories, *self.integers):
            ok &= X[:, j] == torch.round(X[:, j])
        for j, v in self.fixed_features.items():
            ok &= (X[:, j] - v).abs() <= tol
        for idx, coef, rhs in self.equality_constraints:
            ok &= ((X[:, idx] * coef).sum(-1) - rhs).abs() <= tol * (1.0 + abs(rhs))
        for idx, coef, rhs in self.inequality_constraints:
            margin = CONSTRAINT_MARGIN * (1.0 + abs(rhs))
            ok &= (X[:, idx] * coef).sum(-1) >= rhs - margin - tol
        if physical and self.limits is not None and bool(ok.any()):
            rows = torch.nonzero(ok).reshape(-1)
            held = self.limits.holds(self._frame(X[rows]))
            ok[rows[torch.as_tensor(~held)]] = False
        return ok

    def _frame(self, X: Tensor) -> pd.DataFrame:
        """Valid encoded rows as recipes in lab units (level names), without any rounding."""
        Xn = X.detach().cpu().numpy()
        data: dict[str, Any] = {}
        for j, name in enumerate(self.feature_names):
            if j in self.categories:
                levels = np.asarray(self.categories[j], dtype=object)
                data[name] = levels[np.clip(np.rint(Xn[:, j]), 0, len(levels) - 1).astype(int)]
            else:
                data[name] = Xn[:, j]
        return pd.DataFrame(data)

    def violations(self, recipes: pd.DataFrame) -> list[str]:
        """Every way the recipe rows break the spec, as messages (empty when all rows are valid)."""
        return [msg for _, msg in self._problems(recipes)]

    def valid_rows(self, recipes: pd.DataFrame) -> np.ndarray:
        """Boolean mask over the rows of ``recipes``: True where the recipe breaks nothing."""
        ok = np.ones(len(recipes), dtype=bool)
        for i, _ in self._problems(recipes):
            ok[i] = False
        return ok

    def _problems(self, recipes: pd.DataFrame) -> list[tuple[int, str]]:
        problems: list[tuple[int, str]] = []
        for j, name in enumerate(self.feature_names):
            col = recipes[name]
            if j in self.categories:
                bad = ~col.astype(str).isin([str(v) for v in self.categories[j]]).to_numpy()
            else:
                x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
                lo, hi = self.bounds[:, j].tolist()
                bad = ~((x >= lo - CHECK_TOL) & (x <= hi + CHECK_TOL))
                if j in self.integers:
                    bad |= x != np.rint(x)
            for i in np.flatnonzero(bad):
                problems.append((int(i), f"row {i}, {name!r}: {col.iloc[i]!r} is not allowed"))
        for group in self.mixtures:
            names = [self.feature_names[j] for j in group.dims]
            total = recipes[names].to_numpy(dtype=float).sum(axis=1)
            for i in np.flatnonzero(~(np.abs(total - 1.0) <= CHECK_TOL)):
                problems.append((int(i), f"row {i}, mixture {group.name!r}: fractions sum to "
                                         f"{total[i]!r}, not 1"))
        for k, lc in enumerate(self.spec.linear_constraints):
            for i in np.flatnonzero(~linear_constraint_holds(recipes, lc, tol=CHECK_TOL)):
                problems.append((int(i), f"row {i}: linear constraint {k} "
                                         f"({lc.description or lc.operator}) fails"))
        if self.limits is not None:
            problems += self.limits.problems(recipes.reset_index(drop=True))
        return problems


def project_to_simplex(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto ``{lower <= z <= upper, sum(z) = 1}``.

    The projection is ``z = clip(x - tau, lower, upper)`` for the scalar ``tau`` that makes the
    row sum to 1 (found by bisection; the sum is monotone in ``tau``). The last float64 rounding
    residue is put on the component with the most room, so ``|sum(z) - 1|`` is a few ulp.

    Args:
        x: ``n x k`` fractions (any values).
        lower: ``k`` component lower bounds, ``sum(lower) <= 1``.
        upper: ``k`` component upper bounds, ``sum(upper) >= 1``.

    Returns:
        ``n x k`` float64 fractions.
    """
    x = np.asarray(x, dtype=np.float64)
    done = (np.abs(x.sum(axis=1) - 1.0) <= 4e-16 * x.shape[1]) & (x >= lower).all(axis=1) & (
        x <= upper).all(axis=1)
    lo_tau = np.min(x - upper[None, :], axis=1) - 1.0
    hi_tau = np.max(x - lower[None, :], axis=1) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo_tau + hi_tau)
        total = np.clip(x - mid[:, None], lower, upper).sum(axis=1)
        above = total > 1.0
        lo_tau = np.where(above, mid, lo_tau)
        hi_tau = np.where(above, hi_tau, mid)
        if np.all(hi_tau - lo_tau < 1e-15):
            break
    z = np.clip(x - 0.5 * (lo_tau + hi_tau)[:, None], lower, upper)
    z = _close_sum(z, lower, upper)
    # Rows already on the simplex stay bit-for-bit unchanged, so snapping is idempotent.
    return np.where(done[:, None], x, z)


def _close_sum(z: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Set the component with the most room to ``1 - sum(others)``: the float64 sum is then 1
    up to one rounding of the last addition."""
    rows = np.arange(len(z))
    resid = 1.0 - z.sum(axis=1)
    room = np.where(resid[:, None] >= 0, upper - z, z - lower)
    k = np.argmax(room, axis=1)
    others = z.sum(axis=1) - z[rows, k]
    z = z.copy()
    z[rows, k] = np.clip(1.0 - others, lower[k], upper[k])
    return z
