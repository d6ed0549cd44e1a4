"""Fixtures shared by the store tests."""

from __future__ import annotations

import pytest

from campaigns.models import Base
from campaigns.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    """An empty store on SQLite and, where a server runs, on PostgreSQL."""
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    else:
        store = Store.open(request.getfixturevalue("postgres_url"))
        # Each test gets empty tables on the shared server.
        with store.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    yield store
    store.close()
