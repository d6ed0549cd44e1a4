"""Describe the cleaned CALiSol-23 CSV as a Frictionless data package (writes datapackage.json).

Run after scripts/clean_calisol23.py; re-runnable, and the same CSV always gives the same file.
The package is validated with the frictionless library before the script reports success.

Usage (from the repository root)::

    .venv/bin/python scripts/package_calisol23.py [--folder campaigns/shared_dataset/data/calisol23]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from campaigns.shared_dataset.seed import data_dir, write_calisol23_package  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write and validate ``datapackage.json`` next to ``calisol23_clean.csv``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=data_dir(),
                        help="folder holding calisol23_clean.csv (default: the shipped one)")
    args = parser.parse_args(argv)
    path = write_calisol23_package(args.folder)
    print(f"wrote {path} (valid Frictionless data package)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
