"""The one "did you mean" (campaigns.hints) and the one JSON sanitizer (campaigns.jsonable)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from campaigns.frozen import FrozenDict
from campaigns.hints import closest, did_you_mean
from campaigns.jsonable import jsonable, plain

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "choices", "kwargs", "expected"),
    [
        pytest.param("resolutoin", ["lower", "resolution"], {}, ["resolution"], id="typo"),
        pytest.param("ICE", ["ice", "capacity"], {}, ["ice"], id="case"),
        pytest.param("Ice   pct", ["ice pct", "ice_pct"], {}, ["ice pct"], id="spacing"),
        pytest.param("b", ["a", "lab", "B"], {"cutoff": 0.5}, ["B"], id="case-beats-substring"),
        pytest.param("zzz", ["ice", "capacity"], {}, [], id="nothing-close"),
        pytest.param("dem", ["demo", "dome"], {"cutoff": 0.5, "n": 2}, ["demo", "dome"],
                     id="several"),
        pytest.param("dem", ["demo"], {"cutoff": 0.9}, [], id="cutoff"),
        pytest.param("1", [1, 2, 1], {}, ["1"], id="non-text-choices-once"),
    ],
)
def test_closest(name, choices, kwargs, expected) -> None:  # noqa: ANN001
    assert closest(name, choices, **kwargs) == expected


def test_did_you_mean_is_one_sentence_or_nothing() -> None:
    assert did_you_mean("ice_pc", ["ice_pct", "capacity"]) == "Did you mean 'ice_pct'?"
    assert did_you_mean("dem", ["demo", "dome"], n=2, cutoff=0.5) == (
        "Did you mean 'demo' or 'dome'?")
    assert did_you_mean("zzz", ["ice_pct"]) == ""


def test_jsonable_gives_plain_json_types_only() -> None:
    messy = {
        "t": np.float64(1300.0), "n": np.int64(2), "ok": np.bool_(True), "s": np.str_("LiPF6"),
        "nan": float("nan"), "inf": np.float32("inf"), "nat": pd.NaT, "na": pd.NA,
        "when": datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "day": date(2026, 3, 2),
        "stamp": pd.Timestamp("2026-03-02"), "price": Decimal("1.25"),
        "array": np.array([[1.0, np.nan]]), "tensor": torch.tensor(0.5),
        "bounds": FrozenDict({"ec_frac": (0.1, 0.6)}), 7: {"levels": {"a"}}, "other": Path("x"),
    }
    out = jsonable(messy)
    assert out == {
        "t": 1300.0, "n": 2, "ok": True, "s": "LiPF6", "nan": None, "inf": None, "nat": None,
        "na": None, "when": "2026-03-02T09:30:00+00:00", "day": "2026-03-02",
        "stamp": "2026-03-02T00:00:00", "price": 1.25, "array": [[1.0, None]], "tensor": 0.5,
        "bounds": {"ec_frac": [0.1, 0.6]}, "7": {"levels": ["a"]}, "other": "x",
    }
    assert type(out["n"]) is int and type(out["t"]) is float and type(out["ok"]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON, as PostgreSQL wants it


def test_plain_unwraps_scalars_only() -> None:
    assert type(plain(np.float64(0.5))) is float and plain(np.int64(3)) == 3
    assert plain([1, 2]) == [1, 2] and plain("text") == "text"
    array = np.array([1.0, 2.0])
    assert plain(array) is array  # arrays are not scalars


# Files that still hold their own difflib matcher: surrogates may not import campaigns (its
# own did_you_mean is the one other copy); campaigns/ingest.py is being converted separately.
_OWN_MATCHERS = {"campaigns/hints.py", "surrogates/preprocessing.py"}


def test_one_did_you_mean_and_one_json_sanitizer() -> None:
    matchers, sanitizers = set(), set()
    for package in ("campaigns", "planner", "surrogates", "dashboard"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            name = path.relative_to(ROOT).as_posix()
            if "get_close_matches" in text:
                matchers.add(name)
            if re.search(r"^def _?(jsonable|plain|json_safe)\b", text, flags=re.M):
                sanitizers.add(name)
    assert matchers <= _OWN_MATCHERS, sorted(matchers - _OWN_MATCHERS)
    assert sanitizers == {"campaigns/jsonable.py"}
