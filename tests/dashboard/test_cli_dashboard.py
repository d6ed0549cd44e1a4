"""``planner dashboard``: the command line it runs and the errors it reports (no server started)."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from planner.cli import app, ui

runner = CliRunner()


def test_streamlit_runs_headless_on_loopback_without_usage_stats() -> None:
    cmd = ui.streamlit_command(8642)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]).name == "app.py"
    assert Path(cmd[4]).is_file()
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8642"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"


def test_a_taken_port_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = runner.invoke(app, ["dashboard", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                                     "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert f"--port {port + 1}" in result.output and "Traceback" not in result.output


def test_a_bad_database_url_is_reported_before_starting() -> None:
    result = runner.invoke(app, ["dashboard", "--db", "nosuchdb://x", "--port", "1"])
    assert result.exit_code == 1
    assert "cannot use database URL" in result.output and "Hint:" in result.output
