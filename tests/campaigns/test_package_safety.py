"""Pulling a hostile data package: no network, nothing outside its folder, bounded sizes."""

from __future__ import annotations

import bz2
import gzip
import json
import socket
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaigns.limits import LimitError
from campaigns.shared_dataset import PackageError, SharedDataset, read_package
from campaigns.store import Store
from tests.campaigns.test_shared_dataset import LAB_X_FIELDS, _db_state, _foreign, _lab_x_frame


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to open a connection, recorded (and failed) instead of made."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("test: network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture
def shared(tmp_path: Path) -> SharedDataset:
    store = Store.open(f"sqlite:///{tmp_path / 'lab.db'}")
    return SharedDataset(store.engine)


def _pkg(tmp_path: Path, name: str = "x") -> Path:
    return _foreign(tmp_path / name, _lab_x_frame(), [dict(f) for f in LAB_X_FIELDS])


def _edit(pkg: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    desc = json.loads((pkg / "datapackage.json").read_text())
    change(desc)
    (pkg / "datapackage.json").write_text(json.dumps(desc))
    return pkg


def _res(desc: dict[str, Any]) -> dict[str, Any]:
    return desc["resources"][0]


URL = "https://data.example.org/evil.json"
REMOTE: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "resource-path": (lambda d: _res(d).update(path="https://data.example.org/x.csv"),
                      "resources[0].path"),
    "resource-data-url": (lambda d: _res(d).update(data=URL), "resources[0].data"),
    "dialect-url": (lambda d: _res(d).update(dialect=URL), "resources[0].dialect"),
    "dialect-file": (lambda d: _res(d).update(dialect="../dialect.json"),
                     "resources[0].dialect"),
    "schema-url": (lambda d: _res(d).update(schema=URL), "resources[0].schema"),
    "package-profile": (lambda d: d.update(profile=URL), "profile"),
    "package-$schema": (lambda d: d.update({"$schema": URL}), "$schema"),
    "fiscal-profile": (lambda d: d.update(profile="fiscal-data-package"), "profile"),
    "resource-profile": (lambda d: _res(d).update(profile=URL), "resources[0].profile"),
    "foreign-key-package": (lambda d: _res(d)["schema"].update(foreignKeys=[{
        "fields": ["sample"], "reference": {"package": URL, "resource": "s", "fields": ["id"]}}]),
        "resources[0].schema.foreignKeys[0].reference.package"),
    "nested-dialect": (lambda d: _res(d).update(dialect={"csv": {"delimiter": ",",
                                                                 "control": {"path": URL}}}),
                       "resources[0].dialect.csv.control.path"),
    "ftp-inside-field": (lambda d: _res(d)["schema"]["fields"][1].update(
        missingValues=["", "ftp://data.example.org/na"]),
        "resources[0].schema.fields[1].missingValues[1]"),
    "scheme": (lambda d: _res(d).update(scheme="https"), "resources[0].scheme"),
    "ref": (lambda d: _res(d)["schema"].update({"$ref": URL}), "resources[0].schema.$ref"),
}


@pytest.mark.parametrize("case", list(REMOTE), ids=str)
def test_remote_references_are_refused_without_touching_the_network(
        tmp_path: Path, shared: SharedDataset, offline: list[Any], case: str) -> None:
    change, where = REMOTE[case]
    pkg = _edit(_pkg(tmp_path), change)
    before = _db_state(shared)
    with pytest.raises(PackageError) as info:
        shared.pull(pkg)
    assert offline == []  # refused by us, not by a failed connection
    assert where in [p.column for p in info.value.problems], info.value.problems
    problem = next(p for p in info.value.problems if p.column == where)
    assert "refused" in problem.message and "never from the network" in (problem.hint or "")
    assert _db_state(shared) == before
    with pytest.raises(PackageError):
        read_package(pkg, quarantine=True)
    assert offline == []


def test_metadata_urls_and_standard_profiles_pull_offline(
        tmp_path: Path, shared: SharedDataset, offline: list[Any]) -> None:
    def metadata(d: dict[str, Any]) -> None:
        d["$schema"] = "https://datapackage.org/profiles/2.0/datapackage.json"
        d["homepage"] = "https://lab-x.example.org"
        d["description"] = "https://lab-x.example.org/methods describes the synthesis."
        d["contributors"] = [{"title": "Lab X", "path": "https://orcid.org/0000-0002-1825-0097"}]
        d["sources"] = [{"title": "Paper", "path": "https://doi.org/10.1000/x"}]
        _res(d)["$schema"] = "https://datapackage.org/profiles/2.0/dataresource.json"
        _res(d)["schema"]["fields"][5]["rdfType"] = "https://schema.org/identifier"

    result = shared.pull(_edit(_pkg(tmp_path), metadata))
    assert result.n_new == 3 and offline == []


def _outside_file(tmp_path: Path) -> Path:
    outside = tmp_path / "secret.csv"
    _lab_x_frame().to_csv(outside, index=False)
    return outside


def _dotdot(pkg: Path, outside: Path) -> None:
    _edit(pkg, lambda d: _res(d).update(path="../secret.csv"))


def _absolute(pkg: Path, outside: Path) -> None:
    _edit(pkg, lambda d: _res(d).update(path=str(outside)))


def _symlinked_resource(pkg: Path, outside: Path) -> None:
    (pkg / "data.csv").unlink()
    (pkg / "data.csv").symlink_to(outside)


def _symlinked_descriptor(pkg: Path, outside: Path) -> None:
    elsewhere = outside.parent / "elsewhere.json"
    (pkg / "datapackage.json").rename(elsewhere)
    (pkg / "datapackage.json").symlink_to(elsewhere)


@pytest.mark.parametrize("escape", [_dotdot, _absolute, _symlinked_resource,
                                    _symlinked_descriptor], ids=lambda f: f.__name__.strip("_"))
def test_files_outside_the_package_folder_are_refused(
        tmp_path: Path, shared: SharedDataset, escape: Callable[[Path, Path], None]) -> None:
    pkg = _pkg(tmp_path)
    escape(pkg, _outside_file(tmp_path))
    with pytest.raises(PackageError) as info:
        shared.pull(pkg)
    assert any("outside the package folder" in p.message for p in info.value.problems)
    assert shared.is_empty()


# --- sizes -----------------------------------------------------------------------------------
def _big_frame(n: int) -> pd.DataFrame:
    """A lab-x table of ``n`` identical rows (50 bytes each): packs 500-fold, as bombs do."""
    return pd.DataFrame({"sample": ["s1"] * n, "T_carb": 1100.0,
                         "d002": 3.8, "ICE": 0.8, "Capacity": 0.3, "DOI": "10.1000/x"})


def _compressed(pkg: Path, frame: pd.DataFrame, kind: str) -> Path:
    """Replace the resource by a ``kind``-compressed CSV of ``frame``."""
    text = frame.to_csv(index=False).encode()
    (pkg / "data.csv").unlink()
    name = f"data.csv.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(pkg / name, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("data.csv", text)
    else:
        (pkg / name).write_bytes({"gz": gzip.compress, "bz2": bz2.compress}[kind](text))
    return _edit(pkg, lambda d: _res(d).update(path=name))


@pytest.mark.parametrize("kind", ["zip", "gz", "bz2"])
def test_small_compressed_resources_still_pull(tmp_path: Path, shared: SharedDataset,
                                               kind: str) -> None:
    pkg = _compressed(_pkg(tmp_path), _lab_x_frame(), kind)
    assert shared.pull(pkg).n_new == 3
    assert list(shared.rows(source="lab-x")["row_id"]) == ["x1", "x2", "x3"]


@pytest.mark.parametrize("kind", ["zip", "gz", "bz2"])
def test_compression_bombs_are_refused_before_reading(
        tmp_path: Path, shared: SharedDataset, kind: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 40,000 identical rows: 2 MB of CSV that packs into a few kB (ratio far above 100).
    pkg = _compressed(_pkg(tmp_path), _big_frame(40_000), kind)
    packed = next(pkg.glob("data.csv.*")).stat().st_size
    assert packed < 40_000
    read: list[object] = []
    monkeypatch.setattr("frictionless.Resource.validate", lambda *a, **k: read.append(a))
    with pytest.raises(LimitError) as info:
        shared.pull(pkg)
    assert "bomb" in str(info.value) and "PLANNER_MAX_COMPRESSION_RATIO" in (info.value.hint or "")
    assert read == [] and shared.is_empty()


@pytest.mark.parametrize("kind", ["plain", "zip", "gz"])
def test_resources_over_the_size_limit_are_refused(
        tmp_path: Path, shared: SharedDataset, kind: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNER_MAX_RESOURCE_MB", "0.01")  # 10 kB
    pkg = _pkg(tmp_path)
    frame = _big_frame(1_000).assign(sample=[f"{i:08x}{i * 7919:012x}" for i in range(1_000)])
    if kind == "plain":
        frame.to_csv(pkg / "data.csv", index=False)
    else:
        _compressed(pkg, frame, kind)
    with pytest.raises(LimitError) as info:
        shared.pull(pkg)
    assert "more than the limit of 10,000 bytes" in str(info.value)
    assert "PLANNER_MAX_RESOURCE_MB" in (info.value.hint or "") and shared.is_empty()


def test_oversized_descriptor_is_refused(tmp_path: Path, shared: SharedDataset,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNER_MAX_RESOURCE_MB", "0.001")
    pkg = _edit(_pkg(tmp_path), lambda d: d.update(description="x" * 2_000))
    with pytest.raises(LimitError, match="datapackage.json is 2,"):
        shared.pull(pkg)


@pytest.mark.parametrize("depth", [40, 100_000], ids=["over-the-limit", "past-recursion"])
def test_deeply_nested_descriptor_is_refused(tmp_path: Path, shared: SharedDataset,
                                             depth: int) -> None:
    pkg = _pkg(tmp_path)
    text = (pkg / "datapackage.json").read_text()
    (pkg / "datapackage.json").write_text(text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(LimitError, match="nested") as info:
        shared.pull(pkg)
    assert "datapackage.json" in str(info.value) and info.value.hint
    with pytest.raises(LimitError):
        read_package(pkg)


def test_a_package_that_reads_as_no_rows_is_refused(tmp_path: Path,
                                                    shared: SharedDataset) -> None:
    pkg = _pkg(tmp_path)
    _lab_x_frame().head(0).to_csv(pkg / "data.csv", index=False)
    with pytest.raises(PackageError, match="holds no rows") as info:
        shared.pull(pkg)
    assert "hard-carbons" in info.value.problems[0].message
    assert "dialect" in (info.value.hint or "") and shared.is_empty()


def test_other_formats_than_csv_are_refused(tmp_path: Path, shared: SharedDataset) -> None:
    pkg = _pkg(tmp_path)
    _lab_x_frame().to_json(pkg / "data.json")
    _edit(pkg, lambda d: _res(d).update(path="data.json"))
    with pytest.raises(PackageError) as info:
        shared.pull(pkg)
    assert "only CSV (or TSV)" in info.value.problems[0].message


# --- zipped packages -------------------------------------------------------------------------
def _zip_folder(folder: Path, out: Path, *, extra: dict[str, bytes] | None = None,
                prefix: str = "lab-x/") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out


def test_zipped_package_pulls_like_its_folder(tmp_path: Path, shared: SharedDataset,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    pkg = _pkg(tmp_path)
    zipped = _zip_folder(pkg, tmp_path / "lab-x.zip", extra={"__MACOSX/._data.csv": b"junk"})
    result = shared.pull(zipped)
    assert result.n_new == 3 and shared.source("lab-x").origin.endswith("lab-x.zip")
    assert shared.pull(zipped).already_pulled
    assert shared.pull(pkg).already_pulled  # the same bytes as the folder
    assert list(scratch.iterdir()) == []  # the unpacked copy is gone


def test_zipped_package_bomb_is_refused(tmp_path: Path, shared: SharedDataset) -> None:
    pkg = _pkg(tmp_path)
    zipped = _zip_folder(pkg, tmp_path / "bomb.zip",
                         extra={"lab-x/padding.csv": b"0" * 3_000_000})
    with pytest.raises(LimitError, match="bomb"):
        shared.pull(zipped)
    assert shared.is_empty()


def test_zipped_package_over_the_unpacked_limit_is_refused(
        tmp_path: Path, shared: SharedDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNER_MAX_UNPACKED_MB", "0.0005")
    zipped = _zip_folder(_pkg(tmp_path), tmp_path / "lab-x.zip")
    with pytest.raises(LimitError, match="PLANNER_MAX_UNPACKED_MB|more than the limit"):
        shared.pull(zipped)


def _link_member(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("lab-x/data2.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


@pytest.mark.parametrize(("member", "expected"), [
    ("lab-x/../../escape.csv", "outside the package folder"),
    ("lab-x/link", "a link"),
], ids=["dotdot", "symlink"])
def test_zip_members_that_leave_the_folder_are_refused(
        tmp_path: Path, shared: SharedDataset, member: str, expected: str) -> None:
    zipped = _zip_folder(_pkg(tmp_path), tmp_path / "lab-x.zip")
    with zipfile.ZipFile(zipped, "a") as zf:
        if member.endswith("link"):
            _link_member(zf)
        else:
            zf.writestr(member, "a,b\n1,2\n")
    with pytest.raises(PackageError) as info:
        shared.pull(zipped)
    assert any(expected in p.message for p in info.value.problems), info.value.problems
    assert not (tmp_path.parent / "escape.csv").exists() and shared.is_empty()


def test_a_damaged_zip_is_refused_by_name(tmp_path: Path, shared: SharedDataset) -> None:
    zipped = _zip_folder(_pkg(tmp_path), tmp_path / "lab-x.zip")
    zipped.write_bytes(zipped.read_bytes()[:-30])  # cut into the central directory
    with pytest.raises(PackageError, match="not a readable zip file"):
        shared.pull(zipped)
    assert shared.is_empty()
