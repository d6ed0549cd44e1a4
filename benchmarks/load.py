"""Many chemists at once: dashboard page latency on one PostgreSQL, and concurrent uploads.

Starts a private PostgreSQL server on 127.0.0.1 (``benchmarks/_pg.py``), builds the dashboard
tests' hard-carbon campaign ``hc`` in it (three plates measured by the SIMULATED virtual lab, a
fourth pending with predictions: ``tests/dashboard/conftest.py`` ``build_history``), adds one
chemist account per simulated chemist (and an admin), and then measures two things.

**N chemists using the dashboard.** The real dashboard (``planner dashboard --db URL`` on a free
loopback port, headless) serves N chemists at the same time. They arrive spread over ``--ramp``
seconds; each opens the dashboard, signs in when the dashboard asks for it, and then keeps going
through the sidebar's pages in a shuffled order, pausing ``--think`` seconds (±50 %) between
clicks, until ``--duration`` seconds after the last chemist signed in (so the clicking is
measured with everybody there, and a slow sign-in stampede does not eat the measurement). A
page's latency is what the chemist waits for: from the click to the moment the page finished
running. Two clients do the clicking:

* ``browser``: headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, one
  browser context per chemist, for N up to ``--browser-max`` and only while N contexts fit in
  60 % of the memory available (estimated per chemist from the previous browser phase). A page
  is done when the tab has received the run's ``script_finished`` over its websocket, Streamlit's
  script state is back to ``notRunning`` and nothing on the page is stale or spinning, so drawing
  the charts counts. The browsers run on the same machine as the
  server, so they take CPU from it: on the 2-core test machine 10 browsers kept the server at
  10 % CPU while their pages took seconds, and of 50 browsers 40 could not load the dashboard
  within 120 s, hence the default ``--browser-max 10``.
* ``protocol``: a light client that speaks Streamlit's own websocket protocol (the protobuf
  ``BackMsg``/``ForwardMsg`` a browser exchanges over ``/_stcore/stream``), one session per
  chemist, all in one asyncio loop. A page is done when the server sends ``script_finished``;
  the server runs the real page scripts, the client draws nothing. This is the client for N
  beyond what browsers on this machine can carry.

An error is a page that showed an exception or an error alert, a page that did not finish
within ``--page-timeout`` seconds, a lost connection, or a sign-in that did not get through.
Server CPU and peak memory (the Streamlit process), the machine's peak memory use and the peak
number of PostgreSQL connections are sampled every second. Before the first phase, one
protocol session visits every page once (``cold``: the first visit after the server started,
imports and empty caches included); it is reported, not mixed into the phases.

**Concurrent ``planner ingest``.** ``--ingests`` processes run the real command at the same
moment, each signed in as its own chemist (``PLANNER_USER``/``PLANNER_PASSWORD``):

* ``new plates``: each uploads the filled sheet of its own new plate;
* ``corrections``: each uploads a different re-measurement of the same, already measured plate
  (its own simulated noise), so each upload supersedes the current values of that plate's wells
  while the others do the same.

One solo upload of each kind runs first, alone, for comparison. Afterwards the database is
checked with the crash tests' invariant checks (``tests/integration/_workers.py``
``check_store``: every upload whole, no value without its upload) and with a plain SQL count of
current values: exactly one per (well, quantity), everywhere.

Everything runs on loopback and stops by itself. Usage::

    .venv/bin/python benchmarks/load.py                       # 10 and 50 chemists, 10 ingests
    .venv/bin/python benchmarks/load.py --chemists 10 --duration 30 --ingests 4 \
        --out /tmp/load.md
    .venv/bin/python benchmarks/load.py --no-accounts         # a database without accounts

The markdown report goes to ``benchmarks/results/load.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from benchmarks._pg import PostgresUnavailable, free_port, postgres_server  # noqa: E402

CAMPAIGN = "hc"
PASSWORD = "load-test-password-1"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
OPEN, SIGN_IN = "(open)", "(sign in)"
console = Console()


# ============================================================================================
# Records and figures
# ============================================================================================
@dataclass(frozen=True)
class Visit:
    """One page a simulated chemist waited for."""

    client: str
    """``browser``, ``protocol`` or ``cold``."""
    chemists: int
    """How many chemists were using the dashboard at the time."""
    chemist: int
    """Which of them (0-based)."""
    page: str
    """The page's title, ``(open)`` for the first load, ``(sign in)`` for the login."""
    seconds: float
    """What the chemist waited for: click to page finished (or to the timeout)."""
    error: str = ""
    """Why the page counts as an error (empty: it did not)."""


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fmt_s(value: float) -> str:
    if value != value:  # NaN
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


@dataclass
class Usage:
    """What a phase used (sampled every second)."""

    server_cpu_pct: float = 0.0
    """Mean CPU of the Streamlit server process over the phase (100 % = one core)."""
    server_rss_mb: float = 0.0
    """Peak resident memory of the Streamlit server process."""
    machine_used_gb: float = 0.0
    """Peak memory in use on the whole machine (server, database, clients)."""
    machine_before_gb: float = 0.0
    """Memory in use on the whole machine just before the phase."""
    pg_connections: int = 0
    """Peak number of client connections to the PostgreSQL server (this sampler's excluded)."""
    others_cpu_pct: float = 0.0
    """Mean CPU used by everything else on the machine: not this benchmark, its server, its
    clients and its PostgreSQL server (100 % = one core)."""
    steal_pct: float = 0.0
    """Mean CPU the hypervisor gave to other machines (100 % = one core)."""


def _postmaster(url: str) -> Any:
    """The PostgreSQL server process listening on ``url``'s port (``None``: not found)."""
    import psutil

    port = url.split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-p" in cmd and port in cmd:
            return proc
    return None


class Sampler:
    """Samples CPU and memory during a phase: the dashboard server's (``server_pid``), the
    machine's, the PostgreSQL server's connections, and the CPU taken by other work."""

    def __init__(self, db_url: str, server_pid: int | None = None) -> None:
        import psutil
        import sqlalchemy

        self._psutil = psutil
        self._root = psutil.Process(server_pid) if server_pid else None
        self._me = psutil.Process()
        self._pg = _postmaster(db_url)
        self._engine = sqlalchemy.create_engine(db_url, pool_size=1, max_overflow=0)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._first: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self.usage = Usage()

    @staticmethod
    def _tree(root: Any) -> list[Any]:
        try:
            return [root, *root.children(recursive=True)]
        except Exception:  # noqa: BLE001 - psutil.NoSuchProcess: the tree is gone
            return []

    def _server_cpu(self) -> float:
        total = 0.0
        for p in self._tree(self._root) if self._root else []:
            with suppress(self._psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _account(self, *, baseline: bool = False) -> None:
        """CPU of every process that is not this benchmark's (this process and its children:
        the dashboard server, the browsers, the ingest commands; and its PostgreSQL server),
        per process. A process that ends between two samples loses at most a second of CPU,
        so the figure errs low."""
        ours = {p.pid for p in self._tree(self._me) + (self._tree(self._pg) if self._pg else [])}
        with self._lock:
            for p in self._psutil.process_iter(["cpu_times", "create_time"]):
                if p.pid in ours or p.info["cpu_times"] is None:
                    continue
                t = p.info["cpu_times"]
                key = (p.pid, p.info["create_time"])
                self._first.setdefault(key, t.user + t.system if baseline else 0.0)
                self._last[key] = t.user + t.system

    def _sample(self) -> None:
        import sqlalchemy

        self._account()
        rss = 0
        for p in self._tree(self._root) if self._root else []:
            with suppress(self._psutil.NoSuchProcess):
                rss += p.memory_info().rss
        u = self.usage
        u.server_rss_mb = max(u.server_rss_mb, rss / 2**20)
        used = self._psutil.virtual_memory()
        u.machine_used_gb = max(u.machine_used_gb, (used.total - used.available) / 2**30)
        try:
            with self._engine.connect() as conn:
                n = conn.execute(sqlalchemy.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()")).scalar_one()
            u.pg_connections = max(u.pg_connections, int(n))
        except sqlalchemy.exc.SQLAlchemyError:
            pass

    @contextmanager
    def phase(self) -> Iterator[Usage]:
        used = self._psutil.virtual_memory()
        self.usage = usage = Usage(machine_before_gb=(used.total - used.available) / 2**30)
        self._first.clear()
        self._last.clear()
        self._account(baseline=True)
        machine0 = self._psutil.cpu_times()
        server0, t0 = self._server_cpu(), time.perf_counter()
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(1.0):
                self._sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield usage
        finally:
            self._stop.set()
            thread.join()
            self._sample()
            wall = time.perf_counter() - t0
            machine = self._psutil.cpu_times()
            steal = machine.steal - machine0.steal
            others = sum(self._last[k] - self._first[k] for k in self._last)
            if wall > 0:
                usage.server_cpu_pct = 100 * (self._server_cpu() - server0) / wall
                usage.others_cpu_pct = 100 * others / wall
                usage.steal_pct = 100 * steal / wall

    def close(self) -> None:
        self._engine.dispose()


@dataclass
class Phase:
    """N chemists with one client for one duration."""

    client: str
    chemists: int
    seconds: float = 0.0
    all_in_s: float = 0.0
    """Seconds until the last chemist had opened the dashboard and signed in."""
    visits: list[Visit] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


# ============================================================================================
# Setup: the campaign, accounts, plates to upload
# ============================================================================================
@dataclass(frozen=True)
class Setup:
    url: str
    users: list[str]
    """Chemist accounts (empty without accounts)."""
    admin: str | None


def prepare(url: str, *, n_users: int, accounts: bool) -> Setup:
    """Campaign ``hc`` with history; an admin and ``n_users`` chemists (granted ``chemist``)."""
    from campaigns import auth
    from campaigns.store import Store
    from tests.dashboard.conftest import build_history

    build_history(url)
    if not accounts:
        return Setup(url, [], None)
    users = [f"chemist{i + 1:02d}" for i in range(n_users)]
    with Store.open(url) as store:
        auth.add_user(store, "admin", PASSWORD)
        admin = store.as_user(auth.authenticate(store, "admin", PASSWORD))
        for name in users:
            auth.add_user(admin, name, PASSWORD)
            auth.grant(admin, name, CAMPAIGN, "chemist")
    return Setup(url, users, "admin")


def _admin_store(setup: Setup):  # noqa: ANN202
    from campaigns import auth
    from campaigns.store import Store

    store = Store.open(setup.url)
    if setup.admin:
        store = store.as_user(auth.authenticate(store, setup.admin, PASSWORD))
    return store


def new_plates(setup: Setup, count: int, workdir: Path, *, first_week: int) -> list[Path]:
    """``count`` new plates (space-filling recipes, stored as the admin) and their filled
    sheets (SIMULATED virtual-lab results) as CSV files."""
    from campaigns.plate import fill_layout
    from planner.design import space_filling_design
    from planner.simulation.virtual_lab import run_plate, sheet_bytes

    files = []
    store = _admin_store(setup)
    try:
        spec = store.spec(CAMPAIGN)
        for i in range(count):
            seed = 1000 + first_week + i
            recipes = space_filling_design(spec, spec.plate.sample_wells, seed=seed)
            batch = store.save_batch(
                CAMPAIGN, iso_week=f"2026-W{first_week + i:02d}", generator="load benchmark",
                seed=seed, data_revision=store.snapshot(CAMPAIGN).revision,
                wells=fill_layout(spec.plate, recipes.to_dict(orient="records")))
            path = workdir / f"plate{batch.id}.csv"
            path.write_bytes(sheet_bytes(run_plate(spec, batch, seed=7, plate_index=4 + i)))
            files.append(path)
    finally:
        store.close()
    return files


def remeasured(setup: Setup, count: int, workdir: Path, *, first_seed: int) -> list[Path]:
    """``count`` re-measurements of the campaign's first plate (each with its own simulated
    noise, so every value differs from the stored one): corrections of one plate."""
    from planner.simulation.virtual_lab import run_plate, sheet_bytes

    store = _admin_store(setup)
    try:
        spec = store.spec(CAMPAIGN)
        batch = store.batches(CAMPAIGN)[0]
    finally:
        store.close()
    files = []
    for i in range(count):
        path = workdir / f"plate{batch.id}-remeasured-{first_seed + i}.csv"
        path.write_bytes(sheet_bytes(run_plate(spec, batch, seed=first_seed + i, plate_index=0)))
        files.append(path)
    return files


# ============================================================================================
# The dashboard server
# ============================================================================================
@contextmanager
def dashboard(url: str, log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``planner dashboard --db URL`` on a free loopback port; yields (base URL, process)."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "planner.cli", "dashboard", "--db", url,
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT, env={**os.environ, "PLANNER_DB_URL": url})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                        if r.read() == b"ok":
                            break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError("the dashboard did not start:\n"
                                           + log_path.read_text(errors="replace")) from None
                    time.sleep(0.5)
            yield base, proc
        finally:
            proc.send_signal(signal.SIGTERM)  # the CLI stops its Streamlit child, then exits
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ============================================================================================
# A phase's clock
# ============================================================================================
@dataclass
class Window:
    """When a phase's chemists arrive and stop: they arrive spread over ``ramp`` seconds and
    click until ``duration`` seconds after the last of them opened the dashboard and signed in
    (or failed to), so the clicking is measured with everybody there, not only the stampede."""

    n: int
    duration: float
    ramp: float
    think: float
    """Mean pause between clicks."""
    timeout: float
    """Seconds after which a page that has not finished is an error."""
    start: float = field(default_factory=time.perf_counter)
    waiting: int = -1
    all_in: float | None = None
    """``time.perf_counter()`` when the last chemist was in."""

    def __post_init__(self) -> None:
        self.waiting = self.n

    def arrived(self) -> None:
        """A chemist has opened the dashboard and signed in, or given up."""
        self.waiting -= 1
        if self.waiting == 0:
            self.all_in = time.perf_counter()

    def over(self) -> bool:
        return self.all_in is not None and time.perf_counter() >= self.all_in + self.duration

    def pause(self, rng: random.Random) -> float:
        return self.think * rng.uniform(0.5, 1.5)


# ============================================================================================
# The protocol client: Streamlit's websocket protocol, no browser
# ============================================================================================
class ConnectionLost(Exception):
    """The browser shows Streamlit's connection dialog."""


@dataclass
class RunResult:
    seconds: float
    elements: list[Any]
    errors: list[str]


class ProtocolSession:
    """One browser tab's worth of Streamlit session, spoken over the websocket directly."""

    def __init__(self, base: str, *, timeout: float) -> None:
        self.ws_url = base.replace("http://", "ws://") + "/_stcore/stream"
        self.timeout = timeout
        self.ws: Any = None
        self.pages: list[tuple[str, str, str]] = []  # (script hash, URL path, title)
        self.page_hash = ""

    async def __aenter__(self) -> ProtocolSession:
        import websockets

        self.ws = await asyncio.wait_for(websockets.connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
            open_timeout=self.timeout), self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with suppress(Exception):  # closing a connection that may be gone already
            await asyncio.wait_for(self.ws.close(), 10)

    async def run(self, *, page: tuple[str, str] = ("", ""), widgets: list[Any] | None = None
                  ) -> RunResult:
        """Ask for a script run of ``page`` (script hash, URL path) and read every message until
        the run finished (runs ended early by ``st.rerun`` are followed)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = f"campaign={CAMPAIGN}"
        state.page_script_hash, state.page_name = page
        if widgets:
            state.widget_states.widgets.extend(widgets)
        elements: list[Any] = []
        errors: list[str] = []
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        while True:
            left = self.timeout - (time.perf_counter() - start)
            if left <= 0:
                raise TimeoutError
            fm = ForwardMsg.FromString(await asyncio.wait_for(self.ws.recv(), left))
            kind = fm.WhichOneof("type")
            if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                elements.append(el)
                what = el.WhichOneof("type")
                if what == "exception":
                    errors.append(f"exception: {el.exception.type}: {el.exception.message}"[:200])
                elif what == "alert" and el.alert.format == el.alert.ERROR:
                    errors.append(f"error alert: {el.alert.body}"[:200])
            elif kind == "navigation":
                nav = fm.navigation
                self.pages = [(p.page_script_hash, p.url_pathname, p.page_name)
                              for p in nav.app_pages]
                self.page_hash = nav.page_script_hash
            elif kind == "page_not_found":
                errors.append(f"page not found: {fm.page_not_found.page_name}")
            elif kind == "session_event" and fm.session_event.WhichOneof("type") == \
                    "script_compilation_exception":
                errors.append("script compilation error")
            elif kind == "script_finished":
                status = fm.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    elements.clear()  # st.rerun: what counts is the run that follows
                    continue
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append("the page script did not compile")
                return RunResult(time.perf_counter() - start, elements, errors)


def login_form(elements: list[Any]) -> tuple[Any, Any, Any] | None:
    """(user-name input, password input, submit button) of a sign-in form on the page."""
    inputs = [el.text_input for el in elements if el.WhichOneof("type") == "text_input"]
    password = next((t for t in inputs if t.type == t.PASSWORD), None)
    if password is None:
        return None
    name = next((t for t in inputs if t.type != t.PASSWORD and t.form_id == password.form_id),
                None) or next((t for t in inputs if t.type != t.PASSWORD), None)
    buttons = [el.button for el in elements if el.WhichOneof("type") == "button"]
    submit = next((b for b in buttons if b.is_form_submitter and b.form_id == password.form_id),
                  None) or next((b for b in buttons if re.search(r"sign in|log ?in", b.label,
                                                                 re.I)), None)
    if name is None or submit is None:
        return None
    return name, password, submit


def _widget(wid: str, **value: Any) -> Any:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    state = WidgetState(id=wid)
    for key, v in value.items():
        setattr(state, key, v)
    return state


async def sign_in(session: ProtocolSession, form: tuple[Any, Any, Any], user: str
                  ) -> tuple[float, str]:
    """Fill in and submit the sign-in form as ``user``: (seconds, error or "")."""
    name, password, submit = form
    signed = await session.run(page=(session.page_hash, ""), widgets=[
        _widget(name.id, string_value=user), _widget(password.id, string_value=PASSWORD),
        _widget(submit.id, trigger_value=True)])
    errors = signed.errors + (["still on the sign-in form"] if login_form(signed.elements)
                              else [])
    return signed.seconds, "; ".join(errors)


async def protocol_chemist(base: str, idx: int, user: str | None, *, window: Window,
                           rng: random.Random, record: Callable[[Visit], None]) -> None:
    """One chemist: open, sign in if asked, then visit the pages in shuffled rounds."""
    def visit(page: str, seconds: float, error: str = "") -> None:
        record(Visit("protocol", window.n, idx, page, seconds, error))

    timeout = window.timeout
    await asyncio.sleep(rng.uniform(0, window.ramp))
    what, t0 = OPEN, time.perf_counter()
    arrived = False
    try:
        async with ProtocolSession(base, timeout=timeout) as session:
            first = await session.run()
            visit(OPEN, time.perf_counter() - t0, "; ".join(first.errors))
            form = login_form(first.elements)
            if form is not None:
                if user is None:
                    visit(SIGN_IN, 0.0, "the dashboard asks for a sign-in; run with accounts")
                    return
                what, t0 = SIGN_IN, time.perf_counter()
                seconds, error = await sign_in(session, form, user)
                visit(SIGN_IN, seconds, error)
                if error:
                    return
            if not session.pages:
                visit(OPEN, 0.0, "no pages in the navigation")
                return
            arrived = True
            window.arrived()
            while not window.over():
                pages = list(session.pages)
                rng.shuffle(pages)
                for script_hash, path, title in pages:
                    await asyncio.sleep(window.pause(rng))
                    if window.over():
                        return
                    what, t0 = title, time.perf_counter()
                    result = await session.run(page=(script_hash, path))
                    visit(title, result.seconds, "; ".join(result.errors))
    except TimeoutError:  # the session is still busy with that run: start no other
        visit(what, time.perf_counter() - t0, f"no answer within {timeout:.0f} s")
    except Exception as exc:  # noqa: BLE001 - a lost connection is a measured error
        visit(what, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:200])
    finally:
        if not arrived:
            window.arrived()


async def cold_visit(base: str, user: str | None, *, timeout: float) -> list[Visit]:
    """Every page once, in one session, right after the server started."""
    visits: list[Visit] = []
    start = time.perf_counter()
    async with ProtocolSession(base, timeout=timeout) as session:
        first = await session.run()
        visits.append(Visit("cold", 1, 0, OPEN, time.perf_counter() - start,
                            "; ".join(first.errors)))
        form = login_form(first.elements)
        if form is not None and user is not None:
            seconds, error = await sign_in(session, form, user)
            visits.append(Visit("cold", 1, 0, SIGN_IN, seconds, error))
        for script_hash, path, title in session.pages:
            result = await session.run(page=(script_hash, path))
            visits.append(Visit("cold", 1, 0, title, result.seconds, "; ".join(result.errors)))
    return visits


# ============================================================================================
# The browser client: headless Chromium through Playwright
# ============================================================================================
STATE = """() => { const a = document.querySelector('[data-testid="stApp"]');
  return {state: a ? a.getAttribute('data-test-script-state') : null,
          busy: document.querySelectorAll('[data-stale="true"], [data-testid="stSpinner"]').length,
          password: document.querySelectorAll('input[type="password"]').length,
          nav: document.querySelectorAll('[data-testid="stSidebarNavLink"]').length,
          errors: Array.from(document.querySelectorAll(
              '[data-testid="stException"], [data-testid="stAlertContentError"]'))
              .map(e => e.innerText.slice(0, 160)),
          dialog: document.querySelectorAll('[role="dialog"]').length > 0 &&
              /connect/i.test(document.querySelector('[role="dialog"]').innerText) }; }"""


class Finishes:
    """The script runs a browser tab saw finish: read from the websocket frames it received
    (Streamlit's ``script_finished`` message; a run cut short by ``st.rerun`` is not counted)."""

    def __init__(self, page: Any) -> None:
        self.count = 0
        self.at = 0.0
        """``time.perf_counter()`` when the last one arrived."""
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        msg = ForwardMsg.FromString(payload)
        if (msg.WhichOneof("type") == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.count += 1
            self.at = time.perf_counter()


def _path(url: str | None) -> str:
    """The page a URL or a (possibly relative) link names: the last segment of its path, empty
    for the landing page."""
    from urllib.parse import urlsplit

    return urlsplit(url or "").path.rstrip("/").rsplit("/", 1)[-1]


async def _settled(page: Any, finishes: Finishes, *, before: int, timeout: float
                   ) -> tuple[float, dict]:
    """Wait until the page finished running; (``time.perf_counter()`` when it was done, last
    state).

    Done: a script run finished after ``before`` runs had (so a page that has not started yet is
    not taken for a finished one), Streamlit's script state is ``notRunning`` and three polls in
    a row saw nothing stale or spinning (the page is drawn); the time is the later of the run's
    end and the first of those polls.
    """
    deadline = time.perf_counter() + timeout
    quiet = 0
    first_quiet = 0.0
    s: dict[str, Any] = {"state": None, "busy": 0}
    while time.perf_counter() < deadline:
        s = await page.evaluate(STATE)
        polled = time.perf_counter()
        if s["dialog"]:
            raise ConnectionLost("connection lost (Streamlit's connection dialog is shown)")
        ready = (finishes.count > before and s["state"] == "notRunning" and s["busy"] == 0
                 and (s["nav"] > 0 or s["password"] > 0))
        if ready:
            quiet += 1
            first_quiet = first_quiet or polled
            if quiet >= 3:
                return max(first_quiet, finishes.at), s
        else:
            quiet, first_quiet = 0, 0.0
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{finishes.count - before} run(s) finished since the click, script "
                       f"state {s['state']}, {s['busy']} stale or spinning element(s)")


async def browser_chemist(browser: Any, base: str, idx: int, user: str | None, *,
                          window: Window, rng: random.Random,
                          record: Callable[[Visit], None]) -> None:
    """One chemist in a browser context of its own: open, sign in if asked, then click through
    the sidebar's pages in shuffled rounds."""
    def visit(page: str, seconds: float, error: str = "") -> None:
        record(Visit("browser", window.n, idx, page, seconds, error))

    timeout = window.timeout
    arrived = False
    await asyncio.sleep(rng.uniform(0, window.ramp))
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(timeout * 1000)
    finishes = Finishes(page)
    what, t0 = OPEN, time.perf_counter()
    try:
        await page.goto(f"{base}/?campaign={CAMPAIGN}")
        done, s = await _settled(page, finishes, before=0, timeout=timeout)
        visit(OPEN, done - t0, "; ".join(s["errors"]))
        if s["password"]:
            if user is None:
                visit(SIGN_IN, 0.0, "the dashboard asks for a sign-in; run with accounts")
                return
            what = SIGN_IN
            await page.locator('input:not([type="password"])[type="text"]').first.fill(user)
            await page.locator('input[type="password"]').first.fill(PASSWORD)
            button = page.get_by_role("button", name=re.compile(r"sign in|log ?in", re.I))
            before, t0 = finishes.count, time.perf_counter()
            if await button.count():
                await button.first.click()
            else:
                await page.locator('input[type="password"]').first.press("Enter")
            done, s = await _settled(page, finishes, before=before, timeout=timeout)
            still = s["password"] > 0
            visit(SIGN_IN, done - t0, "; ".join(
                s["errors"] + (["still on the sign-in form"] if still else [])))
            if still:
                return
        more = page.locator('[data-testid="stSidebarNavViewButton"]')
        if await more.count():
            await more.first.click()
        links = page.locator('[data-testid="stSidebarNavLink"]')
        targets = []  # (href, title): a link's text is its icon's name, then its title
        for i in range(await links.count()):
            text = (await links.nth(i).inner_text()).strip().splitlines()
            targets.append((await links.nth(i).get_attribute("href"), text[-1].strip()))
        arrived = True
        window.arrived()
        while not window.over():
            order = list(targets)
            rng.shuffle(order)
            for href, title in order:
                if _path(href) == _path(page.url):
                    continue  # clicking the page shown runs nothing: go to another one
                await asyncio.sleep(window.pause(rng))
                if window.over():
                    return
                what = title
                before, t0 = finishes.count, time.perf_counter()
                await page.locator(f'[data-testid="stSidebarNavLink"][href="{href}"]').click()
                done, s = await _settled(page, finishes, before=before, timeout=timeout)
                visit(title, done - t0, "; ".join(s["errors"]))
    except TimeoutError as exc:
        visit(what, time.perf_counter() - t0, f"not finished within {timeout:.0f} s"
              + (f" ({exc})" if str(exc) else ""))
    except Exception as exc:  # noqa: BLE001 - a crashed tab or lost connection is an error
        visit(what, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
    finally:
        if not arrived:
            window.arrived()
        with suppress(Exception):  # the browser may be gone already
            await context.close()


# ============================================================================================
# Phases
# ============================================================================================
async def _phase(client: str, base: str, window: Window, users: list[str], *, seed: int,
                 progress: Progress) -> list[Visit]:
    """``window.n`` chemists with one client; every page they waited for."""
    visits: list[Visit] = []
    errors = 0
    n = window.n
    task = progress.add_task(f"{n:>3} chemists · {client}", total=window.ramp + window.duration,
                             views=0, errors=0)

    def record(v: Visit) -> None:
        nonlocal errors
        visits.append(v)
        errors += bool(v.error)
        if v.error:
            progress.console.print(Text.assemble(
                ("error ", "red"), f"{client} chemist {v.chemist} {v.page}: {v.error}"))

    def total() -> float:
        now = time.perf_counter() - window.start
        arrived = window.all_in - window.start if window.all_in else max(now, window.ramp)
        return arrived + window.duration

    async def ticker() -> None:
        while True:
            now = time.perf_counter() - window.start
            progress.update(task, completed=min(now, total()), total=total(),
                            views=len(visits), errors=errors)
            await asyncio.sleep(0.5)

    tick = asyncio.create_task(ticker())
    who = [users[i] if users else None for i in range(n)]
    # every chemist stops by itself well before: arrival, open and sign-in, clicking, last page
    hard_stop = window.ramp + window.duration + 3 * window.timeout + 60
    try:
        if client == "protocol":
            jobs = [protocol_chemist(base, i, who[i], window=window,
                                     rng=random.Random(seed * 1000 + i), record=record)
                    for i in range(n)]
            await asyncio.wait_for(asyncio.gather(*jobs), hard_stop)
        else:
            from playwright.async_api import async_playwright

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=CHROMIUM_ARGS)
                try:
                    jobs = [browser_chemist(browser, base, i, who[i], window=window,
                                            rng=random.Random(seed * 1000 + i), record=record)
                            for i in range(n)]
                    await asyncio.wait_for(asyncio.gather(*jobs), hard_stop)
                finally:
                    await browser.close()
    except TimeoutError:
        record(Visit(client, n, -1, "(the whole phase)", hard_stop,
                     f"cut off after {hard_stop:.0f} s with chemists still waiting"))
    finally:
        tick.cancel()
        progress.update(task, completed=total(), total=total(), views=len(visits),
                        errors=errors)
    return visits


# ============================================================================================
# Concurrent planner ingest
# ============================================================================================
@dataclass(frozen=True)
class IngestRun:
    file: str
    seconds: float
    """Wall time of the whole command."""
    cpu: float
    """CPU time the command used (user + system)."""
    code: int
    output: str

    @property
    def error(self) -> str:
        if self.code == 0:
            return ""
        lines = [line for line in self.output.splitlines() if line.strip()]
        return f"exit {self.code}: " + " / ".join(lines[-3:])[:300]


INGEST_TIMEOUT_S = 600


def run_ingests(setup: Setup, files: list[Path], users: list[str | None],
                on_done: Callable[[IngestRun], None] | None = None) -> list[IngestRun]:
    """Start one ``planner ingest`` per file at the same moment; wait for all of them."""
    runs: list[IngestRun | None] = [None] * len(files)
    barrier = threading.Barrier(len(files))

    def one(i: int) -> None:
        env = {**os.environ, "PLANNER_DB_URL": setup.url, "COLUMNS": "200",
               "PLANNER_PASSWORD": PASSWORD}
        env.pop("PLANNER_USER", None)
        if users[i]:
            env["PLANNER_USER"] = users[i]  # type: ignore[assignment]
        with tempfile.TemporaryFile() as out:
            barrier.wait()
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "planner.cli", "ingest",
                                     str(files[i]), "--campaign", CAMPAIGN], stdout=out,
                                    stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            killer = threading.Timer(INGEST_TIMEOUT_S, proc.kill)
            killer.start()
            _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time, too
            killer.cancel()
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - start
            out.seek(0)
            text = out.read().decode(errors="replace")
        if code == -signal.SIGKILL and seconds >= INGEST_TIMEOUT_S:
            text += f"\ntimed out ({INGEST_TIMEOUT_S} s)"
        run = IngestRun(files[i].name, seconds, usage.ru_utime + usage.ru_stime, code, text)
        runs[i] = run
        if on_done:
            on_done(run)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in runs if r is not None]


def current_value_check(url: str) -> tuple[int, list[str]]:
    """(number of (well, quantity) pairs, problems): each pair must have exactly one current
    value (a row no other row supersedes), counted in plain SQL."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(
                "SELECT m.well_id, m.quantity, count(*) FILTER (WHERE NOT EXISTS ("
                "  SELECT 1 FROM measurements s WHERE s.supersedes_id = m.id)) AS current "
                "FROM measurements m GROUP BY m.well_id, m.quantity")).all()
    finally:
        engine.dispose()
    problems = [f"well {w} {q}: {c} current values" for w, q, c in rows if c != 1]
    return len(rows), problems


_STORED = re.compile(r"Stored (\d+) new value\(s\) and (\d+) correction\(s\)")


def stored_counts(run: IngestRun) -> tuple[int, int]:
    m = _STORED.search(" ".join(run.output.split()))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@dataclass
class IngestResult:
    scenario: str
    solo: IngestRun
    runs: list[IngestRun]
    wall: float
    usage: Usage
    pairs: int = 0
    problems: list[str] = field(default_factory=list)


# ============================================================================================
# Report
# ============================================================================================
def cpu_reference() -> float:
    """Milliseconds this machine takes for a fixed piece of pure-Python work (best of 5): the
    same code measured at another time or on another machine scales roughly with it."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def _git_head() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=ROOT).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _others(u: Usage) -> str:
    return f"{u.others_cpu_pct:.0f} %" + (f" + {u.steal_pct:.0f} % steal" if u.steal_pct >= 1
                                          else "")


def page_rows(visits: list[Visit]) -> list[list[str]]:
    """One row per page: samples, p50, p95, max, errors (timed-out pages count their wait)."""
    by_page: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_page[v.page].append(v)
    order = sorted(by_page, key=lambda p: (p not in (OPEN, SIGN_IN), p != OPEN, p))
    rows = []
    for page in order + ["all pages"]:
        vs = visits if page == "all pages" else by_page[page]
        if page == "all pages":
            vs = [v for v in vs if v.page not in (OPEN, SIGN_IN)]
        secs = [v.seconds for v in vs if v.seconds > 0]
        rows.append([page, str(len(vs)), fmt_s(pct(secs, 50)), fmt_s(pct(secs, 95)),
                     fmt_s(max(secs) if secs else float("nan")),
                     str(sum(bool(v.error) for v in vs))])
    return rows


def markdown(args: argparse.Namespace, run: Run, *, total_s: float, notes: list[str]) -> str:
    import psutil
    import streamlit

    accounts, pg_version, cold = args.accounts, run.pg_version, run.cold
    phases, ingests, server_log = run.phases, run.ingests, run.server_log

    mem = psutil.virtual_memory().total / 2**30
    out = [
        "# Load: many chemists on one dashboard and one PostgreSQL, and concurrent uploads",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/load.py', *sys.argv[1:]])}` — "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_git_head()}, "
        f"{total_s / 60:.1f} min in all.",
        "",
        f"Machine: {os.cpu_count()} cores, {mem:.0f} GiB memory ({platform.platform()}); "
        f"Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
        f"PostgreSQL {pg_version} (a private server on 127.0.0.1, default settings). "
        "Server, database and every client run on this one machine; load average "
        f"{run.load_before[0]:.1f} / {run.load_before[1]:.1f} (1 / 5 min) when the run started "
        f"(other work on the machine); a fixed pure-Python loop took {run.cpu_ms:.0f} ms "
        "(`cpu_reference`: page times of runs at other times scale roughly with it).",
        "",
        f"Campaign `{CAMPAIGN}` (hard carbon, the dashboard tests' history: 3 measured 96-well "
        "plates of SIMULATED virtual-lab results and a pending plate with predictions; the "
        "ingest test adds plates). "
        + ("Every chemist signs in with an account of their own (role chemist) when the "
           "dashboard asks." if accounts else "The database has no accounts."),
        "",
        f"The chemists arrive spread over {args.ramp:g} s; each opens the dashboard, signs in "
        "if asked, then goes through the sidebar's pages in shuffled rounds, pausing "
        f"{args.think:g} s ± 50 % between clicks, until {args.duration:g} s after the last "
        "chemist signed in. Latency = what the chemist waits for, click to page finished: "
        "**browser** = headless Chromium (Playwright), done when the tab received the run's "
        "`script_finished`, Streamlit's script state is `notRunning` and nothing is stale or "
        "spinning (charts drawn); **protocol** = Streamlit's "
        "websocket protocol spoken directly (one session per chemist, no drawing), done at the "
        "server's `script_finished`. An error is an exception or error alert on the page, no "
        f"answer within {args.page_timeout:g} s, a lost connection or a failed sign-in.",
        "",
        "## Dashboard: page latency (seconds)",
        "",
    ]
    if cold:
        out += ["First visit after the server started (one protocol session, every page once; "
                "imports and empty caches included):", "",
                "| page | s | error |", "|---|---:|---|"]
        out += [f"| {v.page} | {fmt_s(v.seconds)} | {v.error or ''} |" for v in cold]
        out.append("")
    out += ["| chemists | client | all signed in after | page views | views/s | p50 | p95 | "
            "max | errors | server CPU | server RSS | machine memory | PostgreSQL connections | "
            "other work's CPU |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for ph in phases:
        pages = [v for v in ph.visits if v.page not in (OPEN, SIGN_IN)]
        secs = [v.seconds for v in pages if v.seconds > 0]
        u = ph.usage
        out.append(
            f"| {ph.chemists} | {ph.client} | {fmt_s(ph.all_in_s)} | {len(pages)} | "
            f"{len(pages) / ph.seconds:.2f} | "
            f"{fmt_s(pct(secs, 50))} | {fmt_s(pct(secs, 95))} | "
            f"{fmt_s(max(secs) if secs else float('nan'))} | "
            f"{sum(bool(v.error) for v in ph.visits)} | {u.server_cpu_pct:.0f} % | "
            f"{u.server_rss_mb:.0f} MB | {u.machine_used_gb:.1f} GB | {u.pg_connections} | "
            f"{_others(u)} |")
    out += ["", "All signed in after: seconds from the phase's start until the last chemist had "
            "opened the dashboard and signed in (the open and sign-in waits are in the per-page "
            "tables below; page views, p50, p95 and max are the sidebar pages only). "
            "Server CPU: mean over the phase, 100 % = one core. Server RSS and machine memory "
            "(everything running, clients included): peak. PostgreSQL connections: peak number "
            "of client connections to the server. Other work's CPU: what processes outside "
            "this benchmark (its server, clients and database) used meanwhile, and the CPU the "
            "hypervisor gave to other machines (steal), both means; they slow every figure here.",
            ""]
    for ph in phases:
        out += [f"### {ph.chemists} chemists, {ph.client} client", ""]
        out += ["| page | views | p50 | p95 | max | errors |", "|---|---:|---:|---:|---:|---:|"]
        out += ["| " + " | ".join(r) + " |" for r in page_rows(ph.visits)]
        errs = [v for v in ph.visits if v.error]
        if errs:
            kinds: dict[str, int] = defaultdict(int)
            for v in errs:
                kinds[f"{v.page}: {v.error}"] += 1
            out += ["", "Errors:", ""]
            out += [f"- {k} (×{c})" for k, c in sorted(kinds.items(), key=lambda kv: -kv[1])[:10]]
        out.append("")
    if ingests:
        out += ["## Concurrent `planner ingest` (seconds, whole command: start-up, sign-in, "
                "reading, validation, the write)", "",
                "| scenario | processes | solo | p50 | p95 | max | all done after | CPU per "
                "process (solo / p50) | other work's CPU | errors | values stored (new + "
                "corrections) | (well, quantity) checked | without exactly one current value / "
                "other broken invariants |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in ingests:
            secs = [x.seconds for x in r.runs]
            broken = "; ".join(r.problems[:3])
            new = sum(stored_counts(x)[0] for x in r.runs)
            corr = sum(stored_counts(x)[1] for x in r.runs)
            out.append(f"| {r.scenario} | {len(r.runs)} | {fmt_s(r.solo.seconds)} | "
                       f"{fmt_s(pct(secs, 50))} | {fmt_s(pct(secs, 95))} | {fmt_s(max(secs))} | "
                       f"{fmt_s(r.wall)} | {fmt_s(r.solo.cpu)} / "
                       f"{fmt_s(pct([x.cpu for x in r.runs], 50))} | {_others(r.usage)} | "
                       f"{sum(bool(x.error) for x in r.runs)} | "
                       f"{new} + {corr} | {r.pairs} | "
                       f"{len(r.problems)}{': ' + broken if broken else ''} |")
        out.append("")
        for r in ingests:
            for x in [r.solo, *r.runs]:
                if x.error:
                    out.append(f"- {r.scenario}, {x.file}: {x.error}")
        out += ["Solo: one upload of the same kind, alone, just before the concurrent ones. CPU "
                "per process: user + system seconds of the command (its start-up included); P "
                f"processes on {os.cpu_count()} cores cannot all be done before P × CPU / "
                f"{os.cpu_count()} seconds, so wall time beyond that is waiting (for the plate's "
                "lock, the database, the disk). The checks run on the whole database after both "
                "scenarios: "
                "`tests/integration/_workers.py` `check_store` and a plain SQL count of the rows "
                "no other row supersedes, per (well, quantity).", ""]
    server_errors = [line for line in server_log.splitlines()
                     if re.search(r"Traceback|ERROR|Exception", line)]
    out += ["## Server log", "",
            f"{len(server_errors)} line(s) with Traceback, ERROR or Exception in the dashboard's "
            "server log." + (" The first:" if server_errors else ""), ""]
    if server_errors:
        out += ["```", *server_errors[:10], "```", ""]
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


# ============================================================================================
# Main
# ============================================================================================
def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole "
                                         "numbers (e.g. 10,50)") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("every number of chemists must be at least 1")
    return values


@dataclass
class Run:
    """Everything one run measured."""

    pg_version: str = ""
    cold: list[Visit] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    ingests: list[IngestResult] = field(default_factory=list)
    server_log: str = ""
    notes: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The machine's load average when the run started."""
    cpu_ms: float = 0.0
    """:func:`cpu_reference` when the run started."""


#: Memory (GiB) one chemist's headless Chromium context is assumed to take before a browser
#: phase measured it (3 chemists took about 0.45 GiB each on the 2-core test machine).
BROWSER_GB = 0.5


def _browsers_fit(n: int, per_browser: float) -> tuple[bool, str]:
    """Whether ``n`` browser contexts fit in the memory available now, leaving 40 % of it to
    the server and whatever else runs on the machine."""
    import psutil

    available = psutil.virtual_memory().available / 2**30
    need = n * per_browser
    fits = need <= 0.6 * available
    return fits, (f"{n} chemists in headless Chromium: about {need:.1f} GiB needed "
                  f"({per_browser:.2f} GiB per chemist), {available:.1f} GiB available: "
                  + ("measured with browsers too." if fits else
                     "too much for this machine (more than 60 % of what is available), so the "
                     "protocol client alone measured this many chemists."))


def measure(args: argparse.Namespace, server_url: str, workdir: Path, *,
            browser_ok: bool) -> Run:
    """Set up the campaign, run the dashboard phases, then the ingest scenarios."""
    import sqlalchemy

    run = Run(load_before=os.getloadavg(), cpu_ms=cpu_reference())
    engine = sqlalchemy.create_engine(server_url)
    with engine.connect() as conn:
        run.pg_version = conn.execute(sqlalchemy.text("SHOW server_version")).scalar_one()
    engine.dispose()
    with console.status("Building the campaign and the accounts…"):
        t0 = time.perf_counter()
        setup = prepare(server_url, n_users=max([*args.chemists, args.ingests + 1]),
                        accounts=args.accounts)
    console.print(f"Campaign {CAMPAIGN} with history"
                  + (f", an admin and {len(setup.users)} chemists" if setup.users else "")
                  + f" on PostgreSQL {run.pg_version}: {time.perf_counter() - t0:.0f} s")
    log_path = workdir / "server.log"
    with ExitStack() as stack:
        with console.status("Starting the dashboard…"):
            base, proc = stack.enter_context(dashboard(setup.url, log_path))
        console.print(f"Dashboard at {base}")
        sampler = Sampler(setup.url, proc.pid)
        stack.callback(sampler.close)
        with console.status("First visit of every page (cold)…"):
            run.cold = asyncio.run(cold_visit(base, setup.users[0] if setup.users else None,
                                              timeout=args.page_timeout))
        for v in run.cold:
            console.print(f"  cold {v.page}: {v.seconds:.2f} s {v.error}", highlight=False)
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[views]} views, {task.fields[errors]} errors"),
                      console=console) as progress:
            per_browser = BROWSER_GB  # memory one more chemist's browser takes, until measured
            for n in args.chemists:
                clients = ["protocol"]
                if browser_ok and n <= args.browser_max:
                    fits, note = _browsers_fit(n, per_browser)
                    run.notes.append(note)
                    clients = ["browser", *clients] if fits else clients
                for client in clients:
                    phase = Phase(client, n)
                    with sampler.phase() as usage:
                        window = Window(n, args.duration, args.ramp, args.think,
                                        args.page_timeout)
                        phase.visits = asyncio.run(_phase(client, base, window, setup.users,
                                                          seed=args.seed + n, progress=progress))
                    phase.seconds = time.perf_counter() - window.start
                    phase.all_in_s = (window.all_in or time.perf_counter()) - window.start
                    phase.usage = usage
                    run.phases.append(phase)
                    if client == "browser":
                        grown = (usage.machine_used_gb - usage.machine_before_gb) / n
                        per_browser = grown if grown > 0 else per_browser
    run.server_log = log_path.read_text(errors="replace")
    if args.ingests > 0:
        run.ingests = ingest_phase(setup, args.ingests, workdir)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chemists", type=_ints, default=[10, 50],
                        help="numbers of chemists at once, comma-separated (default 10,50)")
    parser.add_argument("--ingests", type=int, default=10,
                        help="concurrent planner ingest processes (default 10; 0: none)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds each group of chemists keeps clicking once all of them "
                        "are signed in (default 60)")
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="seconds over which the chemists arrive (default 10)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="seconds a chemist pauses between clicks, ±50 %% (default 2)")
    parser.add_argument("--page-timeout", type=float, default=120.0,
                        help="a page not finished after this many seconds is an error "
                        "(default 120)")
    parser.add_argument("--browser-max", type=int, default=10,
                        help="measure with headless Chromium too, up to this many chemists and "
                        "while their browsers fit in memory (default 10: on 2 cores, 40 of 50 "
                        "browsers could not even load the dashboard within 120 s; 0: protocol "
                        "client only)")
    parser.add_argument("--no-accounts", dest="accounts", action="store_false",
                        help="no user accounts in the database (nobody signs in)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clicks' order and pauses")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.md",
                        help="markdown report (default benchmarks/results/load.md)")
    args = parser.parse_args()
    if not console.is_terminal:
        console.width = 140
    notes: list[str] = []
    browser_ok = CHROMIUM.exists()
    try:
        import playwright  # noqa: F401
    except ImportError:
        browser_ok = False
    if args.browser_max > 0 and not browser_ok:
        notes.append("No browser phases: Playwright or /usr/bin/chromium is missing "
                     "(scripts/system-deps.sh and the test extra install them).")
    t_start = time.perf_counter()
    try:
        with ExitStack() as stack:
            server_url = stack.enter_context(postgres_server(max_connections=300))
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="planner-load-")))
            run = measure(args, server_url, workdir, browser_ok=browser_ok)
    except PostgresUnavailable as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    total = time.perf_counter() - t_start
    phases, ingests = run.phases, run.ingests
    for n in args.chemists:
        if not (browser_ok and n <= args.browser_max):
            notes.append(f"{n} chemists: protocol client only (headless Chromium is used up to "
                         f"--browser-max {args.browser_max} chemists).")
    text = markdown(args, run, total_s=total, notes=[*run.notes, *notes])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    _print_summary(phases, ingests)
    console.print(f"Report: {args.out}")
    failed = any(v.error for ph in phases for v in ph.visits) or any(
        r.problems or any(x.error for x in r.runs) for r in ingests)
    return 1 if failed else 0


def ingest_phase(setup: Setup, count: int, workdir: Path) -> list[IngestResult]:
    """Both ingest scenarios: new plates, then corrections of one plate; then the checks."""
    from tests.integration._workers import check_store

    with console.status("Preparing plates and sheets for the uploads…"):
        plates = new_plates(setup, count + 1, workdir, first_week=20)
        corrections = remeasured(setup, count + 1, workdir, first_seed=100)
    users = ([*setup.users[:count], setup.users[count]] if setup.users
             else [None] * (count + 1))
    sampler = Sampler(setup.url)
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} done, "
                             "{task.fields[errors]} errors"), console=console) as progress:
        for scenario, files in (("new plates", plates), ("corrections of one plate",
                                                         corrections)):
            task = progress.add_task(f"{scenario}: solo", total=1, errors=0)
            solo = run_ingests(setup, files[:1], users[-1:])[0]
            progress.update(task, completed=1, errors=int(bool(solo.error)))
            task = progress.add_task(f"{scenario}: {count} at once", total=count, errors=0)
            errors = 0

            def done(run: IngestRun, task: int = task) -> None:
                nonlocal errors
                errors += bool(run.error)
                progress.update(task, advance=1, errors=errors)
                if run.error:
                    progress.console.print(Text.assemble((run.file, "red"), f": {run.error}"))

            start = time.perf_counter()
            with sampler.phase() as usage:
                runs = run_ingests(setup, files[1:], users[:count], done)
            results.append(IngestResult(scenario, solo, runs, time.perf_counter() - start,
                                        usage))
    sampler.close()
    with console.status("Checking the database…"):
        pairs, problems = current_value_check(setup.url)
        problems += check_store(setup.url)
    for r in results:
        r.pairs, r.problems = pairs, problems
    return results


def _print_summary(phases: list[Phase], ingests: list[IngestResult]) -> None:
    table = Table(title="Dashboard page latency (s)", header_style="bold")
    for col in ("chemists", "client", "views", "p50", "p95", "max", "errors"):
        table.add_column(col, justify="left" if col == "client" else "right")
    for ph in phases:
        pages = [v for v in ph.visits if v.page not in (OPEN, SIGN_IN)]
        secs = [v.seconds for v in pages if v.seconds > 0]
        table.add_row(str(ph.chemists), ph.client, str(len(pages)), fmt_s(pct(secs, 50)),
                      fmt_s(pct(secs, 95)), fmt_s(max(secs) if secs else float("nan")),
                      str(sum(bool(v.error) for v in ph.visits)))
    console.print(table)
    if ingests:
        table = Table(title="Concurrent planner ingest (s)", header_style="bold")
        for col in ("scenario", "processes", "solo", "p50", "p95", "max", "errors", "broken"):
            table.add_column(col, justify="left" if col == "scenario" else "right")
        for r in ingests:
            secs = [x.seconds for x in r.runs]
            table.add_row(r.scenario, str(len(r.runs)), fmt_s(r.solo.seconds),
                          fmt_s(pct(secs, 50)), fmt_s(pct(secs, 95)), fmt_s(max(secs)),
                          str(sum(bool(x.error) for x in r.runs)), str(len(r.problems)))
        console.print(table)


if __name__ == "__main__":
    sys.exit(main())
