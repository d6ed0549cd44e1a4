"""``planner dashboard``: the Streamlit app chemists use every week, on the CLI's database.

The CLI never imports the dashboard: it runs ``streamlit run dashboard/app.py`` as a child
process, bound to 127.0.0.1, headless, without usage statistics, and hands it the database URL
through ``$PLANNER_DB_URL``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from planner.cli._common import DbOption, console, open_store, report_errors

HOST = "127.0.0.1"


def app_path() -> Path:
    """Path of ``dashboard/app.py`` (found without importing the dashboard package)."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        from planner.errors import PlanningError

        raise PlanningError("the dashboard package is not installed.",
                            hint="Re-run `bash scripts/install.sh`.")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def streamlit_command(port: int) -> list[str]:
    """The ``streamlit run`` command line of the dashboard on ``127.0.0.1:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address", HOST, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false", "--theme.base", "light",
        "--client.toolbarMode", "minimal", "--server.maxUploadSize", "50",
        "--theme.primaryColor", "#1f6f8b", "--runner.magicEnabled", "false",
    ]


def port_free(port: int) -> bool:
    """Whether ``127.0.0.1:port`` can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def start_dashboard(db_url: str, *, port: int = 8501,
                    quiet: bool = False) -> subprocess.Popen[bytes]:
    """Start the dashboard server as a child process and return it (for the demo and tests).

    Args:
        db_url: SQLAlchemy URL of the campaign database (password included; it is passed in the
            environment, never on the command line).
        port: Loopback port.
        quiet: Send the server's output to ``/dev/null`` instead of this terminal.

    Raises:
        PlanningError: The port is taken.
    """
    from planner.errors import PlanningError

    if not port_free(port):
        raise PlanningError(f"port {port} on {HOST} is already in use.",
                            hint="Stop the other dashboard, or choose another port: "
                                 f"--port {port + 1}.")
    env = {**os.environ, "PLANNER_DB_URL": db_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(streamlit_command(port), env=env, stdout=out, stderr=out)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_dashboard(db_url: str, *, port: int = 8501) -> int:
    """Serve the dashboard until Ctrl+C (or SIGTERM); returns the server's exit code.

    Stopping this process stops the server too: it never outlives the command.
    """
    proc = start_dashboard(db_url, port=port)
    console.print(f"Dashboard: [bold]http://{HOST}:{port}[/]  (Ctrl+C stops it)")
    main = threading.current_thread() is threading.main_thread()  # signals only work there
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


@report_errors
def dashboard(
    db: DbOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.", min=1, max=65535)] = 8501,
) -> None:
    """Open the dashboard: plates, uploads, progress and insight in the browser."""
    from campaigns.store import default_url

    url = db or default_url()
    store = open_store(url)  # migrate (and report a bad URL) before the server starts
    console.print(f"Database: {store.url}")
    store.close()
    code = run_dashboard(url, port=port)
    if code not in (0, -15):
        raise typer.Exit(code=code)


def register(app: typer.Typer) -> None:
    """Add ``planner dashboard`` to the top-level app."""
    app.command("dashboard")(dashboard)
