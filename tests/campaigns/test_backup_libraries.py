"""`planner db backup` / `restore` carry big-library Parquet files in ``OUT.libraries/``.

``PLANNER_SMALL_LIBRARY_ROWS=100`` makes a 300-row table "big" (a Parquet file next to the
database, referenced and checksummed from it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from campaigns import backup as bk
from campaigns.library_store import import_library
from campaigns.library_table import file_sha256
from campaigns.spec import CampaignSpec
from campaigns.store import Store
from planner.cli import app

runner = CliRunner()
SPEC = CampaignSpec.from_dict({
    "name": "anodes", "library": {"inputs": ["d002_nm", "family"], "categorical": ["family"],
                                  "id_column": "material"},
    "targets": [{"name": "ice_pct", "threshold": 80.0}]})


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def _csv(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame({"material": [f"M{i:04d}" for i in range(n)],
                  "d002_nm": rng.uniform(0.34, 0.40, n),
                  "family": rng.choice(["hard", "soft"], n)}).to_csv(path, index=False)
    return path


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A database with a big library imported twice (the second import is current)."""
    monkeypatch.setenv("PLANNER_SMALL_LIBRARY_ROWS", "100")
    monkeypatch.delenv("PLANNER_LIBRARY_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    with Store.open(url) as store:
        first = import_library(_csv(tmp_path / "v1.csv", 300, 0), spec=SPEC,
                               dest_dir=store.library_dir)
        store.create_campaign(SPEC, library_table=first)
        second = import_library(_csv(tmp_path / "v2.csv", 320, 1), spec=SPEC,
                                dest_dir=store.library_dir)
        store.attach_library("anodes", second)
    return url, tmp_path


def _current(url: str) -> Path:
    with Store.open(url) as store:
        table = store.library_table("anodes")
        assert table is not None
        return table.path


def test_backup_and_restore_carry_the_library(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    live = _current(url)
    out = _cli("db", "backup", str(tmp / "bk" / "b.db"), "--db", url, code=1)  # no folder yet
    (tmp / "bk").mkdir()
    out = _cli("db", "backup", str(tmp / "bk" / "b.db"), "--db", url)
    assert "1 library table(s)" in out and "b.db.libraries/" in out and "Warning" not in out
    folder = tmp / "bk" / "b.db.libraries"
    manifest = json.loads((folder / "manifest.json").read_text())
    # Only the current table (the first import stays behind, for provenance only).
    assert [e["path"] for e in manifest["files"]] == [live.name]
    assert file_sha256(folder / live.name) == file_sha256(live) == manifest["files"][0]["sha256"]

    (tmp / "elsewhere").mkdir()
    target = f"sqlite:///{tmp / 'elsewhere' / 'restored.db'}"
    out = _cli("db", "restore", str(tmp / "bk" / "b.db"), "--db", target)
    assert "1 library table(s)" in out and "restored.libraries/" in out
    with Store.open(target) as store:
        table = store.library_table("anodes", full_check=True)
        assert table is not None and table.n_rows == 320
        assert table.path == tmp / "elsewhere" / "restored.libraries" / live.name
        assert table.take([5])["candidate_id"].tolist() == ["M0005"]


def test_a_damaged_library_copy_changes_nothing(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    info = bk.backup(url, tmp / "b.db")
    assert info.library_files and info.library_folder == tmp / "b.db.libraries"
    copy = tmp / "b.db.libraries" / info.library_files[0]
    data = bytearray(copy.read_bytes())
    data[100] ^= 0xFF
    copy.write_bytes(bytes(data))
    target = tmp / "new" / "restored.db"
    with pytest.raises(bk.BackupError, match="does not match its SHA-256") as err:
        bk.restore(f"sqlite:///{target}", tmp / "b.db")
    assert "nothing was changed" in (err.value.hint or "")
    assert not target.exists() and not any((tmp / "new").rglob("*.parquet*"))

    # A live file damaged since its import is not backed up as if it were fine.
    live = _current(url)
    raw = bytearray(live.read_bytes())
    raw[100] ^= 0xFF
    live.write_bytes(bytes(raw))
    with pytest.raises(bk.BackupError, match="does not match its SHA-256 checksum"):
        bk.backup(url, tmp / "c.db")
    assert not (tmp / "c.db").exists() and not (tmp / "c.db.libraries").exists()
    assert not [p for p in tmp.iterdir() if p.name.startswith(".c.db")]  # no temporaries


def test_a_missing_library_file_is_named(lab: tuple[str, Path]) -> None:
    url, tmp = lab
    _current(url).unlink()
    out = _cli("db", "backup", str(tmp / "b.db"), "--db", url)
    assert "Warning: library table NOT in the backup" in out and "the file is missing" in out
    assert (tmp / "b.db").is_file() and not (tmp / "b.db.libraries").exists()
    out = _cli("db", "restore", str(tmp / "b.db"), "--db", f"sqlite:///{tmp / 'r.db'}")
    assert "Warning: library table not restored" in out and "not in the backup" in out
