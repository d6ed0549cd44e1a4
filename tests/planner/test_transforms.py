"""Target transforms: which targets are modelled on a log scale, and predictions back in units."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planner.transforms import TargetTransform


def _Y() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 50.0, 900.0], "b": [1.0, 50.0, 900.0],
                         "c": [1.0, 2.0, 3.0], "d": [0.0, 50.0, 900.0]})


def test_auto_logs_only_wide_positive_minimized_targets() -> None:
    t = TargetTransform.fit(_Y(), directions=["min", "max", "min", "min"], mode="auto")
    assert t.logged == ("a",)  # b is maximized, c spans 3x, d has a zero


@pytest.mark.parametrize(("mode", "logged"), [("on", ("a", "b", "c")), ("off", ())])
def test_on_logs_every_positive_target_and_off_none(mode: str, logged: tuple) -> None:
    t = TargetTransform.fit(_Y(), directions=["min", "max", "min", "min"], mode=mode)
    assert t.logged == logged


def test_forward_threshold_and_backward() -> None:
    t = TargetTransform(("loss",))
    Y = pd.DataFrame({"loss": [0.01, 10.0, -1.0], "ice": [80.0, 81.0, 82.0]})
    out = t.forward(Y)
    assert out["loss"].iloc[:2].tolist() == [-2.0, 1.0]
    assert math.isnan(out["loss"].iloc[2])  # not positive: no value on the log scale
    assert out["ice"].tolist() == Y["ice"].tolist()
    assert t.threshold("loss", 0.1) == pytest.approx(-1.0)
    assert t.threshold("ice", 80.0) == 80.0
    mean, std = t.backward("loss", np.array([-1.0, 0.0]), np.array([0.0, 0.1]))
    assert mean[0] == pytest.approx(0.1)  # no spread: the median
    s = 0.1 * math.log(10)  # a log-normal's mean and std
    assert mean[1] == pytest.approx(math.exp(s**2 / 2))
    assert std[1] == pytest.approx(math.exp(s**2 / 2) * math.sqrt(math.expm1(s**2)))
    same = t.backward("ice", np.array([80.0]), np.array([1.0]))
    assert same[0].tolist() == [80.0] and same[1].tolist() == [1.0]
