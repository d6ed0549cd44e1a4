"""CALiSol-23, the real electrolyte-conductivity data set shipped with the planner.

Source: P. de Blasio et al., *Scientific Data* (2024), doi:10.1038/s41597-024-03575-8, CC BY 4.0.
The cleaned table and its notice of changes live in ``data/calisol23/`` beside this module; the
one-off cleaning that produced them is ``scripts/calisol23_cleaning.py`` (run by
``scripts/clean_calisol23.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from campaigns.errors import CampaignError

CITATION = (
    'P. de Blasio et al., "CALiSol-23: Experimental electrolyte conductivity data for various '
    'Li-salts and solvent combinations", Scientific Data (2024), doi:10.1038/s41597-024-03575-8. '
    "Licensed CC BY 4.0."
)
DOI = "10.1038/s41597-024-03575-8"


class CalisolFormatError(CampaignError):
    """The CALiSol-23 table is missing or not in the expected format."""


def clean_csv_path() -> Path:
    """Path of the shipped ``calisol23_clean.csv`` (written by ``scripts/clean_calisol23.py``)."""
    return Path(__file__).resolve().parent / "data" / "calisol23" / "calisol23_clean.csv"


def load_clean_calisol23() -> pd.DataFrame:
    """The shipped cleaned CALiSol-23 frame (columns: see ``scripts/calisol23_cleaning.py``).

    Raises:
        CalisolFormatError: the cleaned file is missing from the installation.
    """
    path = clean_csv_path()
    if not path.is_file():
        raise CalisolFormatError(
            f"Cleaned CALiSol-23 file not found at {path}.",
            hint="Run `python scripts/clean_calisol23.py` from the repository root.",
        )
    frame = pd.read_csv(path)
    frame["flags"] = frame["flags"].fillna("").astype(str)
    return frame
