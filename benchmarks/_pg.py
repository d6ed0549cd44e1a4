"""A throwaway PostgreSQL server on 127.0.0.1 for the benchmarks.

The same recipe as the ``postgres_url`` fixture of ``tests/conftest.py``: ``initdb`` into a
fresh folder under /tmp, ``pg_ctl start`` on a free loopback port with trust authentication for
user ``planner``, stopped (``-m immediate``) and deleted on exit. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` system user (Debian's postgresql package,
which scripts/system-deps.sh installs, creates it).

    with postgres_server(max_connections=300) as url:   # postgresql+psycopg://planner@...
        ...
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (binaries or the ``postgres`` user missing)."""


def pg_bin(name: str) -> str | None:
    """Path of a PostgreSQL server program (``initdb``, ``pg_ctl``): on PATH, else Debian's."""
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(*, max_connections: int = 100, timeout_s: float = 20.0) -> Iterator[str]:
    """Start a private PostgreSQL server on 127.0.0.1; yield the URL of its ``postgres``
    database (``postgresql+psycopg://planner@127.0.0.1:PORT/postgres``).

    Args:
        max_connections: the server's ``max_connections`` (each store process holds a small
            SQLAlchemy pool; many concurrent processes need more than the default 100).
        timeout_s: how long to wait for the server to accept connections.

    Raises:
        PostgresUnavailable: the server programs, or (as root) the ``postgres`` user, are missing.
    """
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise PostgresUnavailable("PostgreSQL server binaries not installed "
                                  "(scripts/system-deps.sh installs them)")
    base = Path(tempfile.mkdtemp(prefix="planner-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            raise PostgresUnavailable("running as root and no 'postgres' user to run the "
                                      "server as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    port = free_port()
    started = False
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "planner", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(base / "pg.log"), "-w",
                        "-o", f"-h 127.0.0.1 -p {port} -k {base} -c max_connections="
                        f"{max_connections}", "start"], check=True, capture_output=True)
        started = True
        url = f"postgresql+psycopg://planner@127.0.0.1:{port}/postgres"
        _wait_until_up(url, timeout_s)
        yield url
    finally:
        if started:
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _wait_until_up(url: str, timeout_s: float) -> None:
    import sqlalchemy

    deadline = time.time() + timeout_s
    while True:
        probe = sqlalchemy.create_engine(url)
        try:
            probe.connect().close()
            return
        except sqlalchemy.exc.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
        finally:
            probe.dispose()
