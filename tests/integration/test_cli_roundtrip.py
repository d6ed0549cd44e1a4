"""The acceptance path of the foundation, through the real `planner` CLI on SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from campaigns.store import Store
from planner.cli import app
from planner.cli._common import reflow

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PLANNER_DB_URL", url)
    monkeypatch.chdir(tmp_path)
    _run("campaign", "create", "--template", "hard-carbon", "demo")
    out = _run("suggest", "--campaign", "demo", "--week", "2026-W47")
    assert "space-filling" in out
    return url, tmp_path


def _fill(path: Path, seed: int = 0) -> pd.DataFrame:
    sheet = pd.read_csv(path, dtype=str)
    rng = np.random.default_rng(seed)
    n = len(sheet)
    sheet["ICE [%]"] = rng.uniform(60, 90, n).round(1).astype(str)
    sheet["Reversible capacity [mAh/g]"] = rng.uniform(200, 350, n).round(0).astype(str)
    sheet["d002 [nm]"] = rng.uniform(0.36, 0.40, n).round(4).astype(str)
    sheet["BET SSA [m²/g]"] = np.exp(rng.uniform(0, 6, n)).round(1).astype(str)
    sheet["Operator"] = "ana"
    sheet["Instrument"] = "BioLogic VMP3"
    sheet.loc[4, ["ICE [%]", "Reversible capacity [mAh/g]", "d002 [nm]", "BET SSA [m²/g]"]] = ""
    sheet.loc[4, "Status"] = "failed_synthesis"
    sheet.to_csv(path, index=False)
    return sheet


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_create_suggest_template_fill_ingest(demo: tuple[str, Path], suffix: str) -> None:
    url, tmp = demo
    sheet_path = tmp / f"plate{suffix}"
    _run("plate", "template", "--campaign", "demo", "--out", str(sheet_path))
    csv = tmp / "plate.csv"
    if suffix == ".xlsx":
        pd.read_excel(sheet_path, dtype=str).to_csv(csv, index=False)
    filled = _fill(csv)
    if suffix == ".xlsx":
        filled.to_excel(sheet_path, index=False)
    out = _run("ingest", str(sheet_path), "--campaign", "demo")
    assert "Stored" in out and "completed" in out
    with Store.open(url) as store:
        stored = store.measurements("demo")
        snap = store.snapshot("demo")
    # every filled value is stored, with provenance
    n_values = sum(filled[c].replace("", np.nan).notna().sum() for c in
                   ["ICE [%]", "Reversible capacity [mAh/g]", "d002 [nm]", "BET SSA [m²/g]"])
    assert (stored["quantity"] != "status").sum() == n_values
    assert set(stored["operator"]) == {"ana"}
    assert stored["source_file_sha256"].str.len().eq(64).all()
    a2 = filled.set_index("Well").loc["A2"]
    row = stored[(stored["well"] == "A2") & (stored["quantity"] == "ice_pct")].iloc[0]
    assert row["value"] == pytest.approx(float(a2["ICE [%]"]))
    failed_well = filled.loc[4, "Well"]
    assert snap.observations.set_index("well").loc[failed_well, "status"] == "failed_synthesis"
    # the same file again is a no-op and says so
    again = _run("ingest", str(sheet_path), "--campaign", "demo")
    assert "already uploaded" in again
    with Store.open(url) as store:
        assert len(store.measurements("demo", include_superseded=True)) == len(stored)


def test_five_mistakes_one_report_and_no_change(demo: tuple[str, Path]) -> None:
    url, tmp = demo
    path = tmp / "bad.csv"
    _run("plate", "template", "--campaign", "demo", "--out", str(path))
    sheet = pd.read_csv(path, dtype=str)
    sheet["ICE [%]"] = "0.81"                                   # 1: ICE as a fraction
    sheet["d002 [nm]"] = "3.8"                                  # 2: d002 in Å
    sheet = sheet.rename(columns={"Reversible capacity [mAh/g]": "Reversible capacty [mAh/g]"})  # 3
    sheet.loc[5, "Well"] = "J13"                                # 4: well outside the plate
    sheet.loc[7, "Well"] = "A2"                                 # 5: duplicated well
    sheet.to_csv(path, index=False)
    result = runner.invoke(app, ["ingest", str(path), "--campaign", "demo"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    for needle in ("fraction", "Å", "did you mean", "J13", "twice"):
        assert needle.lower() in text.lower(), needle
    with Store.open(url) as store:
        assert store.measurements("demo", include_superseded=True).empty


def test_commands_have_help() -> None:
    for args in (["--help"], ["campaign", "create", "--help"], ["suggest", "--help"],
                 ["plate", "template", "--help"], ["ingest", "--help"], ["export", "--help"],
                 ["campaign", "list", "--help"], ["campaign", "show", "--help"],
                 ["campaign", "warm-start", "--help"]):
        assert "Usage" in _run(*args)


def test_reflow_joins_wrapped_lines_but_keeps_paragraphs_and_lists() -> None:
    doc = """First line.

    A wrapped
    paragraph.

    Items:
    - one
      continued
    2. two
    """
    assert reflow(doc) == ("First line.\n\nA wrapped paragraph.\n\n"
                           "Items:\n- one\n  continued\n2. two")


def test_help_paragraphs_are_not_cut_at_the_docstrings_line_breaks() -> None:
    out = runner.invoke(app, ["backtest", "--help"], env={"COLUMNS": "200"}).output
    # The docstring wraps after "proposes batches from the"; the help must not.
    assert "proposes batches from the distinct rows of the table" in " ".join(out.split())
    lines = [line.strip() for line in out.splitlines()]
    assert not any(line.endswith("batches from the") for line in lines)


def test_errors_are_messages_not_tracebacks(demo: tuple[str, Path]) -> None:
    result = runner.invoke(app, ["suggest", "--campaign", "dmeo"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "did you mean 'demo'" in result.output.lower()
    result = runner.invoke(app, ["suggest", "--campaign", "demo", "--week", "2026-W60"])
    assert result.exit_code == 1 and "ISO week" in result.output


def test_suggest_is_idempotent_per_week(demo: tuple[str, Path]) -> None:
    url, _ = demo
    out = _run("suggest", "--campaign", "demo", "--week", "2026-W47")
    assert "already exists" in out
    with Store.open(url) as store:
        assert len(store.batches("demo")) == 1
    _run("suggest", "--campaign", "demo", "--week", "2026-W47", "--force")
    with Store.open(url) as store:
        assert len(store.batches("demo")) == 1
        assert len(store.batches("demo", include_discarded=True)) == 2


def test_export_writes_provenance(demo: tuple[str, Path]) -> None:
    _, tmp = demo
    path = tmp / "p.csv"
    _run("plate", "template", "--campaign", "demo", "--out", str(path))
    _fill(path)
    _run("ingest", str(path), "--campaign", "demo")
    _run("export", "--campaign", "demo", "--out", str(tmp / "e.xlsx"))
    exported = pd.read_excel(tmp / "e.xlsx")
    assert {"operator", "source_file_sha256", "generator", "seed",
            "ice_pct"} <= set(exported.columns)
    assert len(exported) == 96


def test_warm_start_switch(demo: tuple[str, Path]) -> None:
    url, _ = demo
    # No shared source is pulled yet: naming one is refused with a hint, nothing changes.
    result = runner.invoke(app, ["campaign", "warm-start", "demo", "--source", "calisol23"])
    assert result.exit_code == 1 and "planner dataset" in result.output
    with Store.open(url) as store:
        assert store.spec("demo").warm_start is None
    out = _run("campaign", "warm-start", "demo", "--mode", "prior_mean", "--max-prior-rows", "50")
    assert "warm start on" in out
    with Store.open(url) as store:
        ws = store.spec("demo").warm_start
        assert (ws.sources, ws.mode, ws.max_prior_rows) == ((), "prior_mean", 50)
        last = store.audit_log("demo").iloc[-1]
        assert last["action"] == "campaign.update_spec"
        assert "warm_start" in last["detail"]["new_spec_yaml"]
    assert "Warm start: prior_mean" in _run("campaign", "show", "demo")
    bad = runner.invoke(app, ["campaign", "warm-start", "demo", "--mode", "transfer"])
    assert bad.exit_code == 1 and "mode" in bad.output
    _run("campaign", "warm-start", "demo", "--off")
    with Store.open(url) as store:
        assert store.spec("demo").warm_start is None
