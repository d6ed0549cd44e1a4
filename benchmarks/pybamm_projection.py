"""Seconds per PyBaMM projection: cold, warm, cached; hard carbon and electrolyte; full and fast.

Each "cold" number comes from a fresh Python process with an empty cache directory and includes
importing PyBaMM (the planner imports it lazily, so the first projection pays for it). "warm" is
a second, different candidate in the same process (PyBaMM imported; the electrolyte simulation
is already built, the sodium-ion one is rebuilt per candidate because the anode thickness
changes). "memory" repeats a candidate in-process (``lru_cache``); "disk" is a fresh process
whose cache directory already holds the result (no PyBaMM import at all). "cold CPU time" is
the CPU seconds of the cold call: on a shared, busy machine it estimates the unloaded wall time
(the work is single-threaded).

Usage (from the repository root)::

    .venv/bin/python benchmarks/pybamm_projection.py            # 3 repeats
    .venv/bin/python benchmarks/pybamm_projection.py --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0 = time.perf_counter()
from planner.cell import projection as cell
kind, config = sys.argv[1], sys.argv[2]
fast = config == "fast"
first, second = ((85.0, 300.0), (80.0, 330.0)) if kind == "hard_carbon" else ((10.0,), (6.0,))
fn = cell.project_hard_carbon if kind == "hard_carbon" else cell.project_electrolyte
out = {"import_planner_s": time.perf_counter() - t0}
t, c = time.perf_counter(), cpu()
if sys.argv[3] == "full_run":
    import pybamm  # timed separately: it is part of every cold projection
    out["import_pybamm_s"] = time.perf_counter() - t
r = fn(*first, fast=fast); out["first_s"] = time.perf_counter() - t
out["first_cpu_s"] = cpu() - c
out["pybamm_imported"] = "pybamm" in sys.modules
if sys.argv[3] == "full_run":
    t = time.perf_counter(); fn(*second, fast=fast); out["warm_s"] = time.perf_counter() - t
    t = time.perf_counter(); fn(*first, fast=fast); out["memory_s"] = time.perf_counter() - t
out["result"] = r.as_dict()
print(json.dumps(out))
"""


def _child(kind: str, config: str, cache: str, mode: str) -> dict:
    env = {**os.environ, "PLANNER_CACHE_DIR": cache, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, kind, config, mode], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold runs per case (median)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    cases = [(k, c) for k in ("hard_carbon", "electrolyte") for c in ("full", "fast")]
    rows = []
    with Progress() as progress:
        task = progress.add_task("projections", total=len(cases) * (args.repeats + 1))
        for kind, config in cases:
            runs = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as cache:
                    runs.append(_child(kind, config, cache, "full_run"))
                    progress.advance(task)
            with tempfile.TemporaryDirectory() as cache:
                _child(kind, config, cache, "first_only")
                disk = _child(kind, config, cache, "first_only")
                progress.advance(task)
            rows.append({
                "kind": kind, "config": config,
                "cold_s": statistics.median(r["first_s"] for r in runs),
                "cold_max_s": max(r["first_s"] for r in runs),
                "cold_cpu_s": statistics.median(r["first_cpu_s"] for r in runs),
                "import_pybamm_s": statistics.median(r["import_pybamm_s"] for r in runs),
                "warm_s": statistics.median(r["warm_s"] for r in runs),
                "memory_s": statistics.median(r["memory_s"] for r in runs),
                "disk_s": disk["first_s"], "disk_imported_pybamm": disk["pybamm_imported"],
                "energy_wh_0_1c": runs[0]["result"]["energy_wh_0_1c"],
                "retention_2c_pct": runs[0]["result"]["retention_2c_pct"],
            })
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = Table(title=f"PyBaMM projection, seconds per call (median of {args.repeats}; "
                        f"{os.cpu_count()} CPUs, load average {load:.1f})")
    for col in ("case", "cold (new process)", "cold max", "cold CPU time",
                "of which import pybamm",
                "warm (new input)", "cached: memory",
                "cached: disk (new process)", "E 0.1C [Wh]", "2C retention [%]"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['kind']} / {r['config']}", f"{r['cold_s']:.2f}",
                      f"{r['cold_max_s']:.2f}", f"{r['cold_cpu_s']:.2f}",
                      f"{r['import_pybamm_s']:.2f}",
                      f"{r['warm_s']:.2f}", f"{r['memory_s'] * 1e6:.0f} µs",
                      f"{r['disk_s'] * 1e3:.1f} ms", f"{r['energy_wh_0_1c']:.5f}",
                      f"{r['retention_2c_pct']:.1f}")
    Console(width=160).print(table)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
