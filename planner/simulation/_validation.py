"""Input checks shared by the simulated labs: every problem reported at once, with a hint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from campaigns.hints import closest
from campaigns.jsonable import plain
from planner.errors import PlanningError


class SimulationInputError(PlanningError):
    """Recipes handed to a simulated lab are incomplete or outside the simulated domain.

    ``problems`` lists every problem found (row, column, value, expectation).
    """

    def __init__(self, message: str, *, problems: list[str], hint: str | None = None) -> None:
        super().__init__(message + " " + " ".join(problems[:10])
                         + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""),
                         hint=hint)
        self.problems = problems


def _did_you_mean(value: str, options: Iterable[str]) -> str:
    """`` Did you mean "x"?`` (double quotes, as the column names here) or ``""``."""
    return "".join(f' Did you mean "{c}"?' for c in closest(value, options))


def normalize_category(value: object) -> str:
    """``" Coconut shell"`` -> ``"coconut_shell"``: lower case, spaces and hyphens to ``_``."""
    return str(value).strip().lower().replace(" ", "_").replace("-", "_")


def check_frame(
    recipes: pd.DataFrame,
    *,
    numeric: Mapping[str, tuple[float, float]],
    categorical: Mapping[str, Iterable[str]],
    what: str,
) -> None:
    """Raise :class:`SimulationInputError` listing every missing column and bad value.

    Args:
        recipes: ``n x d`` frame, one recipe per row (extra columns are ignored).
        numeric: column -> (low, high) inclusive bounds of the simulated domain.
        categorical: column -> allowed (already normalized) levels.
        what: name of the simulator for the message, e.g. ``"virtual hard-carbon lab"``.
    """
    problems: list[str] = []
    missing = [c for c in [*numeric, *categorical] if c not in recipes.columns]
    for col in missing:
        problems.append(f'column "{col}" is missing.' + _did_you_mean(col, recipes.columns))
    for col, (lo, hi) in numeric.items():
        if col in missing:
            continue
        values = pd.to_numeric(recipes[col], errors="coerce").to_numpy(float)
        bad = ~((values >= lo) & (values <= hi))  # NaN counts as bad
        for pos in np.flatnonzero(bad)[:20]:
            value = recipes[col].iloc[pos]
            value = plain(value)
            problems.append(f'Row {pos}, column "{col}": {value!r} is outside {lo:g}-{hi:g}.')
    for col, levels in categorical.items():
        if col in missing:
            continue
        allowed = list(levels)
        for pos, raw in enumerate(recipes[col].tolist()):
            value = normalize_category(raw)
            if value not in allowed:
                problems.append(
                    f'Row {pos}, column "{col}": {raw!r} is not one of {", ".join(allowed)}.'
                    + _did_you_mean(value, allowed)
                )
    if problems:
        raise SimulationInputError(
            f"The {what} cannot run these recipes ({len(problems)} problems).",
            problems=problems,
            hint="Rows are counted from 0 in the order given. Fix the listed cells; the simulated "
            "domain is the campaign's bounds from docs/architecture.md.",
        )
