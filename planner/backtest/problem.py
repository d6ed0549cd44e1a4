"""The pool of a backtest: a lab table read, checked and reduced to distinct candidates.

Reading is forgiving about the file (the plate reader's decoder: CSV in any common encoding with
``,``, ``;`` or tab separators, or XLSX; decimal commas) and strict about the content: unknown
columns get a "did you mean", non-numeric cells are all reported at once with their row and
column, with a hint naming the columns that hold labels (``--categorical``) or sample
identifiers (left out of ``--inputs``).
Without ``--inputs``, a text column with its own value in most rows (a sample ID) is left out
and reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from campaigns.hints import closest
from planner.backtest.base import PoolView, PriorData
from planner.errors import PlanningError


class BacktestInputError(PlanningError):
    """The table, a column name or a backtest option is not usable."""

    exit_code = 2


@dataclass(frozen=True)
class TargetSpec:
    """A target column and whether it is maximized or minimized."""

    name: str
    """Column name in the table."""
    direction: Literal["max", "min"]
    """``"max"`` or ``"min"``."""


_DIRECTIONS = {"max": "max", "maximize": "max", "min": "min", "minimize": "min"}


def parse_target(text: str) -> TargetSpec:
    """Parse ``NAME:max`` / ``NAME:min`` (the last colon separates the direction)."""
    name, sep, direction = text.strip().rpartition(":")
    if not sep or not name.strip():
        raise BacktestInputError(
            f"Target {text!r} has no direction.",
            hint="Write the target as NAME:max or NAME:min, e.g. --target toughness:max.",
        )
    key = direction.strip().lower()
    if key not in _DIRECTIONS:
        raise BacktestInputError(
            f"Target {text!r}: direction {direction!r} is not max or min.",
            hint="Write the target as NAME:max or NAME:min.",
        )
    return TargetSpec(name=name.strip(), direction=_DIRECTIONS[key])  # type: ignore[arg-type]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a lab table with the plate reader's decoder (:func:`campaigns.readers.read_table`).

    CSV in UTF-8 (with or without BOM), UTF-16, cp1252 or Latin-1, separated by ``,``, ``;`` or
    tabs, or an XLSX workbook (first sheet): cells stay text; numbers, decimal commas included,
    are converted by :meth:`BacktestProblem.from_frame`, whose messages then name the row a
    chemist sees in the spreadsheet (the index holds those row numbers). A column with data but
    no header is named ``Unnamed: N`` (N counted from 0, as pandas names a saved index). Or a
    Parquet table (told apart by its ``PAR1`` mark, read with pyarrow): columns keep their
    types, and messages count rows as in the CSV it was exported from (header = row 1).
    """
    from campaigns.errors import IngestError
    from campaigns.readers import read_table as decode_table

    path = Path(path)
    if not path.is_file():
        raise BacktestInputError(f"File {str(path)!r} does not exist.", hint="Check the path.")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        df = _read_parquet(path, head)
    else:
        try:
            df = decode_table(path.read_bytes(), filename=path.name)
        except IngestError as exc:
            raise BacktestInputError(str(exc), hint=exc.hint) from None
    names = [c if c else f"Unnamed: {i}" for i, c in enumerate(map(str, df.columns))]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise BacktestInputError(
            f"{path.name}: the header names {', '.join(map(repr, repeated))} more than once.",
            hint="Give every column its own name in the header row.",
        )
    df.columns = names
    # A Parquet table has no spreadsheet rows: messages count its rows as a CSV's (header = 1).
    df.attrs["spreadsheet_rows"] = df.attrs.get("format") != "parquet"
    return df


def _read_parquet(path: Path, head: bytes) -> pd.DataFrame:
    """A Parquet table as typed columns (numbers stay numbers; text and labels are strings).

    Row ``i`` (from 0) is reported as row ``i + 2``, as in the CSV the table was exported from.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    hint = ("Export or copy the whole table again (a file cut off while copying loses its "
            "footer), or save it as CSV.")
    if head != b"PAR1":
        raise BacktestInputError(f"{path.name}: the file is not a Parquet table (it does not "
                                 "start with Parquet's PAR1 mark).", hint=hint)
    try:
        table = pq.read_table(path, use_threads=False)
    except (OSError, pa.ArrowException) as exc:
        raise BacktestInputError(f"{path.name}: the Parquet table cannot be read ({exc}); it "
                                 "looks cut off or damaged.", hint=hint) from None
    if table.num_rows == 0:
        raise BacktestInputError(f"{path.name}: the table has no rows.",
                                 hint="Give a table with one row per experiment.")
    df = table.to_pandas().reset_index(drop=True)
    for name in df.columns:  # labels stored as Parquet dictionaries come back as categories
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            df[name] = df[name].astype(object)
    df.attrs["format"] = "parquet"
    return df


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*$")


def _row(col: pd.Series, position: int) -> int:
    """The spreadsheet row of a cell: the index of :func:`read_table`, else header + position."""
    return int(col.index[position]) if col.attrs.get("spreadsheet_rows") else position + 2


def _parse_numbers(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``col`` read as numbers (decimal commas accepted) and the mask of its non-numeric cells."""
    if pd.api.types.is_numeric_dtype(col):
        return col, pd.Series(False, index=col.index)
    text = col.astype("string").str.strip()
    text = text.where(
        ~text.str.match(_DECIMAL_COMMA, na=False), text.str.replace(",", ".", regex=False)
    )
    values = pd.to_numeric(text, errors="coerce")
    return values, (values.isna() & text.notna() & (text != "")).astype(bool)


def numbers_where_possible(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column whose filled cells are all numbers (decimal commas accepted)
    made a float column; columns holding text keep their cells as they are."""
    out = frame.copy()
    for name in frame.columns:
        values, bad = _parse_numbers(frame[name])
        if not bad.any():
            out[name] = values.to_numpy(dtype=float)
    return out


def _numeric(col: pd.Series, name: str, problems: list[str]) -> np.ndarray:
    """Column as floats (decimal commas accepted); bad cells are reported in ``problems``."""
    values, bad = _parse_numbers(col)
    for row in np.flatnonzero(bad.to_numpy())[:3]:
        problems.append(
            f"row {_row(col, row)}, column {name!r}: {col.iloc[row]!r} is not a number"
        )
    if bad.sum() > 3:
        problems.append(f"column {name!r}: {int(bad.sum()) - 3} more non-numeric cells")
    return values.to_numpy(dtype=float)


def _filled(col: pd.Series) -> pd.Series:
    """The non-empty cells of ``col`` as stripped text."""
    text = col.dropna().astype(str).str.strip()
    return text[text != ""]


def _text_share(col: pd.Series) -> float:
    """Share of the filled cells of ``col`` that are not numbers (decimal commas are numbers)."""
    if pd.api.types.is_numeric_dtype(col):
        return 0.0
    text = _filled(col)
    if text.empty:
        return 0.0
    values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    return float(values.isna().mean())


def _is_identifier(col: pd.Series) -> bool:
    """A sample ID: mostly text (or a saved pandas index) and a value of its own in most rows.

    More distinct values than half the filled rows: replicates may repeat an ID, but a label with
    that many levels, most seen once, teaches a model nothing either.
    """
    filled = _filled(col)
    if len(filled) < 2:
        return False
    if str(col.name).startswith("Unnamed:"):
        return filled.is_unique
    return filled.nunique() > len(filled) / 2 and _text_share(col) > 0.5


def _label_hint(df: pd.DataFrame, columns: Sequence[str]) -> str:
    """Hint for non-numeric cells: which columns hold labels or identifiers, and what to do."""
    ids = [c for c in columns if _is_identifier(df[c])]
    labels = [c for c in columns if c not in ids and _text_share(df[c]) > 0.5]
    parts = []
    if labels:
        parts.append(
            f"{', '.join(map(repr, labels))} {'holds' if len(labels) == 1 else 'hold'} labels: "
            f"add --categorical {','.join(labels)}."
        )
    if ids:
        parts.append(
            f"{', '.join(map(repr, ids))} {'has its' if len(ids) == 1 else 'have their'} own text "
            "in most rows (a sample ID?): leave it out of --inputs."
        )
    parts.append("Otherwise fix the cells listed.")
    return " ".join(parts)


def _inputs(df: pd.DataFrame, inputs: Sequence[str], categorical: Sequence[str],
            problems: list[str]) -> pd.DataFrame:
    """Input columns: labels as stripped text (NaN kept), the rest as floats (see _numeric)."""
    X = pd.DataFrame(index=df.index)
    for c in inputs:
        if c in categorical:
            X[c] = df[c].map(lambda v: None if pd.isna(v) else str(v).strip()).astype(object)
        else:
            X[c] = _numeric(df[c], c, problems)
    return X


def _resolve(names: Sequence[str], columns: Sequence[str], what: str) -> list[str]:
    """Check column names exist; one error lists every unknown name with a suggestion."""
    missing = [n for n in names if n not in columns]
    if missing:
        parts = []
        for n in missing:
            parts.append(
                f"{n!r}"
                + "".join(f" (did you mean {c!r}?)" for c in closest(n, columns, cutoff=0.5))
            )
        raise BacktestInputError(
            f"Unknown {what} column(s): {', '.join(parts)}.",
            hint="Columns in the file: " + ", ".join(repr(c) for c in columns),
        )
    return list(names)


@dataclass(frozen=True)
class BacktestProblem:
    """The distinct candidates of a lab table with their (averaged) outcomes."""

    X: pd.DataFrame
    """``N x d`` distinct inputs (numeric as float with NaN, categorical as str)."""
    Y: np.ndarray
    """``N x t`` outcomes in target units, averaged over rows with identical inputs."""
    targets: tuple[TargetSpec, ...]
    """Targets with their directions, in the order of ``Y``'s columns."""
    categorical: tuple[str, ...] = ()
    """Categorical input columns."""
    source: str = ""
    """Where the table came from (file name), for the report."""
    n_rows: int = 0
    """Rows in the table."""
    n_without_target: int = 0
    """Rows dropped because a target was missing."""
    identifiers: tuple[str, ...] = ()
    """Columns left out of the default inputs as sample identifiers (own text in most rows)."""

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        inputs: Sequence[str] | None,
        targets: Sequence[TargetSpec],
        categorical: Sequence[str] = (),
        source: str = "",
    ) -> BacktestProblem:
        """Validate columns, convert numbers and merge rows with identical inputs.

        Args:
            df: the table as read.
            inputs: input columns; ``None`` = every column that is not a target, except text
                columns with their own value in most rows (sample IDs), which are recorded in
                :attr:`identifiers`.
            targets: one or more targets with directions.
            categorical: input columns holding labels (precursor, salt, ...).
            source: label of the table for the report.
        """
        if not targets:
            raise BacktestInputError("No target was given.", hint="Add --target NAME:max.")
        columns = [str(c) for c in df.columns]
        tnames = _resolve([t.name for t in targets], columns, "target")
        if len(set(tnames)) != len(tnames):
            raise BacktestInputError(f"A target is given twice: {tnames}.")
        categorical = _resolve(list(categorical), columns, "categorical")
        identifiers: list[str] = []
        if inputs is None:
            inputs = [c for c in columns if c not in tnames]
            identifiers = [c for c in inputs if c not in categorical and _is_identifier(df[c])]
            inputs = [c for c in inputs if c not in identifiers]
        inputs = _resolve(list(inputs), columns, "input")
        not_inputs = [c for c in categorical if c not in inputs]
        if not_inputs:
            raise BacktestInputError(
                f"Categorical column(s) {not_inputs} are not among the inputs.",
                hint="List them in --inputs as well.",
            )
        overlap = [c for c in inputs if c in tnames]
        if overlap:
            raise BacktestInputError(f"Column(s) {overlap} are both input and target.")
        if not inputs:
            raise BacktestInputError("No input column.", hint="Give --inputs a,b,c.")
        problems: list[str] = []
        X = _inputs(df, inputs, categorical, problems)
        Y = np.column_stack([_numeric(df[t], t, problems) for t in tnames])
        if problems:
            raise BacktestInputError(
                "The table has non-numeric cells: " + "; ".join(problems) + ".",
                hint=_label_hint(df, [c for c in inputs if c not in categorical]),
            )
        keep = np.isfinite(Y).all(axis=1)
        n_rows = len(df)
        X, Y = X[keep].reset_index(drop=True), Y[keep]
        # Identical inputs (NaN equal to NaN) are one candidate: average their outcomes.
        # Group numbers in order of first appearance, as pd.factorize gives them.
        codes = X.groupby(list(X.columns), dropna=False, sort=False).ngroup().to_numpy()
        n = int(codes.max()) + 1 if len(codes) else 0
        if n < 2:
            raise BacktestInputError(
                f"Only {n} distinct candidate(s) with all targets measured.",
                hint="A backtest needs a table with many distinct input rows and known outcomes.",
            )
        first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
        Ym = pd.DataFrame(Y).groupby(codes).mean().to_numpy()
        Xd = X.iloc[first].reset_index(drop=True)
        return cls(
            X=Xd,
            Y=np.asarray(Ym, dtype=float),
            targets=tuple(targets),
            categorical=tuple(categorical),
            source=source,
            n_rows=n_rows,
            n_without_target=int((~keep).sum()),
            identifiers=tuple(identifiers),
        )

    def prior_from_frame(
        self,
        df: pd.DataFrame,
        *,
        task_column: str | None = None,
        mode: str = "multitask",
        label: str = "",
    ) -> PriorData:
        """Check another lab's table against this problem and keep what a warm start can use.

        Args:
            df: the prior table; it must hold every input column of the pool and at least one
                of its targets (other columns are ignored).
            task_column: column naming each row's source (a lab, a paper); each source is its
                own task in multitask mode. ``None``: the column ``source`` if there is one,
                else all rows are one task.
            mode: ``"multitask"`` or ``"prior_mean"``.
            label: where the table came from, for the report.

        Rows without any target value are dropped. Raises :class:`BacktestInputError` naming the
        missing columns or the non-numeric cells (row as in the file, header = row 1).
        """
        from surrogates.warm_start import MODES

        if mode not in MODES:
            raise BacktestInputError(
                f"Unknown warm-start mode {mode!r}.", hint=f"Use one of {', '.join(MODES)}."
            )
        columns = [str(c) for c in df.columns]
        df = df.set_axis(columns, axis=1)
        inputs = list(self.X.columns)
        try:
            _resolve(inputs, columns, "input")
        except BacktestInputError as exc:
            raise BacktestInputError(
                f"The prior table lacks input columns of the pool: {exc}",
                hint="A prior table needs the pool's input columns under the same names "
                "(`planner dataset export` writes registry names).",
            ) from None
        tnames = [t.name for t in self.targets]
        present = [t for t in tnames if t in columns]
        if not present:
            raise BacktestInputError(
                f"The prior table has none of the targets {tnames}.",
                hint="Columns in the file: " + ", ".join(repr(c) for c in columns),
            )
        if task_column is None and "source" in columns and "source" not in inputs:
            task_column = "source"
        if task_column is not None:
            _resolve([task_column], columns, "prior source")
        problems: list[str] = []
        X = _inputs(df, inputs, self.categorical, problems)
        Y = pd.DataFrame(
            {t: _numeric(df[t], t, problems) if t in present else np.nan for t in tnames},
            index=df.index,
        )
        if problems:
            raise BacktestInputError(
                "The prior table has non-numeric cells: " + "; ".join(problems) + ".",
                hint="Fix the cells, or declare label columns with --categorical.",
            )
        keep = np.isfinite(Y.to_numpy(float)).any(axis=1)
        if not keep.any():
            raise BacktestInputError(
                f"No prior row has a value for any of the targets {present}.",
                hint="Check that the prior table's target columns are filled in.",
            )
        task = None
        if task_column is not None:
            task = df.loc[keep, task_column].fillna("unknown").astype(str).reset_index(drop=True)
        return PriorData(
            X=X[keep].reset_index(drop=True),
            Y=Y[keep].reset_index(drop=True),
            task=task,
            mode=mode,
            label=label,
        )

    def view(self) -> PoolView:
        """The pool as a strategy may see it: inputs only."""
        cats = {c: sorted({str(v) for v in self.X[c].dropna()}) for c in self.categorical}
        return PoolView(
            X=self.X,
            target_names=tuple(t.name for t in self.targets),
            directions=tuple(t.direction for t in self.targets),
            categorical=self.categorical,
            categories=cats,
        )
