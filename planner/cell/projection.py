"""PyBaMM projections: what a measured material would do in a full cell (a derived objective).

These are *model projections*, not measurements. PyBaMM is imported lazily inside the functions;
without it they raise :class:`CellProjectionError` with an install hint.

Hard-carbon candidate -> sodium-ion full cell (:func:`project_hard_carbon`)
    PyBaMM's ``pybamm.sodium_ion.BasicDFN`` with the ``Chayambuka2022`` parameter set (hard carbon
    | NaPF6 in EC:PC | Na3V2(PO4)2F3 (NVPF), 2.54 cm² electrodes). Assumptions:

    1. The hard carbon's reversible capacity ``Q`` [mAh/g] spans the negative-electrode
       stoichiometry range 0-1 of Chayambuka's OCP curve, so the maximum sodium concentration is
       ``c_max = Q · 3600 · rho_HC / F`` with an assumed particle density
       ``rho_HC = 1500 kg/m³`` (Chayambuka's 14,540 mol/m³ is then 260 mAh/g). The OCP shape,
       particle radius, porosity and active fraction are Chayambuka's.
    2. Diffusivity and exchange-current rate constant keep their dependence on *stoichiometry*
       (they are tabulated versus concentration at c_max = 14,540 mol/m³), and the exchange
       current scales with c_max (more sites per volume).
    3. The positive electrode is Chayambuka's, assembled fully sodiated (x = 0.999); charging to
       4.2 V empties it to x ≈ 0.21. The negative electrode's thickness is chosen so that its
       reversible capacity is ``N/P = 1.1`` times the sodium the positive can deliver (standard
       practice against plating), so a higher-capacity carbon gives a thinner, lighter anode.
    4. First-cycle loss: of the sodium inserted into the carbon on the first charge, the fraction
       ``1 - ICE`` is lost to the SEI (the half-cell ICE carried over to the full cell). The
       formed cell's sodium inventory is ``N0 - (1 - ICE) · min(D, Q_n / ICE)`` with ``N0`` the
       positive's sodium, ``D`` what it can deliver and ``Q_n`` the negative's capacity.
    5. The charged state is the open-circuit state at 4.2 V (a CC-CV charge to rest), found from
       the two OCP curves and sodium conservation; discharge is constant current to 2.0 V at
       25 °C. The C-rate refers to the cell's open-circuit capacity between 4.2 V and 2.0 V.
    6. Energy is ``∫ V I dt``. Specific energy is per kg of electrode stack: both coatings with
       their pore electrolyte and the separator (densities: NVPF 3200, binder/carbon additive
       1800, electrolyte 1300, separator polymer 950 kg/m³; no current collectors or casing).

    Consequences: cell capacity and energy at 0.1C and 1C rise with ICE (less sodium lost); at 2C
    a higher-ICE cell also draws a higher current (the C-rate is relative to its own capacity)
    and Chayambuka's cell is electrolyte-transport limited there, so 2C energy need not rise.
    Cell capacity and energy barely depend on the reversible capacity at fixed N/P (the cathode
    sets the sodium), but the specific energy rises with it (thinner, lighter anode).

Electrolyte candidate -> lithium-ion cell (:func:`project_electrolyte`)
    ``pybamm.lithium_ion.DFN`` with ``Chen2020`` (LG M50, 5 Ah). The electrolyte conductivity
    function ``kappa(c_e, T)`` is multiplied by ``kappa_candidate / kappa_Chen(1000 mol/m³,
    25 °C)`` so that it equals the candidate's conductivity at the reference concentration,
    keeping Chen2020's concentration and temperature dependence. Diffusivity, transference number
    and thermodynamic factor stay Chen2020's. The candidate's conductivity is taken at 25 °C.
    Reported: capacity and energy at 0.1C, 1C, 2C (from Chen2020's charged state to 2.5 V) and
    the 2C capacity retained relative to 0.1C.

Results are cached by input: in memory (``functools.lru_cache`` on a frozen input record, inputs
rounded to 0.01) and on disk (JSON in the planner cache dir, keyed by a hash of inputs, settings,
this module's model version and the PyBaMM version). ``fast=True`` uses a coarser mesh and looser
solver tolerances (for tests and screening; capacities and energies within ~5 % of the full
configuration, closer at low rates).
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from planner.errors import PlanningError

MODEL_VERSION = 1
"""Bump when the modelling changes, to invalidate disk caches."""
C_RATES = (0.1, 1.0, 2.0)
"""Discharge rates projected [1/h]."""
FARADAY = 96485.33212
RHO_HARD_CARBON = 1500.0
"""Assumed hard-carbon particle density [kg/m³]."""
N_TO_P = 1.1
"""Negative-to-positive capacity ratio of the projected sodium-ion cell."""
X_P_ASSEMBLED, X_P_CHARGED, X_N_MAX = 0.999, 0.21, 0.995
_DENSITY = {"nvpf": 3200.0, "additive": 1800.0, "electrolyte": 1300.0, "separator": 950.0}
_KAPPA_REF_C, _KAPPA_REF_T = 1000.0, 298.15
_SETTINGS: dict[str, dict[str, Any]] = {
    # rtol 1e-5: as accurate as 1e-6 for these outputs, faster (benchmarks/results/settings.md).
    "full": {"var_pts": None, "rtol": 1e-5, "atol": 1e-6},
    "fast": {"var_pts": {"x_n": 8, "x_s": 5, "x_p": 8, "r_n": 8, "r_p": 8},
             "rtol": 1e-4, "atol": 1e-6},
}


class CellProjectionError(PlanningError):
    """A PyBaMM projection could not be made (PyBaMM missing, input impossible, solver failure)."""


@dataclass(frozen=True)
class CellProjection:
    """Projected full-cell performance of one candidate (a model result, not a measurement)."""

    kind: str
    """``"hard_carbon"`` (sodium-ion cell) or ``"electrolyte"`` (lithium-ion cell)."""
    c_rates: tuple[float, ...]
    """Discharge rates [1/h], matching the tuples below."""
    capacity_ah: tuple[float, ...]
    """Discharge capacity of the modelled cell [A.h] per C-rate."""
    energy_wh: tuple[float, ...]
    """Discharge energy of the modelled cell [W.h] per C-rate."""
    capacity_ah_per_m2: tuple[float, ...]
    """Discharge capacity per electrode area [A.h/m²] per C-rate."""
    energy_wh_per_m2: tuple[float, ...]
    """Discharge energy per electrode area [W.h/m²] per C-rate."""
    nominal_capacity_ah: float
    """Capacity defining 1C [A.h]."""
    design: tuple[tuple[str, float], ...] = ()
    """Derived design numbers with units in their names (e.g. ``n_to_p_ratio``)."""
    specific_energy_wh_per_kg: tuple[float, ...] = ()
    """Energy per kg of electrode stack [W.h/kg] per C-rate (hard carbon only)."""
    inputs: tuple[tuple[str, float], ...] = ()
    """The (rounded) inputs this projection was computed for."""
    config: str = "full"
    """``"full"`` or ``"fast"``."""
    pybamm_version: str = ""
    notes: tuple[str, ...] = ()
    """Solver warnings (e.g. interpolation tables extrapolated near the end of discharge)."""

    @property
    def retention_2c_pct(self) -> float:
        """Capacity at 2C relative to 0.1C [%]."""
        return 100.0 * self.capacity_ah[self.c_rates.index(2.0)] / self.capacity_ah[
            self.c_rates.index(0.1)]

    def as_dict(self) -> dict[str, float]:
        """Flat ``{unit_named_key: value}``, e.g. ``energy_wh_0_1c``, ``capacity_ah_2c``."""
        out: dict[str, float] = {}
        for i, rate in enumerate(self.c_rates):
            tag = f"{rate:g}".replace(".", "_") + "c"
            out[f"capacity_ah_{tag}"] = self.capacity_ah[i]
            out[f"energy_wh_{tag}"] = self.energy_wh[i]
            out[f"capacity_ah_per_m2_{tag}"] = self.capacity_ah_per_m2[i]
            out[f"energy_wh_per_m2_{tag}"] = self.energy_wh_per_m2[i]
            if self.specific_energy_wh_per_kg:
                out[f"specific_energy_wh_per_kg_{tag}"] = self.specific_energy_wh_per_kg[i]
        out["retention_2c_pct"] = self.retention_2c_pct
        out["nominal_capacity_ah"] = self.nominal_capacity_ah
        out.update(dict(self.design))
        return out

    def to_json(self) -> str:
        """JSON text (for the disk cache)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CellProjection:
        """Inverse of :meth:`to_json`."""
        raw = json.loads(text)
        for key in ("c_rates", "capacity_ah", "energy_wh", "capacity_ah_per_m2",
                    "energy_wh_per_m2", "specific_energy_wh_per_kg", "notes"):
            raw[key] = tuple(raw[key])
        for key in ("design", "inputs"):
            raw[key] = tuple((str(k), float(v)) for k, v in raw[key])
        return cls(**raw)


@dataclass(frozen=True)
class CellDesign:
    """The cell a material is projected into: the assumptions a chemist may change.

    ``None`` keeps the parameter set's own value (Chayambuka2022 for the sodium-ion cell,
    Chen2020 for the lithium-ion cell); :meth:`describe` lists what is actually used.
    """

    n_to_p_ratio: float = N_TO_P
    """Negative-to-positive capacity ratio (sodium-ion cell: sets the anode thickness)."""
    positive_thickness_um: float | None = None
    """Positive electrode coating thickness [µm]: the cathode loading. In the lithium-ion cell
    the negative electrode is scaled by the same factor (its N/P stays Chen2020's)."""
    electrolyte_concentration_mol_per_m3: float | None = None
    """Initial salt concentration of the cell's electrolyte [mol/m³] (1000 = 1 M)."""
    carbon_density_kg_per_m3: float = RHO_HARD_CARBON
    """Hard-carbon particle density [kg/m³] (sodium-ion cell)."""
    temperature_c: float = 25.0
    """Cell and ambient temperature [°C]."""

    def __post_init__(self) -> None:
        problems = []
        if not 0.8 <= self.n_to_p_ratio <= 2.0:
            problems.append(f"n_to_p_ratio = {self.n_to_p_ratio:g} is outside 0.8-2")
        if self.positive_thickness_um is not None and not 5.0 <= self.positive_thickness_um <= 300:
            problems.append(f"positive_thickness_um = {self.positive_thickness_um:g} is outside "
                            "5-300 µm")
        c = self.electrolyte_concentration_mol_per_m3
        if c is not None and not 100.0 <= c <= 4000.0:
            problems.append(f"electrolyte_concentration_mol_per_m3 = {c:g} is outside 100-4000")
        if not 800.0 <= self.carbon_density_kg_per_m3 <= 2300.0:
            problems.append(f"carbon_density_kg_per_m3 = {self.carbon_density_kg_per_m3:g} is "
                            "outside 800-2300")
        if not -20.0 <= self.temperature_c <= 60.0:
            problems.append(f"temperature_c = {self.temperature_c:g} is outside -20-60 °C")
        if problems:
            raise CellProjectionError(
                "Cell design: " + "; ".join(problems) + ".",
                hint="Keep the assumptions within the ranges the PyBaMM parameter sets are "
                     "valid for, or reset them to the defaults.")

    def key(self) -> tuple[tuple[str, float | None], ...]:
        """The design as a hashable, rounded tuple (cache key)."""
        return tuple((k, None if v is None else round(float(v), 3))
                     for k, v in asdict(self).items())

    def describe(self, kind: str) -> dict[str, str]:
        """Assumption → value with unit, as a projection of ``kind`` uses it."""
        if kind == "hard_carbon":
            cell = ("PyBaMM sodium_ion.BasicDFN, Chayambuka2022: hard carbon | NaPF6 in EC:PC | "
                    "Na3V2(PO4)2F3, 2.54 cm² electrodes")
        else:
            cell = "PyBaMM lithium_ion.DFN, Chen2020: LG M50 (graphite-SiOx | NMC811), 5 Ah"
        out = {"Cell": cell}
        if kind == "hard_carbon":
            out["N/P ratio"] = f"{self.n_to_p_ratio:g}"
            out["Hard-carbon density"] = f"{self.carbon_density_kg_per_m3:g} kg/m³"
        thickness = self.positive_thickness_um or POSITIVE_THICKNESS_UM[kind]
        concentration = (self.electrolyte_concentration_mol_per_m3
                         or ELECTROLYTE_CONCENTRATION_MOL_PER_M3)
        out["Positive electrode thickness"] = f"{thickness:g} µm"
        out["Electrolyte salt concentration"] = f"{concentration:g} mol/m³"
        out["Temperature"] = f"{self.temperature_c:g} °C"
        return out


DEFAULT_DESIGN = CellDesign()
"""The cell design of the module docstring."""

POSITIVE_THICKNESS_UM = {"hard_carbon": 68.0, "electrolyte": 75.6}
"""The parameter sets' positive electrode thickness [µm] (Chayambuka2022, Chen2020), what
``positive_thickness_um=None`` means."""
ELECTROLYTE_CONCENTRATION_MOL_PER_M3 = 1000.0
"""Both parameter sets' initial electrolyte concentration [mol/m³]."""


@dataclass(frozen=True)
class _Case:
    kind: str
    inputs: tuple[tuple[str, float], ...]
    fast: bool
    design: CellDesign = DEFAULT_DESIGN


def project_hard_carbon(
    ice_pct: float, reversible_capacity_mah_per_g: float, *, fast: bool = False,
    design: CellDesign | None = None,
) -> CellProjection:
    """Project a hard-carbon anode into a sodium-ion full cell (NVPF cathode, Chayambuka2022).

    Args:
        ice_pct: initial Coulombic efficiency of the carbon in a half cell [%], 30-100 (below
            30 % a formed cell has almost no sodium left).
        reversible_capacity_mah_per_g: reversible capacity per gram of carbon [mAh/g], 0-1000.
        fast: coarse mesh and loose tolerances (tests, quick screening).
        design: the cell's assumptions (N/P, cathode loading, electrolyte, temperature);
            default :data:`DEFAULT_DESIGN`.

    Returns:
        :class:`CellProjection` with capacity and energy at 0.1C, 1C and 2C, specific energy per
        kg of electrode stack and the design (``n_to_p_ratio``,
        ``negative_electrode_thickness_um``). See the module docstring for every assumption.

    Raises:
        CellProjectionError: inputs out of range, PyBaMM missing, or the solver failed.

    Example::

        result = project_hard_carbon(88.0, 320.0, fast=True)
        result.as_dict()["energy_wh_0_1c"]          # 0.0093... (Wh)
    """
    problems = []
    if not (30.0 <= ice_pct <= 100.0):
        problems.append(f"ice_pct = {ice_pct!r} is outside 30-100 %"
                        + (" (it looks like a fraction)" if 0.0 < ice_pct <= 1.0 else ""))
    if not (0.0 < reversible_capacity_mah_per_g <= 1000.0):
        problems.append(f"reversible_capacity_mah_per_g = {reversible_capacity_mah_per_g!r} "
                        "is outside (0, 1000]")
    if problems:
        raise CellProjectionError("Cannot project: " + "; ".join(problems) + ".",
                                  hint="ICE is a percentage (85, not 0.85): multiply a fraction "
                                  "by 100. Capacity is per gram of carbon in mAh/g.")
    case = _Case("hard_carbon", (("ice_pct", round(float(ice_pct), 2)),
                                 ("reversible_capacity_mah_per_g",
                                  round(float(reversible_capacity_mah_per_g), 2))), bool(fast),
                 design or DEFAULT_DESIGN)
    return _cached(case)


def project_electrolyte(ionic_conductivity_ms_per_cm: float, *, fast: bool = False,
                        design: CellDesign | None = None) -> CellProjection:
    """Project an electrolyte's conductivity into a lithium-ion cell (Chen2020, LG M50).

    Args:
        ionic_conductivity_ms_per_cm: the electrolyte's conductivity at 25 °C and ~1 M [mS/cm],
            0-100.
        fast: coarse mesh and loose tolerances.
        design: the cell's assumptions (loading, electrolyte concentration, temperature);
            default :data:`DEFAULT_DESIGN` (``n_to_p_ratio`` and the carbon density do not
            apply).

    Returns:
        :class:`CellProjection`; ``retention_2c_pct`` is the 2C capacity relative to 0.1C.

    Raises:
        CellProjectionError: input out of range, PyBaMM missing, or the solver failed.
    """
    if not (0.0 < ionic_conductivity_ms_per_cm <= 100.0):
        raise CellProjectionError(
            f"Cannot project: ionic_conductivity_ms_per_cm = {ionic_conductivity_ms_per_cm!r} "
            "is outside (0, 100].", hint="Give the conductivity in mS/cm (1 S/m = 10 mS/cm).")
    case = _Case("electrolyte", (("ionic_conductivity_ms_per_cm",
                                  round(float(ionic_conductivity_ms_per_cm), 2)),), bool(fast),
                 design or DEFAULT_DESIGN)
    return _cached(case)


def clear_memory_cache() -> None:
    """Forget in-memory results (the disk cache stays; delete the cache dir to drop it)."""
    _cached.cache_clear()


# ------------------------------------------------------------------------------------ internals


@functools.lru_cache(maxsize=1)
def _pybamm_version() -> str:
    """Installed PyBaMM version without importing it (the disk cache must not pay for that)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pybamm")
    except PackageNotFoundError as exc:
        raise _missing_pybamm() from exc


def _missing_pybamm() -> CellProjectionError:
    return CellProjectionError(
        "PyBaMM is needed for cell projections but is not installed.",
        hint="Install it with `pip install 'pybamm>=25.1'` (it is a dependency of the planner).",
    )


def _pybamm():
    try:
        import pybamm
    except ImportError as exc:
        raise _missing_pybamm() from exc
    return pybamm


@functools.lru_cache(maxsize=512)
def _cached(case: _Case) -> CellProjection:
    from planner._cache import cache_dir, stable_hash

    parts: list[Any] = [case.kind, case.inputs, case.fast, MODEL_VERSION, _pybamm_version(),
                        _SETTINGS["fast" if case.fast else "full"]]
    if case.design != DEFAULT_DESIGN:  # default-design results keep their cache files
        parts.append(case.design.key())
    key = stable_hash(parts)
    path = cache_dir("pybamm") / f"{case.kind}_{key}.json"
    if path.is_file():
        try:
            return CellProjection.from_json(path.read_text())
        except (ValueError, TypeError, KeyError):
            path.unlink(missing_ok=True)  # corrupt or old format: recompute
    fn = _hard_carbon if case.kind == "hard_carbon" else _electrolyte
    result = fn(dict(case.inputs), fast=case.fast, design=case.design)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel test workers may race
    tmp.write_text(result.to_json())
    tmp.replace(path)
    return result


def _solve_rates(sim, nominal_ah: float, area_m2: float, *, extra_inputs: dict[str, float]):
    """Constant-current discharges at :data:`C_RATES`; returns capacities, energies, notes."""
    capacity, energy, notes = [], [], []
    for rate in C_RATES:
        current = rate * nominal_ah
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                sol = sim.solve([0.0, 1.3 * 3600.0 / rate],
                                inputs={"Current function [A]": current, **extra_inputs})
            except Exception as exc:  # noqa: BLE001 - PyBaMM raises several unrelated types
                raise CellProjectionError(
                    f"PyBaMM failed at {rate:g}C: {exc}",
                    hint="Try fast=False, or check that the inputs are physically sensible.",
                ) from exc
        notes += [f"{rate:g}C: {w.message}" for w in caught]
        t = sol["Time [s]"].entries
        v = sol["Voltage [V]"].entries
        capacity.append(float(sol["Discharge capacity [A.h]"].entries[-1]))
        energy.append(float(np.trapezoid(v * current, t) / 3600.0))
    per_area = (tuple(c / area_m2 for c in capacity), tuple(e / area_m2 for e in energy))
    return tuple(capacity), tuple(energy), per_area, tuple(dict.fromkeys(notes))


def _make_solver(pybamm, settings: dict[str, Any]):
    return pybamm.IDAKLUSolver(rtol=settings["rtol"], atol=settings["atol"])


def _ocp_table(pybamm, fn, grid: np.ndarray) -> np.ndarray:
    return np.asarray(fn(pybamm.Vector(grid)).evaluate(), float).ravel()


def _apply_design(p, design: CellDesign, *, scale_negative: bool) -> None:
    """Put the design's loading, electrolyte and temperature into parameter values ``p``."""
    if design.positive_thickness_um is not None:
        factor = design.positive_thickness_um * 1e-6 / float(p["Positive electrode thickness [m]"])
        p["Positive electrode thickness [m]"] = design.positive_thickness_um * 1e-6
        if scale_negative:
            p["Negative electrode thickness [m]"] = factor * float(
                p["Negative electrode thickness [m]"])
            p["Nominal cell capacity [A.h]"] = factor * float(p["Nominal cell capacity [A.h]"])
    if design.electrolyte_concentration_mol_per_m3 is not None:
        p["Initial concentration in electrolyte [mol.m-3]"] = (
            design.electrolyte_concentration_mol_per_m3)
    kelvin = design.temperature_c + 273.15
    p["Ambient temperature [K]"] = kelvin
    p["Initial temperature [K]"] = kelvin


def _hard_carbon(inputs: dict[str, float], *, fast: bool,
                 design: CellDesign = DEFAULT_DESIGN) -> CellProjection:
    pybamm = _pybamm()
    settings = _SETTINGS["fast" if fast else "full"]
    ice = inputs["ice_pct"] / 100.0
    q_mah_per_g = inputs["reversible_capacity_mah_per_g"]
    p = pybamm.ParameterValues("Chayambuka2022")
    _apply_design(p, design, scale_negative=False)
    c_ref = float(p["Maximum concentration in negative electrode [mol.m-3]"])
    c_n = q_mah_per_g * 3600.0 * design.carbon_density_kg_per_m3 / FARADAY
    eps_n = float(p["Negative electrode active material volume fraction"])
    eps_p = float(p["Positive electrode active material volume fraction"])
    c_p = float(p["Maximum concentration in positive electrode [mol.m-3]"])
    cap_p = eps_p * float(p["Positive electrode thickness [m]"]) * c_p  # mol/m² at x = 1
    n_assembled = cap_p * X_P_ASSEMBLED
    deliverable = cap_p * (X_P_ASSEMBLED - X_P_CHARGED)
    thickness_n = design.n_to_p_ratio * deliverable / (eps_n * c_n)
    cap_n = eps_n * thickness_n * c_n
    inventory = n_assembled - (1.0 - ice) * min(deliverable, cap_n / ice)

    grid = np.linspace(0.0, 1.0, 4001)
    u_n = _ocp_table(pybamm, p["Negative electrode OCP [V]"], grid)
    u_p = _ocp_table(pybamm, p["Positive electrode OCP [V]"], grid)
    x_p = (inventory - cap_n * grid) / cap_p
    valid = (x_p >= X_P_CHARGED) & (x_p <= 1.0) & (grid <= X_N_MAX)
    ocv = np.interp(x_p, grid, u_p) - u_n
    v_max = float(p["Upper voltage cut-off [V]"])
    v_min = float(p["Lower voltage cut-off [V]"])
    top = np.flatnonzero(valid & (ocv <= v_max))
    bottom = np.flatnonzero(valid & (ocv >= v_min))
    if len(top) == 0 or len(bottom) == 0 or grid[top.max()] <= grid[bottom.min()]:
        raise CellProjectionError(
            f"No usable voltage window for ICE {inputs['ice_pct']} %, "
            f"{q_mah_per_g} mAh/g: too much sodium lost on formation.",
            hint="ICE this low leaves the cell with almost no cyclable sodium.")
    x_n_charged, x_n_empty = grid[top.max()], grid[bottom.min()]
    area = float(p["Electrode height [m]"]) * float(p["Electrode width [m]"])
    nominal = cap_n * (x_n_charged - x_n_empty) * FARADAY * area / 3600.0

    base_diff = p["Negative particle diffusivity [m2.s-1]"]
    base_j0 = p["Negative electrode exchange-current density [A.m-2]"]

    def diffusivity(sto, temperature):
        c_max = pybamm.Parameter("Maximum concentration in negative electrode [mol.m-3]")
        return base_diff(sto * c_ref / c_max, temperature)  # table read at the same stoichiometry

    def exchange_current(c_e, c_s_surf, c_s_max, temperature):
        scaled = base_j0(c_e, c_s_surf * c_ref / c_s_max, pybamm.Scalar(c_ref), temperature)
        return scaled * (c_s_max / c_ref)

    p.update({
        "Maximum concentration in negative electrode [mol.m-3]": c_n,
        "Negative electrode thickness [m]": thickness_n,
        "Initial concentration in negative electrode [mol.m-3]": x_n_charged * c_n,
        "Initial concentration in positive electrode [mol.m-3]":
            (inventory - cap_n * x_n_charged) / cap_p * c_p,
        "Negative particle diffusivity [m2.s-1]": diffusivity,
        "Negative electrode exchange-current density [A.m-2]": exchange_current,
        "Nominal cell capacity [A.h]": nominal,
        "Current function [A]": "[input]",
    })
    sim = pybamm.Simulation(_sodium_model(), parameter_values=p, var_pts=settings["var_pts"],
                            solver=_make_solver(pybamm, settings))
    capacity, energy, (cap_area, energy_area), notes = _solve_rates(
        sim, nominal, area, extra_inputs={})
    stack = _stack_mass_kg_per_m2(p, thickness_n, design.carbon_density_kg_per_m3)
    return CellProjection(
        kind="hard_carbon", c_rates=C_RATES, capacity_ah=capacity, energy_wh=energy,
        capacity_ah_per_m2=cap_area, energy_wh_per_m2=energy_area, nominal_capacity_ah=nominal,
        specific_energy_wh_per_kg=tuple(e / stack for e in energy_area),
        design=(("n_to_p_ratio", design.n_to_p_ratio),
                ("negative_electrode_thickness_um", thickness_n * 1e6),
                ("positive_electrode_thickness_um",
                 float(p["Positive electrode thickness [m]"]) * 1e6),
                ("positive_areal_capacity_mah_per_cm2", deliverable * FARADAY / 3.6 / 1e4),
                ("sodium_lost_on_formation_pct", 100.0 * (n_assembled - inventory) / deliverable),
                ("stack_mass_kg_per_m2", stack)),
        inputs=tuple(inputs.items()), config="fast" if fast else "full",
        pybamm_version=pybamm.__version__, notes=notes,
    )


def _stack_mass_kg_per_m2(p, thickness_n: float, rho_carbon: float = RHO_HARD_CARBON) -> float:
    """Both coatings (solids + pore electrolyte) and the wetted separator [kg/m²]."""
    rho = _DENSITY
    total = 0.0
    for side, thickness, rho_active in (("Negative", thickness_n, rho_carbon),
                                        ("Positive", float(p["Positive electrode thickness [m]"]),
                                         rho["nvpf"])):
        active = float(p[f"{side} electrode active material volume fraction"])
        pores = float(p[f"{side} electrode porosity"])
        inactive = max(0.0, 1.0 - active - pores)
        total += thickness * (active * rho_active + pores * rho["electrolyte"]
                              + inactive * rho["additive"])
    sep_pores = float(p["Separator porosity"])
    total += float(p["Separator thickness [m]"]) * (
        sep_pores * rho["electrolyte"] + (1.0 - sep_pores) * rho["separator"])
    return total


@functools.lru_cache(maxsize=1)
def _sodium_model():
    return _pybamm().sodium_ion.BasicDFN()


@functools.lru_cache(maxsize=8)
def _electrolyte_simulation(fast: bool, design: CellDesign = DEFAULT_DESIGN):
    """Chen2020 DFN with the conductivity scale as an input: built once per process and design."""
    pybamm = _pybamm()
    settings = _SETTINGS["fast" if fast else "full"]
    p = pybamm.ParameterValues("Chen2020")
    _apply_design(p, design, scale_negative=True)
    base = p["Electrolyte conductivity [S.m-1]"]

    def conductivity(c_e, temperature):
        return pybamm.Parameter("Electrolyte conductivity scale") * base(c_e, temperature)

    kappa_ref = float(base(pybamm.Scalar(_KAPPA_REF_C), pybamm.Scalar(_KAPPA_REF_T)).evaluate())
    p.update({"Electrolyte conductivity [S.m-1]": conductivity,
              "Electrolyte conductivity scale": "[input]",
              "Current function [A]": "[input]"}, check_already_exists=False)
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=p,
                            var_pts=settings["var_pts"], solver=_make_solver(pybamm, settings))
    area = float(p["Electrode height [m]"]) * float(p["Electrode width [m]"])
    return sim, kappa_ref, float(p["Nominal cell capacity [A.h]"]), area


def _electrolyte(inputs: dict[str, float], *, fast: bool,
                 design: CellDesign = DEFAULT_DESIGN) -> CellProjection:
    pybamm = _pybamm()
    sim, kappa_ref, nominal, area = _electrolyte_simulation(fast, design)
    scale = inputs["ionic_conductivity_ms_per_cm"] / 10.0 / kappa_ref  # mS/cm -> S/m
    capacity, energy, (cap_area, energy_area), notes = _solve_rates(
        sim, nominal, area, extra_inputs={"Electrolyte conductivity scale": scale})
    return CellProjection(
        kind="electrolyte", c_rates=C_RATES, capacity_ah=capacity, energy_wh=energy,
        capacity_ah_per_m2=cap_area, energy_wh_per_m2=energy_area, nominal_capacity_ah=nominal,
        design=(("conductivity_scale", scale),
                ("reference_conductivity_ms_per_cm", kappa_ref * 10.0)),
        inputs=tuple(inputs.items()), config="fast" if fast else "full",
        pybamm_version=pybamm.__version__, notes=notes,
    )
