"""SIMULATED electrolyte lab: conductivity emulator learned from CALiSol-23, synthetic CE model.

**Everything this module returns is SIMULATED** (``SIMULATED = True``; ``instrument`` is
``"electrolyte-emulator (simulated)"``). The demo electrolyte campaign uses it as its "lab".

Ionic conductivity (mS/cm) is predicted by a scikit-learn ``HistGradientBoostingRegressor`` fitted
to ``log10(k)`` of the cleaned CALiSol-23 data (real measurements; P. de Blasio et al., *Sci.
Data* 2024, doi:10.1038/s41597-024-03575-8, CC BY 4.0; see
``campaigns/shared_dataset/data/calisol23/NOTICE.md``). The model is monotone increasing in
temperature (a constraint, as physics demands), fitted once with ``random_state=0`` and cached
(joblib, in the planner cache dir, keyed by a hash of the data file, the scikit-learn version and
the settings here).

Measured accuracy (``grouped_cv_scores()``, 5-fold ``GroupKFold`` by source paper, so every
test paper is unseen; 13,224 rows): RMSE 0.47 decades of ``log10 k``, median absolute error
0.107 decades (about 28 %). On the 4,605 held-out rows inside the campaign domain (the five
campaign salts, -20 to 60 °C, 0.5-4 mol/kg, only the seven campaign solvents): RMSE 0.19 decades,
median absolute error 0.047 decades (about 11 %). The RMSE is dominated by a few papers with
unusual solvents; treat the emulator as a plausible, smooth landscape, not a predictor for new
chemistry. The fit takes a few seconds (one thread; see ``_fit``), then comes from the cache.

Putting CALiSol-23 on the campaign's basis (training rows only; approximations, flagged in
:func:`training_frame` by ``molality_estimated`` / ``fractions_converted``):

- mol/L -> mol/kg: ``m = c / (rho_solvent (1 - c V_salt))`` with ``rho_solvent`` the volume-
  additive mix of approximate 25 °C pure-solvent densities (:data:`SOLVENTS`) and an assumed
  apparent molar volume of the salt ``V_salt = 0.065 L/mol`` (an unvalidated estimate: expect
  errors of several per cent; 1 mol/L in carbonates comes out at 0.85-1.0 mol/kg).
- volume or mole fractions -> weight fractions with the same densities and molar masses.

Campaign inputs: ``fec_wt_pct`` is treated as FEC making up that weight share of the solvent
(CALiSol-23 has FEC as a co-solvent); ``vc_wt_pct`` is not in the data and multiplies the
conductivity by ``1 - 0.01 vc_wt_pct`` (an assumption: VC is a small, EC-like additive).

Coulombic efficiency (Li-metal cycling, %) is a **synthetic, hand-written** model (CALiSol-23 has
no CE), in the LCE form ``CE = 100 (1 - 10^-LCE)``::

    LCE = soft_clip(1.05 + a_salt + 0.55 ln(m) + 0.6 (dme + diglyme) - 0.45 pc
                    - 0.1 (dmc + emc + dec) + 0.5 (1 - exp(-fec/3))
                    + 0.25 (1 - exp(-vc/2)) - 0.03 vc - 0.0004 (T - 25)^2, 0.7, 2.7)

with ``a_salt`` = LiFSI 0.55, LiTFSI 0.35, LiPF6 0.15, LiBF4 0.10, LiClO4 0 (others 0.1): CE rises
with concentration, ether content, FEC and anion-derived SEI (FSI), while conductivity falls past
~1-1.5 mol/kg and is best in carbonate blends, so the two targets trade off. CE lies in 80-99.8 %.

Measurement model (``noise=True``): conductivity 3 % log-normal noise and a plate factor
(σ 2 %, cell-constant calibration); LCE noise σ 0.04 plus a plate offset σ 0.03; 3 % of wells
``failed_cell`` (both results NaN). A recipe that breaks a physical limit of
:mod:`campaigns.physchem` (a solvent blend frozen at the test temperature, more salt than
dissolves) is ``failed_synthesis`` with no results: there is no liquid to measure.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from campaigns import physchem
from planner.simulation._validation import SimulationInputError, check_frame, normalize_category

SIMULATED = True
INSTRUMENT = "electrolyte-emulator (simulated)"
OPERATORS = ("sim-operator-A", "sim-operator-B", "sim-operator-C")
CAMPAIGN_SALTS = ("LiPF6", "LiFSI", "LiTFSI", "LiBF4", "LiClO4")
CAMPAIGN_SOLVENTS = ("ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac", "dme_frac",
                     "diglyme_frac")
RECIPE_BOUNDS: dict[str, tuple[float, float]] = {
    "salt_molality_mol_per_kg": (0.5, 4.0),
    "temperature_c": (-20.0, 60.0),
    "fec_wt_pct": (0.0, 10.0),
    "vc_wt_pct": (0.0, 10.0),
    **{s: (0.0, 1.0) for s in CAMPAIGN_SOLVENTS},
}
"""Simulated domain (campaign bounds). Missing solvent/additive columns count as 0."""
TARGETS = ("ionic_conductivity_ms_per_cm", "coulombic_efficiency_pct")
FAILED_CELL_RATE = 0.03
SALT_VOLUME_L_PER_MOL = 0.065
"""Assumed apparent molar volume of a Li salt in solution, for the mol/L -> mol/kg estimate."""

SOLVENTS: dict[str, tuple[float, float]] = {
    "ec_frac": (1.32, 88.06), "pc_frac": (1.20, 102.09), "dmc_frac": (1.07, 90.08),
    "emc_frac": (1.01, 104.10), "dec_frac": (0.975, 118.13), "dme_frac": (0.868, 90.12),
    "diglyme_frac": (0.944, 134.17), "DMSO": (1.10, 78.13), "AN": (0.786, 41.05),
    "MOEMC": (1.10, 134.13), "TFP": (1.59, 344.08), "EA": (0.902, 88.11), "MA": (0.932, 74.08),
    "FEC": (1.45, 106.05), "DOL": (1.06, 74.08), "2-MeTHF": (0.854, 86.13),
    "DMM": (0.86, 76.09), "Freon 11": (1.49, 137.37), "Methylene chloride": (1.33, 84.93),
    "THF": (0.889, 72.11), "Toluene": (0.867, 92.14), "Sulfolane": (1.26, 120.17),
    "3-Glyme": (0.986, 178.23), "4-Glyme": (1.009, 222.28),
    "3-Me-2-Oxazolidinone": (1.17, 101.10), "3-MeSulfolane": (1.20, 134.20),
    "Ethyldiglyme": (0.906, 162.23), "DMF": (0.944, 73.09), "Ethylbenzene": (0.867, 106.17),
    "Ethylmonoglyme": (0.842, 118.17), "Benzene": (0.876, 78.11),
    "g-Butyrolactone": (1.13, 86.09), "Cumene": (0.862, 120.19),
    "Propylsulfone": (1.03, 150.24), "Pseudocumeme": (0.876, 120.19), "TEOS": (0.933, 208.33),
    "m-Xylene": (0.86, 106.17), "o-Xylene": (0.88, 106.17),
}
"""Solvent column -> (approximate density at 25 °C [g/cm³], molar mass [g/mol])."""

_SALT_LCE = {"LiFSI": 0.55, "LiTFSI": 0.35, "LiPF6": 0.15, "LiBF4": 0.10, "LiClO4": 0.0}
_MODEL_SETTINGS = {"max_iter": 150, "learning_rate": 0.15, "max_bins": 63, "max_leaf_nodes": 31,
                   "early_stopping": False, "random_state": 0, "version": 1}
_STREAM_DRIFT, _STREAM_WELLS = 0, 1


def true_electrolyte_response(recipes: pd.DataFrame) -> pd.DataFrame:
    """Noise-free SIMULATED conductivity and Coulombic efficiency.

    Args:
        recipes: ``n x d`` frame with ``salt``, ``salt_molality_mol_per_kg`` [mol/kg],
            ``temperature_c`` [°C], solvent weight fractions (any of :data:`CAMPAIGN_SOLVENTS`,
            summing to 1; missing ones count as 0) and optionally ``fec_wt_pct``, ``vc_wt_pct``.

    Returns:
        ``n x 2`` frame (same index): ``ionic_conductivity_ms_per_cm`` [mS/cm] and
        ``coulombic_efficiency_pct`` [%].

    Raises:
        SimulationInputError: missing columns, unknown salts, values out of bounds, or solvent
            fractions not summing to 1.
    """
    frame = _complete(recipes)
    check_frame(frame, numeric=RECIPE_BOUNDS,
                categorical={"salt": [normalize_category(s) for s in known_salts()]},
                what="electrolyte emulator")
    total = frame[list(CAMPAIGN_SOLVENTS)].sum(axis=1).to_numpy(float)
    bad = np.flatnonzero(np.abs(total - 1.0) > 1e-3)
    if len(bad):
        raise SimulationInputError(
            "Solvent weight fractions must sum to 1.",
            problems=[f"Row {i}: solvent fractions sum to {total[i]:.4g}." for i in bad],
            hint="Give weight fractions of the solvent mix (0-1) that add up to 1; additives go "
            "in fec_wt_pct and vc_wt_pct.",
        )
    salts = frame["salt"].map(_canonical_salt)
    features = _features(
        salts, frame["salt_molality_mol_per_kg"], frame["temperature_c"],
        _solvent_weights_with_fec(frame), known_salts(),
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):  # see _fit
        log_k = _model().predict(features)
    kappa = 10.0**log_k * (1.0 - 0.01 * frame["vc_wt_pct"].to_numpy(float))
    lce = _lce(salts, frame)
    return pd.DataFrame(
        {"ionic_conductivity_ms_per_cm": kappa, "coulombic_efficiency_pct": _ce_from_lce(lce)},
        index=recipes.index,
    )


def simulate_electrolyte(
    recipes: pd.DataFrame, *, seed: int, plate_index: int = 0, noise: bool = True
) -> pd.DataFrame:
    """Run one SIMULATED electrolyte plate (deterministic in ``(recipes, seed, plate_index)``).

    Args:
        recipes: as for :func:`true_electrolyte_response`.
        seed: campaign random seed.
        plate_index: plate number; sets the plate drift and the noise draws.
        noise: ``False`` gives the noise-free response, no drift, no failures.

    Returns:
        ``n x 5`` frame (same index): :data:`TARGETS` (NaN for failed wells), ``status``
        (``ok``, ``failed_cell``, or ``failed_synthesis`` for a recipe that breaks a physical
        limit), ``operator``, ``instrument``.
    """
    out = true_electrolyte_response(recipes)
    n = len(out)
    drift_rng = np.random.default_rng([_STREAM_DRIFT, seed, plate_index])
    operator = OPERATORS[int(drift_rng.integers(len(OPERATORS)))]
    k_drift, lce_drift = drift_rng.normal(0.0, 1.0, 2)
    status = np.full(n, "ok", dtype=object)
    if noise:
        rng = np.random.default_rng([_STREAM_WELLS, seed, plate_index])
        kappa = out["ionic_conductivity_ms_per_cm"].to_numpy(float)
        out["ionic_conductivity_ms_per_cm"] = kappa * np.exp(0.03 * rng.normal(size=n)
                                                             + 0.02 * k_drift)
        ce = out["coulombic_efficiency_pct"].to_numpy(float)
        lce = -np.log10(1.0 - ce / 100.0) + 0.04 * rng.normal(size=n) + 0.03 * lce_drift
        out["coulombic_efficiency_pct"] = _ce_from_lce(np.clip(lce, 0.7, 2.7))
        failed = rng.random(n) < FAILED_CELL_RATE
        status[failed] = "failed_cell"
        out.loc[failed, list(TARGETS)] = np.nan
        impossible = ~_physical_limits(recipes).holds(recipes.reset_index(drop=True))
        status[impossible] = "failed_synthesis"
        out.loc[out.index[impossible], list(TARGETS)] = np.nan
    out["status"] = status
    out["operator"] = operator
    out["instrument"] = INSTRUMENT
    return out


def _physical_limits(recipes: pd.DataFrame) -> physchem.RecipeLimits:
    """The declared limits (default values) for the columns these recipes have."""
    names = set(recipes.columns)
    return physchem.RecipeLimits(
        solvent_columns=tuple(c for c in physchem.SOLVENTS if c in names),
        temperature_column="temperature_c" if "temperature_c" in names else None,
        salt_column="salt" if "salt" in names else None,
        molality_column=("salt_molality_mol_per_kg" if "salt_molality_mol_per_kg" in names
                         else None),
        max_molality=tuple(sorted(physchem.SALT_SOLUBILITY_MOL_PER_KG.items())),
    )


def known_salts() -> list[str]:
    """Salt labels the emulator accepts: every salt in the cleaned CALiSol-23 data."""
    return sorted(_model_bundle()[1])


def training_frame() -> pd.DataFrame:
    """Cleaned CALiSol-23 rows on the emulator's basis (molality, weight fractions, °C).

    Rows flagged ``suspect_scale`` by the cleaning are left out. Columns: ``doi``, ``salt``,
    ``c`` (as published, in mol/kg or mol/L), ``salt_molality_mol_per_kg``, ``temperature_c``,
    one weight-fraction column per solvent
    (:data:`SOLVENTS`), ``log10_k`` (log10 of mS/cm), ``molality_estimated`` and
    ``fractions_converted`` (bools marking the approximations described in the module doc).
    """
    from campaigns.shared_dataset.calisol23 import load_clean_calisol23

    data = load_clean_calisol23()
    data = data[~data["flags"].str.contains("suspect_scale", regex=False)].reset_index(drop=True)
    names = [c for c in data.columns if c in SOLVENTS]
    frac = data[names].to_numpy(float)
    rho = np.array([SOLVENTS[c][0] for c in names])
    mass = np.array([SOLVENTS[c][1] for c in names])
    basis = data["solvent_basis"].to_numpy()
    weights = frac.copy()
    weights[basis == "v"] *= rho
    weights[basis == "m"] *= mass
    weights /= weights.sum(axis=1, keepdims=True)
    rho_mix = 1.0 / (weights / rho).sum(axis=1)  # volume-additive mixing [kg/L]
    c = data["c"].to_numpy(float)
    molar = (data["c_basis"] == "molarity").to_numpy()
    molality = np.where(molar, c / (rho_mix * (1.0 - c * SALT_VOLUME_L_PER_MOL)), c)
    out = pd.DataFrame({
        "doi": data["doi"], "salt": data["salt"], "c": c,
        "salt_molality_mol_per_kg": molality, "temperature_c": data["temperature_c"],
    })
    out[names] = weights
    for col in SOLVENTS:
        if col not in out:
            out[col] = 0.0
    out["log10_k"] = np.log10(data["ionic_conductivity_ms_per_cm"].to_numpy(float))
    out["molality_estimated"] = molar
    out["fractions_converted"] = basis != "w"
    return out


def grouped_cv_scores(*, n_splits: int = 5) -> dict[str, float]:
    """Grouped-by-paper cross-validation of the conductivity model (slow: ``n_splits`` fits).

    Returns:
        ``rmse_log10``, ``median_abs_log10`` over all rows and ``*_campaign_domain`` over held-out
        rows inside the campaign domain (five salts, -20-60 °C, 0.5-4 mol/kg, campaign solvents).
    """
    from sklearn.model_selection import GroupKFold
    from threadpoolctl import threadpool_limits

    data = training_frame()
    x = _features(data["salt"], data["salt_molality_mol_per_kg"], data["temperature_c"], data,
                  sorted(data["salt"].unique()))
    y = data["log10_k"].to_numpy()
    resid = np.empty_like(y)
    for train, test in GroupKFold(n_splits=n_splits).split(x, y, groups=data["doi"]):
        model = _fit(x.iloc[train], y[train])
        with threadpool_limits(limits=1, user_api="openmp"):  # see _fit
            resid[test] = y[test] - model.predict(x.iloc[test])
    other = [c for c in SOLVENTS if c not in CAMPAIGN_SOLVENTS]
    domain = (data["salt"].isin(CAMPAIGN_SALTS) & data["temperature_c"].between(-20, 60)
              & data["salt_molality_mol_per_kg"].between(0.5, 4.0)
              & (data[other].sum(axis=1) < 1e-9)).to_numpy()
    return {
        "rmse_log10": float(np.sqrt(np.mean(resid**2))),
        "median_abs_log10": float(np.median(np.abs(resid))),
        "rmse_log10_campaign_domain": float(np.sqrt(np.mean(resid[domain] ** 2))),
        "median_abs_log10_campaign_domain": float(np.median(np.abs(resid[domain]))),
        "n_rows": int(len(y)),
        "n_rows_campaign_domain": int(domain.sum()),
    }


# ------------------------------------------------------------------------------------ internals


def _complete(recipes: pd.DataFrame) -> pd.DataFrame:
    frame = recipes.reset_index(drop=True).copy()
    present = [c for c in CAMPAIGN_SOLVENTS if c in frame.columns]
    if present:  # missing solvents and additives mean "none"
        for col in (*CAMPAIGN_SOLVENTS, "fec_wt_pct", "vc_wt_pct"):
            if col not in frame.columns:
                frame[col] = 0.0
    if "salt" in frame.columns:
        frame["salt"] = frame["salt"].map(normalize_category)
    return frame


def _canonical_salt(value: str) -> str:
    lookup = {normalize_category(s): s for s in known_salts()}
    return lookup[normalize_category(value)]


def _solvent_weights_with_fec(frame: pd.DataFrame) -> pd.DataFrame:
    fec = frame["fec_wt_pct"].to_numpy(float) / 100.0
    weights = pd.DataFrame(0.0, index=frame.index, columns=list(SOLVENTS))
    for col in CAMPAIGN_SOLVENTS:
        weights[col] = frame[col].to_numpy(float) * (1.0 - fec)
    weights["FEC"] = fec
    return weights


def _features(salt: Sequence[str] | pd.Series, molality, temperature_c, weights,
              categories: list[str]) -> pd.DataFrame:
    """``n x 41`` model input: salt (categorical), ln(molality), °C, solvent weight fractions."""
    out = pd.DataFrame({
        "salt": pd.Categorical(np.asarray(salt), categories=categories),
        "log_molality": np.log(np.asarray(molality, float)),
        "temperature_c": np.asarray(temperature_c, float),
    })
    for col in SOLVENTS:
        out[col] = np.asarray(weights[col], float)
    return out


def _fit(x: pd.DataFrame, y: np.ndarray):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    settings = {k: v for k, v in _MODEL_SETTINGS.items() if k != "version"}
    monotone = [1 if c == "temperature_c" else 0 for c in x.columns]
    model = HistGradientBoostingRegressor(categorical_features="from_dtype",
                                          monotonic_cst=monotone, **settings)
    # One OpenMP thread: more make this fit slower on small machines (see
    # benchmarks/results/settings.md).
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.fit(x, y)


@functools.lru_cache(maxsize=1)
def _model_bundle():
    """(fitted model, salt categories), from the disk cache or fitted now (~5 s, seed 0)."""
    import joblib
    import sklearn

    from campaigns.shared_dataset.calisol23 import clean_csv_path
    from planner._cache import cache_dir, stable_hash

    digest = hashlib.sha256(clean_csv_path().read_bytes()).hexdigest()
    key = stable_hash([digest, sklearn.__version__, _MODEL_SETTINGS, sorted(SOLVENTS.items())])
    path = cache_dir("emulators") / f"electrolyte_{key}.joblib"
    if path.is_file():
        try:
            return joblib.load(path)
        except Exception:  # noqa: BLE001 - a corrupt cache file is simply rebuilt
            path.unlink(missing_ok=True)
    data = training_frame()
    salts = sorted(data["salt"].unique())
    x = _features(data["salt"], data["salt_molality_mol_per_kg"], data["temperature_c"], data,
                  salts)
    bundle = (_fit(x, data["log10_k"].to_numpy()), salts)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel test workers may race
    joblib.dump(bundle, tmp)
    tmp.replace(path)
    return bundle


def _model():
    return _model_bundle()[0]


def _lce(salts: pd.Series, frame: pd.DataFrame) -> np.ndarray:
    col = {c: frame[c].to_numpy(float) for c in (*CAMPAIGN_SOLVENTS, "fec_wt_pct", "vc_wt_pct")}
    m = frame["salt_molality_mol_per_kg"].to_numpy(float)
    t = frame["temperature_c"].to_numpy(float)
    raw = (1.05 + salts.map(lambda s: _SALT_LCE.get(s, 0.1)).to_numpy(float) + 0.55 * np.log(m)
           + 0.6 * (col["dme_frac"] + col["diglyme_frac"]) - 0.45 * col["pc_frac"]
           - 0.1 * (col["dmc_frac"] + col["emc_frac"] + col["dec_frac"])
           + 0.5 * (1.0 - np.exp(-col["fec_wt_pct"] / 3.0))
           + 0.25 * (1.0 - np.exp(-col["vc_wt_pct"] / 2.0)) - 0.03 * col["vc_wt_pct"]
           - 0.0004 * (t - 25.0) ** 2)
    lo, hi, w = 0.7, 2.7, 0.1
    y = lo + w * np.logaddexp(0.0, (raw - lo) / w)
    return hi - w * np.logaddexp(0.0, (hi - y) / w)


def _ce_from_lce(lce: np.ndarray) -> np.ndarray:
    return 100.0 * (1.0 - 10.0 ** (-np.asarray(lce, float)))
