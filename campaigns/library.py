"""Candidate libraries: load and validate the table of already-made candidates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from campaigns.errors import CampaignError
from campaigns.hints import did_you_mean
from campaigns.spec import CampaignSpec


def load_library(spec: CampaignSpec, *, base_dir: Path,
                 frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and check a library campaign's candidate table.

    Args:
        spec: A library-mode spec.
        base_dir: Folder that ``spec.library.path`` is relative to (the spec file's folder).
        frame: The table itself, when it does not come from a file (dashboard upload).

    Returns:
        The table with the ID column as strings and numeric inputs as floats (NaN = missing).
    """
    lib = spec.library
    if lib is None:
        raise CampaignError(f"campaign {spec.name!r} is not a library campaign.")
    if frame is None:
        if not lib.path:
            raise CampaignError("library.path is empty.", hint="Point it at a CSV of candidates.")
        path = Path(lib.path) if Path(lib.path).is_absolute() else base_dir / lib.path
        try:
            frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise CampaignError(f"cannot read candidate library {path}: {exc}",
                                hint="Give a CSV file with a header row.") from None
    missing = [c for c in (lib.id_column, *lib.inputs) if c not in frame.columns]
    if missing:
        hints = [f"{m!r}: {mean}" for m in missing if (mean := did_you_mean(m, frame.columns))]
        raise CampaignError(f"candidate library lacks column(s) {missing}.",
                            hint=" ".join([*hints, f"Columns present: {list(frame.columns)}."]))
    out = frame[[lib.id_column, *lib.inputs]].copy()
    out[lib.id_column] = out[lib.id_column].astype(str)
    dup = out[lib.id_column][out[lib.id_column].duplicated()].unique().tolist()
    if dup:
        raise CampaignError(f"candidate IDs repeat: {dup[:5]}.",
                            hint="Give every candidate its own ID.")
    for col in lib.inputs:
        if col in lib.categorical:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        bad = out[col].notna() & num.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CampaignError(
                f"Row {i + 2}, column {col!r}: {out[col].iloc[i]!r} is not a number.",
                hint="Leave missing values empty, or list the column under library.categorical.")
        out[col] = num.astype(float)
    return out.rename(columns={lib.id_column: "candidate_id"})
