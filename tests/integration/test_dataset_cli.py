"""`planner dataset` end to end: publish, frictionless validate, pull, list, show, export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from frictionless import validate
from typer.testing import CliRunner

from campaigns.store import Store
from planner.cli import app
from tests.campaigns.test_shared_dataset import make_campaign

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def lab_a(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lab-a.db'}"
    with Store.open(url) as store:
        make_campaign(store, "hc-2026")
    return url


def test_publish_validate_pull_list_show_export(lab_a: str, tmp_path: Path) -> None:
    out = tmp_path / "hc-2026-package"
    text = _run("dataset", "publish", "--campaign", "hc-2026", "--out", str(out),
                "--licence", "CC-BY-4.0", "--contributor", "Ana Lima <ana@lab.example.org>",
                "--db", lab_a)
    assert "frictionless validation passed" in text
    assert validate(str(out / "datapackage.json")).valid

    lab_b = f"sqlite:///{tmp_path / 'lab-b.db'}"
    assert "empty" in _run("dataset", "list", "--db", lab_b)
    text = _run("dataset", "pull", str(out), "--as", "lab-a", "--db", lab_b)
    assert "12 new row(s)" in text
    assert "already pulled" in _run("dataset", "pull", str(out), "--as", "lab-a", "--db", lab_b)
    listing = _run("dataset", "list", "--db", lab_b)
    assert "lab-a" in listing and "CC-BY-4.0" in listing and "hard-carbon" in listing
    shown = _run("dataset", "show", "lab-a", "--db", lab_b)
    assert "Ana Lima" in shown and "d002_nm" in shown and "11 measurement" in shown

    csv = tmp_path / "prior.csv"
    _run("dataset", "export", "--source", "lab-a", "--out", str(csv), "--db", lab_b)
    frame = pd.read_csv(csv)
    assert len(frame) == 11 and {"source", "row_id", "ice_pct", "operator"} <= set(frame.columns)
    again = tmp_path / "re-shared"
    _run("dataset", "export", "--source", "lab-a", "--out", str(again), "--db", lab_b)
    assert validate(str(again / "datapackage.json")).valid


def test_refused_pull_prints_the_report_and_stores_nothing(lab_a: str, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    _run("dataset", "publish", "-c", "hc-2026", "--out", str(out), "--db", lab_a)
    frame = pd.read_csv(out / "measurements.csv")
    frame.loc[0, "ice_pct"] = 140.0  # also breaks the declared maximum
    frame.to_csv(out / "measurements.csv", index=False)
    lab_b = f"sqlite:///{tmp_path / 'lab-b.db'}"
    result = runner.invoke(app, ["dataset", "pull", str(out), "--db", lab_b])
    assert result.exit_code == 2
    assert "Refused" in result.output and "ice_pct" in result.output and "140" in result.output
    assert "empty" in _run("dataset", "list", "--db", lab_b)
    assert "1 quarantined" in _run("dataset", "pull", str(out), "--quarantine", "--db", lab_b)


def test_unit_problem_in_descriptor_is_refused(lab_a: str, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    _run("dataset", "publish", "-c", "hc-2026", "--out", str(out), "--db", lab_a)
    desc = json.loads((out / "datapackage.json").read_text())
    for f in desc["resources"][0]["schema"]["fields"]:
        if f["name"] == "d002_nm":
            f["unit"] = "parsec"
    (out / "datapackage.json").write_text(json.dumps(desc))
    lab_b = f"sqlite:///{tmp_path / 'lab-b.db'}"
    result = runner.invoke(app, ["dataset", "pull", str(out), "--dry-run", "--db", lab_b])
    assert result.exit_code == 2 and "parsec" in result.output


def _lab_x(tmp_path: Path) -> Path:
    from tests.campaigns.test_shared_dataset import LAB_X_FIELDS, _foreign, _lab_x_frame

    return _foreign(tmp_path / "lab-x", _lab_x_frame(), [dict(f) for f in LAB_X_FIELDS])


def test_hostile_packages_are_refused_with_a_hint_and_no_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("test: network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    db = f"sqlite:///{tmp_path / 'lab-b.db'}"
    pkg = _lab_x(tmp_path)
    desc = json.loads((pkg / "datapackage.json").read_text())
    desc["resources"][0]["dialect"] = "https://data.example.org/dialect.json"
    (pkg / "datapackage.json").write_text(json.dumps(desc))
    text = _run("dataset", "pull", str(pkg), "--db", db, code=2)
    assert "Refused" in text and "resources[0].dialect" in text and "Hint" in text
    assert attempts == [] and "Traceback" not in text
    text = _run("dataset", "pull", str(pkg), "--dry-run", "--db", db, code=2)
    assert "resources[0].dialect" in text and attempts == []

    del desc["resources"][0]["dialect"]
    (pkg / "datapackage.json").write_text(json.dumps(desc))
    monkeypatch.setenv("PLANNER_MAX_RESOURCE_MB", "0.0001")  # 100 bytes: every file is larger
    text = _run("dataset", "pull", str(pkg), "--db", db, code=1)
    assert "Error:" in text and "more than the limit of 100 bytes" in text
    assert "PLANNER_MAX_RESOURCE_MB" in text and "Traceback" not in text
    monkeypatch.delenv("PLANNER_MAX_RESOURCE_MB")

    (pkg / "data.csv").write_text((pkg / "data.csv").read_text().splitlines()[0] + "\n")
    text = _run("dataset", "pull", str(pkg), "--db", db, code=2)
    assert "holds no rows" in text and "Hint" in text
    assert "empty" in _run("dataset", "list", "--db", db)


def test_a_package_with_a_taken_name_needs_a_name_of_its_own_or_replace_source(
        tmp_path: Path) -> None:
    from tests.campaigns.test_shared_dataset import LAB_X_FIELDS, _foreign, _lab_x_frame

    db = f"sqlite:///{tmp_path / 'lab-b.db'}"
    _run("dataset", "pull", str(_lab_x(tmp_path)), "--db", db)
    impostor = _foreign(tmp_path / "impostor", _lab_x_frame().assign(ICE=0.5),
                        [dict(f) for f in LAB_X_FIELDS], title="Somebody else's carbons")
    text = _run("dataset", "pull", str(impostor), "--db", db, code=2)
    assert "already holds another package" in text and "--replace-source" in text
    assert "Traceback" not in text and "Lab X hard carbons" in _run("dataset", "show", "lab-x",
                                                                   "--db", db)
    assert "3 new row(s)" in _run("dataset", "pull", str(impostor), "--name", "somebody",
                                  "--db", db)
    text = _run("dataset", "pull", str(impostor), "--replace-source", "--db", db)
    assert "3 updated" in text and "earlier values are kept" in text
    assert "Changed the source's title" in text
    csv = tmp_path / "history.csv"
    _run("dataset", "export", "--source", "lab-x", "--include-superseded", "--out", str(csv),
         "--include-duplicates", "--db", db)  # the new values duplicate source "somebody"
    history = pd.read_csv(csv)
    assert sorted(history["ice_pct"]) == [50.0, 50.0, 50.0, 71.0, 80.0, 86.0]
    assert history["current"].tolist() == [False, False, False, True, True, True]
