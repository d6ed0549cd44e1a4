"""GP fit on long histories: our GP (variational above 2,000 rows) vs the exact GP.

Run by hand, alone on the machine (not part of the tests)::

    .venv/bin/python benchmarks/scale_gp.py --sizes 1000 2000 5000 10000 50000
    # -> benchmarks/results/scale_gp.md (and .json)

For each history size ``n`` the synthetic literature-style hard-carbon table of
:mod:`surrogates.datasets` (6 numeric inputs with realistic gaps, 1 categorical input, rows grouped
by paper with paper offsets) is shuffled and split into ``n`` training rows and a fixed number of
held-out rows from the same table. Methods:

* ``ours``         — ``GPSurrogate()`` with its defaults: the exact GP up to ``max_exact_rows``
                     (2,000) rows, the variational GP of :mod:`surrogates.scalable` on every row
                     above that;
* ``exact-1000``   — the exact GP on a seeded random 1,000-row subset (what ``GPSurrogate`` did
                     before: ``max_train_rows=1000``);
* ``exact-full``   — the exact GP on every row, for sizes up to ``--exact-full-max``.

Reported per size and method: wall and CPU seconds of ``fit`` (torch on one thread), held-out RMSE,
the share of held-out rows inside the central 90 % predictive interval (``mean ± 1.645 std``, with
measurement noise), the rows the model learned from, and which model was used.

:func:`run_gp_sizes` is the importable entry point (``benchmarks/scale.py`` calls it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from surrogates.datasets import HARD_CARBON_INPUTS, make_hard_carbon_table  # noqa: E402
from surrogates.gp import GPSurrogate  # noqa: E402

METHODS = ("ours", "exact-1000", "exact-full")
TARGET = "ice_pct"


def history_table(rows: int, seed: int) -> pd.DataFrame:
    """At least ``rows`` shuffled rows of the synthetic hard-carbon table with the target set."""
    papers = max(10, rows // 6)
    while True:
        df = make_hard_carbon_table(papers, 6, seed=seed)
        df = df[df[TARGET].notna()]
        if len(df) >= rows:
            return df.sample(frac=1.0, random_state=seed).reset_index(drop=True).head(rows)
        papers = int(papers * 1.3) + 1


def fit_and_score(method: str, train: pd.DataFrame, test: pd.DataFrame, seed: int,
                  **params: Any) -> dict[str, Any]:
    """Fit one method on ``train``, score it on ``test``; a JSON-safe record."""
    inputs = list(HARD_CARBON_INPUTS)
    n = len(train)
    if method == "exact-1000":
        data = train.sample(n=min(1000, n), random_state=seed)
        model = GPSurrogate(categorical=("precursor",), seed=seed,
                            max_exact_rows=max(1000, n), **params)
    elif method == "exact-full":
        data = train
        model = GPSurrogate(categorical=("precursor",), seed=seed, max_exact_rows=n, **params)
    elif method == "ours":
        data = train
        model = GPSurrogate(categorical=("precursor",), seed=seed, **params)
    else:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(data[inputs], data[[TARGET]])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        mean, std = model.predict(test[inputs])
    y = test[TARGET].to_numpy(float)
    err = mean[:, 0] - y
    return {
        "rows": n, "method": method, "rows_learned": len(data),
        "model": model.methods_[TARGET],
        "fit_wall_s": round(wall, 2), "fit_cpu_s": round(cpu, 2),
        "rmse": round(float(np.sqrt(np.mean(err ** 2))), 4),
        "coverage90": round(float(np.mean(np.abs(err) <= 1.645 * std[:, 0])), 4),
        "variance_scale": round(float(model.variance_scale_[TARGET]), 3),
        "test_rows": len(test), "seed": seed,
    }


def run_gp_sizes(sizes: list[int] | tuple[int, ...], seed: int = 0, *,
                 methods: tuple[str, ...] = METHODS, exact_full_max: int = 5000,
                 test_rows: int = 2000, verbose: bool = False,
                 **params: Any) -> list[dict[str, Any]]:
    """Fit every method at every history size; one record per (size, method) that ran.

    Args:
        sizes: training rows, e.g. ``[1000, 2000, 5000, 10000, 50000]``.
        seed: seeds the table, the split and the models.
        methods: from :data:`METHODS`.
        exact_full_max: largest size the exact GP on every row is run at (it costs
            ``O(n^3)`` per optimizer step); larger sizes get a record with ``skipped``.
        test_rows: held-out rows (the same rows for every size).
        verbose: print each record as it comes.
        params: extra ``GPSurrogate`` parameters for every method (e.g. ``max_iter``).

    Returns:
        Records with ``rows``, ``method``, ``rows_learned``, ``model`` (``exact`` or
        ``variational``), ``fit_wall_s``, ``fit_cpu_s``, ``rmse``, ``coverage90``,
        ``variance_scale``.
    """
    table = history_table(max(sizes) + test_rows, seed)
    test = table.tail(test_rows)
    records: list[dict[str, Any]] = []
    for n in sizes:
        train = table.head(n)
        for method in methods:
            if method == "exact-1000" and n <= 1000 and "ours" in methods:
                record = {"rows": n, "method": method, "skipped": "the same model as ours"}
            elif method == "exact-full" and n > exact_full_max:
                record: dict[str, Any] = {"rows": n, "method": method,
                                          "skipped": f"n > exact_full_max={exact_full_max}"}
            elif method == "exact-full" and n <= GPSurrogate().max_exact_rows and "ours" in methods:
                record = {"rows": n, "method": method, "skipped": "the same model as ours"}
            else:
                record = fit_and_score(method, train, test, seed, **params)
            records.append(record)
            if verbose:
                print(json.dumps(record), flush=True)
    return records


def to_markdown(records: list[dict[str, Any]]) -> str:
    """A table of the records."""
    lines = ["| rows | method | model | rows learned | fit wall s | fit CPU s | held-out RMSE "
             "| 90 % coverage | variance scale |", "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if "skipped" in r:
            lines.append(f"| {r['rows']} | {r['method']} | – | – | – | – | – | – | "
                         f"skipped ({r['skipped']}) |")
            continue
        lines.append(f"| {r['rows']} | {r['method']} | {r['model']} | {r['rows_learned']} | "
                     f"{r['fit_wall_s']:.1f} | {r['fit_cpu_s']:.1f} | {r['rmse']:.3f} | "
                     f"{r['coverage90']:.3f} | {r['variance_scale']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI: run the sizes, print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 50000])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--exact-full-max", type=int, default=5000)
    p.add_argument("--test-rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--note", default="", help="a line on the machine's state, for the report")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scale_gp.md")
    args = p.parse_args(argv)
    records = run_gp_sizes(args.sizes, args.seed, methods=tuple(args.methods),
                           exact_full_max=args.exact_full_max, test_rows=args.test_rows,
                           verbose=True)
    table = to_markdown(records)
    print(table)
    text = ("# GP fit on long histories\n\n"
            f"`{' '.join(['benchmarks/scale_gp.py', *(argv or sys.argv[1:])])}`; target `{TARGET}` "
            f"of the synthetic hard-carbon table (`surrogates.datasets`), {args.test_rows} "
            f"held-out rows; torch on 1 thread; {platform.processor() or platform.machine()}, "
            f"{time.strftime('%Y-%m-%d')}. {args.note}\n\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
