"""The shared encoder: log scales, category codes and imputation learned from training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from surrogates.errors import InputDataError, InputDataWarning
from surrogates.preprocessing import TabularEncoder


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(800, 1800, n)
    return pd.DataFrame(
        {
            "carbonization_temperature_c": t,
            "la_nm": 3 + 3 * (t - 800) / 1000 + rng.normal(0, 0.1, n),
            "bet_ssa_m2_per_g": 10 ** rng.uniform(0, 1, n),  # not skewed, but named SSA
            "pore_volume": np.exp(rng.normal(0, 1.5, n)),  # skewed and positive
            "shift_mv": rng.lognormal(0, 1.5, n) - 1.0,  # skewed but crosses zero
            "precursor": rng.choice(["pitch", "lignin"], n),
        }
    )


def test_auto_log_scale_by_name_or_skew_of_positive_columns():
    enc = TabularEncoder(categorical=["precursor"]).fit(_frame())
    assert enc.log_columns_ == ["bet_ssa_m2_per_g", "pore_volume"]
    plain = TabularEncoder(categorical=["precursor"], log_columns=None).fit(_frame())
    assert plain.log_columns_ == []


def test_iterative_imputation_uses_correlated_inputs():
    df = _frame()
    truth = df.loc[:49, "la_nm"].copy()
    df.loc[:49, "la_nm"] = np.nan  # La follows temperature: a good imputer knows
    enc = TabularEncoder(categorical=["precursor"]).fit(df)
    Xt = enc.encode(df.head(50))
    err = np.abs(Xt[:, 1].numpy() - truth.to_numpy()).mean()
    median_err = np.abs(df["la_nm"].median() - truth.to_numpy()).mean()
    assert err < 0.3 * median_err
    assert enc.missing_columns_ == ["la_nm"]


def test_imputation_is_learned_from_training_rows_only():
    train, test = _frame(seed=1), _frame(seed=2)
    test["la_nm"] = np.nan
    a = TabularEncoder(categorical=["precursor"]).fit(train).encode(test)
    shifted = test.assign(carbonization_temperature_c=test["carbonization_temperature_c"] + 0)
    b = TabularEncoder(categorical=["precursor"]).fit(train).encode(shifted)
    torch.testing.assert_close(a, b)  # fitting never looked at the rows being encoded
    assert not torch.isnan(a).any()


def test_empty_training_column_is_filled_and_warned():
    df = _frame().assign(lc_nm=np.nan)
    with pytest.warns(InputDataWarning, match="lc_nm"):
        enc = TabularEncoder(categorical=["precursor"]).fit(df)
    assert not torch.isnan(enc.encode(df)).any()


def test_duplicate_and_unknown_categorical_columns_are_refused():
    df = _frame()
    with pytest.raises(InputDataError, match="more than once"):
        TabularEncoder().fit(pd.concat([df, df[["la_nm"]]], axis=1))
    with pytest.raises(InputDataError, match="'precurser'") as info:
        TabularEncoder(categorical=["precurser"]).fit(df)
    assert info.value.hint == "Did you mean 'precursor'?"


def test_log_columns_clamp_values_below_the_data():
    df = _frame()
    enc = TabularEncoder(categorical=["precursor"]).fit(df)
    with pytest.warns(InputDataWarning, match="log scale"):
        Xt = enc.encode(df.head(3).assign(bet_ssa_m2_per_g=0.0))
    clamped = enc.clamp_log(Xt)
    assert (clamped[:, 2] > 0).all()
    assert torch.isfinite(torch.log10(clamped[:, enc.log_indices_])).all()


def test_log_floor_reaches_down_to_the_search_spaces_lower_bound():
    df = _frame()  # bet_ssa_m2_per_g spans 1..10 in the data
    data_floor = TabularEncoder(categorical=["precursor"]).fit(df)
    space_floor = TabularEncoder(categorical=["precursor"],
                                 log_floor={"bet_ssa_m2_per_g": 0.01, "pore_volume": 0.0}).fit(df)
    low = space_floor.encode(df.head(2)).clone()
    j = space_floor.feature_names_.index("bet_ssa_m2_per_g")
    low[:, j] = torch.tensor([0.02, 0.2], dtype=torch.double)
    # A candidate two decades below the data keeps its value (the model can tell 0.02 from 0.2)
    assert space_floor.clamp_log(low)[:, j].tolist() == [0.02, 0.2]
    # ... where the data's floor (half the smallest value) makes both the same point.
    floor = 0.5 * df["bet_ssa_m2_per_g"].min()
    assert data_floor.clamp_log(low)[:, j].tolist() == [floor, floor]
    # A non-positive bound is no floor: pore_volume keeps half its smallest value.
    k = space_floor.feature_names_.index("pore_volume")
    low[:, k] = 0.0
    assert space_floor.clamp_log(low)[0, k] == 0.5 * df["pore_volume"].min()
