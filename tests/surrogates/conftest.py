"""Shared data and settings for the surrogate tests: small, literature-like, fast."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from surrogates import make_surrogate
from surrogates.base import Surrogate
from surrogates.datasets import HARD_CARBON_INPUTS, HARD_CARBON_TARGETS, make_hard_carbon_table

MODELS = ("gp", "ensemble", "rf")
#: Few iterations, members and trees: the real stack, sized for a unit test.
FAST: dict[str, dict] = {
    "gp": {"max_iter": 60},
    "ensemble": {"n_members": 5, "max_steps": 300},
    "rf": {"n_estimators": 60},
}
INPUTS = list(HARD_CARBON_INPUTS)
TARGETS = list(HARD_CARBON_TARGETS)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Tiny matrices: extra OpenMP threads only add contention on a 2-core CI machine.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def fast_model(name: str, **kwargs) -> Surrogate:
    """An unfitted surrogate with unit-test settings."""
    options = {"categorical": ("precursor",), "seed": 0, **FAST[name], **kwargs}
    return make_surrogate(name, **options)


@pytest.fixture(scope="session")
def hard_carbon() -> pd.DataFrame:
    """~80 rows from 14 papers; La/Lc missing in about half the rows, SSA log-normal."""
    return make_hard_carbon_table(14, 5, seed=3)


@pytest.fixture(scope="session")
def fitted(hard_carbon) -> dict[str, Surrogate]:
    """One fitted surrogate per kind on the hard-carbon table (fitted once per session)."""
    X, Y = hard_carbon[INPUTS], hard_carbon[TARGETS]
    out = {}
    for name in MODELS:
        with pytest.warns(UserWarning, match="Rows without a target value"):
            out[name] = fast_model(name).fit(X, Y)
    return out
