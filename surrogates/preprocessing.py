"""Turning a lab table into model inputs: column checks, category codes, log scales, imputation.

Every surrogate owns one :class:`TabularEncoder`, fitted inside ``fit`` on the training rows only,
so cross-validation never leaks test rows into imputation or scaling.

The *encoded space* is what BoTorch sees: an ``n x d`` ``torch.double`` tensor, columns in the
order of ``feature_names_in_``, numeric columns in their own units and categorical columns as level
codes ``0..k-1``. Log scales, imputation and normalization are applied inside the models, so the
planner can optimize directly in the units of the lab.
"""

from __future__ import annotations

import difflib
import logging
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.models.transforms.input import InputTransform
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers the class)
from sklearn.impute import IterativeImputer, SimpleImputer
from torch import Tensor

from surrogates.errors import InputDataError, InputDataWarning

logger = logging.getLogger(__name__)

#: Substrings of column names that mark a heavy-tailed positive quantity (surface areas).
LOG_NAME_MARKERS = ("ssa", "m2_per_g")
#: Sample skewness above which a strictly positive column is modelled on a log scale.
LOG_SKEW_THRESHOLD = 2.0
_MAX_LISTED = 5


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a ``did you mean`` hint for a misspelled column name (empty when nothing is close)."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=3)]
    if close:
        return "Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "Known columns: " + ", ".join(repr(c) for c in choices[:20]) + "."


def as_frame(X: Any, *, what: str = "X") -> pd.DataFrame:
    """Return ``X`` as a DataFrame; arrays get column names ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    arr = np.asarray(X.detach().cpu().numpy() if isinstance(X, Tensor) else X, dtype=object)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InputDataError(
            f"{what} must be a table (2-D), got an array of shape {arr.shape}.",
            hint="Pass a pandas DataFrame with one column per input.",
        )
    prefix = "x" if what == "X" else "y"
    return pd.DataFrame(arr, columns=[f"{prefix}{j}" for j in range(arr.shape[1])])


def numeric_column(col: pd.Series, *, name: str, hint: str) -> np.ndarray:
    """Convert a column to float, raising an :class:`InputDataError` that lists the bad cells.

    Args:
        col: the column as read.
        name: column name for the message.
        hint: what the user should do about text in this column.

    Returns:
        ``n`` float array; missing cells are NaN.
    """
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        converted = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & converted.isna()
        if bad.any():
            cells = [f"{col[i]!r} (row {i})" for i in col.index[bad][:_MAX_LISTED]]
            more = f" and {int(bad.sum()) - _MAX_LISTED} more" if bad.sum() > _MAX_LISTED else ""
            raise InputDataError(
                f"Column {name!r} must be numeric but holds text: {', '.join(cells)}{more}.",
                hint=hint,
            )
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        rows = list(col.index[np.isinf(values)][:_MAX_LISTED])
        raise InputDataError(
            f"Column {name!r} holds infinite values (rows {rows}).",
            hint="Replace them with a measured value or leave the cell empty.",
        )
    return values


def level_key(value: Any) -> str:
    """Key under which a category level is matched: ``1``, ``1.0`` and ``"1"`` are one level."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def one_hot(codes: Tensor, n_levels: Sequence[int]) -> Tensor:
    """One-hot encode ``... x c`` level codes into ``... x sum(n_levels)`` indicator columns."""
    if not n_levels:
        return codes.new_zeros(*codes.shape[:-1], 0)
    parts = [
        torch.nn.functional.one_hot(codes[..., j].round().long().clamp(0, k - 1), k).to(codes)
        for j, k in enumerate(n_levels)
    ]
    return torch.cat(parts, dim=-1)


class TabularEncoder:
    """Validates columns, codes categories, picks log scales and imputes missing inputs.

    Args:
        categorical: names of categorical input columns.
        categories: optional levels per categorical column (their order gives the codes); by
            default the sorted unique training values.
        log_columns: names of numeric columns modelled on a log10 scale, or ``"auto"``: strictly
            positive columns whose name marks a surface area (``ssa``, ``m2_per_g``) or whose
            skewness exceeds 2.
        impute: ``"iterative"`` (each missing numeric value regressed on the other inputs,
            scikit-learn's ``IterativeImputer``) or ``"median"``.
        seed: seed of the iterative imputer.
        log_floor: optional ``{column: low}``, the lowest value a log column can take (the
            search space's lower bound). Values below the floor are clamped to it, so that a
            log stays finite; the floor is half the smallest training value, or ``low`` where
            that is lower and positive, so candidates below the data stay distinguishable.
    """

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        categories: Mapping[str, Sequence[Any]] | None = None,
        log_columns: str | Sequence[str] | None = "auto",
        impute: str = "iterative",
        seed: int = 0,
        log_floor: Mapping[str, Any] | None = None,
    ) -> None:
        self.categorical = tuple(categorical)
        self.categories = dict(categories or {})
        self.log_columns = log_columns
        self.impute_strategy = impute
        self.seed = seed
        self.log_floor = dict(log_floor or {})
        self.warnings_: list[str] = []

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        """Learn column order, levels, log columns and the imputer from ``n x d`` inputs."""
        if isinstance(self.categorical, str):  # a lone name, not its letters
            self.categorical = (self.categorical,)
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            dupes = sorted({c for c in names if names.count(c) > 1})
            raise InputDataError(
                f"Input columns appear more than once: {dupes}.",
                hint="Rename or drop the duplicated columns.",
            )
        if not names:
            raise InputDataError("No input columns were given.", hint="Pass at least one input.")
        problems = [c for c in (*self.categorical, *self.categories) if c not in names]
        if problems:
            raise InputDataError(
                f"Categorical column {problems[0]!r} is not among the inputs {names}.",
                hint=did_you_mean(problems[0], names),
            )
        self.feature_names_ = names
        self.categorical_indices_ = [j for j, c in enumerate(names) if c in self.categorical]
        self.continuous_indices_ = [
            j for j in range(len(names)) if j not in self.categorical_indices_
        ]
        self.categories_: dict[str, list[Any]] = {}
        self._codes: dict[str, dict[str, int]] = {}
        for j in self.categorical_indices_:
            name = names[j]
            col = X.iloc[:, j]
            if name in self.categories:
                given: dict[str, Any] = {}
                for v in self.categories[name]:  # " LiPF6" and "LiPF6" are one level
                    given.setdefault(level_key(v), v)
                levels = list(given.values())
            else:
                seen: dict[str, Any] = {}
                for v in col.dropna():
                    seen.setdefault(level_key(v), v)
                levels = [seen[k] for k in sorted(seen)]
            if not levels:
                raise InputDataError(
                    f"Categorical column {name!r} has no values in the training rows.",
                    hint="Fill in the column or leave it out of the inputs.",
                )
            self.categories_[name] = levels
            self._codes[name] = {level_key(v): i for i, v in enumerate(levels)}
        raw = self._encode_array(X)
        self._choose_log_columns(raw)
        self._fit_imputer(raw)
        return self

    def _choose_log_columns(self, raw: np.ndarray) -> None:
        names = self.feature_names_
        chosen: list[int] = []
        if self.log_columns == "auto":
            for j in self.continuous_indices_:
                x = raw[:, j][~np.isnan(raw[:, j])]
                if len(x) < 3:
                    continue
                named = any(m in names[j].lower() for m in LOG_NAME_MARKERS)
                skewed = bool(np.std(x) > 0 and pd.Series(x).skew() > LOG_SKEW_THRESHOLD)
                if (named or skewed) and x.min() > 0:
                    chosen.append(j)
                elif named:
                    self.warnings_.append(
                        f"Column {names[j]!r} looks like a surface area but holds values <= 0; "
                        "it is modelled on a linear scale."
                    )
        elif self.log_columns:
            wanted = [self.log_columns] if isinstance(self.log_columns, str) else self.log_columns
            for name in wanted:
                if name not in names:
                    raise InputDataError(
                        f"Log column {name!r} is not among the inputs.",
                        hint=did_you_mean(name, names),
                    )
                j = names.index(name)
                if j in self.categorical_indices_:
                    raise InputDataError(
                        f"Column {name!r} is categorical and cannot be put on a log scale.",
                        hint="Remove it from log_columns.",
                    )
                x = raw[:, j][~np.isnan(raw[:, j])]
                if len(x) and x.min() <= 0:
                    raise InputDataError(
                        f"Column {name!r} is to be modelled on a log scale but holds "
                        f"{x.min():g} (values must be > 0).",
                        hint="Remove it from log_columns or fix the non-positive values.",
                    )
                chosen.append(j)
        self.log_indices_ = sorted(chosen)
        self.log_columns_ = [names[j] for j in self.log_indices_]
        # Candidates below the data are clamped to half the smallest training value (or the
        # space's lower bound, if lower and positive): a log of 0 is -inf and would poison a
        # whole acquisition batch.
        self._log_floor = {}
        for j in self.log_indices_:
            low = np.nanmin(raw[:, j]) if (~np.isnan(raw[:, j])).any() else np.nan
            floor = 0.5 * float(low) if np.isfinite(low) else 1e-12
            given = self.log_floor.get(names[j])
            if isinstance(given, numbers.Real) and 0 < float(given) < floor:
                floor = float(given)
            self._log_floor[j] = floor

    def _fit_imputer(self, raw: np.ndarray) -> None:
        names = self.feature_names_
        self._cat_fill = {}
        for j in self.categorical_indices_:
            col = raw[:, j][~np.isnan(raw[:, j])]
            self._cat_fill[j] = float(np.bincount(col.astype(int)).argmax()) if len(col) else 0.0
        self.missing_columns_ = [names[j] for j in range(len(names)) if np.isnan(raw[:, j]).any()]
        self._imputer: Any = None
        if not self.continuous_indices_:
            return
        Z = self._imputer_design(raw)
        empty = [
            names[j] for k, j in enumerate(self.continuous_indices_) if np.isnan(Z[:, k]).all()
        ]
        if empty:
            msg = f"Input columns {empty} are empty in the training rows; they are filled with 0."
            self.warnings_.append(msg)
            logger.warning(msg)
            warnings.warn(msg, InputDataWarning, stacklevel=4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if self.impute_strategy == "iterative" and len(self.continuous_indices_) > 1:
                self._imputer = IterativeImputer(
                    max_iter=15, random_state=self.seed, keep_empty_features=True
                ).fit(Z)
            elif self.impute_strategy in ("iterative", "median"):
                self._imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(Z)
            else:
                raise InputDataError(
                    f"Unknown imputation strategy {self.impute_strategy!r}.",
                    hint="Use 'iterative' or 'median'.",
                )
        for w in caught:  # recorded, not re-raised
            self.warnings_.append(f"imputer: {w.message}")
            logger.info("imputer: %s", w.message)

    def _imputer_design(self, raw: np.ndarray) -> np.ndarray:
        """Numeric columns (log ones as log10) plus one-hot categories, the imputer's view."""
        num = raw[:, self.continuous_indices_].copy()
        for k, j in enumerate(self.continuous_indices_):
            if j in self.log_indices_:
                num[:, k] = np.log10(np.maximum(num[:, k], self._log_floor[j]))
        if not self.categorical_indices_:
            return num
        cats = raw[:, self.categorical_indices_].copy()
        for k, j in enumerate(self.categorical_indices_):
            cats[np.isnan(cats[:, k]), k] = self._cat_fill[j]
        onehot = one_hot(torch.as_tensor(cats), self.n_levels_).numpy()
        return np.hstack([num, onehot])

    # ------------------------------------------------------------------ using
    @property
    def n_levels_(self) -> list[int]:
        """Number of levels of each categorical column, in encoding order."""
        return [len(self.categories_[self.feature_names_[j]]) for j in self.categorical_indices_]

    def select(self, X: Any) -> pd.DataFrame:
        """Return the training columns of ``X`` in training order; unknown names get a hint."""
        frame = as_frame(X)
        if not isinstance(X, pd.DataFrame) and frame.shape[1] == len(self.feature_names_):
            frame = frame.set_axis(self.feature_names_, axis=1)
        frame = frame.rename(columns=str)
        missing = [c for c in self.feature_names_ if c not in frame.columns]
        if missing:
            raise InputDataError(
                f"Input column {missing[0]!r} is missing"
                + (f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else "")
                + ".",
                hint=did_you_mean(missing[0], frame.columns),
            )
        return frame[self.feature_names_]

    def _encode_array(self, X: pd.DataFrame) -> np.ndarray:
        """Encode every column, collecting all problems before raising one error."""
        names = [str(c) for c in X.columns]
        out = np.empty((len(X), len(names)), dtype=float)
        problems: list[str] = []
        hints: list[str] = []
        for j, name in enumerate(names):
            col = X.iloc[:, j]
            if name in self._codes:
                codes = self._codes[name]
                keys = col.map(lambda v: None if pd.isna(v) else level_key(v))
                unseen = sorted({k for k in keys.dropna() if k not in codes})
                if unseen:
                    problems.append(
                        f"Column {name!r} has level(s) {unseen[:_MAX_LISTED]} the model never "
                        f"saw (known: {list(codes)[:20]})."
                    )
                    hints.append(
                        f"Add the new level to categories[{name!r}] before fitting, or fix "
                        "its spelling."
                    )
                    continue
                out[:, j] = [np.nan if k is None else codes[k] for k in keys]
            else:
                try:
                    out[:, j] = numeric_column(
                        col,
                        name=name,
                        hint=f"If {name!r} is a category (a precursor, a salt), declare it "
                        f"categorical: categorical=({name!r},), on the command line "
                        f"--categorical {name}.",
                    )
                except InputDataError as exc:
                    problems.append(str(exc))
                    hints.append(exc.hint or "")
        if problems:
            raise InputDataError(" ".join(problems), hint=" ".join(dict.fromkeys(hints)))
        return out

    def encode(self, X: Any, *, impute: bool = True) -> Tensor:
        """Encode a frame into the model space.

        Args:
            X: ``n x d`` frame holding (at least) the training input columns; NaN allowed.
            impute: fill missing cells with the fitted imputer (default). With ``False`` NaN
                stays NaN; every ``to_botorch()`` model imputes such cells itself.

        Returns:
            ``n x d`` ``torch.double`` tensor, numeric columns in their own units, categorical
            columns as level codes.
        """
        raw = self._encode_array(self.select(X))
        low = [
            self.feature_names_[j]
            for j in self.log_indices_
            if (raw[:, j][~np.isnan(raw[:, j])] <= 0).any()
        ]
        if low:
            msg = (f"Columns {low} are modelled on a log scale but hold values <= 0; "
                   "the model treats them as half the smallest training value.")
            logger.warning(msg)
            warnings.warn(msg, InputDataWarning, stacklevel=3)
        Xt = torch.as_tensor(raw, dtype=torch.double)
        return self.impute(Xt) if impute else Xt

    def impute(self, Xt: Tensor) -> Tensor:
        """Fill NaN cells of an encoded ``... x d`` tensor; observed cells keep their gradient.

        Missing numeric cells are predicted from the other inputs of the same row (iterative
        imputer, on the log scale for log columns); a missing category becomes the commonest
        training level. The filled values are constants (no gradient flows through them).
        """
        mask = torch.isnan(Xt)
        if not bool(mask.any()):
            return Xt
        d = len(self.feature_names_)
        flat = Xt.detach().reshape(-1, d).cpu().numpy().astype(float)
        filled = flat.copy()
        for j in self.categorical_indices_:
            filled[np.isnan(filled[:, j]), j] = self._cat_fill[j]
        if self._imputer is not None:
            with warnings.catch_warnings():
                # Fitted on the same columns; sklearn's feature-name check is noise here.
                warnings.simplefilter("ignore", UserWarning)
                Z = self._imputer.transform(self._imputer_design(filled))
            num = Z[:, : len(self.continuous_indices_)]
            for k, j in enumerate(self.continuous_indices_):
                col = num[:, k]
                if j in self.log_indices_:
                    col = np.power(10.0, col)
                gap = np.isnan(filled[:, j])
                filled[gap, j] = col[gap]
        fill = torch.as_tensor(filled, dtype=Xt.dtype, device=Xt.device).reshape(Xt.shape)
        return torch.where(mask, fill, Xt)

    def clamp_log(self, Xt: Tensor) -> Tensor:
        """Clamp log-scale columns at half their smallest training value (keeps log10 finite)."""
        if not self.log_indices_:
            return Xt
        floor = torch.full((Xt.shape[-1],), -math.inf, dtype=Xt.dtype, device=Xt.device)
        for j, v in self._log_floor.items():
            floor[j] = v
        return torch.maximum(Xt, floor)


class CompleteInputs(InputTransform):
    """BoTorch input transform: impute NaN cells and clamp log columns into their domain.

    Planner candidates are normally complete, so this is the identity there; it makes the
    BoTorch model accept the output of ``encode(X, impute=False)`` as well.
    """

    def __init__(self, encoder: TabularEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True

    def transform(self, X: Tensor) -> Tensor:
        """``... x d`` encoded inputs -> same shape, complete and log-safe."""
        return self.encoder.clamp_log(self.encoder.impute(X))

    def equals(self, other: InputTransform) -> bool:
        """Transforms are equal when they share the fitted encoder."""
        return isinstance(other, CompleteInputs) and other.encoder is self.encoder
