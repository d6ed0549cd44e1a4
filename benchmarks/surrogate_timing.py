"""Fit and predict time of each surrogate at 100, 1,000 and 10,000 rows.

Run by hand (not part of the tests)::

    .venv/bin/python benchmarks/surrogate_timing.py   # -> benchmarks/results/surrogate_timing.md

Data: the synthetic hard-carbon-like literature table of :mod:`surrogates.datasets` (6 numeric
inputs with La/Lc missing in about half the rows, 1 categorical input, 2 targets). Predict time
is for 1,000 new rows. The exact GP is capped at ``max_train_rows`` (default 1,000) training rows
per target: above that it is fitted on a seeded random subset (recorded in ``fit_warnings_``), so
its 10,000-row time is the time of a 1,000-row GP plus subsampling.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from surrogates import make_surrogate  # noqa: E402
from surrogates.datasets import (  # noqa: E402
    HARD_CARBON_INPUTS,
    HARD_CARBON_TARGETS,
    make_hard_carbon_table,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--models", nargs="*", default=["gp", "ensemble", "rf"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/surrogate_timing.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    test = make_hard_carbon_table(170, 6, seed=99).head(1000)
    lines = [
        "| rows | model | fit s (wall) | fit s (CPU) | predict 1,000 rows s (wall) | "
        "predict s (CPU) | note |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for n in args.sizes:
        df = make_hard_carbon_table(max(3, n // 6), 6, seed=1)
        while len(df) < n:  # paper sizes are random: top up to exactly n rows
            df = make_hard_carbon_table(max(3, n // 5), 6, seed=1)
        df = df.head(n)
        X, Y = df[list(HARD_CARBON_INPUTS)], df[list(HARD_CARBON_TARGETS)]
        for name in args.models:
            model = make_surrogate(name, categorical=("precursor",), seed=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start, cpu = time.perf_counter(), time.process_time()
                model.fit(X, Y, groups=df["paper"])
                fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
                start, cpu = time.perf_counter(), time.process_time()
                model.predict(test[list(HARD_CARBON_INPUTS)])
                pred_s, pred_cpu = time.perf_counter() - start, time.process_time() - cpu
            note = "; ".join(w for w in model.fit_warnings_ if "subset" in w)[:120]
            lines.append(
                f"| {n} | {name} | {fit_s:.2f} | {fit_cpu:.2f} | {pred_s:.3f} | {pred_cpu:.3f} "
                f"| {note} |"
            )
            print(lines[-1], flush=True)
    text = (
        "# Surrogate fit and predict time\n\n"
        "Synthetic hard-carbon table (6 numeric + 1 categorical input, 2 targets, grouped by "
        "paper); default hyperparameters; torch on 1 thread. CPU seconds are the process's own "
        "CPU time: on a shared, busy machine they are the better guide to an idle one.\n\n"
        + "\n".join(lines) + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
