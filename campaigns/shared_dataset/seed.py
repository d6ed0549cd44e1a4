"""Seed data: the cleaned CALiSol-23 electrolyte data set as a data package and a source.

The cleaned CSV, its NOTICE and the cleaning log come from ``scripts/clean_calisol23.py``
(:mod:`campaigns.shared_dataset.calisol23`). This module describes that CSV, unchanged, with a
``datapackage.json`` next to it (``scripts/package_calisol23.py`` writes it), so the seed
travels through the same :func:`~campaigns.shared_dataset.package.read_package` as any lab's
package.

Rows whose values lie outside the registry's physically possible range are quarantined, not
dropped: two CALiSol-23 rows measured at 204 °C exceed the registry's 200 °C limit for
``temperature_c``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from frictionless import Package, Resource, Schema

from campaigns.columns import COLUMNS
from campaigns.errors import CampaignError
from campaigns.shared_dataset.calisol23 import CITATION, DOI
from campaigns.shared_dataset.dataset import PullResult, SharedDataset
from campaigns.shared_dataset.package import DESCRIPTOR, validate_package
from campaigns.shared_dataset.schema import (
    CITATION_KEY,
    COLUMN_KEY,
    DOMAIN_KEY,
    KIND_KEY,
    ROLE_KEY,
    UNIT_KEY,
    licence_descriptor,
)

SOURCE = "calisol23"
CSV = "calisol23_clean.csv"
DOI_URL = f"https://doi.org/{DOI}"

#: Cleaned column → (type, unit, role, description) for the non-solvent columns.
_META: dict[str, tuple[str, str | None, str, str]] = {
    "source_row": ("integer", None, "id", "0-based row of the raw CALiSol-23 file (row ID)."),
    "doi": ("string", None, "provenance", "DOI of the paper the measurement comes from."),
    "salt": ("string", None, "input", "Lithium salt (one label per salt)."),
    "ionic_conductivity_ms_per_cm": ("number", "mS/cm", "target", "Ionic conductivity."),
    "temperature_k": ("number", "K", "input", "Measurement temperature as published."),
    "temperature_c": ("number", "°C", "input", "Measurement temperature (from temperature_k)."),
    "c": ("number", None, "input", "Salt concentration as published; its unit is in c_unit."),
    "c_unit": ("string", None, "provenance", "Unit of c: mol/kg or mol/L."),
    "c_basis": ("string", None, "provenance", "molality (mol/kg) or molarity (mol/L)."),
    "salt_molality_mol_per_kg": ("number", "mol/kg", "input",
                                 "Salt molality; empty for mol/L rows (no densities given)."),
    "solvent_basis": ("string", None, "provenance",
                      "Basis of the solvent fractions: w weight, v volume, m mole."),
    "flags": ("string", None, "provenance",
              "What the cleaning changed in the row (see NOTICE.md), ';'-separated."),
}


def data_dir() -> Path:
    """Folder of the shipped cleaned CALiSol-23 files."""
    return Path(str(resources.files("campaigns.shared_dataset") / "data" / "calisol23"))


def calisol23_descriptor(csv_path: Path) -> dict[str, Any]:
    """The ``datapackage.json`` content describing the cleaned CSV as it is."""
    header = pd.read_csv(csv_path, nrows=0).columns
    fields = []
    for name in header:
        if name in _META:
            kind, unit, role, desc = _META[name]
        else:  # a solvent fraction column
            kind, unit, role = "number", "-", "input"
            desc = (f"Fraction of {name.removesuffix('_frac').upper()} in the solvent blend, on "
                    "the basis given in solvent_basis; fractions of a row sum to 1.")
        field: dict[str, Any] = {"name": name, "type": kind, "description": desc,
                                 ROLE_KEY: role, COLUMN_KEY: name}
        if name in COLUMNS:
            field["title"] = COLUMNS[name].label
        if unit is not None:
            field[UNIT_KEY] = unit
        fields.append(field)
    fields[0]["constraints"] = {"required": True, "unique": True}
    resource = Resource(path=CSV, name="measurements", schema=Schema.from_descriptor(
        {"fields": fields, "primaryKey": ["source_row"]}),
        description="One row per measured electrolyte at one temperature.")
    resource.custom[KIND_KEY] = "measurement"
    package = Package(
        name=SOURCE, title="CALiSol-23 (cleaned): ionic conductivity of Li-ion electrolytes",
        description=(
            "Ionic conductivity of lithium-salt electrolytes over salt, concentration, solvent "
            "blend and temperature, from 27 papers, cleaned by scripts/clean_calisol23.py. "
            "NOTICE.md lists every change; cleaning_log.json has the details."),
        licenses=[licence_descriptor("CC-BY-4.0")],
        contributors=[
            {"title": "P. de Blasio et al.", "roles": ["author"], "path": DOI_URL},
            {"title": "TLforCE (github.com/dong-tony/TLforCE)", "roles": ["publisher"],
             "path": "https://github.com/dong-tony/TLforCE"},
            {"title": "battery-bo-planner developers (cleaning)", "roles": ["contributor"]},
        ],
        sources=[{"title": CITATION, "path": DOI_URL}], resources=[resource])
    descriptor = package.to_descriptor()
    descriptor.update({DOMAIN_KEY: "electrolyte", CITATION_KEY: CITATION,
                       "planner:notice": "NOTICE.md",
                       "keywords": ["electrolyte", "ionic conductivity", "lithium-ion"]})
    return descriptor


def write_calisol23_package(folder: Path | None = None) -> Path:
    """Write ``datapackage.json`` next to the cleaned CSV (default: the shipped folder)."""
    folder = folder or data_dir()
    if not (folder / CSV).is_file():
        raise CampaignError(f"{folder / CSV} is missing.",
                            hint="Run .venv/bin/python scripts/clean_calisol23.py first.")
    target = folder / DESCRIPTOR
    target.write_text(json.dumps(calisol23_descriptor(folder / CSV), indent=2,
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    problems = validate_package(target)
    if problems:
        raise CampaignError(f"the CALiSol-23 package does not validate: {problems[0]}")
    return target


def seed_calisol23(shared: SharedDataset, *, actor: str = "",
                   replace_source: bool = False) -> PullResult:
    """Pull the cleaned CALiSol-23 package as source ``calisol23`` (a no-op when current).

    Out-of-range rows are quarantined with their problems (see the module docstring).

    Args:
        shared: The shared dataset to seed.
        actor: Who seeds, for the audit log.
        replace_source: Replace another package stored as ``calisol23`` (see
            :meth:`SharedDataset.merge`); without it such a package makes seeding fail.
    """
    folder = data_dir()
    if (folder / DESCRIPTOR).is_file():
        return shared.pull(folder, name=SOURCE, quarantine=True, actor=actor,
                           replace_source=replace_source)
    if not (folder / CSV).is_file():
        raise CampaignError("the cleaned CALiSol-23 data set is not installed.",
                            hint="Run .venv/bin/python scripts/clean_calisol23.py, then "
                                 ".venv/bin/python scripts/package_calisol23.py.")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(folder / CSV, Path(tmp) / CSV)
        write_calisol23_package(Path(tmp))
        return shared.pull(Path(tmp), name=SOURCE, quarantine=True, actor=actor,
                           replace_source=replace_source)
