"""Sample efficiency on the five PV-Lab materials data sets (Liang et al., npj Comput. Mater. 2021).

Runs ``planner.backtest`` for every strategy on each data set, writes one JSON report per data
set, a markdown table and a Plotly HTML file of best-so-far curves under ``--out``.

Run by hand (takes hours on 2 cores with all strategies and 20 seeds)::

    .venv/bin/python benchmarks/backtest_pvlab.py --seeds 20
    .venv/bin/python benchmarks/backtest_pvlab.py --seeds 20 --strategies random,gp --datasets P3HT
    .venv/bin/python benchmarks/backtest_pvlab.py --report-only      # table + plot from the JSONs

The runner, its flags and its outputs are shared with the other suites
(``benchmarks/backtest_suite.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_suite import Suite, main  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "pvlab"
#: name -> (file, objective column, direction), from the data sets' SOURCE.md.
DATASETS = {
    "Crossed_barrel": ("Crossed_barrel_dataset.csv", "toughness", "max"),
    "Perovskite": ("Perovskite_dataset.csv", "Instability index", "min"),
    "AgNP": ("AgNP_dataset.csv", "loss", "min"),
    "P3HT": ("P3HT_dataset.csv", "Conductivity (measured) (S/cm)", "max"),
    "AutoAM": ("AutoAM_dataset.csv", "Score", "max"),
}


def _pvlab_loader(file: str, target: str, direction: str) -> Callable[[], Any]:
    def load() -> Any:
        from planner.backtest import BacktestProblem, TargetSpec, read_table

        return BacktestProblem.from_frame(
            read_table(DATA / file), inputs=None, targets=[TargetSpec(target, direction)],
            source=file,
        )

    return load


PVLAB = Suite(
    title="PV-Lab backtests",
    stem="pvlab",
    loaders={name: _pvlab_loader(*spec) for name, spec in DATASETS.items()},
)


if __name__ == "__main__":
    main(PVLAB, __doc__)
