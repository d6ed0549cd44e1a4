"""``planner dashboard --address``: loopback by default, and no other address without sign-in
(no server is started: the refusal comes first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from campaigns import auth
from campaigns.store import Store
from planner.cli import app, ui
from planner.errors import PlanningError

runner = CliRunner()

SECRETS = """
[auth]
redirect_uri = "http://lab-server:8501/oauth2callback"
cookie_secret = "a-long-random-string-of-32-chars"

[auth.keycloak]
client_id = "planner"
client_secret = "secret"
server_metadata_url = "https://id.lab.org/realms/lab/.well-known/openid-configuration"
"""


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No secrets.toml where Streamlit would look (home, working directory)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", "::", "lab-server"])
def test_a_public_address_without_accounts_is_refused(tmp_path: Path, no_secrets: None,
                                                      address: str) -> None:
    url = f"sqlite:///{tmp_path / 'open.db'}"
    result = runner.invoke(app, ["dashboard", "--db", url, "--address", address, "--port", "1"])
    assert result.exit_code == 1, result.output
    assert f"refusing to serve the dashboard on {address}" in result.output
    assert "no user accounts" in result.output
    assert "planner user add NAME" in result.output and "Traceback" not in result.output


def test_accounts_or_a_provider_allow_a_public_address() -> None:
    ui.check_exposure("0.0.0.0", has_users=True, oidc=False)
    ui.check_exposure("0.0.0.0", has_users=False, oidc=True)
    with pytest.raises(PlanningError, match="refusing to serve the dashboard on 0.0.0.0"):
        ui.check_exposure("0.0.0.0", has_users=False, oidc=False)


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("lab-server", False)])
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert ui.is_loopback(address) is loopback


def test_the_server_listens_on_the_chosen_address() -> None:
    flags = dict(zip(*[iter(ui.streamlit_command(8642)[5:])] * 2, strict=True))
    assert flags["--server.address"] == "127.0.0.1"
    flags = dict(zip(*[iter(ui.streamlit_command(8642, address="0.0.0.0")[5:])] * 2,
                     strict=True))
    assert flags["--server.address"] == "0.0.0.0" and flags["--server.port"] == "8642"


def test_a_database_with_accounts_gets_past_the_check(tmp_path: Path, no_secrets: None) -> None:
    """With an account, --address 0.0.0.0 is accepted: the command goes on to the port check
    (a port that cannot be bound stops it before a server starts)."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    with Store.open(url) as store:
        auth.add_user(store, "ada", "admin-pass-123")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ui, "port_free", lambda port, address="": False)
        result = runner.invoke(app, ["dashboard", "--db", url, "--address", "0.0.0.0"])
    assert result.exit_code == 1
    assert "refusing" not in result.output
    assert "port 8501 on 0.0.0.0 is already in use" in result.output


@pytest.fixture
def authlib(monkeypatch: pytest.MonkeyPatch):
    """``authlib(True/False)``: make the authlib package look installed or missing."""
    import importlib.util

    real = importlib.util.find_spec

    def pretend(installed: bool) -> None:
        def find_spec(name: str, *args):
            if name == "authlib":
                return real("json") if installed else None
            return real(name, *args)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return pretend


def test_an_oidc_block_counts_as_sign_in(tmp_path: Path, authlib) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(SECRETS)
    authlib(True)
    assert ui.oidc_configured([tmp_path / "missing.toml", secrets]) is True


def test_an_oidc_block_without_authlib_is_an_error(tmp_path: Path, authlib) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(SECRETS)
    authlib(False)
    with pytest.raises(PlanningError, match="authlib package .* is not installed") as info:
        ui.oidc_configured([secrets])
    assert "battery-bo-planner[oidc]" in info.value.hint


@pytest.mark.parametrize("text", [
    "",
    "[auth]\nredirect_uri = 'http://x:8501/oauth2callback'\n",  # no cookie secret, no provider
    SECRETS.replace('client_secret = "secret"\n', ""),  # an incomplete provider
    "[server]\nport = 8501\n",
], ids=["empty", "no-provider", "incomplete-provider", "no-auth-block"])
def test_an_incomplete_oidc_block_does_not_count(tmp_path: Path, text: str) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(text)
    assert ui.oidc_configured([secrets]) is False


def test_a_broken_secrets_file_is_reported(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[auth\nredirect_uri = ")
    with pytest.raises(PlanningError, match=f"cannot read {secrets}"):
        ui.oidc_configured([secrets])


def test_secrets_are_looked_up_where_streamlit_reads_them(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    files = ui.secrets_files()
    assert files[:2] == [tmp_path / "home" / ".streamlit" / "secrets.toml",
                         tmp_path / ".streamlit" / "secrets.toml"]
    assert files[-1] == ui.app_path().parent / ".streamlit" / "secrets.toml"
