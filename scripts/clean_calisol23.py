"""Clean CALiSol-23 and write the cleaned CSV, its NOTICE and a JSON log of every change.

Re-runnable and deterministic: the same raw file always gives byte-identical outputs.

Usage (from the repository root)::

    .venv/bin/python scripts/clean_calisol23.py
    .venv/bin/python scripts/clean_calisol23.py --raw path/to/calisol23.csv --out some/dir/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from scripts.calisol23_cleaning import (  # noqa: E402
    CITATION,
    DOI,
    clean_calisol23,
    render_notice,
)

DEFAULT_RAW = REPO_ROOT.parent / "shared" / "datasets" / "calisol23" / "calisol23.csv"
DEFAULT_OUT = REPO_ROOT / "campaigns" / "shared_dataset" / "data" / "calisol23"


def main(argv: list[str] | None = None) -> int:
    """Clean and write ``calisol23_clean.csv``, ``NOTICE.md`` and ``cleaning_log.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW,
                        help=f"raw CALiSol-23 CSV (default: {DEFAULT_RAW})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if not args.raw.is_file():
        print(f"Error: raw file {args.raw} not found. Hint: pass --raw PATH.", file=sys.stderr)
        return 2
    raw_bytes = args.raw.read_bytes()
    raw_sha = hashlib.sha256(raw_bytes).hexdigest()
    raw = pd.read_csv(args.raw)
    clean, steps = clean_calisol23(raw)

    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "calisol23_clean.csv"
    # 10 significant digits: as many as the raw file carries; keeps the CSV under 3 MB.
    clean.to_csv(csv_path, index=False, lineterminator="\n", float_format="%.10g")
    (args.out / "NOTICE.md").write_text(render_notice(steps, n_raw=len(raw), raw_sha256=raw_sha))
    log = {
        "dataset": "CALiSol-23",
        "doi": DOI,
        "citation": CITATION,
        "raw_file": args.raw.name,
        "raw_sha256": raw_sha,
        "raw_rows": len(raw),
        "clean_file": csv_path.name,
        "clean_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
        "clean_rows": len(clean),
        "steps": [s.as_dict() for s in steps],
    }
    (args.out / "cleaning_log.json").write_text(json.dumps(log, indent=2) + "\n")
    for s in steps:
        print(f"{s.name:32s} {s.rows_affected:6d} rows affected, {s.rows_after:6d} left")
    size_mb = csv_path.stat().st_size / 1e6
    print(f"Wrote {csv_path} ({size_mb:.2f} MB), NOTICE.md, cleaning_log.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
