"""``planner dashboard``: the Streamlit app chemists use every week, on the CLI's database.

The CLI never imports the dashboard: it runs ``streamlit run dashboard/app.py`` as a child
process, headless, without usage statistics, and hands it the database URL through
``$PLANNER_DB_URL``. It listens on 127.0.0.1 unless ``--address`` says otherwise, and refuses
any other address while the dashboard has no sign-in (no user accounts in the database and no
OpenID Connect provider in ``.streamlit/secrets.toml``): anyone on the network could otherwise
upload, correct and edit specs.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from planner.cli._common import DbOption, console, report_errors

HOST = "127.0.0.1"
_OIDC_KEYS = ("redirect_uri", "cookie_secret")
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def app_path() -> Path:
    """Path of ``dashboard/app.py`` (found without importing the dashboard package)."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        from planner.errors import PlanningError

        raise PlanningError("the dashboard package is not installed.",
                            hint="Re-run `bash scripts/install.sh`.")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


#: Streamlit's upload limit in MB when ``$PLANNER_MAX_LIBRARY_UPLOAD_MB`` is unset: big enough
#: for a library table of a few million rows (plate uploads keep their own, smaller limit,
#: ``$PLANNER_MAX_UPLOAD_MB``, checked by :mod:`campaigns.limits` after the upload).
DEFAULT_MAX_LIBRARY_UPLOAD_MB = 2048


def max_upload_mb() -> int:
    """The dashboard server's upload limit in MB: ``$PLANNER_MAX_LIBRARY_UPLOAD_MB`` (default
    :data:`DEFAULT_MAX_LIBRARY_UPLOAD_MB`), never below the plate-upload limit.

    Raises:
        PlanningError: The variable is not a positive whole number.
    """
    from campaigns.limits import Limits
    from planner.errors import PlanningError

    var = "PLANNER_MAX_LIBRARY_UPLOAD_MB"
    text = os.environ.get(var, "").strip()
    try:
        mb = int(text) if text else DEFAULT_MAX_LIBRARY_UPLOAD_MB
    except ValueError:
        mb = 0
    if mb <= 0:
        raise PlanningError(f"{var}={text!r} is not a positive whole number of MB.",
                            hint=f"Unset {var} or give it a number such as 2048.")
    plate_mb = -(-Limits.from_env().max_upload_bytes // 1_000_000)
    return max(mb, int(plate_mb))


def streamlit_command(port: int, *, address: str = HOST) -> list[str]:
    """The ``streamlit run`` command line of the dashboard on ``address:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address", address, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false", "--theme.base", "light",
        "--client.toolbarMode", "minimal", "--server.maxUploadSize", str(max_upload_mb()),
        "--theme.primaryColor", "#1f6f8b", "--runner.magicEnabled", "false",
    ]


def port_free(port: int, *, address: str = HOST) -> bool:
    """Whether ``address:port`` can be bound."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def is_loopback(address: str) -> bool:
    """Whether ``address`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public interface


def secrets_files(app: Path | None = None) -> list[Path]:
    """Where Streamlit reads ``secrets.toml`` for the dashboard: ``~/.streamlit/``, the working
    directory's ``.streamlit/``, and the one next to ``dashboard/app.py`` (later files win)."""
    here = [Path.home() / ".streamlit" / "secrets.toml",
            Path.cwd() / ".streamlit" / "secrets.toml"]
    script = (app or app_path()).parent / ".streamlit" / "secrets.toml"
    return here if script in here else [*here, script]


def oidc_configured(files: Sequence[Path] | None = None) -> bool:
    """Whether an ``[auth]`` block in the dashboard's secrets.toml configures an OpenID Connect
    provider for ``st.login`` (``redirect_uri``, ``cookie_secret``, and a client id, secret and
    metadata URL in ``[auth]`` or an ``[auth.NAME]`` table).

    Raises:
        PlanningError: a provider is configured but the ``authlib`` package is missing, or a
            secrets file does not parse.
    """
    from planner.errors import PlanningError

    section: dict = {}
    for path in secrets_files() if files is None else files:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise PlanningError(f"cannot read {path}: {exc}", hint="Fix the TOML (see "
                                "docs/accounts.md for an example).") from None
        if isinstance(data.get("auth"), dict):
            section = {**section, **data["auth"]}
    if not all(k in section for k in _OIDC_KEYS):
        return False
    providers = [v for v in section.values() if isinstance(v, dict)] or [section]
    if not any(all(k in p for k in _PROVIDER_KEYS) for p in providers):
        return False
    if importlib.util.find_spec("authlib") is None:
        raise PlanningError(
            "secrets.toml configures an OpenID Connect provider ([auth]), but the authlib "
            "package that Streamlit's st.login needs is not installed.",
            hint="pip install 'battery-bo-planner[oidc]' (or remove the [auth] block).")
    return True


def check_exposure(address: str, *, has_users: bool, oidc: bool) -> None:
    """Refuse to serve a dashboard without sign-in on anything but loopback.

    Raises:
        PlanningError: ``address`` is not loopback and nobody would have to sign in.
    """
    from planner.errors import PlanningError

    if is_loopback(address) or has_users or oidc:
        return
    raise PlanningError(
        f"refusing to serve the dashboard on {address}: the database has no user accounts and "
        "no OpenID Connect provider is configured, so anyone who can reach that address could "
        "upload, correct and edit specs without signing in.",
        hint="Create the first (admin) account with `planner user add NAME` (then add your "
        "colleagues and grant them roles: docs/accounts.md), or serve on 127.0.0.1 only "
        "(leave out --address).")


def start_dashboard(db_url: str, *, port: int = 8501, address: str = HOST,
                    quiet: bool = False) -> subprocess.Popen[bytes]:
    """Start the dashboard server as a child process and return it (for the demo and tests).

    Args:
        db_url: SQLAlchemy URL of the campaign database (password included; it is passed in the
            environment, never on the command line).
        port: Port.
        address: Address to listen on (checked by :func:`check_exposure` in ``planner
            dashboard``; callers of this function check it themselves).
        quiet: Send the server's output to ``/dev/null`` instead of this terminal.

    Raises:
        PlanningError: The port is taken.
    """
    from planner.errors import PlanningError

    if not port_free(port, address=address):
        raise PlanningError(f"port {port} on {address} is already in use.",
                            hint="Stop the other dashboard, or choose another port: "
                                 f"--port {port + 1}.")
    env = {**os.environ, "PLANNER_DB_URL": db_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("PLANNER_PASSWORD", None)  # the dashboard signs people in itself
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(streamlit_command(port, address=address), env=env, stdout=out,
                            stderr=out)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_dashboard(db_url: str, *, port: int = 8501, address: str = HOST) -> int:
    """Serve the dashboard until Ctrl+C (or SIGTERM); returns the server's exit code.

    Stopping this process stops the server too: it never outlives the command.
    """
    proc = start_dashboard(db_url, port=port, address=address)
    shown = f"[{address}]" if ":" in address else address
    console.print(f"Dashboard: [bold]http://{shown}:{port}[/]  (Ctrl+C stops it)")
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
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8501,
    address: Annotated[str, typer.Option(
        help="Address to listen on. Anything but loopback (e.g. 0.0.0.0, for colleagues on "
        "the lab network) needs sign-in: user accounts in the database (planner user add) or "
        "an OpenID Connect provider in .streamlit/secrets.toml.")] = HOST,
) -> None:
    """Open the dashboard: plates, uploads, progress and insight in the browser.

    When the database has user accounts, everyone signs in first and sees only what their role
    in each campaign allows (docs/accounts.md).
    """
    from campaigns.auth import has_users
    from campaigns.store import Store, default_url

    url = db or default_url()
    store = Store.open(url)  # migrate (and report a bad URL) before the server starts
    try:
        users = has_users(store)
        console.print(f"Database: {store.url}" + ("" if users else "  (no user accounts: "
                      "no sign-in)"), highlight=False)
    finally:
        store.close()
    check_exposure(address, has_users=users, oidc=oidc_configured())
    code = run_dashboard(url, port=port, address=address)
    if code not in (0, -15):
        raise typer.Exit(code=code)


def register(app: typer.Typer) -> None:
    """Add ``planner dashboard`` to the top-level app."""
    app.command("dashboard")(dashboard)
