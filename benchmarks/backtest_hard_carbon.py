"""Sample efficiency on a hard-carbon descriptor library (SIMULATED): one target and two.

The acceptance test of the planner is ``planner backtest`` on battery-material tables with known
outcomes. The tables a hard-carbon lab keeps are libraries of characterized carbons: the
precursor, XRD d002 and crystallite sizes Lc and La, BET surface area and Raman ID/IG, with the
measured initial Coulombic efficiency and reversible capacity. No such table may be shipped, so
this builds one with the virtual lab (:mod:`planner.simulation.hard_carbon`: literature trends,
measurement noise, plate-to-plate drift, about 6 % failed wells left out; **every number is
SIMULATED**) and runs the acceptance protocol on it (the CLI's defaults: budget 60, init 6,
batch 6, top 1 %, 20 seeds, every strategy):

* ``HC_capacity`` -- inputs: precursor (categorical) and the five descriptors; target:
  reversible capacity (maximize). What the published descriptor -> capacity models learn.
* ``HC_ICE_capacity`` -- the same inputs; targets: ICE and reversible capacity (both maximized).
  A top candidate is good in *both* (the backtest's maximin rule, see
  :mod:`planner.backtest.metrics`).

The recipes (temperature, heating rate, dwell, doping) are *not* inputs: the table is what a lab
measured, not how the carbons were made, as in the published descriptor models.

Run by hand (every strategy at 20 seeds on 2 cores; Ax and BayBE take most of it)::

    .venv/bin/python benchmarks/backtest_hard_carbon.py --seeds 20
    .venv/bin/python benchmarks/backtest_hard_carbon.py --export /tmp/hc_library.csv

The same tables through the CLI::

    planner backtest /tmp/hc_library.csv --categorical precursor \\
        --target reversible_capacity_mah_per_g:max [--target ice_pct:max] --seeds 20

(``ice_pct`` must then be left out of the inputs for the one-target table:
``--inputs precursor,d002_nm,lc_nm,la_nm,bet_ssa_m2_per_g,raman_id_ig``).

Results: ``benchmarks/results/hard_carbon/`` (JSON per table, ``hard_carbon_table.md``, a Plotly
figure).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_suite import Suite, main  # noqa: E402

N_RECIPES = 960
"""Recipes made (ten 96-well plates); failed wells are left out of the table."""
SEED = 2026
"""Seed of the recipes; the virtual lab's noise has its own campaign seed."""
LAB_SEED = 7
ICE, CAPACITY = "ice_pct", "reversible_capacity_mah_per_g"


def library_frame() -> Any:
    """The SIMULATED library: precursor, five descriptors, ICE and reversible capacity."""
    import numpy as np
    import pandas as pd

    from planner.simulation.hard_carbon import (
        DESCRIPTORS,
        PRECURSORS,
        RECIPE_BOUNDS,
        simulate_plate,
    )

    rng = np.random.default_rng(SEED)
    recipes = pd.DataFrame(
        {name: rng.uniform(lo, hi, N_RECIPES) for name, (lo, hi) in RECIPE_BOUNDS.items()}
    )
    recipes.insert(0, "precursor", rng.choice(sorted(PRECURSORS), N_RECIPES))
    plates = [
        simulate_plate(recipes.iloc[i : i + 96], seed=LAB_SEED, plate_index=i // 96)
        for i in range(0, N_RECIPES, 96)
    ]
    measured = pd.concat(plates)
    table = pd.concat([recipes[["precursor"]], measured[[*DESCRIPTORS, ICE, CAPACITY]]], axis=1)
    return table[measured["status"] == "ok"].reset_index(drop=True)


def _loader(targets: tuple[str, ...]) -> Any:
    def load() -> Any:
        from planner.backtest import BacktestProblem, TargetSpec

        frame = library_frame()
        inputs = [c for c in frame.columns if c not in (ICE, CAPACITY)]
        return BacktestProblem.from_frame(
            frame,
            inputs=inputs,
            targets=[TargetSpec(t, "max") for t in targets],
            categorical=["precursor"],
            source="virtual hard-carbon lab, descriptor library (SIMULATED)",
        )

    return load


HARD_CARBON = Suite(
    title="Hard-carbon descriptor library backtests (SIMULATED data)",
    stem="hard_carbon",
    loaders={
        "HC_capacity": _loader((CAPACITY,)),
        "HC_ICE_capacity": _loader((ICE, CAPACITY)),
    },
    export=library_frame,
)


if __name__ == "__main__":
    main(HARD_CARBON, __doc__)
