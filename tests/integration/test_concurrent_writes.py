"""Writers racing on one plate chain their values: one current value each, nothing lost.

Each round forks several processes (``tests/integration/_workers.py``) that wait at a barrier
and then, all at once, upload different correction files for the same 24 wells of one plate,
correct single values, and (from the second round) retract the previous round's winning upload.
Afterwards every (well, quantity) must have exactly one current value, every chain must be
linear with ids growing along it (each writer superseded the value current when it got the
lock), every writer's values must be in the history, and the current value must be the last
writer's. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from campaigns.columns import column
from campaigns.store import Store
from tests.integration._workers import (
    ForkServer,
    chains,
    check_store,
    fresh_postgres_database,
    measurement_rows,
    new_campaign,
)

CAMPAIGN = "race"
QUANTITIES = ("ice_pct", "reversible_capacity_mah_per_g", "d002_nm")
#: Value of well i for writer w in round r: base + i * step + (1 + w + 10 r) * tick, so no two
#: writers ever send the same value (each one's values are stored, never "unchanged").
BASE = {"ice_pct": (70.0, 0.5, 0.001), "reversible_capacity_mah_per_g": (250.0, 2.0, 0.01),
        "d002_nm": (0.37, 0.0005, 0.000001)}
UPLOADERS, ROUNDS = 3, 4


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    with ForkServer() as srv:
        yield srv


def _value(q: str, i: int, writer: int, rnd: int) -> str:
    base, step, tick = BASE[q]
    return f"{base + i * step + (1 + writer + 10 * rnd) * tick:.7f}"


def _sheet(batch_id: int, wells: list[str], writer: int, rnd: int) -> tuple[bytes, dict]:
    """A correction file for ``wells`` and its values, (well, quantity) → float."""
    header = ["Batch", "Well", *(column(q).label for q in QUANTITIES)]
    lines, values = [",".join(header)], {}
    for i, well in enumerate(wells):
        cells = [_value(q, i, writer, rnd) for q in QUANTITIES]
        lines.append(",".join([str(batch_id), well, *cells]))
        values.update({(well, q): float(c) for q, c in zip(QUANTITIES, cells, strict=True)})
    return ("\n".join(lines) + "\n").encode(), values


def _well_ids(url: str, batch_id: int) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT well, id FROM wells WHERE batch_id = :b"),
                                     {"b": batch_id}).all())
    finally:
        engine.dispose()


def _current_upload(url: str) -> int:
    """The upload whose values are current for most (well, quantity) pairs."""
    ordered, _ = chains(measurement_rows(url))
    heads = [c[-1].upload_id for c in ordered.values() if c[-1].upload_id is not None]
    return max(set(heads), key=heads.count)


def _race(url: str, server: ForkServer, tmp_path: Path) -> dict[str, int]:
    batch_id = new_campaign(url, CAMPAIGN)
    assert batch_id is not None
    with Store.open(url) as store:
        wells = [w.well for w in store.batch(CAMPAIGN, batch_id).wells if w.role == "sample"][:24]
    ids = _well_ids(url, batch_id)
    tally = {"rounds": 0, "uploads": 0, "corrections": 0, "retractions": 0, "writers": 0}
    for rnd in range(ROUNDS):
        jobs: list[dict[str, Any]] = []
        sent: dict[int, dict] = {}
        for w in range(UPLOADERS):
            data, values = _sheet(batch_id, wells, w, rnd)
            path = tmp_path / f"r{rnd}-w{w}.csv"
            path.write_bytes(data)
            sent[len(jobs)] = values
            jobs.append({"kind": "ingest", "db": url, "campaign": CAMPAIGN, "file": str(path),
                         "batch_id": batch_id, "actor": f"writer{w}"})
        corrections = [(wells[0], "ice_pct", UPLOADERS), (wells[1], "d002_nm", UPLOADERS + 1)]
        for well, q, w in corrections:
            i = wells.index(well)
            sent[len(jobs)] = {(well, q): float(_value(q, i, w, rnd))}
            jobs.append({"kind": "correct", "db": url, "campaign": CAMPAIGN, "batch_id": batch_id,
                         "well": well, "quantity": q, "value": float(_value(q, i, w, rnd)),
                         "note": f"round {rnd} fix", "actor": f"writer{w}"})
        if rnd:
            jobs.append({"kind": "retract", "db": url, "campaign": CAMPAIGN,
                         "upload_id": _current_upload(url), "reason": f"round {rnd} retraction"})
        last_id = max((r.id for r in measurement_rows(url)), default=0)
        reports = server.run(jobs, barrier=True)

        failed = [r for r in reports if not (r["ready"] and r.get("ok"))]
        assert not failed, failed
        assert not any("locked" in str(r.get("message", "")).lower() for r in reports)
        assert check_store(url) == []
        rows = measurement_rows(url)
        ordered, problems = chains(rows)
        assert problems == []
        # No value lost: every writer's values are in the history, exactly as sent.
        for k, values in sent.items():
            if jobs[k]["kind"] == "ingest":
                upload_id = reports[k]["upload_id"]
                mine = {(r.well_id, r.quantity): r.value for r in rows if r.upload_id == upload_id}
                assert reports[k]["n_unchanged"] == 0
            else:
                new_id = int(reports[k]["returned"])
                mine = {(r.well_id, r.quantity): r.value for r in rows if r.id == new_id}
            assert mine == {(ids[w], q): v for (w, q), v in values.items()}, jobs[k]
        # Every writer of this round is on each chain it touched, once, in lock order; the
        # current value is the last writer's.
        touched: dict[tuple[int, str], int] = {}
        for values in sent.values():
            for w, q in values:
                touched[ids[w], q] = touched.get((ids[w], q), 0) + 1
        for key, n_writers in touched.items():
            chain = ordered[key]
            new = [r for r in chain if r.id > last_id and r.status != "retracted"]
            assert len(new) == n_writers, (key, chain)
            assert chain[-1].id == max(r.id for r in rows if (r.well_id, r.quantity) == key)
        with Store.open(url) as store:
            current = store.measurements(CAMPAIGN)
        assert not current.duplicated(["batch_id", "well", "quantity"]).any()
        tally["rounds"] += 1
        tally["writers"] += len(jobs)
        tally["uploads"] += UPLOADERS
        tally["corrections"] += len(corrections)
        tally["retractions"] += bool(rnd)
    return tally


def test_racing_writers_on_sqlite(tmp_path: Path, server: ForkServer) -> None:
    tally = _race(f"sqlite:///{tmp_path / 'race.db'}", server, tmp_path)
    assert tally["rounds"] == ROUNDS


@pytest.mark.postgres
def test_racing_writers_on_postgres(tmp_path: Path, server: ForkServer, postgres_url: str) -> None:
    with fresh_postgres_database(postgres_url, prefix="race") as url:
        tally = _race(url, server, tmp_path)
    assert tally["rounds"] == ROUNDS
