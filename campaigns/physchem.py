"""Declared physical limits of electrolyte recipes: liquid solvent blends and dissolvable salts.

A planner that knows nothing of chemistry happily proposes pure ethylene carbonate at 25 °C (a
solid: EC melts at 36.4 °C) or more salt than the solvent can dissolve. :class:`RecipeLimits`
states the two limits every electrolyte recipe must respect, and the planner applies them
wherever recipes are made (space-filling plates, the acquisition optimizer's candidates, the
simulated labs):

1. **Liquid at the test temperature.** The blend's liquidus is estimated for each solvent that
   could crystallize out, as an ideal solution (the Schröder–van Laar equation)::

       ln x_i = -(ΔH_fus,i / R) · (1 / T - 1 / T_m,i)
       →  T_liq,i = 1 / (1 / T_m,i - R ln x_i / ΔH_fus,i)

   with ``x_i`` the solvent's mole fraction in the solution, the dissolved salt counted as two
   fully dissociated ions (a salt lowers the freezing point). The blend is liquid above the
   highest ``T_liq,i``. Ding, Xu and Jow (J. Electrochem. Soc. 147 (2000) 1688) measured the
   liquid-solid phase diagrams of EC-based binary carbonate blends and found them close to this
   ideal behaviour. Ion pairing (fewer particles) is ignored, as are the additives (FEC, VC,
   at most a few wt%); real electrolytes also supercool, so a blend refused here may be
   measurable when cooled quickly, never the other way round.
2. **Salt below its solubility.** A declared molality limit per salt
   (:data:`SALT_SOLUBILITY_MOL_PER_KG`), which a campaign may override in its spec
   (``physical_limits.max_molality_mol_per_kg``).

The limits apply to a campaign whose inputs name the quantities they need: a mixture whose
components are all known solvents (:data:`SOLVENTS`), a categorical ``salt`` with a
``salt_molality_mol_per_kg``, and the test temperature (the ``temperature_c`` input, else
``physical_limits.test_temperature_c``). Other campaigns are unaffected.

Example:
    >>> import pandas as pd
    >>> from campaigns.templates import load_template
    >>> limits = RecipeLimits.from_spec(load_template("electrolyte"))
    >>> recipes = pd.DataFrame({"salt": ["LiPF6", "LiPF6"], "salt_molality_mol_per_kg": [1.0, 1.0],
    ...     "temperature_c": [25.0, 25.0], "ec_frac": [1.0, 0.5], "pc_frac": [0.0, 0.0],
    ...     "dmc_frac": [0.0, 0.5], "emc_frac": [0.0, 0.0], "dec_frac": [0.0, 0.0],
    ...     "dme_frac": [0.0, 0.0], "diglyme_frac": [0.0, 0.0], "fec_wt_pct": [0.0, 0.0],
    ...     "vc_wt_pct": [0.0, 0.0]})
    >>> limits.holds(recipes).tolist()         # pure EC freezes at 25 °C; EC:DMC 1:1 does not
    [False, True]
    >>> round(float(liquidus_c({"ec_frac": 1.0}, basis="weight")[0]), 1)
    36.4
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from campaigns.spec import CampaignSpec, CategoricalParameter

GAS_CONSTANT = 8.314462618
"""R [J/(mol·K)]."""
WALDEN_ENTROPY_J_PER_MOL_K = 56.5
"""Walden's rule: the entropy of fusion of rigid organic molecules is about 56.5 J/(mol·K). Used
for the fusion enthalpy (``ΔH = ΔS · T_m``) of solvents without a value we could source; it only
matters for solvents that melt near the test temperatures (EC, DMC)."""


@dataclass(frozen=True)
class Solvent:
    """A battery solvent's properties, for the liquidus estimate."""

    name: str
    """Common abbreviation (``EC``)."""
    molar_mass_g_per_mol: float
    """Molar mass [g/mol]."""
    melting_point_c: float
    """Melting point [°C]."""
    density_g_per_cm3: float
    """Liquid density near room temperature [g/cm³] (for a volume-fraction basis)."""
    fusion_enthalpy_kj_per_mol: float | None = None
    """Enthalpy of fusion [kJ/mol]; ``None``: Walden's rule."""

    @property
    def fusion_enthalpy_j_per_mol(self) -> float:
        if self.fusion_enthalpy_kj_per_mol is not None:
            return 1e3 * self.fusion_enthalpy_kj_per_mol
        return WALDEN_ENTROPY_J_PER_MOL_K * (self.melting_point_c + 273.15)


SOLVENTS: dict[str, Solvent] = {
    # Melting points and densities: K. Xu, Chem. Rev. 104 (2004) 4303, Tables 1 (carbonates) and
    # 2 (ethers). EC's fusion enthalpy: 13.2 kJ/mol, the calorimetric value used by Ding, Xu and
    # Jow (J. Electrochem. Soc. 147 (2000) 1688) for their EC-based phase diagrams. EMC: Xu lists
    # -53 °C; other sources give -14.5 °C, and the higher value is kept to be safe.
    "ec_frac": Solvent("EC", 88.06, 36.4, 1.32, 13.2),
    "pc_frac": Solvent("PC", 102.09, -48.8, 1.20),
    "dmc_frac": Solvent("DMC", 90.08, 4.6, 1.06),
    "emc_frac": Solvent("EMC", 104.10, -14.5, 1.01),
    "dec_frac": Solvent("DEC", 118.13, -74.3, 0.97),
    "dme_frac": Solvent("DME", 90.12, -58.0, 0.87),
    "diglyme_frac": Solvent("diglyme", 134.17, -64.0, 0.94),
}
"""Solvent fraction column → properties."""

SALT_SOLUBILITY_MOL_PER_KG: dict[str, float] = {
    # Screening limits at room temperature in carbonate blends, rounded down. LiPF6, LiBF4 and
    # LiClO4 saturate carbonate blends near 3 mol/kg (Xu 2004, section 3); the imide salts LiFSI
    # and LiTFSI dissolve far beyond 4 mol/kg ("superconcentrated" electrolytes: Yamada et al.,
    # J. Am. Chem. Soc. 136 (2014) 5039; Suo et al., Science 350 (2015) 938). Override per
    # campaign with physical_limits.max_molality_mol_per_kg when your own data say otherwise.
    "LiPF6": 3.0,
    "LiBF4": 3.0,
    "LiClO4": 3.0,
    "LiFSI": 6.0,
    "LiTFSI": 5.0,
}
"""Salt → declared solubility limit [mol/kg of solvent]."""


def liquidus_c(fractions: Mapping[str, ArrayLike], *, basis: str = "weight",
               salt_mol_per_kg: ArrayLike = 0.0, ions: int = 2) -> np.ndarray:
    """Estimated liquidus of solvent blends [°C] (ideal solution; see the module docstring).

    Args:
        fractions: Solvent column (keys of :data:`SOLVENTS`) → ``n`` fractions (or one number).
        basis: ``"weight"``, ``"volume"`` or ``"mole"``: what the fractions are fractions of.
        salt_mol_per_kg: Salt molality [mol/kg of solvent] (``n`` values or one).
        ions: Particles per dissolved formula unit (2 for a fully dissociated LiX).

    Returns:
        ``n`` temperatures [°C]: below them a solvent crystallizes out. ``-inf`` for a row
        without any solvent.

    Raises:
        KeyError: a column that is not a known solvent.
    """
    cols = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in fractions.items()}
    n = max((len(v) for v in cols.values()), default=0)
    mass = {}  # grams of each solvent per unit of blend
    for name, frac in cols.items():
        s = SOLVENTS[name]
        frac = np.clip(np.broadcast_to(frac, (n,)), 0.0, None)
        if basis == "weight":
            mass[name] = frac
        elif basis == "volume":
            mass[name] = frac * s.density_g_per_cm3
        elif basis == "mole":
            mass[name] = frac * s.molar_mass_g_per_mol
        else:
            raise ValueError(f"basis must be weight, volume or mole, got {basis!r}")
    grams = sum(mass.values(), np.zeros(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        # moles per kg of solvent blend
        moles = {k: np.where(grams > 0, 1e3 * m / grams, 0.0) / SOLVENTS[k].molar_mass_g_per_mol
                 for k, m in mass.items()}
    salt = np.broadcast_to(np.nan_to_num(np.asarray(salt_mol_per_kg, dtype=float)), (n,))
    total = sum(moles.values(), np.zeros(n)) + ions * np.clip(salt, 0.0, None)
    out = np.full(n, -np.inf)
    for name, m in moles.items():
        s = SOLVENTS[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(total > 0, m / total, 0.0)
            inv_t = 1.0 / (s.melting_point_c + 273.15) - (
                GAS_CONSTANT * np.log(x) / s.fusion_enthalpy_j_per_mol)
            t_liq = np.where(x > 0, 1.0 / inv_t - 273.15, -np.inf)
        out = np.maximum(out, t_liq)
    return out


@dataclass(frozen=True)
class RecipeLimits:
    """The physical limits that apply to one campaign's recipes (build with :meth:`from_spec`)."""

    solvent_columns: tuple[str, ...] = ()
    """Fraction columns of the solvent blend checked for freezing (empty: not checked)."""
    basis: str = "weight"
    """Basis of those fractions."""
    temperature_column: str | None = None
    """Input holding the test temperature [°C], or ``None`` (then ``test_temperature_c``)."""
    test_temperature_c: float = 25.0
    """Test temperature when there is no such input [°C]."""
    margin_c: float = 0.0
    """Required distance of the liquidus below the test temperature [°C]."""
    salt_column: str | None = None
    """Categorical input naming the salt, or ``None`` (solubility not checked)."""
    molality_column: str | None = None
    """Input holding the salt molality [mol/kg]."""
    max_molality: tuple[tuple[str, float], ...] = ()
    """Salt → solubility limit [mol/kg]."""

    @classmethod
    def from_spec(cls, spec: CampaignSpec) -> RecipeLimits | None:
        """The limits for ``spec``'s inputs, or ``None`` when none applies."""
        if spec.is_library:
            return None
        declared = spec.physical_limits
        names = set(spec.input_names)
        solvent: tuple[str, ...] = ()
        basis = "weight"
        if declared.liquid_solvent:
            for group in spec.mixtures:
                if all(c in SOLVENTS for c in group.components):
                    solvent, basis = tuple(group.components), group.basis
                    break
        salt = molality = None
        limits: dict[str, float] = {}
        if declared.salt_solubility and "salt_molality_mol_per_kg" in names:
            params = {p.name: p for p in spec.parameters}
            if isinstance(params.get("salt"), CategoricalParameter):
                salt, molality = "salt", "salt_molality_mol_per_kg"
                limits = {**SALT_SOLUBILITY_MOL_PER_KG, **declared.max_molality_mol_per_kg}
        if not solvent and salt is None:
            return None
        if "salt_molality_mol_per_kg" in names:
            molality = "salt_molality_mol_per_kg"
        return cls(
            solvent_columns=solvent, basis=basis,
            temperature_column="temperature_c" if "temperature_c" in names else None,
            test_temperature_c=declared.test_temperature_c, margin_c=declared.margin_c,
            salt_column=salt, molality_column=molality, max_molality=tuple(sorted(limits.items())),
        )

    def holds(self, recipes: pd.DataFrame) -> np.ndarray:
        """Boolean ``n`` mask: which recipe rows respect every limit."""
        ok = np.ones(len(recipes), dtype=bool)
        for i, _ in self.problems(recipes):
            ok[i] = False
        return ok

    def problems(self, recipes: pd.DataFrame) -> list[tuple[int, str]]:
        """``(row, message)`` for every broken limit, rows counted from 0."""
        out: list[tuple[int, str]] = []
        if self.solvent_columns and len(recipes):
            salt_m = (pd.to_numeric(recipes[self.molality_column], errors="coerce")
                      .to_numpy(float) if self.molality_column in recipes else 0.0)
            liq = liquidus_c({c: pd.to_numeric(recipes[c], errors="coerce").to_numpy(float)
                              for c in self.solvent_columns}, basis=self.basis,
                             salt_mol_per_kg=salt_m)
            temp = (pd.to_numeric(recipes[self.temperature_column], errors="coerce")
                    .to_numpy(float) if self.temperature_column
                    else np.full(len(recipes), self.test_temperature_c))
            for i in np.flatnonzero(~(liq + self.margin_c <= temp)):
                out.append((int(i), f"row {i}: the solvent blend freezes below about "
                                    f"{liq[i]:.0f} °C, above the test temperature "
                                    f"{temp[i]:g} °C (physical limit)"))
        if self.salt_column and self.molality_column and self.max_molality and len(recipes):
            limit = dict(self.max_molality)
            salts = recipes[self.salt_column].astype(str).to_numpy()
            m = pd.to_numeric(recipes[self.molality_column], errors="coerce").to_numpy(float)
            cap = np.array([limit.get(s, np.inf) for s in salts])
            for i in np.flatnonzero(~(m <= cap)):
                out.append((int(i), f"row {i}: {m[i]:g} mol/kg of {salts[i]} exceeds its "
                                    f"solubility, {cap[i]:g} mol/kg (physical limit)"))
        return out
