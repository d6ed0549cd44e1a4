"""SIMULATED virtual hard-carbon lab: recipe -> structure descriptors -> Na-ion half-cell results.

**Everything this module returns is SIMULATED** (``SIMULATED = True``; every row says
``instrument = "virtual-lab (simulated)"``). It exists so the planner can be exercised, benchmarked
and demonstrated end to end without a furnace. It is a smooth, documented caricature of trends
reported in the hard-carbon literature, not a predictive model of any real material.

Literature the trends follow (qualitatively):

- D. A. Stevens, J. R. Dahn, *J. Electrochem. Soc.* 147 (2000) 1271 - sloping region from
  defects/interlayer sites, low-voltage plateau from filling of closed nanopores in glucose-derived
  hard carbon.
- E. Irisarri, A. Ponrouch, M. R. Palacín, *J. Electrochem. Soc.* 162 (2015) A2476 (review) -
  ICE falls as surface area grows (SEI forms on the surface); precursor and temperature set both.
- C. Bommier, T. W. Surta, M. Dolgos, X. Ji, *Nano Lett.* 15 (2015) 5888 - carbonization-
  temperature series: d002 shrinks, ordering grows, plateau capacity grows with temperature.
- B. Zhang, C. Matei Ghimbeu, C. Laberty, C. Vix-Guterl, J.-M. Tarascon, *Adv. Energy Mater.* 6
  (2016) 1501588 - "Correlation between microstructure and Na storage behavior in hard carbon":
  plateau capacity peaks around 1300-1600 °C and falls as the structure orders further; ICE rises
  with temperature as surface area drops.
- A. C. Ferrari, J. Robertson, *Phys. Rev. B* 61 (2000) 14095 - in disordered carbons ID/IG rises
  with the in-plane domain size La.
- Heteroatom (N, S) doping raising sloping capacity (and interlayer spacing) at the cost of ICE is
  reported across many studies; it is used here in general terms only.

Response model (noise-free; ``u`` is a dimensionless effective temperature)::

    T_eff = T + 40 log2(dwell_h / 2) - 20 log2(rate / 5)      [°C]  (time-temperature trade)
    u     = clip((T_eff - 800) / 1000, -0.1, 1.1)
    d002  = 0.362 + (d0_p - 0.362) exp(-(1 + 2.5 g_p) u) + 0.0004 N + 0.0012 S         [nm]
    Lc    = 0.85 + (0.75 + 0.8 g_p) u+^1.3                                               [nm]
    La    = 2.2 + (3.5 + 2.0 g_p) u+^1.2                                                 [nm]
    ID/IG = 0.78 + 0.11 La - 0.1 g_p + 0.045 N + 0.035 S                                 [-]
    SSA   = 1 + SSA800_p exp(-2.6 u+) (rate / 5)^0.35 exp(0.03 (N + S))                  [m²/g]
    ICE   = 60 + 32 sigmoid(1.6 - 0.7 ln(SSA / 10) + 1.0 u - 0.10 N - 0.12 S + b_p)      [%]
    plateau = P_p bump(T_eff; T_peak_p, 420) (1 - 0.05 log2(rate / 5))
              / (1 + SSA / 300) * max(0.5, 1 - 0.03 N - 0.025 S)                          [mAh/g]
    sloping = 85 + s_p + 135 exp(-1.6 u+) + 9 ln(1 + SSA / 20)
              + 45 (1 - exp(-N / 3)) + 50 (1 - exp(-S / 4))                              [mAh/g]
    reversible = soft_clip(plateau + sloping, 200, 400)                                 [mAh/g]

``u+ = max(u, 0)``, ``bump`` is a two-sided Gaussian in ``T_eff`` around the precursor's plateau
optimum ``T_peak_p`` (1300-1550 °C), and ``soft_clip`` is a softplus floor/ceiling (width 20 mAh/g)
that keeps values inside the DOMAIN.md typical ranges (it flattens, e.g., graphitizing pitch at
1800 °C, which a real lab would measure below 200 mAh/g); d002, Lc and La pass through the same
kind of soft clip into their ranges. Per-precursor constants ``g_p``
(graphitizability), ``d0_p``, ``SSA800_p``, ``P_p``, ``T_peak_p``, ``b_p`` and ``s_p`` are in
:data:`PRECURSORS`. Consequences a planner can discover: ICE rises with temperature and falls with
surface area (fast heating, doping, porous precursors); reversible capacity peaks at an interior
temperature and an interior doping level; phenolic resin and cellulose give the largest plateau,
coconut shell the most sloping capacity but the lowest ICE; pitch, a graphitizing (soft-carbon)
precursor, has little plateau, the highest ICE and its capacity maximum at the low-temperature
end; ICE and capacity trade off.

Measurement model (``noise=True``): Gaussian noise per well (σ: d002 0.0015 nm, Lc 4 %, La 5 %,
SSA 8 % log-normal, ID/IG 0.03, ICE 0.7 points, reversible 5 mAh/g, plateau 4 mAh/g); a drift
per plate, drawn from ``(seed, plate_index)`` and shared by all wells of the plate (ICE offset
σ 0.8 points, capacity calibration σ 1.5 %, d002 zero-shift σ 0.001 nm, SSA scale σ 4 %);
failures: 3 % ``failed_synthesis`` (all results NaN) and 3 % ``failed_cell`` (structure measured,
electrochemistry NaN). Noisy values are clipped to the DOMAIN.md typical ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.simulation._validation import SimulationInputError, check_frame, normalize_category

SIMULATED = True
"""Every number from this module is simulated."""
INSTRUMENT = "virtual-lab (simulated)"
"""Value of the ``instrument`` column of every simulated row."""
OPERATORS = ("sim-operator-A", "sim-operator-B", "sim-operator-C")
"""Simulated operators; one runs each plate."""

RECIPE_BOUNDS: dict[str, tuple[float, float]] = {
    "carbonization_temperature_c": (800.0, 1800.0),
    "heating_rate_c_per_min": (1.0, 20.0),
    "dwell_h": (0.5, 10.0),
    "n_doping_at_pct": (0.0, 10.0),
    "s_doping_at_pct": (0.0, 10.0),
}
"""Numeric recipe columns and the simulated domain (the campaign bounds)."""
DESCRIPTORS = ("d002_nm", "lc_nm", "la_nm", "bet_ssa_m2_per_g", "raman_id_ig")
TARGETS = ("ice_pct", "reversible_capacity_mah_per_g", "plateau_capacity_mah_per_g")
TYPICAL_RANGES: dict[str, tuple[float, float]] = {
    "d002_nm": (0.36, 0.41),
    "lc_nm": (0.8, 2.5),
    "la_nm": (2.0, 8.0),
    "bet_ssa_m2_per_g": (1.0, 2000.0),
    "raman_id_ig": (0.7, 3.0),
    "ice_pct": (60.0, 92.0),
    "reversible_capacity_mah_per_g": (200.0, 400.0),
    "plateau_capacity_mah_per_g": (0.0, 250.0),
}
"""DOMAIN.md typical ranges; every simulated value lies inside them."""
FAILED_SYNTHESIS_RATE = 0.03
FAILED_CELL_RATE = 0.03


@dataclass(frozen=True)
class Precursor:
    """Constants of one simulated precursor."""

    graphitizability: float
    """g_p in [0, 1]: how fast the structure orders with temperature (pitch is a soft carbon)."""
    d002_low_t_nm: float
    """d0_p: interlayer spacing of the carbon at T_eff = 800 °C [nm]."""
    ssa_800_m2_per_g: float
    """SSA800_p: BET surface area at 800 °C and 5 °C/min, undoped [m²/g]."""
    plateau_max_mah_per_g: float
    """P_p: plateau capacity at the optimum temperature [mAh/g]."""
    plateau_peak_c: float
    """T_peak_p: effective temperature of the largest plateau [°C]."""
    ice_logit_offset: float
    """b_p: ICE shift in logit units (ash and impurities lower it)."""
    sloping_offset_mah_per_g: float
    """s_p: extra sloping capacity [mAh/g]."""


PRECURSORS: dict[str, Precursor] = {
    "cellulose": Precursor(0.25, 0.405, 120.0, 205.0, 1450.0, 0.0, 0.0),
    "lignin": Precursor(0.35, 0.400, 260.0, 150.0, 1350.0, -0.2, 10.0),
    "pitch": Precursor(0.90, 0.390, 12.0, 90.0, 1300.0, 0.1, -20.0),
    "starch": Precursor(0.20, 0.405, 200.0, 185.0, 1400.0, 0.0, 0.0),
    "coconut_shell": Precursor(0.30, 0.402, 600.0, 160.0, 1400.0, -0.25, 5.0),
    "phenolic_resin": Precursor(0.15, 0.408, 80.0, 215.0, 1550.0, 0.0, -5.0),
}
"""Simulated precursors (the campaign's ``precursor`` levels)."""

REFERENCE_RECIPE: dict[str, object] = {
    "precursor": "cellulose",
    "carbonization_temperature_c": 1300.0,
    "heating_rate_c_per_min": 5.0,
    "dwell_h": 2.0,
    "n_doping_at_pct": 0.0,
    "s_doping_at_pct": 0.0,
}
"""Reference material of control wells: undoped cellulose carbon, 1300 °C, 5 °C/min, 2 h."""

_NOISE_SD = {
    "d002_nm": 0.0015, "lc_nm": 0.04, "la_nm": 0.05, "bet_ssa_m2_per_g": 0.08,
    "raman_id_ig": 0.03, "ice_pct": 0.7, "reversible_capacity_mah_per_g": 5.0,
    "plateau_capacity_mah_per_g": 4.0,
}
_RELATIVE_NOISE = ("lc_nm", "la_nm", "bet_ssa_m2_per_g")
_STREAM_DRIFT, _STREAM_WELLS = 0, 1


def true_response(recipes: pd.DataFrame) -> pd.DataFrame:
    """Noise-free SIMULATED descriptors and targets (for tests, regret curves and plots).

    Args:
        recipes: ``n x d`` frame with ``precursor`` and the numeric columns of
            :data:`RECIPE_BOUNDS` (units in the names); extra columns are ignored.

    Returns:
        ``n x 8`` frame (same index) with :data:`DESCRIPTORS` and :data:`TARGETS`.

    Raises:
        SimulationInputError: missing columns, unknown precursors or values outside the bounds.
    """
    check_frame(recipes, numeric=RECIPE_BOUNDS, categorical={"precursor": PRECURSORS},
                what="virtual hard-carbon lab")
    return _response(recipes)


def simulate_plate(
    recipes: pd.DataFrame, *, seed: int, plate_index: int = 0, noise: bool = True
) -> pd.DataFrame:
    """Run one SIMULATED plate: noisy measurements with plate drift and occasional failures.

    Deterministic: the same ``(recipes, seed, plate_index)`` always gives the same frame; the
    plate drift depends only on ``(seed, plate_index)``, so wells of one plate share it.

    Args:
        recipes: ``n x d`` frame, one well per row, as for :func:`true_response`.
        seed: campaign-level random seed.
        plate_index: which plate of the campaign (0, 1, ...); sets the drift and the noise draws.
        noise: ``False`` gives the noise-free response with no drift and no failures.

    Returns:
        ``n x 11`` frame (same index): :data:`DESCRIPTORS`, :data:`TARGETS` (NaN where the well
        failed), ``status`` (``ok``, ``failed_synthesis``, ``failed_cell``), ``operator`` and
        ``instrument`` (always :data:`INSTRUMENT`).

    Example:
        >>> plate = simulate_plate(pd.DataFrame([REFERENCE_RECIPE] * 4), seed=1, plate_index=0)
        >>> plate["instrument"].unique().tolist()
        ['virtual-lab (simulated)']
    """
    out = true_response(recipes)
    n = len(out)
    drift_rng = np.random.default_rng([_STREAM_DRIFT, seed, plate_index])
    operator = OPERATORS[int(drift_rng.integers(len(OPERATORS)))]
    drift = plate_drift(seed=seed, plate_index=plate_index)
    status = np.full(n, "ok", dtype=object)
    if noise:
        rng = np.random.default_rng([_STREAM_WELLS, seed, plate_index])
        for col in (*DESCRIPTORS, *TARGETS):
            eps = rng.normal(0.0, _NOISE_SD[col], n)
            values = out[col].to_numpy(float)
            out[col] = values * np.exp(eps) if col in _RELATIVE_NOISE else values + eps
        out["d002_nm"] += drift["d002_nm"]
        out["bet_ssa_m2_per_g"] *= drift["bet_ssa_scale"]
        out["ice_pct"] += drift["ice_pct"]
        for col in ("reversible_capacity_mah_per_g", "plateau_capacity_mah_per_g"):
            out[col] *= drift["capacity_scale"]
        for col, (lo, hi) in TYPICAL_RANGES.items():
            out[col] = out[col].clip(lo, hi)
        fate = rng.random(n)
        synth = fate < FAILED_SYNTHESIS_RATE
        cell = (fate >= FAILED_SYNTHESIS_RATE) & (fate < FAILED_SYNTHESIS_RATE + FAILED_CELL_RATE)
        status[synth] = "failed_synthesis"
        status[cell] = "failed_cell"
        out.loc[synth, list(DESCRIPTORS)] = np.nan
        out.loc[synth | cell, list(TARGETS)] = np.nan
    out["status"] = status
    out["operator"] = operator
    out["instrument"] = INSTRUMENT
    return out


def plate_drift(*, seed: int, plate_index: int) -> dict[str, float]:
    """The SIMULATED systematic offsets of one plate (what control wells reveal).

    Returns:
        ``{"ice_pct": additive [%-points], "capacity_scale": factor on both capacities,
        "d002_nm": additive [nm], "bet_ssa_scale": factor}``.
    """
    rng = np.random.default_rng([_STREAM_DRIFT, seed, plate_index])
    rng.integers(len(OPERATORS))  # same stream as simulate_plate's operator draw
    ice, cap, d002, ssa = rng.normal(0.0, 1.0, 4)
    return {
        "ice_pct": 0.8 * ice,
        "capacity_scale": float(np.exp(0.015 * cap)),
        "d002_nm": 0.001 * d002,
        "bet_ssa_scale": float(np.exp(0.04 * ssa)),
    }


def fill_template(
    template: pd.DataFrame,
    *,
    seed: int,
    plate_index: int,
    label_to_name: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Fill a plate template's result columns the way the (SIMULATED) lab would.

    Args:
        template: one row per well with ``Well``, ``Role``, recipe columns, result columns,
            ``Status``, ``Operator``, ``Instrument`` and ``Notes``; headers may be labels with
            units (``"Carbonization temperature [°C]"``) or column names.
        seed: campaign seed (see :func:`simulate_plate`).
        plate_index: plate number; sets drift and noise.
        label_to_name: header label -> column name (e.g. from the campaigns column registry);
            headers not in it are used as names as they are. Keeps this module free of
            ``campaigns`` imports.

    Returns:
        A copy of ``template`` with result cells, ``Status``, ``Operator``, ``Instrument`` and
        ``Notes`` filled for every well that has a recipe or is a control (``Role`` ==
        ``control``: the :data:`REFERENCE_RECIPE`, written into empty recipe cells). Wells with
        no recipe at all (empty or blank wells) are left untouched.

    Raises:
        SimulationInputError: a well has a partial recipe, bad values, or the template has no
            result column this lab measures.
    """
    mapping = dict(label_to_name or {})
    names = {col: mapping.get(col, col) for col in template.columns}
    by_name: dict[str, str] = {}
    for col, name in names.items():
        known = (*RECIPE_BOUNDS, "precursor", *DESCRIPTORS, *TARGETS)
        key = name if name in known else str(name).lower()
        by_name.setdefault(key, col)
    out = template.copy()
    for key, header in (("status", "Status"), ("operator", "Operator"),
                        ("instrument", "Instrument"), ("notes", "Notes")):
        if key not in by_name:
            out[header] = pd.Series([None] * len(out), index=out.index, dtype=object)
            by_name[key] = header
        out[by_name[key]] = out[by_name[key]].astype(object)
    results = [n for n in (*DESCRIPTORS, *TARGETS) if n in by_name]
    if not results:
        raise SimulationInputError(
            "The template has no result column the virtual hard-carbon lab measures.",
            problems=[f"expected one of: {', '.join((*DESCRIPTORS, *TARGETS))}"],
            hint="Pass label_to_name mapping the template's labels to column names.",
        )
    recipe_cols = ["precursor", *RECIPE_BOUNDS]
    missing = [c for c in recipe_cols if c not in by_name]
    if missing:
        raise SimulationInputError(
            "The template lacks recipe columns.", problems=[f'"{c}" not found' for c in missing],
            hint="Pass label_to_name mapping the template's labels to column names.",
        )
    role = (out[by_name["role"]].astype(str).str.strip().str.lower()
            if "role" in by_name else pd.Series("sample", index=out.index))
    well = out[by_name["well"]].astype(str) if "well" in by_name else pd.Series(
        [str(i) for i in range(len(out))], index=out.index)
    recipes = pd.DataFrame({c: out[by_name[c]].astype(object) for c in recipe_cols},
                           index=out.index)
    blank = recipes.map(_is_blank)
    control = (role == "control").to_numpy()
    for col in recipe_cols:  # controls measure the reference material
        fill = control & blank[col].to_numpy()
        recipes.loc[control, col] = REFERENCE_RECIPE[col]
        out[by_name[col]] = out[by_name[col]].astype(object)
        out.loc[fill, by_name[col]] = REFERENCE_RECIPE[col]
    active = control | ~blank.all(axis=1).to_numpy()
    partial = active & ~control & blank.any(axis=1).to_numpy()
    if partial.any():
        raise SimulationInputError(
            "Some wells have an incomplete recipe.",
            problems=[
                f"Well {well.iloc[i]}: empty "
                + ", ".join(c for c in recipe_cols if blank[c].iloc[i]) + "."
                for i in np.flatnonzero(partial)
            ],
            hint="Fill every recipe cell of a well, or leave the whole well empty.",
        )
    act = recipes.loc[active].copy()
    act["precursor"] = act["precursor"].map(normalize_category)
    for col in RECIPE_BOUNDS:
        act[col] = pd.to_numeric(act[col], errors="coerce")
    try:
        measured = simulate_plate(act.reset_index(drop=True), seed=seed, plate_index=plate_index)
    except SimulationInputError as exc:  # name wells, not positions among active wells
        wells = well[active].tolist()
        exc.problems = [_rename_row(p, wells) for p in exc.problems]
        raise
    measured.index = out.index[active]
    for name in results:
        col = by_name[name]
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        out.loc[active, col] = measured[name]
    out.loc[active, by_name["status"]] = measured["status"]
    out.loc[active, by_name["operator"]] = measured["operator"]
    out.loc[active, by_name["instrument"]] = measured["instrument"]
    notes = {"failed_synthesis": "synthesis failed (simulated)",
             "failed_cell": "cell shorted (simulated)"}
    for i in np.flatnonzero(active):
        text = notes.get(out.iloc[i][by_name["status"]], "")
        if control[i]:
            text = "; ".join(t for t in ("reference material: cellulose 1300 °C", text) if t)
        old = out.iloc[i][by_name["notes"]]
        if text:
            out.iloc[i, out.columns.get_loc(by_name["notes"])] = (
                f"{old}; {text}" if not _is_blank(old) else text)
    return out


# ------------------------------------------------------------------------------------ internals


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and not value.strip()) or value is pd.NA


def _rename_row(problem: str, wells: list[str]) -> str:
    if problem.startswith("Row "):
        pos, rest = problem[4:].split(",", 1)
        if pos.isdigit() and int(pos) < len(wells):
            return f"Well {wells[int(pos)]},{rest}"
    return problem


def _soft_clip(x: np.ndarray, lo: float, hi: float, width: float) -> np.ndarray:
    """Smooth, monotone map into (lo, hi): softplus floor then softplus ceiling."""
    y = lo + width * np.logaddexp(0.0, (x - lo) / width)
    return hi - width * np.logaddexp(0.0, (hi - y) / width)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _response(recipes: pd.DataFrame) -> pd.DataFrame:
    keys = recipes["precursor"].map(normalize_category)
    props = {f: keys.map(lambda k, f=f: getattr(PRECURSORS[k], f)).to_numpy(float)
             for f in Precursor.__dataclass_fields__}
    temp = recipes["carbonization_temperature_c"].to_numpy(float)
    rate = recipes["heating_rate_c_per_min"].to_numpy(float)
    dwell = recipes["dwell_h"].to_numpy(float)
    n_dop = recipes["n_doping_at_pct"].to_numpy(float)
    s_dop = recipes["s_doping_at_pct"].to_numpy(float)
    g = props["graphitizability"]

    t_eff = temp + 40.0 * np.log2(dwell / 2.0) - 20.0 * np.log2(rate / 5.0)
    u = np.clip((t_eff - 800.0) / 1000.0, -0.1, 1.1)
    up = np.maximum(u, 0.0)

    d002 = 0.362 + (props["d002_low_t_nm"] - 0.362) * np.exp(-(1.0 + 2.5 * g) * u)
    d002 = d002 + 0.0004 * n_dop + 0.0012 * s_dop
    lc = 0.85 + (0.75 + 0.8 * g) * up**1.3
    la = 2.2 + (3.5 + 2.0 * g) * up**1.2
    id_ig = 0.78 + 0.11 * la - 0.1 * g + 0.045 * n_dop + 0.035 * s_dop
    ssa = 1.0 + props["ssa_800_m2_per_g"] * np.exp(-2.6 * up) * (rate / 5.0) ** 0.35 * np.exp(
        0.03 * (n_dop + s_dop))

    z = (1.6 - 0.7 * np.log(ssa / 10.0) + 1.0 * u - 0.10 * n_dop - 0.12 * s_dop
         + props["ice_logit_offset"])
    ice = 60.0 + 32.0 * _sigmoid(z)

    dt = t_eff - props["plateau_peak_c"]
    bump = np.exp(-((dt / 420.0) ** 2))
    plateau = (props["plateau_max_mah_per_g"] * bump * (1.0 - 0.05 * np.log2(rate / 5.0))
               / (1.0 + ssa / 300.0) * np.maximum(0.5, 1.0 - 0.03 * n_dop - 0.025 * s_dop))
    sloping = (85.0 + props["sloping_offset_mah_per_g"] + 135.0 * np.exp(-1.6 * up)
               + 9.0 * np.log1p(ssa / 20.0) + 45.0 * (1.0 - np.exp(-n_dop / 3.0))
               + 50.0 * (1.0 - np.exp(-s_dop / 4.0)))
    reversible = _soft_clip(plateau + sloping, 200.0, 400.0, 20.0)
    # Keep plateau <= reversible: the plateau is part of the reversible capacity.
    plateau = np.minimum(plateau, reversible - 60.0)

    out = pd.DataFrame(
        {
            "d002_nm": _soft_clip(d002, 0.36, 0.41, 0.002),
            "lc_nm": _soft_clip(lc, 0.8, 2.5, 0.03),
            "la_nm": _soft_clip(la, 2.0, 8.0, 0.1),
            "bet_ssa_m2_per_g": ssa,
            "raman_id_ig": id_ig,
            "ice_pct": ice,
            "reversible_capacity_mah_per_g": reversible,
            "plateau_capacity_mah_per_g": np.maximum(plateau, 0.0),
        },
        index=recipes.index,
    )
    return out
