"""The campaign editor's tables, to and from a spec.

The campaigns page shows the design space, targets and plate format as editable tables
(``st.data_editor``). These functions turn a spec into those tables and the edited tables back
into a spec *mapping*; :meth:`campaigns.spec.CampaignSpec.from_dict` then validates it once and
reports every problem (:class:`~campaigns.errors.SpecError` ``.problems``). Fields the tables do
not show (``resolution``, control recipes, mixtures, linear constraints, a library) are kept as
they were.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from campaigns.columns import column
from campaigns.spec import CampaignSpec

PARAMETER_KINDS = ("continuous", "integer", "categorical")
PARAMETER_COLUMNS = ["name", "kind", "lower", "upper", "levels", "unit", "log_scale"]
TARGET_COLUMNS = ["name", "direction", "threshold", "optimize", "unit"]
CONTROL_COLUMNS = ["well", "material"]


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(value: Any, *, integer: bool = False) -> Any:
    if _blank(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return value  # left for validation to name
    return int(x) if integer and x.is_integer() else x


def _unit(name: str, shown: Any, stored: str | None) -> str | None:
    """The unit to store: ``None`` (the registry's) unless the lab wrote another one."""
    if _blank(shown):
        return None
    text = str(shown).strip()
    return None if stored is None and text == column(name).unit else text


def parameters_table(spec: CampaignSpec) -> pd.DataFrame:
    """One row per recipe parameter: name, kind, bounds, levels (comma-separated), unit and
    whether it is searched on a log scale."""
    rows = []
    for p in spec.parameters:
        categorical = p.kind == "categorical"
        rows.append({
            "name": p.name, "kind": p.kind,
            "lower": math.nan if categorical else float(p.lower),  # type: ignore[union-attr]
            "upper": math.nan if categorical else float(p.upper),  # type: ignore[union-attr]
            "levels": ", ".join(p.levels) if categorical else "",  # type: ignore[union-attr]
            "unit": "" if categorical else (p.unit or p.column.unit),  # type: ignore[union-attr]
            "log_scale": bool(getattr(p, "log_scale", False)),
        })
    return pd.DataFrame(rows, columns=PARAMETER_COLUMNS).astype({"lower": float, "upper": float})


def parameters_from_table(table: pd.DataFrame, spec: CampaignSpec) -> list[dict[str, Any]]:
    """Parameter mappings from the edited table (rows without a name are dropped)."""
    original = {p["name"]: p for p in spec.to_dict().get("parameters", [])}
    out = []
    for row in table.to_dict(orient="records"):
        if _blank(row.get("name")):
            continue
        name, kind = str(row["name"]).strip(), str(row.get("kind") or "continuous").strip()
        base = dict(original.get(name, {}))
        if base.get("kind") != kind:
            base = {}
        base.update({"kind": kind, "name": name})
        if kind == "categorical":
            levels = str(row.get("levels") or "").split(",")
            base["levels"] = [lv.strip() for lv in levels if lv.strip()]
            for key in ("lower", "upper", "unit", "log_scale", "resolution"):
                base.pop(key, None)
        else:
            for key in ("lower", "upper"):
                value = _number(row.get(key), integer=kind == "integer")
                if value is None:
                    base.pop(key, None)  # validation reports the missing bound
                else:
                    base[key] = value
            base.pop("levels", None)
            base["unit"] = _unit(name, row.get("unit"), base.get("unit"))
            if kind == "continuous":
                base["log_scale"] = not _blank(row.get("log_scale")) and bool(row["log_scale"])
            else:
                base.pop("log_scale", None)
                base.pop("resolution", None)
        out.append(base)
    return out


def targets_table(spec: CampaignSpec) -> pd.DataFrame:
    """One row per target: name, direction, threshold (constraint), optimized or recorded, unit."""
    rows = [{"name": t.name, "direction": t.direction,
             "threshold": math.nan if t.threshold is None else float(t.threshold),
             "optimize": bool(t.optimize), "unit": t.unit or t.column.unit} for t in spec.targets]
    return pd.DataFrame(rows, columns=TARGET_COLUMNS).astype({"threshold": float})


def targets_from_table(table: pd.DataFrame, spec: CampaignSpec) -> list[dict[str, Any]]:
    """Target mappings from the edited table (rows without a name are dropped)."""
    original = {t["name"]: t for t in spec.to_dict().get("targets", [])}
    out = []
    for row in table.to_dict(orient="records"):
        if _blank(row.get("name")):
            continue
        name = str(row["name"]).strip()
        base = dict(original.get(name, {}))
        base.update({"name": name, "direction": str(row.get("direction") or "max"),
                     "threshold": _number(row.get("threshold")),
                     "optimize": True if _blank(row.get("optimize")) else bool(row.get("optimize")),
                     "unit": _unit(name, row.get("unit"), base.get("unit"))})
        out.append(base)
    return out


def controls_table(spec: CampaignSpec) -> pd.DataFrame:
    """One row per control well: well and material (recipes stay as in the spec)."""
    rows = [{"well": c.well, "material": c.material} for c in spec.plate.controls]
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def controls_from_table(table: pd.DataFrame, spec: CampaignSpec) -> list[dict[str, Any]]:
    """Control mappings from the edited table; a well that stays keeps its recipe."""
    original = {c["well"]: c for c in spec.to_dict()["plate"].get("controls", [])}
    out = []
    for row in table.to_dict(orient="records"):
        if _blank(row.get("well")):
            continue
        well = str(row["well"]).strip().upper()
        base = dict(original.get(well, {}))
        base.update({"well": well, "material": "reference" if _blank(row.get("material"))
                     else str(row["material"]).strip()})
        out.append(base)
    return out


def edited_spec(spec: CampaignSpec, *, description: str, owner: str,
                parameters: pd.DataFrame | None, targets: pd.DataFrame, descriptors: list[str],
                wells: int, replicates: int, controls: pd.DataFrame,
                shared_parameters: list[str]) -> dict[str, Any]:
    """The spec mapping after the form's edits, ready for ``CampaignSpec.from_dict``.

    Args:
        spec: The stored spec (its name and every field the form does not show are kept).
        description, owner: Free text.
        parameters: Edited :func:`parameters_table` (``None`` keeps the parameters, e.g. in
            library mode).
        targets: Edited :func:`targets_table`.
        descriptors: Descriptor names.
        wells: Plate size (24, 48 or 96).
        replicates: Replicate wells per plate.
        controls: Edited :func:`controls_table`.
        shared_parameters: Parameters fixed for a whole plate.
    """
    data = spec.to_dict()
    data["description"], data["owner"] = description, owner
    if parameters is not None:
        data["parameters"] = parameters_from_table(parameters, spec)
    data["targets"] = targets_from_table(targets, spec)
    old_desc = {d["name"]: d for d in data.get("descriptors", [])}
    data["descriptors"] = [old_desc.get(n, {"name": n}) for n in descriptors]
    data["plate"] = {**data["plate"], "wells": int(wells), "replicates": int(replicates),
                     "controls": controls_from_table(controls, spec),
                     "shared_parameters": list(shared_parameters)}
    return data
