"""One registry of the quantities a campaign knows: name, label with unit, bounds, aliases.

The registry serves ingest (header matching, range checks, unit hints), plate templates (headers)
and plots (axis labels). Names carry their unit (``carbonization_temperature_c``); labels show it
the way PyBaMM does (``"Carbonization temperature [°C]"``).

Ranges come from ``DOMAIN.md``: values outside ``typical`` are accepted with a warning; values
outside ``possible`` are physically impossible and rejected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_INF = math.inf


@dataclass(frozen=True)
class UnitHint:
    """A common wrong-unit pattern: when every value of a column falls in ``when``, say ``hint``."""

    when: tuple[float, float]
    """Closed range that, if it holds all of a column's values, suggests the wrong unit."""
    hint: str
    """What to tell the user, e.g. "ICE looks like a fraction; multiply by 100"."""
    factor: float | None = None
    """Multiply by this to convert to the registry unit, if the conversion is unambiguous."""


@dataclass(frozen=True)
class Column:
    """A quantity a campaign can hold."""

    name: str
    """Machine name, unit included (``ice_pct``)."""
    label: str
    """Human label with unit in brackets (``"ICE [%]"``)."""
    unit: str
    """Unit as written in labels (``"%"``, ``"nm"``, ``"-"``)."""
    kind: str = "float"
    """``"float"``, ``"int"`` or ``"category"``."""
    typical: tuple[float, float] = (-_INF, _INF)
    """Range seen in published work; outside it a warning is given."""
    possible: tuple[float, float] = (-_INF, _INF)
    """Physically possible range; outside it a value is rejected."""
    aliases: tuple[str, ...] = ()
    """Other headers labs use for this quantity (case and punctuation are ignored)."""
    unit_hints: tuple[UnitHint, ...] = ()
    """Wrong-unit patterns to recognize."""
    description: str = ""
    """One sentence for data packages and tooltips."""
    bounds: tuple[float | None, float | None] | None = None
    """Physical bounds of a target that its model respects (``None`` for an open end):
    predictions, intervals and the acquisition stay within them. ``None``: unbounded."""


def _c(*args: object, **kwargs: object) -> Column:
    return Column(*args, **kwargs)  # type: ignore[arg-type]


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in [
        # --- hard-carbon recipe -------------------------------------------------------------
        _c("precursor", "Precursor", "-", kind="category",
           description="Carbon precursor (biomass, polymer or pitch)."),
        _c("carbonization_temperature_c", "Carbonization temperature [°C]", "°C",
           typical=(800, 1800), possible=(400, 3000),
           aliases=("temperature", "t_carb", "carbonization temperature"),
           description="Peak temperature of the carbonization step."),
        _c("heating_rate_c_per_min", "Heating rate [°C/min]", "°C/min", typical=(1, 20),
           possible=(1e-9, 1000), aliases=("heating rate", "ramp"),
           description="Furnace ramp rate up to the carbonization temperature."),
        _c("dwell_h", "Dwell time [h]", "h", typical=(0.5, 10), possible=(1e-9, 500),
           aliases=("dwell", "hold time", "dwell time"),
           description="Hold time at peak temperature."),
        _c("n_doping_at_pct", "N doping [at%]", "at%", typical=(0, 10), possible=(0, 100),
           aliases=("n doping", "nitrogen"), description="Nitrogen heteroatom content."),
        _c("s_doping_at_pct", "S doping [at%]", "at%", typical=(0, 10), possible=(0, 100),
           aliases=("s doping", "sulfur", "sulphur"), description="Sulfur heteroatom content."),
        # --- hard-carbon descriptors --------------------------------------------------------
        _c("d002_nm", "d002 [nm]", "nm", typical=(0.36, 0.41), possible=(0.335, 1.0),
           aliases=("d002", "interlayer spacing"),
           unit_hints=(UnitHint((3.0, 10.0), "d002 looks like it is in Å; divide by 10 or "
                                              "convert to nm.", 0.1),),
           description="XRD (002) interlayer spacing."),
        _c("la_nm", "La [nm]", "nm", typical=(2, 8), possible=(1e-9, 1000), aliases=("la",),
           description="Lateral crystallite size (XRD 100 peak or Raman)."),
        _c("lc_nm", "Lc [nm]", "nm", typical=(0.8, 2.5), possible=(1e-9, 1000), aliases=("lc",),
           description="Crystallite stack height (Scherrer on 002)."),
        _c("bet_ssa_m2_per_g", "BET SSA [m²/g]", "m²/g", typical=(1, 2000), possible=(0, 5000),
           aliases=("ssa", "bet", "surface area", "bet ssa", "bet ssa [m2/g]"),
           description="BET specific surface area."),
        _c("raman_id_ig", "Raman ID/IG [-]", "-", typical=(0.7, 3), possible=(0, 20),
           aliases=("id/ig", "idig", "raman id/ig", "id_ig"), description="Raman D/G peak ratio."),
        _c("pore_volume_cm3_per_g", "Pore volume [cm³/g]", "cm³/g", typical=(0.001, 1.5),
           possible=(0, 10), aliases=("pore volume",), description="Total pore volume."),
        # --- hard-carbon targets ------------------------------------------------------------
        _c("ice_pct", "ICE [%]", "%", typical=(60, 92), possible=(0, 100),
           aliases=("ice", "initial coulombic efficiency", "ice (%)"),
           unit_hints=(UnitHint((0.0, 1.0), "ICE looks like a fraction; multiply by 100 or set "
                                            "the unit to fraction.", 100.0),),
           description="Initial Coulombic efficiency of the first cycle.", bounds=(0, 100)),
        _c("reversible_capacity_mah_per_g", "Reversible capacity [mAh/g]", "mAh/g",
           typical=(200, 400), possible=(0, 1000),
           aliases=("capacity", "reversible capacity", "rev capacity", "rc"),
           unit_hints=(UnitHint((0.0, 1.0),
                                "Capacity looks like it is in Ah/g; multiply by 1000.", 1000.0),),
           description="Reversible (de-sodiation) capacity per gram of carbon.",
           bounds=(0, None)),
        _c("plateau_capacity_mah_per_g", "Plateau capacity [mAh/g]", "mAh/g", typical=(0, 250),
           possible=(0, 1000), aliases=("plateau capacity", "plateau"),
           description="Capacity below ~0.1 V vs Na/Na+.", bounds=(0, None)),
        # --- electrolyte recipe -------------------------------------------------------------
        _c("salt", "Salt", "-", kind="category", description="Conducting salt."),
        _c("salt_molality_mol_per_kg", "Salt molality [mol/kg]", "mol/kg", typical=(0.5, 4),
           possible=(0, 30), aliases=("molality", "concentration", "salt concentration"),
           description="Moles of salt per kilogram of solvent."),
        *[
            _c(f"{s.lower()}_frac", f"{s} fraction [-]", "-", typical=(0, 1), possible=(0, 1),
               aliases=(s.lower(), f"{s.lower()} fraction", f"x_{s.lower()}"),
               unit_hints=(UnitHint((0.0, 100.0), f"{s} fraction looks like a percentage; "
                                                  "divide by 100.", 0.01),),
               description=f"Weight fraction of {s} in the solvent blend.")
            for s in ("EC", "PC", "DMC", "EMC", "DEC", "DME", "Diglyme")
        ],
        _c("fec_wt_pct", "FEC [wt%]", "wt%", typical=(0, 10), possible=(0, 100), aliases=("fec",),
           description="Fluoroethylene carbonate additive."),
        _c("vc_wt_pct", "VC [wt%]", "wt%", typical=(0, 10), possible=(0, 100), aliases=("vc",),
           description="Vinylene carbonate additive."),
        _c("temperature_c", "Temperature [°C]", "°C", typical=(-20, 60), possible=(-100, 200),
           aliases=("t", "temp"), description="Measurement temperature."),
        # --- electrolyte targets ------------------------------------------------------------
        _c("ionic_conductivity_ms_per_cm", "Ionic conductivity [mS/cm]", "mS/cm",
           typical=(1, 15), possible=(0, 200), aliases=("conductivity", "k", "sigma"),
           unit_hints=(UnitHint((0.0, 0.05), "Conductivity looks like it is in S/cm; "
                                              "multiply by 1000.", 1000.0),),
           description="Ionic conductivity.", bounds=(0, None)),
        _c("coulombic_efficiency_pct", "Coulombic efficiency [%]", "%", typical=(80, 99.8),
           possible=(0, 100), aliases=("ce", "coulombic efficiency"),
           unit_hints=(UnitHint((0.0, 1.0), "CE looks like a fraction; multiply by 100.", 100.0),),
           description="Average Coulombic efficiency of Li-metal cycling.", bounds=(0, 100)),
    ]
}


_UNIT_SUFFIXES = {
    "c": "°C", "c_per_min": "°C/min", "h": "h", "nm": "nm", "pct": "%", "at_pct": "at%",
    "wt_pct": "wt%", "mah_per_g": "mAh/g", "m2_per_g": "m²/g", "ms_per_cm": "mS/cm",
    "mol_per_kg": "mol/kg", "frac": "-", "k": "K", "v": "V", "mv": "mV", "mg": "mg", "g": "g",
}


def normalize_header(text: str) -> str:
    """Lower-case a header and drop punctuation so "ICE (%)" and "ice_pct" compare sensibly."""
    text = text.replace("²", "2").replace("³", "3").replace("°", "")
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def column(name: str, *, label: str | None = None, unit: str | None = None) -> Column:
    """Return the registry column for ``name``, or a plain one for a quantity a lab added.

    Args:
        name: Column name, unit included (``"ice_pct"``, ``"tap_density_g_per_cm3"``).
        label: Label for a user-defined column; defaults to the name with its unit guessed from
            the suffix.
        unit: Unit for a user-defined column.
    """
    if name in COLUMNS:
        return COLUMNS[name]
    guessed_unit = unit
    if guessed_unit is None:
        for suffix, u in sorted(_UNIT_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
            if name.endswith("_" + suffix):
                guessed_unit = u
                break
    guessed_unit = guessed_unit or "-"
    if label is None:
        stem = name
        for suffix in sorted(_UNIT_SUFFIXES, key=len, reverse=True):
            if name.endswith("_" + suffix) and _UNIT_SUFFIXES[suffix] == guessed_unit:
                stem = name[: -len(suffix) - 1]
                break
        label = f"{stem.replace('_', ' ').capitalize()} [{guessed_unit}]"
    return Column(name=name, label=label, unit=guessed_unit)


@dataclass(frozen=True)
class HeaderIndex:
    """Maps the many ways a header may be written to column names."""

    lookup: dict[str, str] = field(default_factory=dict)
    """Normalized header → column name."""

    @classmethod
    def for_columns(cls, columns: list[Column]) -> HeaderIndex:
        lookup: dict[str, str] = {}
        for col in columns:
            for key in (col.name, col.label, *col.aliases):
                lookup.setdefault(normalize_header(key), col.name)
        return cls(lookup)

    def resolve(self, header: str) -> str | None:
        """Column name for a header as written in a file, or ``None`` if unknown."""
        return self.lookup.get(normalize_header(header))
