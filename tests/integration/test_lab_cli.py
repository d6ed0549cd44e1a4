"""The virtual lab and PyBaMM projections through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaigns.store import Store
from planner.cli import app

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    monkeypatch.setenv("PLANNER_DB_URL", url)
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    _run("campaign", "create", "--template", "hard-carbon", "hc")
    _run("suggest", "--campaign", "hc", "--week", "2026-W40")
    return url


def test_lab_run_fills_every_well_and_ingests(lab: str, tmp_path: Path) -> None:
    out = _run("lab", "run", "--campaign", "hc", "--out", "filled.csv", "--seed", "3")
    assert "SIMULATED" in out
    sheet = pd.read_csv(tmp_path / "filled.csv", encoding="utf-8-sig")
    ok = sheet["Status"].isna()
    assert sheet.loc[ok, "ICE [%]"].between(0, 100).all()
    assert sheet.loc[ok, "Reversible capacity [mAh/g]"].gt(0).all()
    assert set(sheet["Instrument"]) == {"virtual-lab (simulated)"}
    _run("ingest", "filled.csv", "--campaign", "hc")
    with Store.open(lab) as store:
        snap = store.snapshot("hc")
    assert len(snap.observations) == 96 and snap.pending.empty


def test_cell_project_prints_cell_numbers_for_a_measured_well(lab: str) -> None:
    _run("lab", "run", "--campaign", "hc", "--out", "filled.csv")
    _run("ingest", "filled.csv", "--campaign", "hc")
    with Store.open(lab) as store:
        obs = store.snapshot("hc").observations
    well = obs[(obs["status"] == "ok") & obs["role"].eq("sample")]["well"].iloc[0]
    out = _run("cell", "project", "--campaign", "hc", "--well", well, "--fast")
    assert well in out and "Energy 0.1C" in out and "2C/0.1C" in out
    missing = runner.invoke(app, ["cell", "project", "--campaign", "hc", "--well", "Z9"])
    assert missing.exit_code == 1 and "Z9" in missing.output and "Traceback" not in missing.output


def test_lab_refuses_campaigns_it_cannot_simulate(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'x.db'}")
    spec = tmp_path / "other.yaml"
    spec.write_text("name: other\nparameters: [{kind: continuous, name: x_c, lower: 0, upper: 1}]\n"
                    "targets: [{name: y_pct}]\nplate: {wells: 24}\n")
    _run("campaign", "create", "--spec", str(spec), "other")
    _run("suggest", "--campaign", "other")
    result = runner.invoke(app, ["lab", "run", "--campaign", "other", "--out", "o.csv"])
    assert result.exit_code == 1 and "hard-carbon" in result.output
