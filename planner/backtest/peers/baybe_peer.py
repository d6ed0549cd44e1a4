"""BayBE as a backtest strategy (runs only when BayBE is installed).

The search space is the pool itself: ``SearchSpace.from_dataframe`` over the distinct pool rows,
with a ``NumericalDiscreteParameter`` per numeric input (its values are the pool's values) and a
one-hot ``CategoricalParameter`` per categorical input. The recommender is BayBE's default
``TwoPhaseMetaRecommender``: random until the first measurement (our shared initial design covers
that), then ``BotorchRecommender`` (BayBE's GP and its default acquisition). One target uses a
``SingleTargetObjective``; several a ``ParetoObjective``. Measured rows are never recommended
again. Missing inputs are filled with the column median (BayBE rejects NaN parameter values).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from planner.backtest.base import PoolView
from planner.backtest.peers._common import filled_pool
from planner.errors import PlanningError


class BayBEStrategy:
    """BayBE ``Campaign`` over the pool as a discrete search space.

    Args:
        pool: the pool without outcomes.
        seed: BayBE's global random seed (set before every recommendation).
    """

    def __init__(self, pool: PoolView, *, seed: int) -> None:
        try:
            from baybe import Campaign
            from baybe.objectives import ParetoObjective, SingleTargetObjective
            from baybe.parameters import CategoricalParameter, NumericalDiscreteParameter
            from baybe.recommenders import (
                BotorchRecommender,
                RandomRecommender,
                TwoPhaseMetaRecommender,
            )
            from baybe.searchspace import SearchSpace
            from baybe.targets import NumericalTarget
        except ImportError as exc:
            raise PlanningError(
                f"BayBE could not be imported ({exc}).",
                hint="Install the peers extra: pip install 'battery-bo-planner[peers]'",
            ) from None
        self._seed = seed
        X = filled_pool(pool)
        # Safe names: BayBE keeps them in column headers and error messages only, but a target
        # sharing a name with an input would clash.
        self._cols = {f"x{i}": c for i, c in enumerate(X.columns)}
        df = pd.DataFrame({k: X[c].to_numpy() for k, c in self._cols.items()})
        params = []
        for name, col in self._cols.items():
            values = sorted(df[name].unique().tolist())
            if len(values) < 2:
                df = df.drop(columns=name)
                continue
            if col in pool.categorical:
                params.append(CategoricalParameter(name=name, values=values, encoding="OHE"))
            else:
                params.append(
                    NumericalDiscreteParameter(name=name, values=[float(v) for v in values])
                )
        if not params:
            raise PlanningError(
                "Every input is constant in the pool; BayBE has nothing to optimize."
            )
        self._df = df
        self._targets = [f"y{j}" for j in range(len(pool.target_names))]
        targets = [
            NumericalTarget(name=t, minimize=(d == "min"))
            for t, d in zip(self._targets, pool.directions, strict=True)
        ]
        objective = (
            SingleTargetObjective(targets[0]) if len(targets) == 1 else ParetoObjective(targets)
        )
        searchspace = SearchSpace.from_dataframe(
            df.drop_duplicates().reset_index(drop=True), parameters=params
        )
        self._campaign = Campaign(
            searchspace=searchspace,
            objective=objective,
            recommender=TwoPhaseMetaRecommender(
                initial_recommender=RandomRecommender(), recommender=BotorchRecommender()
            ),
            allow_recommending_already_measured=False,
        )
        # Pool rows per distinct input tuple, to map recommendations back to row indices.
        self._rows: dict[tuple, list[int]] = defaultdict(list)
        for i, key in enumerate(df.itertuples(index=False, name=None)):
            self._rows[key].append(i)
        self._added = 0

    def propose(self, picked: np.ndarray, Y_picked: np.ndarray, q: int) -> Sequence[int]:
        """Add the new measurements, ask BayBE for ``q`` rows and map them back to the pool."""
        from baybe.utils.random import set_random_seed

        new = np.asarray(picked[self._added :], dtype=int)
        if new.size:
            meas = self._df.iloc[new].reset_index(drop=True).copy()
            for j, t in enumerate(self._targets):
                meas[t] = Y_picked[self._added :, j]
            self._campaign.add_measurements(meas)
        self._added = len(picked)
        set_random_seed(self._seed * 1000 + self._added)
        rec = self._campaign.recommend(batch_size=q)
        taken = set(int(i) for i in picked)
        chosen: list[int] = []
        for key in rec[list(self._df.columns)].itertuples(index=False, name=None):
            rows = [r for r in self._rows.get(tuple(key), []) if r not in taken]
            if not rows:
                raise PlanningError(f"BayBE recommended a row that is not free in the pool: {key}.")
            chosen.append(rows[0])
            taken.add(rows[0])
        return chosen
