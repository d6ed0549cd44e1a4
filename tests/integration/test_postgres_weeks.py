"""A year of weekly plates on PostgreSQL: every default seed (up to 2**32 - 1) is stored as is.

Default seeds are 32-bit hashes of campaign and week (:func:`planner.weekly.default_seed`), so
about half of them do not fit PostgreSQL's 32-bit INTEGER; before migration 0003 those weeks
failed with NumericValueOutOfRange. The test proposes every ISO week of a year for a few
campaigns and reads each plate's seed back.
"""

from __future__ import annotations

from datetime import date

import pytest

from campaigns.store import Store
from campaigns.templates import load_template
from planner.weekly import default_seed, suggest_plate
from tests.integration._workers import fresh_postgres_database

pytestmark = pytest.mark.postgres

CAMPAIGNS = {"hc-north": "hard-carbon", "hc-south": "hard-carbon", "el-east": "electrolyte"}
YEAR = 2026


def _weeks(year: int) -> list[str]:
    n = date(year, 12, 28).isocalendar()[1]  # 28 December is always in the year's last week
    return [f"{year}-W{w:02d}" for w in range(1, n + 1)]


def test_every_week_of_a_year_stores_its_default_seed(postgres_url: str) -> None:
    weeks = _weeks(YEAR)
    assert len(weeks) == 53  # 2026 has a week 53: the year's edge is covered too
    seeds = {(c, w): default_seed(c, w) for c in CAMPAIGNS for w in weeks}
    # The weeks cover the overflow: seeds that need the 32nd bit, and the smaller ones.
    assert sum(s >= 2**31 for s in seeds.values()) >= 40
    assert sum(s < 2**31 for s in seeds.values()) >= 40
    with fresh_postgres_database(postgres_url, prefix="weeks") as url:
        with Store.open(url) as store:
            assert store.engine.dialect.name == "postgresql"
            for name, template in CAMPAIGNS.items():
                spec = load_template(template, name=name)
                store.create_campaign(spec)
                for week in weeks:
                    batch = suggest_plate(store, name, week=week, fast=True).batch
                    assert batch.seed == seeds[name, week]
        with Store.open(url) as store:  # read back through a new connection
            for name, template in CAMPAIGNS.items():
                size = load_template(template, name=name).plate.wells
                batches = store.batches(name)
                assert [b.iso_week for b in batches] == weeks
                for b in batches:
                    assert b.seed == seeds[name, b.iso_week], (name, b.iso_week)
                    assert len(b.wells) == size
                    assert {w.seed for w in b.wells} == {seeds[name, b.iso_week]}
                frame = store.snapshot(name).batches
                assert frame["seed"].astype("int64").tolist() == [seeds[name, w] for w in weeks]
            assert max(b.seed for n in CAMPAIGNS for b in store.batches(n)) >= 2**31
