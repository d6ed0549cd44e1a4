"""Synthetic tables that look like the data surrogates meet in practice (tests, benchmarks, docs).

Nothing here is a physical model: the trends only follow what hard-carbon papers report again
and again (see the project's domain primer), so that a model is exercised on realistic gaps,
scales and groupings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRECURSORS = ("cellulose", "lignin", "pitch", "starch", "coconut_shell", "phenolic_resin")
#: Inputs of :func:`make_hard_carbon_table`, in column order.
HARD_CARBON_INPUTS = (
    "precursor",
    "carbonization_temperature_c",
    "d002_nm",
    "la_nm",
    "lc_nm",
    "bet_ssa_m2_per_g",
    "raman_id_ig",
)
HARD_CARBON_TARGETS = ("ice_pct", "reversible_capacity_mah_per_g")
#: Standard deviation of the per-row measurement noise of each target (paper effects come on top).
HARD_CARBON_NOISE = {"ice_pct": 1.5, "reversible_capacity_mah_per_g": 15.0}


def make_hard_carbon_table(
    n_papers: int = 30, rows_per_paper: int = 6, *, seed: int = 0, missing: bool = True
) -> pd.DataFrame:
    """A literature-style hard-carbon table: rows grouped by paper, with typical gaps.

    Each paper carbonizes one or two precursors over its own temperature window and has its own
    offset on the targets (test protocol, electrolyte). BET SSA is log-normal over about
    1–2,000 m²/g; with ``missing=True`` La and Lc are missing in about half the rows (whole
    papers that did not report them, plus scattered cells), Raman and SSA in some rows, and a few
    targets are missing.

    Args:
        n_papers: number of source papers (groups).
        rows_per_paper: mean rows per paper (each paper gets 3 to twice this many).
        seed: random seed.
        missing: punch realistic gaps into the table.

    Returns:
        Frame with ``paper``, the :data:`HARD_CARBON_INPUTS` and the :data:`HARD_CARBON_TARGETS`.
    """
    rng = np.random.default_rng(seed)
    reports_size = rng.permutation(n_papers) < n_papers // 2  # half the papers give La and Lc
    frames = []
    for p in range(n_papers):
        n = int(rng.integers(3, 2 * rows_per_paper + 1))
        lo = rng.uniform(800, 1400)
        hi = min(1800.0, lo + rng.uniform(200, 700))
        chosen = rng.choice(PRECURSORS, size=int(rng.integers(1, 3)), replace=False)
        frames.append(
            pd.DataFrame(
                {
                    "paper": f"10.1000/hc.{p:03d}",
                    "precursor": rng.choice(chosen, n),
                    "carbonization_temperature_c": np.round(rng.uniform(lo, hi, n) / 50) * 50,
                    "_ice_offset": rng.normal(0, 1.5),
                    "_cap_offset": rng.normal(0, 15),
                    "_reports_xrd_size": reports_size[p],
                    "_reports_raman": rng.random() < 0.85,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    n = len(df)
    s = (df["carbonization_temperature_c"].to_numpy() - 800) / 1000  # 0..1
    prec = df["precursor"].to_numpy()
    porous = np.select(
        [prec == "coconut_shell", prec == "lignin", prec == "pitch", prec == "phenolic_resin"],
        [0.6, 0.3, -0.6, -0.2],
        0.0,
    )
    df["d002_nm"] = 0.395 - 0.025 * s + rng.normal(0, 0.002, n)
    df["la_nm"] = 3.0 + 3.0 * s + rng.normal(0, 0.25, n)
    df["lc_nm"] = 0.9 + 1.3 * s**1.5 + rng.normal(0, 0.08, n)
    log_ssa = np.clip(2.3 - 1.6 * s + porous + rng.normal(0, 0.35, n), 0.0, 3.3)
    df["bet_ssa_m2_per_g"] = 10**log_ssa
    df["raman_id_ig"] = 1.6 - 0.5 * s + rng.normal(0, 0.08, n)
    ice = (
        58
        + 24 / (1 + np.exp(-(df["carbonization_temperature_c"] - 1150) / 120))
        - 5.0 * (log_ssa - 1.0)
        + 2.0 * (prec == "pitch")
        + df["_ice_offset"]
        + rng.normal(0, HARD_CARBON_NOISE["ice_pct"], n)
    )
    cap = (
        170
        + 150 * np.exp(-(((df["carbonization_temperature_c"] - 1400) / 280) ** 2))
        + 25 * (df["raman_id_ig"] - 1.3)
        + 10 * (log_ssa - 1.5)
        + df["_cap_offset"]
        + rng.normal(0, HARD_CARBON_NOISE["reversible_capacity_mah_per_g"], n)
    )
    df["ice_pct"] = np.clip(ice, 40, 95).round(1)
    df["reversible_capacity_mah_per_g"] = np.clip(cap, 50, 450).round(0)
    if missing:
        no_size = ~df["_reports_xrd_size"].to_numpy(dtype=bool) | (rng.random(n) < 0.1)
        df.loc[no_size, "la_nm"] = np.nan
        df.loc[no_size | (rng.random(n) < 0.1), "lc_nm"] = np.nan
        df.loc[~df["_reports_raman"].to_numpy(), "raman_id_ig"] = np.nan
        df.loc[rng.random(n) < 0.1, "bet_ssa_m2_per_g"] = np.nan
        df.loc[rng.random(n) < 0.05, "ice_pct"] = np.nan
        df.loc[rng.random(n) < 0.1, "reversible_capacity_mah_per_g"] = np.nan
    columns = ["paper", *HARD_CARBON_INPUTS, *HARD_CARBON_TARGETS]
    return df[columns].copy()


def make_smooth_table(n: int = 80, *, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """``y = sin(3 x1) + x2^2 + N(0, noise^2)`` on ``[0, 1]^2``, for calibration checks."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.random(n), rng.random(n)
    y = np.sin(3 * x1) + x2**2 + rng.normal(0, noise, n)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})
