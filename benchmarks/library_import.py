"""Library import speed and memory: a synthetic 20-column candidate table into the columnar store.

The table (``candidate_id``, 18 numeric descriptors with 1 % missing values, one categorical
``family`` of 6 levels) is generated in blocks straight to a CSV (and optionally Parquet) file,
never whole in memory. Each import runs in a fresh subprocess (:func:`campaigns.library_store.
import_library`, default chunk size) that reports its wall and CPU seconds, rows per second and
its peak RSS (``getrusage``), the figure that shows the import never holds the table.

Run by hand, alone on the machine for final figures::

    .venv/bin/python benchmarks/library_import.py --rows 1000000 10000000 --format csv parquet
    .venv/bin/python benchmarks/library_import.py --rows 100000 --format parquet --keep /tmp/lib

The generated tables take about 165 (CSV) and 130 (Parquet) MB per million rows on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_NUMERIC = 18
FAMILIES = ("oxide", "sulfide", "phosphate", "fluoride", "nitride", "carbide")
BLOCK = 200_000


def spec_dict(name: str = "lib-bench") -> dict:
    """A library spec over the synthetic table's columns."""
    return {"name": name, "library": {
        "id_column": "candidate_id", "inputs": [*numeric_names(), "family"],
        "categorical": ["family"]},
        "targets": [{"name": "ice_pct", "threshold": 80.0},
                    {"name": "reversible_capacity_mah_per_g"}]}


def numeric_names() -> list[str]:
    return [f"d{i:02d}" for i in range(1, N_NUMERIC + 1)]


def write_table(path: Path, rows: int, *, fmt: str = "csv", seed: int = 0) -> Path:
    """Write ``rows`` synthetic candidates to ``path`` block by block (bounded memory)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, BLOCK):
            n = min(BLOCK, rows - start)
            cols = {"candidate_id": pa.array([f"C{start + i:09d}" for i in range(n)])}
            for name in numeric_names():
                x = np.round(rng.normal(size=n) * 10 + 50, 4)
                x[rng.random(n) < 0.01] = np.nan
                cols[name] = pa.array(x, from_pandas=True)
            cols["family"] = pa.array(np.asarray(FAMILIES, dtype=object)[rng.integers(0, 6, n)])
            table = pa.table(cols)
            if writer is None:
                writer = (pq.ParquetWriter(path, table.schema) if fmt == "parquet"
                          else pacsv.CSVWriter(path, table.schema))
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def _one(source: Path, dest: Path, chunk_rows: int) -> dict:
    """Import ``source`` in this process; wall/CPU seconds and peak RSS."""
    from campaigns.library_store import import_library
    from campaigns.spec import CampaignSpec

    spec = CampaignSpec.from_dict(spec_dict())
    t0, c0 = time.perf_counter(), time.process_time()
    table = import_library(source, spec=spec, dest_dir=dest, chunk_rows=chunk_rows)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": table.n_rows, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "rows_per_s": round(table.n_rows / wall), "peak_rss_mb": round(rss),
            "source_mb": round(source.stat().st_size / 1e6, 1),
            "parquet_mb": round(table.size_bytes / 1e6, 1), "chunk_rows": chunk_rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--format", choices=["csv", "parquet"], nargs="+", default=["csv"])
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--keep", type=Path, help="folder for the generated tables (kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/library_import.md")
    ap.add_argument("--one", nargs=2, metavar=("SOURCE", "DEST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(Path(args.one[0]), Path(args.one[1]), args.chunk_rows)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="library_import_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for rows, fmt in [(r, f) for r in args.rows for f in args.format]:
        source = work / f"library_{rows}.{fmt}"
        if not source.exists():
            t0 = time.perf_counter()
            write_table(source, rows, fmt=fmt)
            print(f"generated {source} ({source.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        dest = work / f"store_{rows}"
        proc = subprocess.run([sys.executable, __file__, "--one", str(source), str(dest),
                               "--chunk-rows", str(args.chunk_rows)],
                              capture_output=True, text=True, check=True)
        result = {"format": fmt, **json.loads(proc.stdout.strip().splitlines()[-1]),
                  "load_avg_1m": round(os.getloadavg()[0], 2)}
        print(json.dumps(result))
        results.append(result)
        for f in dest.glob("*.parquet"):
            f.unlink()
        if args.keep is None:
            source.unlink()
    lines = ["# Library import (campaigns.library_store.import_library)", "",
             "| format | rows | wall s | CPU s | rows/s | peak RSS MB | source MB | Parquet MB "
             "| load avg |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['format']} | {r['rows']:,} | {r['wall_s']} | {r['cpu_s']} | "
                     f"{r['rows_per_s']:,} | {r['peak_rss_mb']} | {r['source_mb']} | "
                     f"{r['parquet_mb']} | {r['load_avg_1m']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
