"""The `planner` CLI acts as a signed-in user once a database has accounts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from campaigns import auth
from campaigns.store import Store
from planner.cli import app
from tests.integration.test_cli_roundtrip import _fill

runner = CliRunner()
PASSWORD = {"ada": "ada-admin-pass", "vic": "viewer-pass-1", "chem": "chemist-pass-1",
            "own": "owner-pass-11", "noa": "no-role-pass"}


def _cli(*args: str, code: int = 0, user: str | None = None, password: str | None = None,
         **env: str | None) -> str:
    """Run ``planner ARGS`` as ``user`` (its password unless another is given)."""
    env = {"PLANNER_USER": user, "PLANNER_PASSWORD": password or PASSWORD.get(user or ""),
           **env}
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """Campaign demo with a plate, made before any account; then ada (admin), vic (viewer),
    chem (chemist), own (owner) and noa (no role)."""
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)  # cheap hashes: many sign-ins below
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PLANNER_DB_URL", url)
    for var in ("PLANNER_USER", "PLANNER_PASSWORD", "PLANNER_NEW_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    _cli("campaign", "create", "--template", "hard-carbon", "demo")
    _cli("suggest", "--campaign", "demo", "--week", "2026-W47")
    out = _cli("user", "add", "ada", PLANNER_NEW_PASSWORD=PASSWORD["ada"])
    assert "first account" in out and "admin" in out
    for name in ("vic", "chem", "own", "noa"):
        _cli("user", "add", name, user="ada", PLANNER_NEW_PASSWORD=PASSWORD[name])
    for name, role in (("vic", "viewer"), ("chem", "chemist"), ("own", "owner")):
        _cli("user", "grant", name, "--campaign", "demo", "--role", role, user="ada")
    _cli("plate", "template", "--campaign", "demo", "--out", "plate.csv")  # a read: anyone
    _fill(tmp_path / "plate.csv")
    return url, tmp_path


def test_a_viewer_cannot_upload_and_a_chemist_can_whatever_logname_says(
        lab: tuple[str, Path]) -> None:
    url, _ = lab
    out = _cli("ingest", "plate.csv", "--campaign", "demo", code=3, user="vic")
    assert "vic may not upload results in campaign 'demo'" in out
    assert "needs the chemist role" in out and "vic is a viewer there" in out
    assert "Hint:" in out and "planner user grant vic --campaign demo --role chemist" in out
    with Store.open(url) as store:
        assert store.uploads("demo").empty

    out = _cli("ingest", "plate.csv", "--campaign", "demo", user="chem",
               LOGNAME="Dr. Somebody Else", USER="Dr. Somebody Else")
    assert "Stored" in out
    with Store.open(url) as store:
        assert store.uploads("demo")["uploaded_by"].tolist() == ["chem"]
        last = store.audit_log("demo").iloc[-1]
    assert (last["actor"], last["action"]) == ("chem", "measurements.ingest")


def test_writes_need_a_signed_in_user_with_the_right_password(lab: tuple[str, Path]) -> None:
    out = _cli("ingest", "plate.csv", "--campaign", "demo", code=3, LOGNAME="chem")
    assert "nobody is signed in" in out and "PLANNER_USER" in out
    out = _cli("ingest", "plate.csv", "--campaign", "demo", code=3, user="chem",
               password="not-the-password")
    assert "wrong user name or password" in out
    out = _cli("--user", "chem", "ingest", "plate.csv", "--campaign", "demo", code=3,
               PLANNER_PASSWORD=None)  # no terminal to type it in
    assert "PLANNER_PASSWORD" in out
    out = _cli("--user", "chem", "ingest", "plate.csv", "--campaign", "demo",
               PLANNER_PASSWORD=PASSWORD["chem"])  # --user works like PLANNER_USER
    assert "Stored" in out
    assert "--password" not in _cli("user", "add", "--help")  # never on the command line


def test_a_viewer_cannot_suggest_a_chemist_cannot_edit_the_spec_an_owner_can(
        lab: tuple[str, Path]) -> None:
    out = _cli("suggest", "--campaign", "demo", "--week", "2026-W48", code=3, user="vic")
    assert "needs the chemist role" in out
    out = _cli("campaign", "warm-start", "demo", "--off", code=3, user="chem")
    assert "chem may not edit the spec" in out and "needs the owner role" in out
    _cli("campaign", "warm-start", "demo", "--off", user="own")
    out = _cli("user", "grant", "noa", "--campaign", "demo", "--role", "chemist", code=3,
               user="chem")
    assert "grant roles" in out
    assert "now chemist" in _cli("user", "grant", "noa", "--campaign", "demo", "--role",
                                 "chemist", user="own")
    _cli("suggest", "--campaign", "demo", "--week", "2026-W48", user="noa")
    assert "no longer chemist" in _cli("user", "revoke", "noa", "--campaign", "demo",
                                       user="own")


def test_accounts_are_added_by_admins_and_listed(lab: tuple[str, Path]) -> None:
    out = _cli("user", "add", "eve", code=3, PLANNER_NEW_PASSWORD="eve-password")
    assert "nobody is signed in" in out
    out = _cli("user", "add", "eve", code=3, user="own", PLANNER_NEW_PASSWORD="eve-password")
    assert "needs an admin" in out
    _cli("user", "add", "eve", user="ada", PLANNER_NEW_PASSWORD="eve-password")
    listing = _cli("user", "list")
    assert "demo: chemist" in listing and "eve" in listing
    _cli("user", "passwd", user="eve", password="eve-password",
         PLANNER_NEW_PASSWORD="eve-new-password")
    _cli("user", "passwd", "vic", code=3, user="eve", password="eve-new-password",
         PLANNER_NEW_PASSWORD="eve-sets-vic")
    _cli("user", "list", user="eve", password="eve-new-password")


def test_audit_list_and_verify(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    _cli("ingest", "plate.csv", "--campaign", "demo", user="chem")
    out = _cli("audit", "list", "--campaign", "demo")
    assert "measurements.ingest" in out and "role.grant" in out
    _cli("audit", "list", "--campaign", "demo", "--user", "chem", "--csv", "audit.csv")
    with (tmp / "audit.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["actor"], r["action"]) for r in rows] == [("chem", "measurements.ingest")]
    assert '"upload_id"' in rows[0]["detail"]

    out = _cli("audit", "verify")
    assert "Audit log intact" in out
    head = out.split("sha256 ")[1].split()[0]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'vic' "
                             "WHERE action = 'measurements.ingest'"))
    engine.dispose()
    out = _cli("audit", "verify", "--expect", head, code=1)
    assert "Audit log broken" in out and "measurements.ingest by 'vic'" in out
    assert "changed after it was written" in out
