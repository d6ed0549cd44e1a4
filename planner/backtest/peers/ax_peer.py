"""Ax (1.x ``Client`` API) as a backtest strategy.

Search space: one ``RangeParameterConfig`` per numeric input spanning the pool's range and one
``ChoiceParameterConfig`` (unordered) per categorical input, so Ax models the real input
geometry. (A single choice parameter over candidate *indices* would hide every input from Ax's
model and make it a random search with extra steps.) Ax proposes ``q`` points with its default
generation strategy (``method="fast"``: BoTorch modular BO); each point is snapped, in Ax's order,
to the nearest pool row not measured and not already taken in this batch (distance in the
range-normalized inputs, see :class:`planner.backtest.peers._common.Snapper`). Ax's own trials are
then marked abandoned and the snapped rows attached and completed with their measured outcomes, so
Ax learns exactly what the lab would have measured.

The shared random initial design is attached as existing trials and counts as Ax's
initialization (``initialization_budget=1``, no center point), so Ax runs BO from its first
proposal, like the other strategies. Missing inputs are filled with the column median for Ax
(Ax rejects NaN parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from planner.backtest.base import PoolView
from planner.backtest.peers._common import Snapper, filled_pool
from planner.errors import PlanningError


def _import_ax():  # noqa: ANN202 - returns the ax module's public names
    """Import Ax's public names and quiet its per-trial INFO lines.

    Ax writes its logs to stderr through a handler of its own (its "ax" logger does not
    propagate) and sets INFO on each module logger, so without this every trial of a backtest
    prints a line. Its own switch, ``set_stderr_log_level``, raises that handler to WARNING; no
    other logger is touched, and it happens only when an Ax peer is built.
    """
    try:
        from ax import ChoiceParameterConfig, Client, RangeParameterConfig
        from ax.utils.common.logger import set_stderr_log_level
    except ImportError as exc:
        raise PlanningError(
            f"Ax could not be imported ({exc}).", hint="Install it with: pip install ax-platform"
        ) from None
    set_stderr_log_level(logging.WARNING)
    return Client, RangeParameterConfig, ChoiceParameterConfig


class AxStrategy:
    """Ax ``Client`` proposing on a continuous/categorical space, snapped to the pool.

    Args:
        pool: the pool without outcomes.
        seed: Ax's random seed.
        method: Ax generation method (``"fast"`` is Ax's default, ``"quality"`` slower).
    """

    def __init__(self, pool: PoolView, *, seed: int, method: str = "fast") -> None:
        Client, RangeParameterConfig, ChoiceParameterConfig = _import_ax()
        self._X = filled_pool(pool)
        self._snap = Snapper(self._X, pool.categorical)
        # Ax parses objective strings, so parameters and metrics get safe names.
        self._params: dict[str, str] = {}
        configs = []
        for i, col in enumerate(self._X.columns):
            name = f"x{i}"
            if col in pool.categorical:
                levels = sorted(self._X[col].unique().tolist())
                if len(levels) < 2:
                    continue
                configs.append(
                    ChoiceParameterConfig(
                        name=name, values=levels, parameter_type="str", is_ordered=False
                    )
                )
            else:
                lo, hi = float(self._X[col].min()), float(self._X[col].max())
                if not hi > lo:
                    continue  # a constant input carries no information
                configs.append(
                    RangeParameterConfig(name=name, bounds=(lo, hi), parameter_type="float")
                )
            self._params[name] = col
        if not configs:
            raise PlanningError("Every input is constant in the pool; Ax has nothing to optimize.")
        self._metrics = [f"y{j}" for j in range(len(pool.target_names))]
        objective = ", ".join(
            ("" if d == "max" else "-") + m
            for m, d in zip(self._metrics, pool.directions, strict=True)
        )
        self._client = Client(random_seed=seed)
        self._client.configure_experiment(parameters=configs, name="backtest")
        self._client.configure_optimization(objective=objective)
        self._client.configure_generation_strategy(
            method=method,  # type: ignore[arg-type]
            initialization_budget=1,
            initialize_with_center=False,
            use_existing_trials_for_initialization=True,
            initialization_random_seed=seed,
        )
        self._attached = 0

    def _parameters(self, row: int) -> dict[str, object]:
        values = self._X.iloc[row]
        out: dict[str, object] = {}
        for name, col in self._params.items():
            v = values[col]
            out[name] = str(v) if isinstance(v, str) else float(v)
        return out

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """Attach newly measured rows, ask Ax for ``q`` trials and snap them to free rows."""
        client = self._client
        for k in range(self._attached, len(picked)):
            trial = client.attach_trial(parameters=self._parameters(int(picked[k])))
            client.complete_trial(
                trial, raw_data={m: float(Y_picked[k, j]) for j, m in enumerate(self._metrics)}
            )
        self._attached = len(picked)
        trials = client.get_next_trials(max_trials=q)
        taken = set(int(i) for i in picked)
        chosen: list[int] = []
        for index, parameters in trials.items():
            client.mark_trial_abandoned(index)
            point = {col: parameters.get(name) for name, col in self._params.items()}
            for col in self._X.columns:  # constant inputs Ax never saw
                if point.get(col) is None:
                    point[col] = self._X[col].iloc[0]
            free = np.array([i for i in range(len(self._X)) if i not in taken], dtype=int)
            row = self._snap.nearest(point, free)
            chosen.append(row)
            taken.add(row)
        return chosen
