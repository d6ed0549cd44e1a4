"""kill -9 at hundreds of random points: does any write ever land half-way?

The protocol of ``tests/integration/test_crash_safety.py`` (the same code:
``tests/integration/_workers.py``), with many more kills. Each operation is run once without
interruption to measure how long it takes; then it is killed with SIGKILL at delays drawn
uniformly (seeded) over that duration. After every kill the store is opened again and every
invariant is checked: an upload row exists iff all its values exist, a plate iff all its wells
exist, no value without its upload, exactly one current value per (well, quantity), and
``Store.open`` works. Each kill is counted as *landed whole*, *rolled back* or *broken* (a
failure: must be 0).

Operations: ``ingest`` of a 96-well plate sheet (SIMULATED values), ``suggest`` of a new week's
96-well plate, the real ``planner suggest`` command, and the automatic schema ``upgrade`` of a
revision-0002 SQLite database (with and without chains forked by a past race).

Run::

    .venv/bin/python benchmarks/crash_safety.py                # 100 kills on SQLite
    .venv/bin/python benchmarks/crash_safety.py --kills 400
    .venv/bin/python benchmarks/crash_safety.py \
        --db postgresql+psycopg://planner@127.0.0.1:5432/postgres

``--db`` also runs ingest, suggest and the CLI on PostgreSQL, in a new database created on that
server (and dropped afterwards); the upgrade runs on SQLite only. The exit code is 1 if any
kill left a broken database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.integration._workers import (  # noqa: E402
    BROKEN,
    LANDED,
    ROLLED_BACK,
    CliSuggestCrash,
    ForkServer,
    IngestCrash,
    Kill,
    Scenario,
    SuggestCrash,
    UpgradeCrash,
    fresh_postgres_database,
    kill_rounds,
)

#: Share of the kills per operation (the CLI costs a Python start-up per kill).
SHARES = {"ingest": 0.4, "suggest": 0.25, "cli": 0.1, "upgrade": 0.25}
#: Where in the operation's measured duration the kills land: the CLI imports for its first
#: half and touches the database only near the end.
SPREAD = {"cli": (0.5, 1.05)}


def _split(total: int, operations: list[str]) -> dict[str, int]:
    weights = {op: SHARES[op] for op in operations}
    scale = sum(weights.values())
    counts = {op: max(1, round(total * w / scale)) for op, w in weights.items()}
    counts[operations[0]] += total - sum(counts.values())
    return counts


def _scenarios(url: str | None, workdir: Path, op: str) -> list[Scenario]:
    if op == "ingest":
        return [IngestCrash(url or f"sqlite:///{workdir / 'ingest.db'}", workdir)]
    if op == "suggest":
        return [SuggestCrash(url or f"sqlite:///{workdir / 'suggest.db'}")]
    if op == "cli":
        return [CliSuggestCrash(url or f"sqlite:///{workdir / 'cli.db'}", campaign="crash-cli")]
    (workdir / "clean").mkdir()
    (workdir / "raced").mkdir()
    return [UpgradeCrash(workdir / "clean", raced=False), UpgradeCrash(workdir / "raced")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="kills per database (default 100)")
    parser.add_argument("--db", help="also run on this PostgreSQL server (a new database on it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--operations", default="ingest,suggest,cli,upgrade",
                        help="comma-separated subset of ingest, suggest, cli, upgrade")
    args = parser.parse_args()
    operations = [op.strip() for op in args.operations.split(",") if op.strip()]
    unknown = set(operations) - set(SHARES)
    if unknown or not operations:
        parser.error(f"unknown operations {sorted(unknown)}; choose from {', '.join(SHARES)}")
    console = Console()
    if not console.is_terminal:  # the whole table in logs and pipes
        console.width = 140
    results: list[tuple[str, str, list[Kill], float]] = []
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.db:
        backends.append(("PostgreSQL", args.db))
    with ExitStack() as stack:
        server = stack.enter_context(ForkServer())
        for b, (backend, server_url) in enumerate(backends):
            ops = [op for op in operations if not (server_url and op == "upgrade")]
            plan = _split(args.kills, ops)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[tally]}"), console=console) as progress:
                for i, op in enumerate(ops):
                    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                    url = None
                    if server_url:
                        url = stack.enter_context(fresh_postgres_database(server_url, "crash"))
                    scenarios = _scenarios(url, workdir, op)
                    for k, scenario in enumerate(scenarios):
                        n = plan[op] // len(scenarios) + (k < plan[op] % len(scenarios))
                        tally: Counter[str] = Counter()
                        task = progress.add_task(f"{backend} · {scenario.name}", total=n,
                                                 tally="")

                        def step(kill: Kill, task: int = task, tally: Counter[str] = tally) -> None:
                            tally[kill.outcome] += 1
                            progress.update(task, advance=1, tally=", ".join(
                                f"{v} {o}" for o, v in sorted(tally.items())))
                            if kill.outcome == BROKEN:
                                progress.console.print(
                                    f"[red]BROKEN[/] after {kill.delay_s:.3f} s: {kill.problems}")

                        start = time.perf_counter()
                        kills = kill_rounds(scenario, server, n, seed=args.seed + 1000 * b
                                            + 100 * i + k, spread=SPREAD.get(op, (0.0, 1.1)),
                                            on_kill=step)
                        results.append((backend, scenario.name, kills, time.perf_counter() - start))
    table = Table(title=f"kill -9 during writes ({sum(len(k) for _, _, k, _ in results)} kills)",
                  header_style="bold")
    for col in ("database", "operation", "kills", "interrupted", "landed whole", "rolled back",
                "broken (must be 0)", "time [s]"):
        table.add_column(col, justify="left" if col in ("database", "operation") else "right")
    broken = 0
    for backend, name, kills, seconds in results:
        c = Counter(k.outcome for k in kills)
        broken += c[BROKEN]
        table.add_row(backend, name, str(len(kills)), str(sum(k.interrupted for k in kills)),
                      str(c[LANDED]), str(c[ROLLED_BACK]),
                      f"[red]{c[BROKEN]}[/]" if c[BROKEN] else "0", f"{seconds:.0f}")
    console.print(table)
    for backend, name, kills, _ in results:
        for k in kills:
            if k.outcome == BROKEN:
                console.print(f"{backend} · {name} · killed after {k.delay_s:.3f} s: "
                              f"{k.problems}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
