"""Cleaning of the CALiSol-23 electrolyte-conductivity data set (real measurements).

Source: P. de Blasio et al., "CALiSol-23: Experimental electrolyte conductivity data for various
Li-salts and solvent combinations", *Scientific Data* (2024), doi:10.1038/s41597-024-03575-8,
licensed CC BY 4.0. The raw file is a copy of ``data/CALiSol-23 Dataset.csv`` from
github.com/dong-tony/TLforCE (see ``shared/datasets/calisol23/SOURCE.md``).

CC BY asks for attribution and a notice of changes, so the cleaning is a pure, re-runnable function
that returns the cleaned frame *and* a list of :class:`CleaningStep` records (what each step did and
how many rows it touched). ``scripts/clean_calisol23.py`` turns those records into ``NOTICE.md`` and
``cleaning_log.json`` next to ``calisol23_clean.csv``.

Steps, in order (each is a no-op on already-clean data, so cleaning is idempotent):

1. ``standardize_columns`` - raw headers become unit-named columns (``k`` ->
   ``ionic_conductivity_ms_per_cm``, ``T`` -> ``temperature_k`` plus a derived ``temperature_c``,
   ``c units`` -> ``c_unit``, ``solvent ratio type`` -> ``solvent_basis``); solvents that the
   planner's column registry knows become ``*_frac`` (``EC`` -> ``ec_frac``, ``2-Glyme`` ->
   ``diglyme_frac``, ...); every other solvent keeps its CALiSol name. ``source_row`` keeps the
   0-based row index of the raw file for traceability.
2. ``normalize_labels`` - stray whitespace in salt labels (``" LiBPFPB"``), ``mol/l`` -> ``mol/L``,
   solvent basis ``mol`` -> ``m``.
3. ``unify_salt_synonyms`` - one label per salt (``LiN(CF3SO2)2`` -> ``LiTFSI``, ...).
4. ``drop_missing_conductivity`` - rows without a conductivity value.
5. ``drop_nonpositive_conductivity`` - conductivity < 0 is impossible (fit artefacts at low T);
   exactly 0 is below detection (or salt-free) and has no logarithm.
6. ``drop_nonpositive_concentration`` - salt-free (c = 0) or negative (digitisation) rows.
7. ``rescale_misscaled_sources`` - a source whose values sit >= 1.5 decades below comparable rows
   from *other* sources is a unit error and is rescaled by the nearest power of ten (see
   :func:`source_offsets` for how "comparable" is defined). Repeated until no source qualifies.
8. ``flag_suspect_sources`` - sources still 0.75-1.5 decades off are *flagged* (``flags`` column
   token ``suspect_scale``), not changed: a factor of ~10 can be chemistry (solvent viscosity)
   or a S/m vs mS/cm slip, and only the original paper can tell.
9. ``normalize_concentration`` - ``c`` and ``c_unit`` are kept; ``c_basis`` says ``molality`` or
   ``molarity``; ``salt_molality_mol_per_kg`` equals ``c`` for mol/kg rows and stays empty for
   mol/L rows, because CALiSol-23 gives no densities and none are invented here.
10. ``normalize_solvent_fractions`` - each row's solvent fractions are divided by their sum so they
    add up to 1 on the row's own basis (``solvent_basis``: ``w`` weight, ``v`` volume, ``m``
    mole); the basis itself is never converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from campaigns.shared_dataset.calisol23 import (  # noqa: F401 - re-exported for the script
    CITATION,
    DOI,
    CalisolFormatError,
    load_clean_calisol23,
)

RAW_COLUMNS = {
    "k": "ionic_conductivity_ms_per_cm",
    "T": "temperature_k",
    "c units": "c_unit",
    "solvent ratio type": "solvent_basis",
}
"""Raw CALiSol-23 metadata header -> cleaned column name (``doi``, ``c``, ``salt`` keep theirs)."""

SOLVENT_COLUMNS = {
    "EC": "ec_frac",
    "PC": "pc_frac",
    "DMC": "dmc_frac",
    "EMC": "emc_frac",
    "DEC": "dec_frac",
    "DME": "dme_frac",
    "2-Glyme": "diglyme_frac",
}
"""CALiSol-23 solvent header -> the planner's ``*_frac`` name (2-glyme is diglyme). FEC stays
``FEC``: the registry's ``fec_wt_pct`` is an additive in wt% of the electrolyte, not a solvent
fraction."""

SALT_SYNONYMS = {
    "LiN(CF3SO2)2": "LiTFSI",
    "LiN(SO2CF3)2": "LiTFSI",
    "LiTFSA": "LiTFSI",
    "LiN(FSO2)2": "LiFSI",
    "LiN(SO2F)2": "LiFSI",
    "LiFSA": "LiFSI",
    "LiOTf": "LiCF3SO3",
    "LiTriflate": "LiCF3SO3",
    "LiB(C2O4)2": "LiBOB",
}
"""Alternative salt labels -> the label used in the cleaned file. Only the first occurs in the
CALiSol-23 copy we ship; the others make the step safe for future versions of the file."""

META_COLUMNS = (
    "source_row",
    "doi",
    "salt",
    "ionic_conductivity_ms_per_cm",
    "temperature_k",
    "temperature_c",
    "c",
    "c_unit",
    "c_basis",
    "salt_molality_mol_per_kg",
    "solvent_basis",
)
"""Non-solvent columns of the cleaned frame, in output order (``flags`` comes last)."""

RESCALE_DECADES = 1.5
"""A source this many decades (log10 units) below comparable rows is rescaled."""
SUSPECT_DECADES = 0.75
"""A source this many decades off (either direction) after rescaling is flagged."""

_C_UNITS = {"mol/kg": "mol/kg", "mol/l": "mol/L"}
_C_BASIS = {"mol/kg": "molality", "mol/L": "molarity"}
_SOLVENT_BASIS = {"w": "w", "v": "v", "m": "m", "mol": "m"}
_KELVIN = 273.15


@dataclass(frozen=True)
class CleaningStep:
    """What one cleaning step did; the NOTICE and the JSON log are generated from these."""

    name: str
    """Short identifier, e.g. ``drop_negative_conductivity``."""
    description: str
    """One sentence a reader of the NOTICE understands."""
    rows_affected: int
    """Rows changed, flagged or removed by this step."""
    rows_after: int
    """Rows left after the step."""
    details: dict[str, Any] = field(default_factory=dict)
    """Step-specific facts (per-source offsets, label mapping counts, ...), JSON-serialisable."""

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for ``cleaning_log.json``."""
        return {
            "name": self.name,
            "description": self.description,
            "rows_affected": self.rows_affected,
            "rows_after": self.rows_after,
            "details": self.details,
        }


def clean_calisol23(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[CleaningStep]]:
    """Clean CALiSol-23 and record every change.

    Args:
        raw: ``n x 45`` frame as read from ``calisol23.csv`` (or a frame this function returned
            earlier: cleaning is idempotent and then reports zero rows affected everywhere).

    Returns:
        ``(clean, steps)``: ``clean`` has the columns :data:`META_COLUMNS`, one column per
        solvent (fractions summing to 1 per row) and ``flags`` (``;``-separated tokens saying
        what was changed in that row); ``steps`` lists the :class:`CleaningStep` records in order.

    Raises:
        CalisolFormatError: required columns are missing or not numeric (all problems at once).
    """
    df = raw.copy()
    steps: list[CleaningStep] = []
    df, step = _standardize_columns(df)
    steps.append(step)
    for fn in (
        _normalize_labels,
        _unify_salt_synonyms,
        _drop_missing_conductivity,
        _drop_nonpositive_conductivity,
        _drop_nonpositive_concentration,
        _rescale_misscaled_sources,
        _flag_suspect_sources,
        _normalize_concentration,
        _normalize_solvent_fractions,
    ):
        df, step = fn(df)
        steps.append(step)
    solvents = solvent_columns(df)
    df = df[[*META_COLUMNS, *solvents, "flags"]].reset_index(drop=True)
    return df, steps


def solvent_columns(frame: pd.DataFrame) -> list[str]:
    """Names of the solvent-fraction columns of a cleaned or raw CALiSol-23 frame, in file order."""
    known = set(META_COLUMNS) | set(RAW_COLUMNS) | {"flags"}
    return [c for c in frame.columns if c not in known]


def source_offsets(clean: pd.DataFrame, *, n_neighbors: int = 5) -> pd.Series:
    """Median log10 offset of each source's conductivities from comparable rows of other sources.

    "Comparable" means: same salt, and the ``n_neighbors`` nearest rows from *other* sources in a
    scaled space of temperature (10 K per unit), concentration (0.25 mol per unit, mol/kg and mol/L
    treated alike, a <25 % difference that is tiny next to the decade-scale errors sought) and
    solvent fractions (0.1 per unit, so composition dominates). For each row the offset is
    ``log10(k / median(k of its neighbours))``; a source's offset is the median over its rows.
    Chemistry alone rarely moves comparable rows by more than a few tenths of a decade.

    Args:
        clean: frame with ``doi``, ``salt``, ``temperature_k``, ``c``,
            ``ionic_conductivity_ms_per_cm`` (all > 0) and the solvent columns.
        n_neighbors: neighbours per row.

    Returns:
        Series indexed by ``doi``: median offset in decades (NaN-free; sources with fewer than
        5 comparable rows are left out), sorted ascending.
    """
    solvents = solvent_columns(clean)
    frac = clean[solvents].to_numpy(float)
    frac = frac / frac.sum(axis=1, keepdims=True)
    x = np.column_stack([
        clean["temperature_k"].to_numpy(float) / 10.0,
        clean["c"].to_numpy(float) / 0.25,
        frac / 0.1,
    ])
    log_k = np.log10(clean["ionic_conductivity_ms_per_cm"].to_numpy(float))
    doi = clean["doi"].to_numpy()
    salt = clean["salt"].to_numpy()
    offsets: dict[str, float] = {}
    residuals: dict[str, list[np.ndarray]] = {}
    for s in pd.unique(salt):
        in_salt = salt == s
        # Only the solvents this salt's rows use: fewer dimensions, much faster trees.
        used = np.flatnonzero(np.r_[True, True, frac[in_salt].any(axis=0)])
        for source in pd.unique(doi[in_salt]):
            rows = np.flatnonzero(in_salt & (doi == source))
            others = np.flatnonzero(in_salt & (doi != source))
            if len(others) < n_neighbors:
                continue
            tree = cKDTree(x[np.ix_(others, used)])
            _, idx = tree.query(x[np.ix_(rows, used)], k=n_neighbors)
            res = log_k[rows] - np.median(log_k[others][idx], axis=1)
            residuals.setdefault(str(source), []).append(res)
    for source, parts in residuals.items():
        if sum(len(r) for r in parts) >= 5:
            offsets[source] = float(np.median(np.concatenate(parts)))
    return pd.Series(offsets, name="log10_offset", dtype=float).sort_values()


# --------------------------------------------------------------------------------------- steps


def _standardize_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    renames = {k: v for k, v in {**RAW_COLUMNS, **SOLVENT_COLUMNS}.items() if k in df.columns}
    df = df.rename(columns=renames)
    required = ["doi", "salt", "c", "ionic_conductivity_ms_per_cm", "temperature_k", "c_unit",
                "solvent_basis"]
    problems = [f'column "{c}" is missing' for c in required if c not in df.columns]
    solvents = solvent_columns(df.drop(columns=[c for c in META_COLUMNS if c in df.columns]))
    if not solvents:
        problems.append("no solvent-fraction columns found")
    for col in [*solvents, "c", "ionic_conductivity_ms_per_cm", "temperature_k"]:
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            problems.append(f'column "{col}" is not numeric')
    if problems:
        raise CalisolFormatError(
            "Not a CALiSol-23 table: " + "; ".join(problems) + ".",
            hint="Pass the raw calisol23.csv (doi, k, T, c, salt, c units, solvent ratio type, "
            "one column per solvent) or a frame returned by clean_calisol23.",
        )
    if "source_row" not in df.columns:
        df.insert(0, "source_row", np.arange(len(df), dtype=np.int64))
    if "flags" not in df.columns:
        df["flags"] = ""
    df["flags"] = df["flags"].fillna("").astype(str)
    df["temperature_c"] = (df["temperature_k"] - _KELVIN).round(6)
    for col in ("c_basis", "salt_molality_mol_per_kg"):
        if col not in df.columns:
            df[col] = np.nan if col == "salt_molality_mol_per_kg" else ""
    df["c_basis"] = df["c_basis"].fillna("").astype(str)
    return df, CleaningStep(
        "standardize_columns",
        "Renamed headers to unit-named columns (k -> ionic_conductivity_ms_per_cm [mS/cm], "
        "T -> temperature_k [K], plus derived temperature_c [°C]) and known solvents to *_frac "
        "names; added source_row (0-based row of the raw file).",
        rows_affected=len(df) if renames else 0,
        rows_after=len(df),
        details={"renamed": renames},
    )


def _normalize_labels(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    before = df[["salt", "doi", "c_unit", "solvent_basis"]].astype(str)
    for col in ("salt", "doi", "c_unit", "solvent_basis"):
        df[col] = df[col].astype(str).str.strip()
    unknown_units = sorted(set(df["c_unit"].str.lower()) - set(_C_UNITS))
    unknown_basis = sorted(set(df["solvent_basis"]) - set(_SOLVENT_BASIS))
    if unknown_units or unknown_basis:
        raise CalisolFormatError(
            f"Unknown concentration units {unknown_units} or solvent bases {unknown_basis}.",
            hint="Expected c units mol/kg or mol/L and solvent ratio types w, v, m or mol.",
        )
    df["c_unit"] = df["c_unit"].str.lower().map(_C_UNITS)
    df["solvent_basis"] = df["solvent_basis"].map(_SOLVENT_BASIS)
    changed = (before != df[["salt", "doi", "c_unit", "solvent_basis"]]).any(axis=1)
    return df, CleaningStep(
        "normalize_labels",
        "Stripped stray whitespace from salt labels and DOIs, wrote mol/l as mol/L and the mole-"
        "fraction basis 'mol' as 'm'.",
        rows_affected=int(changed.sum()),
        rows_after=len(df),
        details={"rows_per_column": {c: int((before[c] != df[c]).sum()) for c in before}},
    )


def _unify_salt_synonyms(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    hits = df["salt"].isin(list(SALT_SYNONYMS))
    counts = df.loc[hits, "salt"].value_counts()
    mapping = {f"{k} -> {SALT_SYNONYMS[k]}": int(v) for k, v in counts.items()}
    df.loc[hits, "salt"] = df.loc[hits, "salt"].map(SALT_SYNONYMS)
    df = _add_flag(df, hits.to_numpy(), "salt_renamed")
    return df, CleaningStep(
        "unify_salt_synonyms",
        "Gave each salt one label (e.g. LiN(CF3SO2)2 is LiTFSI).",
        rows_affected=int(hits.sum()),
        rows_after=len(df),
        details={"renamed": mapping},
    )


def _drop_rows(df: pd.DataFrame, mask: pd.Series, name: str, text: str):
    per_source = df.loc[mask, "doi"].value_counts().astype(int).to_dict()
    out = df.loc[~mask]
    return out, CleaningStep(name, text, int(mask.sum()), len(out), {"per_source": per_source})


def _drop_missing_conductivity(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    return _drop_rows(
        df, df["ionic_conductivity_ms_per_cm"].isna(), "drop_missing_conductivity",
        "Dropped rows without a conductivity value.",
    )


def _drop_nonpositive_conductivity(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    k = df["ionic_conductivity_ms_per_cm"]
    df, step = _drop_rows(
        df, k <= 0, "drop_nonpositive_conductivity",
        "Dropped rows with negative conductivity (physically impossible; low-temperature fit "
        "artefacts in the sources) or exactly zero (below the detection limit, or salt-free).",
    )
    step.details.update(negative=int((k < 0).sum()), zero=int((k == 0).sum()))
    return df, step


def _drop_nonpositive_concentration(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    return _drop_rows(
        df, df["c"] <= 0, "drop_nonpositive_concentration",
        "Dropped rows with salt concentration <= 0 (salt-free solvent or digitisation noise; "
        "their conductivity is 0 or meaningless for an electrolyte model).",
    )


def _rescale_misscaled_sources(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    details: dict[str, Any] = {"rule": f"median offset <= -{RESCALE_DECADES} decades"}
    rescaled: dict[str, dict[str, float]] = {}
    n_rows = 0
    while True:
        offsets = source_offsets(df.reset_index(drop=True))
        offsets = offsets.drop(list(rescaled), errors="ignore")
        if offsets.empty or offsets.iloc[0] > -RESCALE_DECADES:
            break
        source, offset = str(offsets.index[0]), float(offsets.iloc[0])
        factor = 10.0 ** round(-offset)
        mask = (df["doi"] == source).to_numpy()
        df.loc[mask, "ionic_conductivity_ms_per_cm"] *= factor
        df = _add_flag(df, mask, f"k_rescaled_x{factor:g}")
        rescaled[source] = {"offset_decades": round(offset, 3), "factor": factor,
                            "rows": int(mask.sum())}
        n_rows += int(mask.sum())
    details["rescaled"] = rescaled
    return df, CleaningStep(
        "rescale_misscaled_sources",
        "Multiplied the conductivities of sources lying >= 1.5 decades below comparable rows "
        "(same salt; nearest temperature, concentration and solvent mix) of other sources by the "
        "nearest power of ten (unit errors).",
        rows_affected=n_rows,
        rows_after=len(df),
        details=details,
    )


def _flag_suspect_sources(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    offsets = source_offsets(df.reset_index(drop=True))
    suspects = offsets[offsets.abs() >= SUSPECT_DECADES]
    mask = df["doi"].isin(list(suspects.index)).to_numpy()
    already = df["flags"].str.contains("suspect_scale", regex=False).to_numpy()
    df = _add_flag(df, mask, "suspect_scale")
    return df, CleaningStep(
        "flag_suspect_sources",
        f"Flagged (did not change) sources whose median offset from comparable rows is still "
        f">= {SUSPECT_DECADES} decades; check against the original paper before relying on them.",
        rows_affected=int((mask & ~already).sum()),
        rows_after=len(df),
        details={"flagged": {k: round(float(v), 3) for k, v in suspects.items()},
                 "all_offsets_decades": {k: round(float(v), 3) for k, v in offsets.items()}},
    )


def _normalize_concentration(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    basis = df["c_unit"].map(_C_BASIS)
    molality = df["c"].where(df["c_unit"] == "mol/kg")
    old_m = df["salt_molality_mol_per_kg"].to_numpy(float)
    new_m = molality.to_numpy(float)
    changed = (df["c_basis"] != basis).to_numpy() | ~(
        (old_m == new_m) | (np.isnan(old_m) & np.isnan(new_m))
    )
    df["c_basis"] = basis
    df["salt_molality_mol_per_kg"] = molality
    return df, CleaningStep(
        "normalize_concentration",
        "Kept c and c_unit; added c_basis (molality/molarity) and salt_molality_mol_per_kg = c "
        "for mol/kg rows. mol/L rows keep salt_molality_mol_per_kg empty: the data set gives no "
        "densities and none were invented.",
        rows_affected=int(changed.sum()),
        rows_after=len(df),
        details={
            "molality_rows": int((basis == "molality").sum()),
            "molarity_rows_not_converted": int((basis == "molarity").sum()),
        },
    )


def _normalize_solvent_fractions(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStep]:
    solvents = solvent_columns(df)
    total = df[solvents].sum(axis=1)
    if (total <= 0).any():
        raise CalisolFormatError(
            f"{int((total <= 0).sum())} rows have no solvent at all (fractions sum to 0).",
            hint="Check the solvent columns of the input file.",
        )
    off = ~np.isclose(total, 1.0, rtol=0.0, atol=1e-9)
    df.loc[off, solvents] = df.loc[off, solvents].div(total[off], axis=0)
    df = _add_flag(df, np.asarray(off), "fractions_renormalized")
    basis_counts = df["solvent_basis"].value_counts().astype(int).to_dict()
    return df, CleaningStep(
        "normalize_solvent_fractions",
        "Divided each row's solvent fractions by their sum so they add up to 1 on the row's own "
        "basis (solvent_basis: w weight, v volume, m mole); bases were not converted.",
        rows_affected=int(off.sum()),
        rows_after=len(df),
        details={
            "largest_deviation_before": float(np.abs(total - 1.0).max()),
            "rows_per_basis": basis_counts,
        },
    )


def _add_flag(df: pd.DataFrame, mask: np.ndarray, token: str) -> pd.DataFrame:
    """Append ``token`` to the ``flags`` of rows in ``mask`` that do not carry it yet."""
    flags = df["flags"].to_numpy(dtype=object).copy()
    for i in np.flatnonzero(mask):
        present = [t for t in re.split(";", flags[i]) if t]
        if token not in present:
            flags[i] = ";".join([*present, token])
    df["flags"] = flags
    return df


def render_notice(steps: list[CleaningStep], *, n_raw: int, raw_sha256: str) -> str:
    """Markdown NOTICE (attribution plus the list of changes) generated from ``steps``.

    Args:
        steps: records returned by :func:`clean_calisol23`.
        n_raw: rows in the raw file.
        raw_sha256: hex digest of the raw file, so the notice names exactly what was changed.
    """
    lines = [
        "# NOTICE: CALiSol-23 (cleaned copy)",
        "",
        "`calisol23_clean.csv` is a modified copy of the CALiSol-23 data set:",
        "",
        f"> {CITATION}",
        "",
        "Obtained as `data/CALiSol-23 Dataset.csv` from github.com/dong-tony/TLforCE (commit "
        "2c3b79a0b0abbaa9e17dcb351c524880cd8b9c07), which re-publishes the data of the paper "
        "above. The licence is CC BY 4.0 as stated for the Scientific Data record; confirm it "
        "against the original data record before a public release.",
        "",
        f"Raw file: {n_raw} rows, sha256 `{raw_sha256}`. Cleaned file: {steps[-1].rows_after} "
        "rows. Every change was made by `scripts/clean_calisol23.py` "
        "(`scripts/calisol23_cleaning.py`, `clean_calisol23`); no value was edited by hand. "
        "The `source_row` column gives each row's 0-based position in the raw file and `flags` "
        "lists what was changed in that row. `cleaning_log.json` holds the full details.",
        "",
        "## Changes",
        "",
    ]
    for i, step in enumerate(steps, start=1):
        lines.append(f"{i}. **{step.name}** ({step.rows_affected} rows): {step.description}")
        extra = _notice_details(step)
        if extra:
            lines.append(f"   {extra}")
    lines += [
        "",
        "## Columns",
        "",
        "`ionic_conductivity_ms_per_cm` [mS/cm], `temperature_k` [K], `temperature_c` [°C], "
        "`c` (salt concentration in `c_unit`), `c_basis` (molality or molarity), "
        "`salt_molality_mol_per_kg` [mol/kg] (mol/kg rows only), `solvent_basis` (w, v or m) and "
        "one fraction column per solvent (`*_frac` where the planner has a name for the solvent, "
        "otherwise the CALiSol-23 name), summing to 1 per row.",
        "",
    ]
    return "\n".join(lines)


def _notice_details(step: CleaningStep) -> str:
    d = step.details
    if step.name == "unify_salt_synonyms" and d.get("renamed"):
        return "Mapping (rows): " + ", ".join(f"{k} ({v})" for k, v in d["renamed"].items()) + "."
    if step.name.startswith("drop_") and d.get("per_source"):
        return "Per source: " + ", ".join(f"{k} ({v})" for k, v in d["per_source"].items()) + "."
    if step.name == "rescale_misscaled_sources" and d.get("rescaled"):
        return "Rescaled: " + ", ".join(
            f"doi:{k} x{v['factor']:g} ({v['rows']} rows; median offset {v['offset_decades']} "
            "decades before)" for k, v in d["rescaled"].items()
        ) + "."
    if step.name == "flag_suspect_sources" and d.get("flagged"):
        return "Flagged: " + ", ".join(
            f"doi:{k} (median offset {v} decades)" for k, v in d["flagged"].items()
        ) + "."
    if step.name == "normalize_concentration":
        return (f"{d['molality_rows']} rows in mol/kg, {d['molarity_rows_not_converted']} rows "
                "in mol/L left unconverted.")
    if step.name == "normalize_solvent_fractions":
        worst = d["largest_deviation_before"]
        return (f"Largest deviation of a row sum from 1 before: {worst:.3g}."
                f" Rows per basis: {d['rows_per_basis']}.")
    return ""
