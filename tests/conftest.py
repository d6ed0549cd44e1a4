"""Shared fixtures: a fresh SQLite store per test, and a throwaway PostgreSQL server on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Each xdist worker runs on its own core: one torch thread each (oversubscription is slow).
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

os.environ.setdefault("PLANNER_FAST", "1")


def pytest_configure(config: pytest.Config) -> None:
    """A test process plans like the planner's own entry points: without BoTorch compiling its
    fused qLogNEHVI kernel (35-140 s), also in tests that build BoTorch acquisitions directly."""
    from planner.runtime import skip_botorch_jit_kernel

    skip_botorch_jit_kernel()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'planner.db'}"


@pytest.fixture
def store(db_url: str):  # noqa: ANN201
    from campaigns.store import Store

    with Store.open(db_url) as opened:
        yield opened


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a private PostgreSQL server on 127.0.0.1 for the session; skip if none is installed.

    scripts/system-deps.sh installs Debian's postgresql package; PostgreSQL refuses to run as
    root, so as root the server runs as the ``postgres`` system user.
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries not installed "
                    "(scripts/system-deps.sh installs them)")
    # A folder of its own under /tmp: pytest's temp tree is private (0700) to root, and
    # PostgreSQL refuses to run as root, so the server runs as the "postgres" user.
    base = Path(tempfile.mkdtemp(prefix="planner-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            import pwd

            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    port = _free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "planner", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True)
    log = base / "pg.log"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o",
                    f"-h 127.0.0.1 -p {port} -k {base}", "start"], check=True, capture_output=True)
    url = f"postgresql+psycopg://planner@127.0.0.1:{port}/postgres"
    try:
        deadline = time.time() + 20
        import sqlalchemy

        while True:
            probe = sqlalchemy.create_engine(url)
            try:
                probe.connect().close()
                break
            except sqlalchemy.exc.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
            finally:
                probe.dispose()
        yield url
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
