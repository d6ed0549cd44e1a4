"""Creating a library campaign in the dashboard: spec + candidate table uploaded on the
Campaigns page; a big table imports in the background with a progress bar that a re-run shows.

``PLANNER_SMALL_LIBRARY_ROWS=100`` makes a 300-row table "big". The big import is held after
its first chunk (the real import, its progress callback wrapped) so the test sees the bar.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import campaigns.library as library_module
from campaigns.store import Store

SPEC = {"name": "anodes", "library": {"id_column": "material",
                                      "inputs": ["d002_nm", "bet_ssa_m2_per_g"]},
        "targets": [{"name": "ice_pct", "threshold": 80.0}]}


def _csv(n: int, *, duplicate: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"material": [f"M{i:04d}" for i in range(n)],
                          "d002_nm": np.round(rng.uniform(0.34, 0.4, n), 4),
                          "bet_ssa_m2_per_g": np.round(rng.uniform(1, 400, n), 1)})
    if duplicate:
        table.loc[n - 1, "material"] = "M0003"
    return table.to_csv(index=False).encode()


@pytest.fixture
def page(app_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("PLANNER_SMALL_LIBRARY_ROWS", "100")
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    Store.open(url).close()
    at = app_factory(url, campaign=None)
    at.run()
    at.switch_page("views/campaigns.py").run()
    return at, url, tmp_path


def _upload(at, table: bytes, spec: dict | None = None) -> None:  # noqa: ANN001
    text = yaml.safe_dump(spec or SPEC).encode()
    at.file_uploader(key="library_spec_upload").set_value(("anodes.yaml", text, "text/yaml"))
    at.file_uploader(key="library_table_upload").set_value(("lib.csv", table, "text/csv"))
    at.run()
    at.button(key="create_library").click().run()


def _rerun_until(at, seen, timeout: float = 30.0) -> None:  # noqa: ANN001
    """Re-run the page (as its one-second refresh does) until ``seen(at)``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        if seen(at):
            return
        time.sleep(0.2)
    raise AssertionError("the page never showed the end of the import")


def test_a_small_table_becomes_database_rows(page) -> None:  # noqa: ANN001
    at, url, _ = page
    _upload(at, _csv(40))
    assert not at.exception
    assert "Created library campaign **anodes**" in at.success[0].value
    with Store.open(url) as store:
        assert len(store.library("anodes")) == 40 and store.library_table("anodes") is None


def test_a_big_table_imports_in_the_background_with_progress(page, monkeypatch) -> None:  # noqa: ANN001
    at, url, tmp = page
    release, held = threading.Event(), threading.Event()
    real = library_module.import_library

    def held_import(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        outer = kwargs["progress"]

        def progress(done: int, total: int | None) -> None:
            outer(done, total)
            if done == 100:  # hold after the first chunk
                held.set()
                release.wait(30)

        return real(*args, **{**kwargs, "progress": progress, "chunk_rows": 100})

    monkeypatch.setattr(library_module, "import_library", held_import)
    _upload(at, _csv(300))
    assert held.wait(30)
    at.run()  # a re-run of the page shows the running import
    bars = [p for p in at.get("progress")]
    assert bars, "no progress bar while the import runs"
    text = bars[0].proto.text
    assert "anodes" in text and "100 of ~300 rows" in text
    with Store.open(url) as store:
        assert store.campaign_names() == []  # nothing exists until the import is complete

    release.set()
    _rerun_until(at, lambda at: any("Created library campaign **anodes**" in s.value
                                    for s in at.success))
    with Store.open(url) as store:
        table = store.library_table("anodes", full_check=True)
        assert table is not None and table.n_rows == 300
    at.run()  # the new campaign is selected: its spec editor says where the candidates are
    assert any("300 candidates in anodes-" in i.value and "columnar store" in i.value
               for i in at.info)


def test_a_bad_big_table_shows_the_problem_and_leaves_nothing(page) -> None:  # noqa: ANN001
    at, url, tmp = page
    _upload(at, _csv(300, duplicate=True))
    _rerun_until(at, lambda at: any("failed" in e.value for e in at.error))
    message = " ".join(e.value for e in at.error)
    assert "no campaign was created" in message and "Row 301" in message
    assert "M0003" in message and "repeats the ID of row 5" in message
    assert any("Give every candidate its own ID" in i.value for i in at.info)
    with Store.open(url) as store:
        assert store.campaign_names() == []
    folder = tmp / "lab.libraries"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_recipe_spec_is_sent_to_the_other_tabs(page) -> None:  # noqa: ANN001
    at, _, _ = page
    from campaigns.templates import load_template

    _upload(at, _csv(10), spec=load_template("hard-carbon", name="hc").to_dict())
    assert any("is not a library spec" in e.value for e in at.error)
