"""kill -9 at random points never leaves half a write: every write lands whole or not at all.

Each test kills one operation at delays drawn (seeded) over its measured duration, then opens
the store again and checks every invariant (``tests/integration/_workers.py``): an upload row
exists iff all its values do, a plate iff all its wells do, no value without its upload, exactly
one current value per (well, quantity). ``benchmarks/crash_safety.py`` runs the same protocol
with hundreds of kills.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._workers import (
    BROKEN,
    LANDED,
    ROLLED_BACK,
    CliSuggestCrash,
    ForkServer,
    IngestCrash,
    Kill,
    SuggestCrash,
    UpgradeCrash,
    kill_rounds,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    with ForkServer() as srv:
        yield srv


def _assert_whole(kills: list[Kill], n: int) -> Counter[str]:
    assert len(kills) == n
    broken = [(k.delay_s, k.problems) for k in kills if k.outcome == BROKEN]
    assert not broken, f"{len(broken)} of {n} kills left a broken database: {broken}"
    outcomes = Counter(k.outcome for k in kills)
    assert set(outcomes) <= {LANDED, ROLLED_BACK}
    return outcomes


def test_kill_during_ingest_of_a_96_well_plate(tmp_path: Path, server: ForkServer) -> None:
    scenario = IngestCrash(f"sqlite:///{tmp_path / 'ingest.db'}", tmp_path)
    kills = kill_rounds(scenario, server, 16, seed=19)
    outcomes = _assert_whole(kills, 16)
    # The kills landed inside the write: they interrupted it, and some rolled it back.
    assert sum(k.interrupted for k in kills) >= 4, kills
    assert outcomes[ROLLED_BACK] >= 1, kills


def test_kill_during_suggest(tmp_path: Path, server: ForkServer) -> None:
    scenario = SuggestCrash(f"sqlite:///{tmp_path / 'suggest.db'}")
    kills = kill_rounds(scenario, server, 6, seed=23)
    outcomes = _assert_whole(kills, 6)
    assert sum(k.interrupted for k in kills) >= 2, kills
    assert outcomes[ROLLED_BACK] >= 1, kills


def test_kill_the_planner_suggest_command(tmp_path: Path, server: ForkServer) -> None:
    # The real CLI spends its first second or so importing; it touches the database only near
    # the end, so the kills fall in the second half of its measured run time.
    scenario = CliSuggestCrash(f"sqlite:///{tmp_path / 'cli.db'}", campaign="crash-cli")
    kills = kill_rounds(scenario, server, 3, seed=29, spread=(0.5, 1.05))
    _assert_whole(kills, 3)
    assert any(k.interrupted for k in kills), kills


@pytest.mark.parametrize(("raced", "n"), [(False, 10), (True, 5)],
                         ids=["clean-chains", "raced-chains"])
def test_kill_during_the_automatic_schema_upgrade(tmp_path: Path, server: ForkServer,
                                                  raced: bool, n: int) -> None:
    # "raced": the old database holds forked chains from a past upload race, which the upgrade
    # repairs (UPDATEs and audit rows) before it adds the unique indexes.
    scenario = UpgradeCrash(tmp_path, raced=raced)
    # The fixture really is an old database that the upgrade changes.
    assert scenario.old_schema != scenario.new_schema
    assert (scenario.old_data != scenario.new_data) is raced
    kills = kill_rounds(scenario, server, n, seed=31)
    outcomes = _assert_whole(kills, n)
    assert outcomes[ROLLED_BACK] >= 1, kills
