"""Synthetic campaign snapshots for the proposal tests (no database: built directly)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from campaigns.snapshot import CampaignSnapshot
from campaigns.spec import CampaignSpec
from campaigns.templates import load_template
from planner.design import space_filling_design

PRECURSOR_ICE = {"cellulose": 2.0, "lignin": -1.0, "pitch": 4.0, "starch": -2.0,
                 "coconut_shell": -3.0, "phenolic_resin": 3.0}


def hard_carbon_truth(recipes: pd.DataFrame) -> pd.DataFrame:
    """Smooth synthetic ICE [%] and capacity [mAh/g] that trade off (higher T: ICE up, capacity
    peaks near 1300 °C; doping: capacity up, ICE down)."""
    u = (recipes["carbonization_temperature_c"].to_numpy(float) - 800.0) / 1000.0
    n = recipes["n_doping_at_pct"].to_numpy(float)
    s = recipes["s_doping_at_pct"].to_numpy(float)
    rate = recipes["heating_rate_c_per_min"].to_numpy(float)
    prec = recipes["precursor"].astype(str).map(PRECURSOR_ICE).to_numpy(float)
    ice = 62.0 + 24.0 * u - 0.9 * n - 0.6 * s - 0.2 * rate + prec
    cap = 250.0 + 90.0 * np.exp(-((u - 0.5) / 0.3) ** 2) + 6.0 * n + 4.0 * s - 2.0 * prec
    plateau = 100.0 * np.exp(-((u - 0.5) / 0.3) ** 2)
    return pd.DataFrame({"ice_pct": ice, "reversible_capacity_mah_per_g": cap,
                         "plateau_capacity_mah_per_g": plateau}, index=recipes.index)


def observations(spec: CampaignSpec, recipes: pd.DataFrame, targets: pd.DataFrame,
                 status: list[str] | np.ndarray | None = None, *,
                 batch_id: int = 1) -> pd.DataFrame:
    """An observations frame as :class:`CampaignSnapshot` holds it."""
    n = len(recipes)
    obs = recipes.reset_index(drop=True).copy()
    obs.insert(0, "batch_id", batch_id)
    obs.insert(1, "iso_week", "2026-W01")
    obs.insert(2, "well", [f"W{i}" for i in range(n)])
    obs.insert(3, "role", "sample")
    for d in spec.descriptors:
        obs[d.name] = np.nan
    for t in spec.targets:
        obs[t.name] = targets[t.name].to_numpy(float) if t.name in targets else np.nan
    obs["status"] = list(status) if status is not None else ["ok"] * n
    failed = obs["status"].isin(["failed_synthesis", "failed_cell"])
    obs.loc[failed, [t.name for t in spec.targets]] = np.nan
    return obs


def pending_frame(recipes: pd.DataFrame, *, batch_id: int = 2) -> pd.DataFrame:
    pend = recipes.reset_index(drop=True).copy()
    pend.insert(0, "batch_id", batch_id)
    pend.insert(1, "well", [f"P{i}" for i in range(len(pend))])
    pend.insert(2, "role", "sample")
    return pend


def snapshot(spec: CampaignSpec, obs: pd.DataFrame | None = None,
             pending: pd.DataFrame | None = None, library: pd.DataFrame | None = None,
             revision: int = 1) -> CampaignSnapshot:
    return CampaignSnapshot(
        spec=spec,
        revision=revision if obs is not None and len(obs) else 0,
        observations=obs if obs is not None else pd.DataFrame(),
        pending=pending if pending is not None else pd.DataFrame(columns=spec.input_names),
        library=library,
    )


def hard_carbon_snapshot(n: int = 24, *, seed: int = 0, spec: CampaignSpec | None = None,
                         noise: float = 0.5) -> CampaignSnapshot:
    """``n`` space-filling hard-carbon recipes measured with the synthetic truth."""
    spec = spec or load_template("hard-carbon", name="test")
    X = space_filling_design(spec, n, seed=seed)
    Y = hard_carbon_truth(X)
    Y += np.random.default_rng(seed).normal(0.0, noise, Y.shape)
    return snapshot(spec, observations(spec, X, Y))


def electrolyte_truth(recipes: pd.DataFrame) -> pd.DataFrame:
    """Smooth synthetic conductivity [mS/cm] and CE [%]."""
    m = recipes["salt_molality_mol_per_kg"].to_numpy(float)
    t = recipes["temperature_c"].to_numpy(float)
    dmc = recipes["dmc_frac"].to_numpy(float)
    ec = recipes["ec_frac"].to_numpy(float)
    fec = recipes["fec_wt_pct"].to_numpy(float)
    cond = 10.0 * m * np.exp(-0.6 * m) * (1 + 0.015 * t) * (0.6 + 0.8 * dmc + 0.3 * ec)
    ce = 95.0 + 0.3 * fec - 0.03 * (fec - 5.0) ** 2 + 2.0 * ec - 0.5 * m
    return pd.DataFrame({"ionic_conductivity_ms_per_cm": cond, "coulombic_efficiency_pct": ce},
                        index=recipes.index)


def electrolyte_snapshot(n: int = 20, *, seed: int = 0) -> CampaignSnapshot:
    spec = load_template("electrolyte", name="test-electrolyte")
    X = space_filling_design(spec, n, seed=seed)
    return snapshot(spec, observations(spec, X, electrolyte_truth(X)))
