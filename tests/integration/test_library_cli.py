"""`planner campaign create` and `planner library import|show|verify` with a big library.

``PLANNER_SMALL_LIBRARY_ROWS=100`` makes a 300-row table "big", so the columnar path (chunked
import, progress bar, reference in the database) runs in a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from campaigns.store import Store
from tests.integration.test_cli_roundtrip import _run


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"material": [f"M{i:05d}" for i in range(n)],
                         "d002_nm": np.round(rng.uniform(0.34, 0.40, n), 4),
                         "bet_ssa_m2_per_g": np.round(rng.uniform(1, 400, n), 1),
                         "family": rng.choice(["hard", "soft"], n)})


def _spec(folder: Path, name: str, table: str) -> Path:
    spec = {"name": name, "library": {"path": table, "id_column": "material",
                                      "inputs": ["d002_nm", "bet_ssa_m2_per_g", "family"],
                                      "categorical": ["family"]},
            "targets": [{"name": "ice_pct", "threshold": 80.0},
                        {"name": "reversible_capacity_mah_per_g"}]}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    monkeypatch.setenv("PLANNER_DB_URL", url)
    monkeypatch.setenv("PLANNER_SMALL_LIBRARY_ROWS", "100")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    return url, tmp_path


def test_create_import_show_verify(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    _table(300).to_csv(tmp / "lib.csv", index=False)
    out = _run("campaign", "create", "anodes", "--spec", str(_spec(tmp, "anodes", "lib.csv")))
    assert "library of 300 candidates" in out and "300/300 rows" in out
    with Store.open(url) as store:
        table = store.library_table("anodes", full_check=True)
        assert table is not None and table.n_rows == 300
        assert table.path.parent == tmp / "lab.libraries"
        assert store.library("anodes") is None

    out = _run("library", "show", "anodes")
    assert "300 candidates" in out and "bet_ssa_m2_per_g" in out and "hard, soft" in out
    assert "OK" in _run("library", "verify", "anodes")

    _table(400, seed=1).to_csv(tmp / "v2.csv", index=False)
    out = _run("library", "import", "anodes", "v2.csv", "--chunk-rows", "1000")
    assert "Imported 400 candidates x 3 inputs" in out
    with Store.open(url) as store:
        assert store.library_table("anodes").n_rows == 400  # type: ignore[union-attr]


def test_bad_tables_leave_nothing(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    good = _table(300)
    good.to_csv(tmp / "lib.csv", index=False)
    _run("campaign", "create", "anodes", "--spec", str(_spec(tmp, "anodes", "lib.csv")))
    files = sorted((tmp / "lab.libraries").iterdir())

    dup = good.copy()
    dup.loc[250, "material"] = "M00007"
    dup.to_csv(tmp / "dup.csv", index=False)
    out = _run("library", "import", "anodes", "dup.csv", code=2)
    assert "Row 252" in out and "'M00007'" in out and "repeats the ID of row 9" in out
    assert "Hint: Give every candidate its own ID." in " ".join(out.split())

    text = (tmp / "lib.csv").read_bytes()
    (tmp / "cut.csv").write_bytes(text[: len(text) - 9])
    out = _run("campaign", "create", "cut", "--spec", str(_spec(tmp, "cut", "cut.csv")), code=2)
    assert "cut off" in out and "Row 301" in out

    words = good.astype({"bet_ssa_m2_per_g": object})
    words.loc[120, "bet_ssa_m2_per_g"] = "high"
    words.to_csv(tmp / "words.csv", index=False)
    out = _run("library", "import", "anodes", "words.csv", code=2)
    assert 'Row 122, column "bet_ssa_m2_per_g": \'high\': is not a number.' in out

    assert sorted((tmp / "lab.libraries").iterdir()) == files  # no partial or orphan file
    with Store.open(url) as store:
        assert store.campaign_names() == ["anodes"]
        assert store.library_table("anodes").n_rows == 300  # type: ignore[union-attr]


def test_a_small_table_gets_the_same_checks_and_becomes_rows(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    text = _table(50).to_csv(index=False).encode()
    (tmp / "cut.csv").write_bytes(text[: len(text) - 9])
    out = _run("campaign", "create", "small", "--spec", str(_spec(tmp, "small", "cut.csv")),
               code=2)
    assert "Row 51" in out and "cut off" in out
    (tmp / "ok.csv").write_bytes(text)
    out = _run("campaign", "create", "small", "--spec", str(_spec(tmp, "small", "ok.csv")))
    assert "library of 50 candidates" in out and "rows" not in out  # no bar for a small table
    with Store.open(url) as store:
        assert len(store.library("small")) == 50 and store.library_table("small") is None
        assert not (tmp / "lab.libraries").exists()
