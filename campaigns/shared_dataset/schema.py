"""What a shared-dataset package holds: field descriptions, provenance fields, licences, row IDs.

Every field of a published package carries the Table Schema properties ``name``, ``type``,
``title`` (label with unit), ``description`` and ``constraints`` (physically possible range),
plus two properties of our own: ``unit`` (the registry unit, e.g. ``"nm"``) and
``planner:role`` (``id``, ``input``, ``descriptor``, ``target`` or ``provenance``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from campaigns.columns import COLUMNS, HeaderIndex, column, normalize_header
from campaigns.shared_dataset.errors import LicenceError

UNIT_KEY = "unit"
ROLE_KEY = "planner:role"
KIND_KEY = "planner:kind"
COLUMN_KEY = "planner:column"
"""Field property naming the registry column a field holds (or the field's own name for none)."""
DOMAIN_KEY = "planner:domain"
CITATION_KEY = "planner:citation"

MEASUREMENTS = "measurements"
FAILED_SYNTHESES = "failed_syntheses"
#: Resource name → row kind stored in the shared dataset.
RESOURCE_KINDS = {MEASUREMENTS: "measurement", FAILED_SYNTHESES: "failed_synthesis"}

DOMAINS = ("hard-carbon", "electrolyte", "other")
_DOMAIN_MARKERS = {
    "hard-carbon": ("ice_pct", "reversible_capacity_mah_per_g", "plateau_capacity_mah_per_g",
                    "d002_nm", "carbonization_temperature_c", "precursor"),
    "electrolyte": ("ionic_conductivity_ms_per_cm", "coulombic_efficiency_pct", "salt",
                    "salt_molality_mol_per_kg", "ec_frac", "dmc_frac"),
}


@dataclass(frozen=True)
class FieldSpec:
    """One column of a package resource."""

    name: str
    """Field name (a registry name for science columns: ``d002_nm``)."""
    type: str
    """Table Schema type: ``number``, ``integer``, ``string``, ``datetime`` or ``object``."""
    role: str
    """``id``, ``input``, ``descriptor``, ``target`` or ``provenance``."""
    title: str = ""
    """Human label with unit (``"d002 [nm]"``)."""
    description: str = ""
    """One sentence for people reading the package."""
    unit: str | None = None
    """Unit of the values (``"nm"``); ``None`` for text and identifiers."""
    constraints: Mapping[str, Any] = field(default_factory=dict)
    """Table Schema constraints (``minimum``, ``maximum``, ``enum``, ``required``, ``unique``)."""

    def descriptor(self) -> dict[str, Any]:
        """The Table Schema field descriptor."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.title:
            out["title"] = self.title
        if self.description:
            out["description"] = self.description
        if self.constraints:
            out["constraints"] = dict(self.constraints)
        if self.unit is not None:
            out[UNIT_KEY] = self.unit
        out[ROLE_KEY] = self.role
        return out


_P = dict[str, tuple[str, str, str]]
#: Provenance fields: name → (type, title, description).
PROVENANCE: _P = {
    "campaign": ("string", "Campaign", "Campaign that planned and measured the row."),
    "batch_id": ("integer", "Batch", "Plate (batch) number in the publishing lab's database."),
    "iso_week": ("string", "ISO week", "Week the plate was planned for (YYYY-Www)."),
    "well": ("string", "Well", "Well on the plate (A1 … H12)."),
    "role": ("string", "Well role", "sample, control (reference material) or replicate."),
    "candidate_id": ("string", "Candidate", "Library candidate the well holds, if any."),
    "status": ("string", "Status",
               "ok, failed_synthesis, failed_cell or outlier (flagged by the lab)."),
    "operator": ("string", "Operator", "Who measured the well."),
    "instrument": ("string", "Instrument", "Instrument or channel used."),
    "measured_at": ("datetime", "Measured at", "When the well was measured (UTC)."),
    "generator": ("string", "Batch generator",
                  "What proposed the recipe: the space-filling design or the model + acquisition."),
    "seed": ("integer", "Seed", "Random seed of the proposal (reproduces it)."),
    "data_revision": ("integer", "Data revision",
                      "Campaign data revision (highest measurement id) the proposal saw."),
    "model": ("string", "Model", "Surrogate model that proposed the recipe, if any."),
    "acquisition": ("string", "Acquisition", "Acquisition function that proposed the recipe."),
    "model_info": ("object", "Model details", "Everything stored about the proposing model."),
    "source_file": ("string", "Source file", "Plate file the values were uploaded in."),
    "source_file_sha256": ("string", "Source file SHA-256", "Hash of that plate file."),
    "reference": ("string", "Reference", "DOI or citation of the paper the row comes from."),
    "lab": ("string", "Lab", "Lab that measured the row."),
    "note": ("string", "Note", "Free-text note."),
}
_PROVENANCE_ALIASES = {
    "doi": "reference", "paper": "reference", "citation": "reference", "source": "reference",
    "date": "measured_at", "timestamp": "measured_at", "batch": "batch_id", "plate": "batch_id",
    "laboratory": "lab", "notes": "note", "comment": "note",
}
_PROV_LOOKUP = {normalize_header(k): k for k in PROVENANCE} | {
    normalize_header(k): v for k, v in _PROVENANCE_ALIASES.items()}

ROW_ID = FieldSpec(
    "row_id", "string", "id", "Row ID",
    "Stable row identifier, unique within the package; for a published campaign the first 20 "
    "hex digits of SHA-256 of campaign|batch|well.",
    constraints={"required": True, "unique": True},
)

#: SPDX identifier → (title, URL).
LICENCES: dict[str, tuple[str, str]] = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International",
                  "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": ("Creative Commons Attribution-ShareAlike 4.0 International",
                     "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-By-1.0": ("Open Data Commons Attribution License v1.0",
                   "https://opendatacommons.org/licenses/by/1-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License v1.0",
                 "https://opendatacommons.org/licenses/odbl/1-0/"),
    "PDDL-1.0": ("Open Data Commons Public Domain Dedication and License v1.0",
                 "https://opendatacommons.org/licenses/pddl/1-0/"),
}


def licence_descriptor(identifier: str) -> dict[str, str]:
    """The Data Package ``licenses`` entry for an SPDX identifier (case ignored).

    Raises:
        LicenceError: the identifier is not in :data:`LICENCES`.
    """
    for key, (title, url) in LICENCES.items():
        if key.lower() == identifier.strip().lower():
            return {"name": key, "path": url, "title": title}
    raise LicenceError(f"unknown licence {identifier!r}.",
                       hint=f"Use one of: {', '.join(LICENCES)}.")


def science_field(name: str, role: str, *, unit: str | None = None,
                  levels: Iterable[str] | None = None) -> FieldSpec:
    """Field description of a registry column (recipe, descriptor or target).

    Args:
        name: Column name (``"ice_pct"``); lab-defined names get a guessed label and unit.
        role: ``input``, ``descriptor`` or ``target``.
        unit: Unit the stored values are in (default: the registry's).
        levels: Allowed levels of a categorical column (become an ``enum`` constraint).
    """
    col = column(name, unit=unit)
    unit = unit or col.unit
    if col.kind == "category" or levels is not None:
        cons: dict[str, Any] = {"enum": list(levels)} if levels else {}
        return FieldSpec(name, "string", role, col.label, col.description, None, cons)
    cons = {}
    if unit == col.unit:  # the registry's bounds hold in the registry's unit only
        lo, hi = col.possible
        if math.isfinite(lo):
            cons["minimum"] = lo
        if math.isfinite(hi):
            cons["maximum"] = hi
    kind = "integer" if col.kind == "int" else "number"
    return FieldSpec(name, kind, role, col.label, col.description, unit, cons)


def provenance_field(name: str) -> FieldSpec:
    """Field description of a provenance column (``operator``, ``measured_at`` …)."""
    kind, title, description = PROVENANCE[name]
    cons: dict[str, Any] = {}
    if name == "status":
        cons = {"enum": ["ok", "failed_synthesis", "failed_cell", "outlier"]}
    elif name == "role":
        cons = {"enum": ["sample", "control", "replicate"]}
    return FieldSpec(name, kind, "provenance", title, description, None, cons)


def provenance_name(header: str) -> str | None:
    """The provenance field a header names (``"DOI"`` → ``"reference"``), else ``None``."""
    return _PROV_LOOKUP.get(normalize_header(header))


def header_index(domain: str | None) -> HeaderIndex:
    """Header lookup that prefers the columns of ``domain`` when an alias is ambiguous.

    ``"temperature"`` is the measurement temperature in an electrolyte package but the
    carbonization temperature in a hard-carbon one.
    """
    mine = _domain_columns(domain)
    first = [c for c in COLUMNS.values() if c.name in mine]
    rest = [c for c in COLUMNS.values() if c.name not in mine]
    index = HeaderIndex.for_columns(first + rest)
    for col in COLUMNS.values():  # an exact registry name always wins over another's alias
        index.lookup[normalize_header(col.name)] = col.name
    return index


@functools.cache
def _domain_columns(domain: str | None) -> frozenset[str]:
    if domain not in ("hard-carbon", "electrolyte"):
        return frozenset()
    from campaigns.templates import load_template

    spec = load_template(domain, name="x")
    return frozenset({*spec.input_names, *spec.output_names})


def infer_domain(names: Iterable[str]) -> str:
    """``hard-carbon``, ``electrolyte`` or ``other``, from the registry columns present."""
    present = set(names)
    scores = {d: len(present & set(m)) for d, m in _DOMAIN_MARKERS.items()}
    best = max(scores, key=lambda d: scores[d])
    return best if scores[best] else "other"


def package_name(text: str) -> str:
    """A Data Package ``name``: lower case, digits, ``-._`` (``"HC 2026"`` → ``hc-2026``)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-")
    return slug or "dataset"


def row_id(*parts: object) -> str:
    """Stable row identifier: first 20 hex digits of SHA-256 over the parts joined by ``|``.

    >>> row_id("demo", 1, "A2")
    'd35e63e54ff554ada8f9'
    """
    text = "|".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.10g}") if math.isfinite(value) else None
    return value


def values_digest(domain: str, kind: str, values: Mapping[str, Any]) -> str:
    """SHA-256 of a row's domain, kind and values (floats rounded to 10 significant digits).

    Two rows with the same digest hold the same data: rounding absorbs the last-digit noise of
    unit conversions (3.7 Å × 0.1 = 0.37000000000000005 nm).
    """
    payload = {"domain": domain, "kind": kind,
               "values": {k: _round(v) for k, v in sorted(values.items()) if v is not None}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
