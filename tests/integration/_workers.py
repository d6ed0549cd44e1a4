"""Processes to kill and race: the machinery of the crash-safety and concurrency tests.

Shared by ``tests/integration/test_crash_safety.py``, ``test_concurrent_writes.py`` and
``benchmarks/crash_safety.py`` (which runs the same protocol with hundreds of kills).

**The fork server.** ``python -m tests.integration._workers`` imports ``campaigns`` (and
Alembic) once, not torch, and then forks one child process per *job* it is sent on stdin, one
JSON request per line. A child opens the store and does everything a job needs before the
write (reading and validating the plate file), tells the server it is ready, and only then
writes. So a kill sent ``delay`` seconds after "ready" lands inside the write, and a test pays
Python's start-up once instead of once per kill. The server sends the SIGKILL itself: the child
is its own, not yet reaped, so the pid cannot have been reused by another process. With
``barrier`` the children of one request wait until all are ready and are released together
(the writers of a race really overlap).

**The checks.** :func:`check_store` reads a database with plain SQL (it works on any schema
revision) and lists every broken invariant: an upload whose values are not all stored, a value
without its upload, a plate with missing wells, a (well, quantity) without exactly one current
value or whose supersede chain forks. :class:`IngestCrash`, :class:`SuggestCrash`,
:class:`CliSuggestCrash` and :class:`UpgradeCrash` run one operation, kill it at a random point
and say whether it landed whole, rolled back, or broke.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: The result of one kill: the write is all there, none of it is there, or neither.
LANDED, ROLLED_BACK, BROKEN = "landed", "rolled back", "broken"


# ============================================================================================
# Server side: runs in the fork server and its children (imports campaigns only)
# ============================================================================================
def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _error(exc: BaseException) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))[-4000:]}


def _prepare(job: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Do everything a job needs before its write; return the write."""
    from campaigns.store import Store

    kind = job["kind"]
    if kind == "open":  # the write is the automatic schema upgrade
        def upgrade() -> dict[str, Any]:
            Store.open(job["db"]).close()
            return {}

        return upgrade
    store = Store.open(job["db"])
    campaign = job.get("campaign", "")
    if kind == "ingest":
        from campaigns.uploads import preview_upload

        path = Path(job["file"])
        parsed, batch_id = preview_upload(store, campaign, path.read_bytes(), filename=path.name,
                                          batch_id=job.get("batch_id"))

        def ingest() -> dict[str, Any]:
            r = store.ingest(campaign, parsed, batch_id=batch_id, actor=job.get("actor", ""))
            return {"upload_id": r.upload_id, "n_new": r.n_new, "n_superseding": r.n_superseding,
                    "n_unchanged": r.n_unchanged, "already_uploaded": r.already_uploaded,
                    "n_records": len(parsed.records), "sha256": parsed.sha256}

        return ingest
    if kind == "correct":
        def correct() -> dict[str, Any]:
            out = store.correct_measurement(
                campaign, batch_id=job["batch_id"], well=job["well"], quantity=job["quantity"],
                value=job["value"], note=job.get("note"), actor=job.get("actor", ""))
            return {"returned": repr(out)}

        return correct
    if kind == "retract":
        def retract() -> dict[str, Any]:
            out = store.retract_upload(campaign, job["upload_id"], reason=job.get("reason", "test"),
                                       actor=job.get("actor", ""))
            return {"returned": repr(out)}

        return retract
    if kind == "suggest":
        from planner.weekly import suggest_plate

        def suggest() -> dict[str, Any]:
            r = suggest_plate(store, campaign, week=job["week"], fast=True)
            return {"batch_id": r.batch.id, "seed": r.batch.seed, "created": r.created}

        return suggest
    raise ValueError(f"unknown job kind {kind!r}")


def _child(job: dict[str, Any], out_fd: int, go_fd: int | None) -> int:
    """Body of a forked child: prepare, say ready ("R"), wait for the barrier, write, report."""
    try:
        write = _prepare(job)
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        _write_all(out_fd, b"X" + json.dumps({"ok": False, **_error(exc)}).encode())
        return 1
    _write_all(out_fd, b"R")
    if go_fd is not None:
        os.read(go_fd, 1)  # EOF when the server closes the other end: everyone starts at once
    start = time.perf_counter()
    try:
        result = {"ok": True, **write()}
    except BaseException as exc:  # noqa: BLE001
        result = {"ok": False, **_error(exc)}
    result["seconds"] = time.perf_counter() - start
    _write_all(out_fd, json.dumps(result).encode())
    return 0 if result["ok"] else 1


def _serve_request(request: dict[str, Any]) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = request["jobs"]
    if any(j["kind"] == "suggest" for j in jobs):
        import planner.design  # noqa: F401 - imported once here, not in every child
        import planner.weekly  # noqa: F401
    go_r, go_w = os.pipe() if request.get("barrier") else (None, None)
    children: list[tuple[int, int]] = []
    for job in jobs:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(r)
                if go_w is not None:
                    os.close(go_w)
                code = _child(job, w, go_r)
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    if go_r is not None:
        os.close(go_r)
    first = {pid: os.read(r, 1) for pid, r in children}
    t_ready = time.perf_counter()
    if go_w is not None:
        os.close(go_w)
    killed: set[int] = set()
    statuses: dict[int, int] = {}
    kill_after = request.get("kill_after")
    if kill_after is not None:
        time.sleep(max(0.0, kill_after - (time.perf_counter() - t_ready)))
        for pid, _ in children:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:  # still running (an exited but unreaped child cannot be reused)
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            else:
                statuses[pid] = status
    reports = []
    for pid, r in children:
        payload = _read_all(r)
        os.close(r)
        t_end = time.perf_counter()
        status = statuses[pid] if pid in statuses else os.waitpid(pid, 0)[1]
        body: dict[str, Any] = {}
        if first[pid] == b"X":
            body = json.loads(payload)
        elif payload:
            try:
                body = json.loads(payload)
            except json.JSONDecodeError:  # killed halfway through its report
                body = {}
        reports.append({
            "pid": pid, "ready": first[pid] == b"R", "killed": pid in killed,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "seconds_after_ready": t_end - t_ready, **body,
        })
    return {"reports": reports}


def serve() -> None:
    """The fork-server loop: one JSON request per stdin line, one JSON reply per stdout line."""
    import alembic.command  # noqa: F401 - so a child's upgrade time is the upgrade itself
    import alembic.config  # noqa: F401

    import campaigns.store  # noqa: F401
    import campaigns.uploads  # noqa: F401

    _write_all(1, b'{"serving": true}\n')
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("quit"):
            break
        try:
            reply = _serve_request(request)
        except Exception as exc:  # noqa: BLE001 - the client raises it
            reply = {"server_error": _error(exc)}
        _write_all(1, (json.dumps(reply) + "\n").encode())


# ============================================================================================
# Test side
# ============================================================================================
class ForkServer:
    """Client of the fork server; use as a context manager."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PLANNER_FAST": "1"}
        # A session of its own: if a child hangs, close() ends the server and its children
        # together (their process group), and no orphan keeps a database lock.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration._workers"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._reply(timeout=120)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _reply(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"fork server gave no reply in {timeout} s") from None
        if not line:
            raise RuntimeError(f"fork server exited with code {self.proc.wait()}")
        return json.loads(line)

    def run(self, jobs: list[dict[str, Any]], *, kill_after: float | None = None,
            barrier: bool = False, timeout: float = 120) -> list[dict[str, Any]]:
        """Fork one child per job; return one report per job (``ok``, ``killed``, results)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jobs": jobs, "kill_after": kill_after,
                                          "barrier": barrier}) + "\n")
        self.proc.stdin.flush()
        try:
            reply = self._reply(timeout)
        except TimeoutError:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        if "server_error" in reply:
            raise RuntimeError(f"fork server failed: {reply['server_error']['traceback']}")
        return reply["reports"]

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write('{"quit": true}\n')
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server's group: it and its children
            self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- databases ------------------------------------------------------------------------------
@contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (dropped afterwards); its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _connect(url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})


@dataclass(frozen=True)
class Row:
    """One measurement row, as stored."""

    id: int
    well_id: int
    upload_id: int | None
    quantity: str
    value: float | None
    status: str
    supersedes_id: int | None
    source_file_sha256: str | None


def measurement_rows(url: str) -> list[Row]:
    from sqlalchemy import text

    with _connect(url) as conn:
        return [Row(*r) for r in conn.execute(text(
            "SELECT id, well_id, upload_id, quantity, value, status, supersedes_id, "
            "source_file_sha256 FROM measurements ORDER BY id"))]


def chains(rows: list[Row]) -> tuple[dict[tuple[int, str], list[Row]], list[str]]:
    """Each (well, quantity)'s rows in supersede order, root first; and every broken chain.

    A chain is sound when it has one root, no row is superseded twice, every link stays in its
    (well, quantity), every row is reachable from the root, and ids grow along it (the later
    writer supersedes the value that was current when it wrote).
    """
    problems: list[str] = []
    by_id = {r.id: r for r in rows}
    groups: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[r.well_id, r.quantity].append(r)
    ordered: dict[tuple[int, str], list[Row]] = {}
    for key, members in groups.items():
        roots = [r for r in members if r.supersedes_id is None]
        targets = Counter(r.supersedes_id for r in members if r.supersedes_id is not None)
        forks = sorted(t for t, n in targets.items() if n > 1)
        heads = [r for r in members if r.id not in targets]
        if len(roots) != 1:
            problems.append(f"well {key[0]} {key[1]}: {len(roots)} first values (want 1)")
        if forks:
            problems.append(f"well {key[0]} {key[1]}: rows {forks} superseded more than once")
        if len(heads) != 1:
            problems.append(f"well {key[0]} {key[1]}: {len(heads)} current values "
                            f"{[h.id for h in heads]} (want exactly 1)")
        for r in members:
            if r.supersedes_id is not None:
                old = by_id.get(r.supersedes_id)
                if old is None or (old.well_id, old.quantity) != key:
                    problems.append(f"row {r.id} supersedes row {r.supersedes_id} of another "
                                    "well or quantity (or a missing row)")
                elif old.id > r.id:
                    problems.append(f"row {r.id} supersedes the later row {old.id}")
        if len(roots) == 1 and not forks:
            nxt = {r.supersedes_id: r for r in members if r.supersedes_id is not None}
            chain, cur = [roots[0]], roots[0]
            while cur.id in nxt and len(chain) <= len(members):
                cur = nxt[cur.id]
                chain.append(cur)
            if len(chain) != len(members):
                problems.append(f"well {key[0]} {key[1]}: {len(members) - len(chain)} row(s) "
                                "not on the chain from the first value")
            ordered[key] = chain
    return ordered, problems


def current_values(url: str) -> dict[tuple[int, str], tuple[int, float | None, str]]:
    """(well id, quantity) → (row id, value, status) of the current value."""
    ordered, problems = chains(measurement_rows(url))
    assert not problems, problems
    return {k: (c[-1].id, c[-1].value, c[-1].status) for k, c in ordered.items()}


def counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    with _connect(url) as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("measurements", "uploads", "audit_log", "batches", "wells")}


def check_store(url: str) -> list[str]:
    """Every broken invariant of the database at ``url`` (empty when it is sound).

    Plain SQL on the columns of the first schema revision, so it also reads a database killed in
    the middle of an upgrade. Correction and retraction rows (no file behind them) are allowed
    without an upload.
    """
    from sqlalchemy import inspect, text

    from campaigns.spec import CampaignSpec

    problems: list[str] = []
    with _connect(url) as conn:
        if conn.dialect.name == "sqlite":
            check = [r[0] for r in conn.execute(text("PRAGMA integrity_check"))]
            if check != ["ok"]:
                problems.append(f"sqlite integrity_check: {check[:5]}")
            fk = conn.execute(text("PRAGMA foreign_key_check")).all()
            if fk:
                problems.append(f"sqlite foreign_key_check: {fk[:5]}")
        tables = set(inspect(conn).get_table_names())
        leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp"))
        if leftovers:
            problems.append(f"half-done schema upgrade left tables {leftovers}")
        uploads = conn.execute(text(
            "SELECT id, batch_id, sha256, n_new, n_superseding FROM uploads")).all()
        wells = conn.execute(text("SELECT id, batch_id FROM wells")).all()
        batches = conn.execute(text(
            "SELECT b.id, c.spec_yaml FROM batches b JOIN campaigns c ON c.id = b.campaign_id"
        )).all()
        audit = conn.execute(text("SELECT action, detail FROM audit_log")).all()
        rows = [Row(*r) for r in conn.execute(text(
            "SELECT id, well_id, upload_id, quantity, value, status, supersedes_id, "
            "source_file_sha256 FROM measurements ORDER BY id"))]
    upload_sha = {u.id: u.sha256 for u in uploads}
    per_upload = Counter(r.upload_id for r in rows if r.upload_id is not None
                         and r.source_file_sha256 == upload_sha.get(r.upload_id))
    for u in uploads:
        want = u.n_new + u.n_superseding
        if per_upload[u.id] != want:
            problems.append(f"upload {u.id}: {per_upload[u.id]} of its {want} values stored")
    known_sha = set(upload_sha.values())
    for r in rows:
        if r.upload_id is not None and r.upload_id not in upload_sha:
            problems.append(f"measurement {r.id} names missing upload {r.upload_id}")
        if r.source_file_sha256 is not None and r.source_file_sha256 not in known_sha:
            problems.append(f"measurement {r.id} comes from a file with no upload row")
    ingest_audit = Counter(_json(d).get("upload_id") for a, d in audit
                           if a == "measurements.ingest")
    for u in uploads:
        if ingest_audit[u.id] != 1:
            problems.append(f"upload {u.id}: {ingest_audit[u.id]} audit rows (want 1)")
    if set(ingest_audit) - set(upload_sha):
        orphans = sorted(set(ingest_audit) - set(upload_sha))
        problems.append(f"audit rows for missing uploads {orphans}")
    n_wells = Counter(w.batch_id for w in wells)
    propose_audit = Counter(_json(d).get("batch_id") for a, d in audit if a == "batch.propose")
    sizes: dict[str, int] = {}
    for b in batches:
        if b.spec_yaml not in sizes:
            sizes[b.spec_yaml] = CampaignSpec.from_yaml(b.spec_yaml).plate.wells
        if n_wells[b.id] != sizes[b.spec_yaml]:
            problems.append(f"batch {b.id}: {n_wells[b.id]} of {sizes[b.spec_yaml]} wells stored")
        if propose_audit[b.id] != 1:
            problems.append(f"batch {b.id}: {propose_audit[b.id]} audit rows (want 1)")
    problems += chains(rows)[1]
    return problems


# --- plates and sheets (test side: these import planner) ------------------------------------
def new_campaign(url: str, name: str, *, template: str = "hard-carbon",
                 week: str | None = "2026-W10") -> int | None:
    """Create a campaign from a template; with ``week``, propose its plate. The batch id."""
    from campaigns.store import Store
    from campaigns.templates import load_template

    with Store.open(url) as store:
        store.create_campaign(load_template(template, name=name))
        if week is None:
            return None
        from planner.weekly import suggest_plate

        return suggest_plate(store, name, week=week, fast=True).batch.id


def simulated_sheet(url: str, campaign: str, batch_id: int, *, seed: int) -> bytes:
    """The plate's sheet filled by the virtual lab (SIMULATED values; ``seed`` varies them)."""
    from campaigns.store import Store
    from planner.simulation.virtual_lab import run_plate, sheet_bytes

    with Store.open(url) as store:
        spec, batch = store.spec(campaign), store.batch(campaign, batch_id)
    return sheet_bytes(run_plate(spec, batch, seed=seed, plate_index=0))


# --- the kill protocol ----------------------------------------------------------------------
@dataclass
class Kill:
    """What one SIGKILL did."""

    operation: str
    delay_s: float
    """Seconds after the child said ready (the CLI: after it started)."""
    interrupted: bool
    """The process was still running when the signal was sent."""
    outcome: str = ""
    """:data:`LANDED`, :data:`ROLLED_BACK` or :data:`BROKEN`."""
    problems: list[str] = field(default_factory=list)


class Scenario:
    """One operation to kill: ``job`` starts it, ``judge`` inspects the database afterwards."""

    name = ""
    url = ""

    def job(self) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, report: dict[str, Any]) -> tuple[str, list[str]]:
        raise NotImplementedError

    def attempt(self, server: ForkServer, delay: float | None) -> tuple[Kill, float]:
        """Run the operation once (killed ``delay`` s after ready); judge it; its duration."""
        report = server.run([self.job()], kill_after=delay)[0]
        kill = Kill(self.name, delay or 0.0, bool(report["killed"]))
        if not report["ready"]:
            kill.outcome, kill.problems = BROKEN, [f"worker failed before the write: {report}"]
            return kill, 0.0
        if not report["killed"] and not report.get("ok"):
            kill.outcome, kill.problems = BROKEN, [f"uninterrupted write failed: {report}"]
            return kill, report["seconds_after_ready"]
        kill.outcome, kill.problems = self.judge(report)
        if not report["killed"] and kill.outcome != LANDED:
            kill.problems.append(f"finished but {kill.outcome}")
            kill.outcome = BROKEN
        return kill, report["seconds_after_ready"]

    def reopen_problems(self) -> list[str]:
        """``Store.open`` must work after any kill; then every invariant must hold."""
        from campaigns.store import Store

        try:
            Store.open(self.url).close()
        except Exception as exc:  # noqa: BLE001 - a test failure, described
            return [f"Store.open failed after the kill: {type(exc).__name__}: {exc}"]
        return check_store(self.url)


class IngestCrash(Scenario):
    """``ingest`` of a full 96-well plate sheet (SIMULATED values, new ones every time)."""

    name = "ingest"

    def __init__(self, url: str, workdir: Path, *, campaign: str = "crash-ingest") -> None:
        self.url, self.workdir, self.campaign = url, workdir, campaign
        self.batch_id = new_campaign(url, campaign)
        self.round = 0
        self.sha = ""

    def job(self) -> dict[str, Any]:
        import hashlib

        self.round += 1
        data = simulated_sheet(self.url, self.campaign, self.batch_id, seed=self.round)
        self.sha = hashlib.sha256(data).hexdigest()
        path = self.workdir / f"{self.campaign}-{self.round}.csv"
        path.write_bytes(data)
        return {"kind": "ingest", "db": self.url, "campaign": self.campaign, "file": str(path),
                "batch_id": self.batch_id}

    def judge(self, report: dict[str, Any]) -> tuple[str, list[str]]:
        from sqlalchemy import text

        problems = self.reopen_problems()
        with _connect(self.url) as conn:
            upload = conn.execute(text("SELECT id, n_new, n_superseding, n_unchanged FROM uploads "
                                       "WHERE sha256 = :s"), {"s": self.sha}).all()
            stored = conn.execute(text("SELECT count(*) FROM measurements WHERE "
                                       "source_file_sha256 = :s"), {"s": self.sha}).scalar_one()
        if not upload:
            if stored:
                problems.append(f"{stored} values of a file with no upload row")
            return (BROKEN if problems else ROLLED_BACK), problems
        u = upload[0]
        if stored != u.n_new + u.n_superseding:
            problems.append(f"upload {u.id}: {stored} of {u.n_new + u.n_superseding} values")
        if stored == 0:
            problems.append(f"upload {u.id} stored no value (every sheet differs)")
        accounted = u.n_new + u.n_superseding + u.n_unchanged
        if "n_records" in report and accounted != report["n_records"]:
            problems.append(f"upload {u.id} accounts for {accounted} of the file's "
                            f"{report['n_records']} values")
        return (BROKEN if problems else LANDED), problems


class SuggestCrash(Scenario):
    """``suggest`` of a new week's 96-well plate (space-filling: the campaign has no data)."""

    name = "suggest"

    def __init__(self, url: str, *, campaign: str = "crash-suggest") -> None:
        self.url, self.campaign = url, campaign
        new_campaign(url, campaign, week=None)
        self._weeks = (f"{y}-W{w:02d}" for y in range(2030, 2100) for w in range(1, 53))
        self.week = ""

    def job(self) -> dict[str, Any]:
        self.week = next(self._weeks)
        return {"kind": "suggest", "db": self.url, "campaign": self.campaign, "week": self.week}

    def judge(self, report: dict[str, Any]) -> tuple[str, list[str]]:
        from sqlalchemy import text

        problems = self.reopen_problems()
        with _connect(self.url) as conn:
            found = conn.execute(text(
                "SELECT b.id, (SELECT count(*) FROM wells w WHERE w.batch_id = b.id) "
                "FROM batches b JOIN campaigns c ON c.id = b.campaign_id "
                "WHERE c.name = :c AND b.iso_week = :w"),
                {"c": self.campaign, "w": self.week}).all()
        if len(found) > 1:
            problems.append(f"{len(found)} plates for {self.week}")
        if found and found[0][1] != 96:
            problems.append(f"plate {found[0][0]} has {found[0][1]} of 96 wells")
        if problems:
            return BROKEN, problems
        return (LANDED if found else ROLLED_BACK), problems


class CliSuggestCrash(SuggestCrash):
    """``planner suggest`` through the real command line (start-up, imports and all)."""

    name = "planner suggest (CLI)"

    def attempt(self, server: ForkServer, delay: float | None) -> tuple[Kill, float]:
        job = self.job()
        cmd = [sys.executable, "-m", "planner.cli", "suggest", "--campaign", self.campaign,
               "--week", job["week"], "--fast", "--db", self.url]
        env = {**os.environ, "PLANNER_FAST": "1", "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        interrupted = False
        if delay is not None:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.kill()  # Popen has not reaped it: the pid is still this process
                interrupted = True
        _, err = proc.communicate(timeout=300)
        seconds = time.perf_counter() - start
        kill = Kill(self.name, delay or 0.0, interrupted)
        if not interrupted and proc.returncode != 0:
            kill.outcome = BROKEN
            kill.problems = [f"exit code {proc.returncode}: {err.decode(errors='replace')[-2000:]}"]
            return kill, seconds
        kill.outcome, kill.problems = self.judge({})
        if not interrupted and kill.outcome != LANDED:
            kill.problems.append(f"finished but {kill.outcome}")
            kill.outcome = BROKEN
        return kill, seconds


def _alembic_config() -> Any:
    from importlib import resources

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def build_old_database(path: Path, *, revision: str = "0002", raced: bool = True) -> None:
    """A SQLite database at Alembic ``revision`` holding a campaign, a plate and three uploads.

    Written with plain SQL in the shape of that revision: a 96-well plate whose seed needs more
    than 31 bits, an upload of three values per sample well, a second upload correcting 24 of
    them, and (with ``raced``) a third that raced the second: it superseded 6 of the same first
    values, so those chains fork and the upgrade repairs them. Audit rows for all of it.
    """
    from alembic import command
    from sqlalchemy import create_engine, text

    from campaigns.plate import well_names
    from campaigns.templates import load_template

    engine = create_engine(f"sqlite:///{path}")
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        spec = load_template("hard-carbon", name="legacy")
        at = "2026-03-02 09:00:00.000000"
        seed = 3_987_654_321
        with engine.begin() as conn:
            def add(sql: str, **values: Any) -> int:
                return int(conn.execute(text(sql + " RETURNING id"), values).scalar_one())

            camp = add("INSERT INTO campaigns (name, description, owner, spec_yaml, created_at, "
                       "updated_at) VALUES ('legacy', 'before the upgrade', 'ana', :y, :t, :t)",
                       y=spec.to_yaml(), t=at)
            add("INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES "
                "(:t, 'ana', 'campaign.create', :c, '{}')", t=at, c=camp)
            batch = add("INSERT INTO batches (campaign_id, iso_week, status, generator, seed, "
                        "data_revision, model_info, warnings, created_at) VALUES (:c, '2026-W10', "
                        "'completed', 'space-filling (scrambled Sobol)', :s, 0, '{}', '[]', :t)",
                        c=camp, s=seed, t=at)
            add("INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES "
                "(:t, 'ana', 'batch.propose', :c, :d)", t=at, c=camp,
                d=json.dumps({"batch_id": batch, "seed": seed}))
            wells = {}
            for i, name in enumerate(well_names(96)):
                recipe = {"precursor": "cellulose", "carbonization_temperature_c": 900 + 5 * i}
                wells[name] = add(
                    "INSERT INTO wells (batch_id, well, role, recipe, predictions, seed) VALUES "
                    "(:b, :w, :r, :rec, '{}', :s)", b=batch, w=name,
                    r="control" if i < 2 else "sample", rec=json.dumps(recipe), s=seed)
            samples = list(wells)[2:]
            quantities = (("ice_pct", "%", 70.0), ("reversible_capacity_mah_per_g", "mAh/g", 250.0),
                          ("d002_nm", "nm", 0.38))
            first: dict[tuple[str, str], int] = {}
            # The third upload raced the second: it superseded the same first values (a fork).
            files = (("a" * 64, samples), ("b" * 64, samples[:24]), ("c" * 64, samples[18:30]))
            files = files if raced else files[:2]
            for k, (sha, fixes) in enumerate(files):
                n = len(fixes) * len(quantities)
                upload = add(
                    "INSERT INTO uploads (campaign_id, batch_id, filename, sha256, uploaded_by, "
                    "uploaded_at, n_new, n_superseding, n_unchanged) VALUES (:c, :b, :f, :h, "
                    "'ana', :t, :nn, :ns, 0)", c=camp, b=batch, f=f"week10-{k}.csv", h=sha, t=at,
                    nn=0 if k else n, ns=n if k else 0)
                add("INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES "
                    "(:t, 'ana', 'measurements.ingest', :c, :d)", t=at, c=camp,
                    d=json.dumps({"upload_id": upload, "batch_id": batch, "sha256": sha}))
                for j, name in enumerate(fixes):
                    for q, unit, base in quantities:
                        mid = add(
                            "INSERT INTO measurements (well_id, upload_id, quantity, value, unit, "
                            "status, source_file_sha256, source_row, supersedes_id, ingested_at) "
                            "VALUES (:w, :u, :q, :v, :unit, 'ok', :h, :row, :sup, :t)",
                            w=wells[name], u=upload, q=q, v=base * (1 + 0.001 * j + 0.01 * k),
                            unit=unit, h=sha, row=j + 4, sup=first.get((name, q)), t=at)
                        first.setdefault((name, q), mid)
    finally:
        engine.dispose()


_DATA_TABLES = ("campaigns", "batches", "wells", "uploads", "measurements", "audit_log")


def table_dump(url: str, *, tables: tuple[str, ...] = _DATA_TABLES,
               columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` ordered by id (only ``columns[table]`` when given)."""
    from sqlalchemy import inspect, text

    with _connect(url) as conn:
        out = {}
        for t in tables:
            cols = (columns or {}).get(t) or [c["name"] for c in inspect(conn).get_columns(t)]
            out[t] = [tuple(r) for r in conn.execute(text(
                f"SELECT {', '.join(cols)} FROM {t} ORDER BY id"))]
        return out


def sqlite_schema(path: Path) -> list[tuple[Any, ...]]:
    """Every table (columns, foreign keys), index and trigger, in a canonical order.

    Not the ``CREATE TABLE`` text: Alembic's batch mode writes a table's foreign keys in an
    order that changes from one Python process to the next.
    """
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        out = []
        for kind, name, table, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"):
            if kind == "table":
                cols = tuple(tuple(r) for r in conn.execute(f'PRAGMA table_info("{name}")'))
                fks = tuple(sorted(tuple(r[2:]) for r in conn.execute(
                    f'PRAGMA foreign_key_list("{name}")')))
                out.append((kind, name, table, cols, fks))
            else:
                out.append((kind, name, table, sql))
        return sorted(out, key=repr)
    finally:
        conn.close()


def alembic_version(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()


class UpgradeCrash(Scenario):
    """``Store.open`` of a database at revision 0002: the automatic schema upgrade to head.

    After a kill the database must be exactly the old one (schema, revision and every row) or
    exactly what an uninterrupted upgrade makes of it; a later ``Store.open`` must then finish
    the upgrade with the same result.
    """

    name = "schema upgrade"

    def __init__(self, workdir: Path, *, revision: str = "0002", raced: bool = True) -> None:
        from campaigns.store import Store

        self.workdir, self.revision = workdir, revision
        self.name = f"{self.name} ({'raced chains' if raced else 'clean chains'})"
        self.pristine = workdir / f"at-{revision}.db"
        build_old_database(self.pristine, revision=revision, raced=raced)
        self.columns = {t: _columns(self.pristine, t) for t in _DATA_TABLES}
        self.old_schema = sqlite_schema(self.pristine)
        self.old_data = self._dump(self.pristine)
        self.head = head_revision()
        reference = workdir / "upgraded.db"
        shutil.copy(self.pristine, reference)
        Store.open(f"sqlite:///{reference}").close()
        self.new_schema = sqlite_schema(reference)
        self.new_data = self._dump(reference)
        self.round = 0
        self.path = self.pristine

    def _dump(self, path: Path) -> dict[str, list[tuple[Any, ...]]]:
        """Rows of the old schema's columns; the time of audit rows the upgrade wrote masked."""
        dump = table_dump(f"sqlite:///{path}", columns=self.columns)
        old_ids = {r[0] for r in getattr(self, "old_data", dump)["audit_log"]}
        at = self.columns["audit_log"].index("at")
        dump["audit_log"] = [r if r[0] in old_ids else (*r[:at], None, *r[at + 1:])
                             for r in dump["audit_log"]]
        return dump

    def job(self) -> dict[str, Any]:
        self.round += 1
        self.path = self.workdir / f"upgrade-{self.round}.db"
        shutil.copy(self.pristine, self.path)
        self.url = f"sqlite:///{self.path}"
        return {"kind": "open", "db": self.url}

    def judge(self, report: dict[str, Any]) -> tuple[str, list[str]]:
        problems: list[str] = []
        schema, version, data = (sqlite_schema(self.path), alembic_version(self.path),
                                 self._dump(self.path))
        if (schema, version, data) == (self.old_schema, [self.revision], self.old_data):
            outcome = ROLLED_BACK
        elif (schema, version, data) == (self.new_schema, [self.head], self.new_data):
            outcome = LANDED
        else:
            outcome = BROKEN
            old, new = set(self.old_schema), set(self.new_schema)
            odd = [s[:2] for s in schema if s not in old and s not in new]
            missing = [s[:2] for s in self.new_schema if s not in set(schema)]
            same = "old" if data == self.old_data else "new" if data == self.new_data else "neither"
            problems.append(f"half-upgraded: revision {version}, objects of neither schema {odd}, "
                            f"missing from the new one {missing[:6]}, data as in {same} database")
        problems += self.reopen_problems()
        if sqlite_schema(self.path) != self.new_schema or alembic_version(self.path) != [self.head]:
            problems.append("Store.open after the kill did not finish the upgrade")
        if self._dump(self.path) != self.new_data:
            problems.append("after Store.open the data differ from an uninterrupted upgrade's")
        self.path.unlink()
        return (BROKEN if problems else outcome), problems


def _columns(path: Path, table: str) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def kill_rounds(scenario: Scenario, server: ForkServer, n: int, *, seed: int,
                spread: tuple[float, float] = (0.0, 1.1),
                on_kill: Callable[[Kill], None] | None = None) -> list[Kill]:
    """Kill ``scenario`` ``n`` times at random points; every outcome, judged.

    One uninterrupted run first measures how long the operation takes; the kills then land at
    delays drawn uniformly from ``spread`` times that duration (seeded, so a failure repeats).
    """
    import random

    rng = random.Random(seed)
    first, duration = scenario.attempt(server, None)
    if first.outcome != LANDED:
        raise AssertionError(f"{scenario.name}: the uninterrupted run {first.outcome}: "
                             f"{first.problems}")
    kills = []
    for _ in range(n):
        kill, seconds = scenario.attempt(server, rng.uniform(*spread) * duration)
        if not kill.interrupted and seconds > 0:
            duration = 0.5 * (duration + seconds)  # follow the machine's load
        kills.append(kill)
        if on_kill is not None:
            on_kill(kill)
    return kills


if __name__ == "__main__":
    serve()
