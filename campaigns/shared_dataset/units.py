"""Unit mapping for pulled data packages: every value is stored in the registry's unit.

A package field says its unit in one of three ways, tried in this order:

1. a ``unit`` property on the field (what :mod:`campaigns.shared_dataset.package` writes);
2. a unit in brackets in its title or name (``"d002 [Å]"``, ``"ICE (%)"``);
3. the unit in the field name's suffix when the name is a registry name (``d002_nm`` → nm).

A field with none of them falls back to the registry's unit hints (``campaigns.columns``): when
every value lies in a hint's window (ICE in 0–1, d002 in 3–10) *and* most values are outside the
column's typical range *and* the hint's factor brings more of them inside it, the hint's factor
is applied and a warning is reported. Otherwise the values are taken as already canonical.

The conversion table (canonical value = ``value × scale + offset``):

==============  ====================================================================
canonical unit  accepted units (scale)
==============  ====================================================================
nm              nm (1), Å (0.1), pm (0.001), µm (1000)
%               % (1), fraction / - (100)
mAh/g           mAh/g (1), Ah/g (1000), Ah/kg (1), mAh/kg (0.001)
mS/cm           mS/cm (1), S/cm (1000), S/m (10), mS/m (0.01), µS/cm (0.001)
°C              °C (1), K (1, offset -273.15)
°C/min          °C/min (1), K/min (1), °C/h (1/60)
h               h (1), min (1/60), s (1/3600)
m²/g            m²/g (1)
cm³/g           cm³/g (1), mL/g (1)
mol/kg          mol/kg (1), mmol/g (1); mol/L is refused (needs the solution density)
at%             at% (1), - (100)
wt%             wt% (1), - (100)
-               - (1), % (0.01)
==============  ====================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from campaigns.columns import COLUMNS, column
from campaigns.shared_dataset.errors import UnitError


@dataclass(frozen=True)
class Conversion:
    """How to turn a declared unit into the canonical one: ``value * scale + offset``."""

    declared: str
    """The unit the package declared, in canonical spelling (``"Å"``)."""
    canonical: str
    """The registry unit (``"nm"``)."""
    scale: float = 1.0
    """Multiplier."""
    offset: float = 0.0
    """Added after scaling (only temperatures: K → °C)."""
    assumed: bool = False
    """True when the unit was guessed from a registry unit hint, not declared."""

    @property
    def identity(self) -> bool:
        """True when values pass unchanged."""
        return self.scale == 1.0 and self.offset == 0.0

    def apply(self, value: float) -> float:
        """Convert one value to the canonical unit."""
        return value * self.scale + self.offset


#: Canonical unit → {accepted unit: (scale, offset)}.
CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "nm": {"nm": (1.0, 0.0), "Å": (0.1, 0.0), "pm": (1e-3, 0.0), "µm": (1e3, 0.0)},
    "%": {"%": (1.0, 0.0), "-": (100.0, 0.0)},
    "mAh/g": {"mAh/g": (1.0, 0.0), "Ah/g": (1e3, 0.0), "Ah/kg": (1.0, 0.0),
              "mAh/kg": (1e-3, 0.0)},
    "mS/cm": {"mS/cm": (1.0, 0.0), "S/cm": (1e3, 0.0), "S/m": (10.0, 0.0),
              "mS/m": (0.01, 0.0), "µS/cm": (1e-3, 0.0)},
    "°C": {"°C": (1.0, 0.0), "K": (1.0, -273.15)},
    "°C/min": {"°C/min": (1.0, 0.0), "K/min": (1.0, 0.0), "°C/h": (1 / 60, 0.0)},
    "h": {"h": (1.0, 0.0), "min": (1 / 60, 0.0), "s": (1 / 3600, 0.0)},
    "m²/g": {"m²/g": (1.0, 0.0)},
    "cm³/g": {"cm³/g": (1.0, 0.0), "mL/g": (1.0, 0.0)},
    "mol/kg": {"mol/kg": (1.0, 0.0), "mmol/g": (1.0, 0.0)},
    "at%": {"at%": (1.0, 0.0), "-": (100.0, 0.0)},
    "wt%": {"wt%": (1.0, 0.0), "-": (100.0, 0.0)},
    "-": {"-": (1.0, 0.0), "%": (0.01, 0.0)},
}

#: Why a known unit cannot be converted to a canonical one.
REFUSED: dict[tuple[str, str], str] = {
    ("mol/kg", "mol/L"): "mol/L (molarity) needs the solution density to become mol/kg; convert "
    "with the measured density before publishing, or drop the rows.",
}

# Normalized spelling → canonical spelling. Keys are lower-case with spaces removed, "°" and
# "deg" dropped, "²"/"³" as digits and "x^-1" written as "/x" (see normalize_unit).
_SPELLINGS: dict[str, str] = {
    **dict.fromkeys(("nm", "nanometer", "nanometre", "nanometers", "nanometres"), "nm"),
    **dict.fromkeys(("å", "a", "angstrom", "angstroms", "ang", "aa"), "Å"),
    **dict.fromkeys(("pm",), "pm"),
    **dict.fromkeys(("µm", "um", "micron", "microns", "micrometer", "micrometre"), "µm"),
    **dict.fromkeys(("%", "percent", "pct"), "%"),
    **dict.fromkeys(("-", "1", "fraction", "frac", "ratio", "dimensionless", "unitless",
                     "none", ""), "-"),
    **dict.fromkeys(("mah/g",), "mAh/g"),
    **dict.fromkeys(("ah/g",), "Ah/g"),
    **dict.fromkeys(("ah/kg",), "Ah/kg"),
    **dict.fromkeys(("mah/kg",), "mAh/kg"),
    **dict.fromkeys(("ms/cm",), "mS/cm"),
    **dict.fromkeys(("s/cm",), "S/cm"),
    **dict.fromkeys(("s/m",), "S/m"),
    **dict.fromkeys(("ms/m",), "mS/m"),
    **dict.fromkeys(("µs/cm", "us/cm"), "µS/cm"),
    **dict.fromkeys(("c", "celsius", "degreescelsius", "degreecelsius"), "°C"),
    **dict.fromkeys(("k", "kelvin"), "K"),
    **dict.fromkeys(("c/min",), "°C/min"),
    **dict.fromkeys(("c/h",), "°C/h"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "min"),
    **dict.fromkeys(("s", "sec", "second", "seconds"), "s"),
    **dict.fromkeys(("m2/g",), "m²/g"),
    **dict.fromkeys(("cm3/g",), "cm³/g"),
    **dict.fromkeys(("ml/g",), "mL/g"),
    **dict.fromkeys(("mol/kg", "molal", "molality"), "mol/kg"),
    **dict.fromkeys(("mol/l", "mol/dm3", "molar", "molarity", "mmol/ml"), "mol/L"),
    **dict.fromkeys(("at%", "atom%", "atomic%"), "at%"),
    **dict.fromkeys(("wt%", "weight%", "mass%", "w/w%"), "wt%"),
}
_SPELLINGS["k/min"] = "K/min"
_SPELLINGS["mmol/g"] = "mmol/g"


def normalize_unit(text: str | None) -> str | None:
    """Canonical spelling of a unit as a lab may write it, or ``None`` if unknown.

    ``"mAh g-1"``, ``"mAh/g"`` and ``"mAh g⁻¹"`` all give ``"mAh/g"``; ``"Å"``, ``"A"`` and
    ``"angstrom"`` give ``"Å"``. ``"M"`` is molar (mol/L) and ``"m"`` molal (mol/kg): the only
    spellings where case matters.

    Example:
        >>> normalize_unit("mS cm-1"), normalize_unit("K"), normalize_unit("fraction")
        ('mS/cm', 'K', '-')
    """
    if text is None:
        return None
    raw = str(text).strip()
    if raw == "M":
        return "mol/L"
    if raw == "m":
        return "mol/kg"
    t = raw.replace("\u212b", "å").replace("\u00c5", "å").replace("μ", "µ")
    t = t.replace("⁻¹", "^-1")
    t = t.replace("²", "2").replace("³", "3").replace("°", "").replace("·", " ")
    t = t.lower()
    parts = [p for p in re.split(r"\s+|\*", t) if p]
    out = ""
    for p in parts:
        m = re.fullmatch(r"(.+?)\^?-1", p)
        out += f"/{m.group(1)}" if m and out else p
    out = re.sub(r"\bdeg(rees?)?", "", out.replace("^", "")).replace(" ", "")
    return _SPELLINGS.get(out)


def canonical_unit(name: str) -> str:
    """The registry unit of a column (``"d002_nm"`` → ``"nm"``); ``"-"`` when unknown."""
    return column(name).unit


def conversion(name: str, declared: str | None) -> Conversion:
    """The conversion from a declared unit to the registry unit of column ``name``.

    Args:
        name: Registry column name (``"d002_nm"``).
        declared: The unit as the package wrote it (``"Å"``, ``"S cm-1"``); ``None`` for none.

    Raises:
        UnitError: the unit is unknown, or cannot be converted to the column's unit.
    """
    target = canonical_unit(name)
    token = normalize_unit(declared)
    if token is not None and token == target:
        return Conversion(token, target)
    table = CONVERSIONS.get(target, {target: (1.0, 0.0)})
    if token is not None and token in table:
        scale, offset = table[token]
        return Conversion(token, target, scale, offset)
    if token is not None and (target, token) in REFUSED:
        raise UnitError(f"column {name!r} is given in {declared!r}, which cannot be converted to "
                        f"{target}.", hint=REFUSED[(target, token)])
    accepted = ", ".join(table) if target in CONVERSIONS else target
    what = "an unknown unit" if token is None else f"{token}, which is not a unit of {target}"
    raise UnitError(
        f"column {name!r} declares unit {declared!r}: {what}.",
        hint=f"Declare one of: {accepted} (see the unit table in docs/shared-dataset.md).",
    )


def guess_conversion(name: str, values: Sequence[float]) -> tuple[Conversion, str | None]:
    """Conversion for a column that declares no unit, from the registry's unit hints.

    A hint applies when every value lies in its window, fewer than half of the values lie in the
    column's typical range, and the hint's factor brings more of them into it.

    Returns:
        ``(conversion, message)``: the identity and ``None`` when no hint applies, else the
        hint's conversion (``assumed=True``) and a message for the report.
    """
    target = canonical_unit(name)
    identity = Conversion(target, target)
    col = COLUMNS.get(name)
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if col is None or not finite:
        return identity, None
    lo, hi = col.typical

    def inside(scale: float) -> float:
        return sum(lo <= v * scale <= hi for v in finite) / len(finite)

    for hint in col.unit_hints:
        if hint.factor is None or not all(hint.when[0] <= v <= hint.when[1] for v in finite):
            continue
        if inside(1.0) < 0.5 and inside(hint.factor) > inside(1.0):
            conv = Conversion(f"×{hint.factor:g} (assumed)", target, hint.factor, 0.0, True)
            return conv, f"no unit declared; {hint.hint} Multiplied by {hint.factor:g}."
    return identity, None


def unit_from_label(text: str) -> str | None:
    """The unit in brackets at the end of a header (``"d002 [Å]"`` → ``"Å"``), else ``None``."""
    m = re.search(r"[\[(]([^\[\]()]*)[\])]\s*$", text or "")
    return m.group(1).strip() if m else None


def mapping_table() -> list[tuple[str, str, float, float]]:
    """Every accepted conversion as ``(canonical, accepted, scale, offset)`` rows, for docs."""
    return [(c, u, s, o) for c, table in CONVERSIONS.items() for u, (s, o) in table.items()]
