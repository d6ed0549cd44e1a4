"""Sample efficiency on a real battery-material table: CALiSol-23 electrolytes at room temperature.

The acceptance test of the planner is ``planner backtest`` on battery-material tables with known
outcomes: experiments until the first top-1 % pick, against random search, Ax and BayBE. This runs
that protocol (the CLI's defaults: budget 60, init 6, batch 6, top 1 %, 20 seeds) on the one real
battery table we may ship:

* ``CALiSol_RT`` -- CALiSol-23 (cleaned by ``scripts/clean_calisol23.py``; de Blasio et al.,
  Scientific Data 2024, CC BY 4.0): every electrolyte measured at 20-30 °C with a molality and
  only the registry's seven solvents, all papers pooled. Inputs: salt (categorical), salt
  molality, temperature and seven solvent fractions; target: ionic conductivity (maximize).
  Rows with identical inputs are one candidate (the backtest averages them).

Run by hand (29 minutes on 2 cores for every strategy at 20 seeds: Ax 13, BayBE 7.5, the
ensemble 6, gp 2.3)::

    .venv/bin/python benchmarks/backtest_battery.py --seeds 20
    .venv/bin/python benchmarks/backtest_battery.py --export /tmp/calisol_rt.csv  # for the CLI

The same table through the CLI::

    planner backtest /tmp/calisol_rt.csv --categorical salt \\
        --target ionic_conductivity_ms_per_cm:max --seeds 20

(every column but the target is an input).

Results: ``benchmarks/results/battery/`` (JSON per table, ``battery_table.md``, a Plotly figure).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_suite import Suite, main  # noqa: E402
from warm_start import INPUTS, TARGET, calisol_rows  # noqa: E402

T_RANGE_C = (20.0, 30.0)


def calisol_rt_frame() -> Any:
    """The room-temperature CALiSol-23 table: inputs and conductivity, one row a measurement."""
    return calisol_rows(t_range=T_RANGE_C).drop(columns="doi")


def _calisol_rt() -> Any:
    from planner.backtest import BacktestProblem, TargetSpec

    return BacktestProblem.from_frame(
        calisol_rt_frame(),
        inputs=INPUTS,
        targets=[TargetSpec(TARGET, "max")],
        categorical=["salt"],
        source="calisol23_clean.csv (20-30 °C, molality rows, registry solvents)",
    )


BATTERY = Suite(
    title="Battery-material backtests (CALiSol-23 electrolytes)",
    stem="battery",
    loaders={"CALiSol_RT": _calisol_rt},
    export=calisol_rt_frame,
)


if __name__ == "__main__":
    main(BATTERY, __doc__)
