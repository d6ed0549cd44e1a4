"""`planner data`: list uploads, retract a wrong one, correct and retract single values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from campaigns.store import Store
from tests.integration.test_cli_roundtrip import _fill, _run, demo  # noqa: F401


def test_retract_a_wrong_upload_and_correct_a_value(demo: tuple[str, Path]) -> None:  # noqa: F811
    url, tmp = demo
    sheet = tmp / "plate.csv"
    _run("plate", "template", "--campaign", "demo", "--out", str(sheet))
    filled = _fill(sheet)
    _run("ingest", str(sheet), "--campaign", "demo")
    out = _run("data", "uploads", "--campaign", "demo")
    assert "plate.csv" in out and "retracted" in out

    with Store.open(url) as store:
        upload_id = int(store.uploads("demo")["upload_id"].iloc[0])
        batch_id = store.batch("demo").id
        n_values = len(store.measurements("demo"))
    assert n_values > 0

    out = _run("data", "retract", "--campaign", "demo", "--upload", str(upload_id),
               "--reason", "sheet of another plate")
    assert f"{n_values} value(s) withdrawn" in out
    out = _run("data", "retract", "--campaign", "demo", "--upload", str(upload_id),
               "--reason", "again", code=1)
    assert "already" in out

    first = filled.iloc[0]
    out = _run("data", "correct", "--campaign", "demo", "--batch", str(batch_id), "--well",
               first["Well"], "--quantity", "ice_pct", "--value", "81.5", "--reason", "re-read")
    assert "ice_pct = 81.5" in out
    out = _run("data", "correct", "--campaign", "demo", "--batch", str(batch_id), "--well",
               first["Well"], "--quantity", "ice_pct", "--value", "0.815", "--reason", "x",
               code=0)  # possible (0–100 %) although unusual: a correction is explicit
    out = _run("data", "correct", "--campaign", "demo", "--batch", str(batch_id), "--well",
               first["Well"], "--quantity", "ice_pct", "--value", "181", "--reason", "x", code=1)
    assert "possible range" in out
    _run("data", "retract-value", "--campaign", "demo", "--batch", str(batch_id), "--well",
         first["Well"], "--quantity", "ice_pct", "--reason", "leaked cell")

    with Store.open(url) as store:
        current = store.measurements("demo")
        history = store.measurements("demo", include_superseded=True)
        actions = store.audit_log("demo")["action"].tolist()
    assert current.empty  # everything withdrawn, …
    assert len(history) == 2 * n_values + 3  # … and nothing deleted
    assert (history["status"] == "retracted").sum() == n_values + 1
    assert actions.count("upload.retract") == 1 and actions.count("measurement.correct") == 2
    long = tmp / "long.csv"
    _run("export", "--campaign", "demo", "--out", str(long), "--long")
    assert "retracted" in set(pd.read_csv(long)["status"])
