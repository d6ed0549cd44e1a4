"""Shared dataset: publish FAIR packages, pull them losslessly, map units, refuse bad packages."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from frictionless import validate
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from campaigns.errors import CampaignError
from campaigns.ingest import MeasurementRecord, ParsedPlate
from campaigns.models import AuditRow, SharedDataRow, SharedSourceRow
from campaigns.plate import fill_layout
from campaigns.shared_dataset import (
    LicenceError,
    PackageError,
    SharedDataset,
    SourceConflictError,
    parse_contributor,
    publish_campaign,
    read_package,
)
from campaigns.shared_dataset.seed import (
    CSV,
    calisol23_descriptor,
    data_dir,
    write_calisol23_package,
)
from campaigns.shared_dataset.units import conversion, guess_conversion, normalize_unit
from campaigns.store import Store
from campaigns.templates import load_template
from planner.design import space_filling_design
from tests.campaigns.test_migrations import empty_url  # noqa: F401 - SQLite, PostgreSQL

VALUES = ("ice_pct", "reversible_capacity_mah_per_g", "d002_nm", "bet_ssa_m2_per_g")
UNITS = {"ice_pct": "%", "reversible_capacity_mah_per_g": "mAh/g", "d002_nm": "nm",
         "bet_ssa_m2_per_g": "m²/g"}


def _plate(records: list[MeasurementRecord], tag: str) -> ParsedPlate:
    return ParsedPlate(filename=f"{tag}.csv", sha256=hashlib.sha256(tag.encode()).hexdigest(),
                       batch_id=None, n_rows=len(records), records=tuple(records), warnings=())


def make_campaign(store: Store, name: str = "hc", n_wells: int = 12) -> None:
    """A hard-carbon campaign with one plate: measured wells, a failed synthesis, an outlier."""
    spec = load_template("hard-carbon", name=name)
    store.create_campaign(spec)
    recipes = space_filling_design(spec, spec.sample_well_count, seed=1).to_dict(orient="records")
    batch = store.save_batch(name, iso_week="2026-W48", wells=fill_layout(spec.plate, recipes),
                             generator="qLogNEHVI on GP", seed=7, data_revision=0,
                             model_info={"surrogate": "gp", "acquisition": "qLogNEHVI"})
    rng = np.random.default_rng(3)
    records = []
    for i, w in enumerate(batch.wells[:n_wells]):
        at = datetime(2026, 11, 24, 9, i, tzinfo=UTC)
        op = "ana" if i % 2 else "ben"
        if i == 4:
            records.append(MeasurementRecord(w.well, "status", None, "", "failed_synthesis", op,
                                             "furnace-2", at, i + 2, "collapsed"))
            continue
        status = "outlier" if i == 5 else "ok"
        for q, lo, hi in (("ice_pct", 60, 90), ("reversible_capacity_mah_per_g", 200, 350),
                          ("d002_nm", 0.36, 0.40), ("bet_ssa_m2_per_g", 2, 500)):
            records.append(MeasurementRecord(w.well, q, float(rng.uniform(lo, hi)), UNITS[q],
                                             status, op, "BioLogic VMP3", at, i + 2, None))
    store.ingest(name, _plate(records, "week48"), batch_id=batch.id)


@pytest.fixture
def source_store(tmp_path: Path):  # noqa: ANN201
    with Store.open(f"sqlite:///{tmp_path / 'lab-a.db'}") as store:
        make_campaign(store)
        yield store


def _fresh(tmp_path: Path, name: str = "lab-b") -> tuple[Store, SharedDataset]:
    store = Store.open(f"sqlite:///{tmp_path / f'{name}.db'}")
    return store, SharedDataset(store.engine)


def _db_state(shared: SharedDataset) -> tuple[int, int, int]:
    with shared.engine.connect() as conn:
        return tuple(conn.scalar(select(func.count()).select_from(t))  # type: ignore[return-value]
                     for t in (SharedSourceRow, SharedDataRow, AuditRow))


# --- publish -------------------------------------------------------------------------------
def test_published_package_is_valid_fair_data(source_store: Store, tmp_path: Path) -> None:
    result = publish_campaign(source_store, "hc", tmp_path / "pkg",
                              contributors=[parse_contributor("Ana Lima <ana@lab.example.org>")])
    report = validate(str(result.path))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    desc = json.loads(result.path.read_text())
    assert desc["licenses"][0]["name"] == "CC-BY-4.0" and desc["licenses"][0]["path"]
    assert {c["title"] for c in desc["contributors"]} == {"Ana Lima", "ana", "ben"}
    resources = {r["name"]: r for r in desc["resources"]}
    assert set(resources) == {"measurements", "failed_syntheses"}
    for res in resources.values():
        for f in res["schema"]["fields"]:
            assert f["type"] and f["description"] and "planner:role" in f, f
            if f["planner:role"] in ("descriptor", "target") or f["type"] == "number":
                assert f["unit"], f
    fields = {f["name"]: f for f in resources["measurements"]["schema"]["fields"]}
    assert fields["d002_nm"]["unit"] == "nm" and fields["ice_pct"]["constraints"]["maximum"] == 100
    assert {"operator", "instrument", "measured_at", "generator", "seed", "data_revision",
            "model", "acquisition", "well", "batch_id", "campaign"} <= set(fields)
    assert (result.n_measurements, result.n_failed) == (11, 1)
    failed = pd.read_csv(tmp_path / "pkg" / "failed_syntheses.csv")
    assert list(failed["status"]) == ["failed_synthesis"] and "ice_pct" not in failed


def test_row_ids_and_bytes_are_stable_across_republication(source_store: Store,
                                                           tmp_path: Path) -> None:
    first = publish_campaign(source_store, "hc", tmp_path / "one")
    second = publish_campaign(source_store, "hc", tmp_path / "two")
    for name in ("datapackage.json", "measurements.csv", "failed_syntheses.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    ids = pd.read_csv(first.path.parent / "measurements.csv")["row_id"]
    assert ids.is_unique and ids.str.fullmatch(r"[0-9a-f]{20}").all()
    assert second.n_measurements == first.n_measurements


def test_unknown_licence_is_refused(source_store: Store, tmp_path: Path) -> None:
    with pytest.raises(LicenceError) as info:
        publish_campaign(source_store, "hc", tmp_path / "pkg", licence="all-rights-reserved")
    assert "CC-BY-4.0" in (info.value.hint or "")


# --- pull ----------------------------------------------------------------------------------
def test_pull_into_fresh_database_reproduces_the_measurements(source_store: Store,
                                                              tmp_path: Path) -> None:
    pkg = publish_campaign(source_store, "hc", tmp_path / "pkg").path
    _, shared = _fresh(tmp_path)
    result = shared.pull(pkg)
    assert (result.n_new, result.n_quarantined, result.already_pulled) == (12, 0, False)
    original = source_store.export_frame("hc").sort_values(["batch_id", "well"])
    pulled = shared.rows(source="hc", kind=None).sort_values(["batch_id", "well"])
    assert list(pulled["well"]) == list(original["well"])
    spec = source_store.spec("hc")
    for col in [*spec.input_names, *VALUES]:
        a, b = original[col].to_numpy(), pulled[col].to_numpy()
        if col == "precursor":
            assert list(a) == list(b)
        else:
            np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=col)
    for col in ("status", "role", "operator", "instrument", "generator", "iso_week"):
        assert list(pulled[col]) == list(original[col]), col
    for col in ("batch_id", "seed", "data_revision"):
        assert list(pulled[col].astype(int)) == list(original[col].astype(int)), col
    assert (pd.to_datetime(original["measured_at"], utc=True).tolist()
            == pulled["measured_at"].tolist())
    assert set(pulled["model"]) == {"gp"} and set(pulled["acquisition"]) == {"qLogNEHVI"}
    info = shared.source("hc")
    units = {f["name"]: f["unit"] for f in info.fields if f["resource"] == "measurements"}
    assert all(units[q] == u for q, u in UNITS.items())
    assert info.licence == "CC-BY-4.0" and info.counts == {
        "measurement": 11, "failed_synthesis": 1, "quarantined": 0, "duplicate": 0}
    failed = shared.rows(source="hc", kind="failed_synthesis")
    assert list(failed["status"]) == ["failed_synthesis"]


def test_export_package_round_trips_through_a_third_database(source_store: Store,
                                                              tmp_path: Path) -> None:
    _, b = _fresh(tmp_path, "b")
    b.pull(publish_campaign(source_store, "hc", tmp_path / "pkg").path)
    exported = b.export_package("hc", tmp_path / "again")
    assert validate(str(exported)).valid
    _, c = _fresh(tmp_path, "c")
    c.pull(exported)
    cols = ["row_id", *VALUES, "operator", "measured_at", "status"]
    pd.testing.assert_frame_equal(b.rows(source="hc", kind=None)[cols],
                                  c.rows(source="hc", kind=None)[cols])
    assert c.source("hc").licence == "CC-BY-4.0"


def _foreign(folder: Path, frame: pd.DataFrame, fields: list[dict], **extra: object) -> Path:
    """Another lab's package, written by hand (not by our writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    desc = {"name": "lab-x", "title": "Lab X hard carbons",
            "licenses": [{"name": "CC0-1.0",
                          "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "resources": [{"name": "hard-carbons", "path": "data.csv",
                           "schema": {"fields": fields, "primaryKey": ["sample"]}}], **extra}
    (folder / "datapackage.json").write_text(json.dumps(desc))
    return folder


def _lab_x_frame() -> pd.DataFrame:
    return pd.DataFrame({"sample": ["x1", "x2", "x3"],
                         "T_carb": [1100.0, 1300.0, 1500.0],
                         "d002": [3.85, 3.75, 3.68],
                         "ICE": [0.71, 0.80, 0.86],
                         "Capacity": [0.29, 0.31, 0.30],
                         "DOI": ["10.1000/x", "10.1000/x", "10.1000/x"]})


LAB_X_FIELDS = [
    {"name": "sample", "type": "string"},
    {"name": "T_carb", "type": "number", "title": "Carbonization temperature (°C)"},
    {"name": "d002", "type": "number", "unit": "Å"},
    {"name": "ICE", "type": "number", "unit": "fraction"},
    {"name": "Capacity", "type": "number", "title": "Reversible capacity [Ah/g]"},
    {"name": "DOI", "type": "string"},
]


def test_declared_units_are_mapped_to_registry_units(tmp_path: Path) -> None:
    pkg = _foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS)
    _, shared = _fresh(tmp_path)
    shared.pull(pkg)
    rows = shared.rows(source="lab-x").set_index("row_id")
    np.testing.assert_allclose(rows["d002_nm"], [0.385, 0.375, 0.368])
    np.testing.assert_allclose(rows["ice_pct"], [71.0, 80.0, 86.0])
    np.testing.assert_allclose(rows["reversible_capacity_mah_per_g"], [290.0, 310.0, 300.0])
    np.testing.assert_allclose(rows["carbonization_temperature_c"], [1100, 1300, 1500])
    assert list(rows.index) == ["x1", "x2", "x3"] and set(rows["reference"]) == {"10.1000/x"}
    assert rows["domain"].iloc[0] == "hard-carbon"
    fields = {f["source_name"]: f for f in shared.source("lab-x").fields}
    assert (fields["d002"]["declared_unit"], fields["d002"]["unit"]) == ("Å", "nm")
    assert fields["ICE"]["scale"] == 100.0


def test_undeclared_units_fall_back_to_registry_hints(tmp_path: Path) -> None:
    fields = [dict(f) for f in LAB_X_FIELDS]
    for f in fields:
        f.pop("unit", None)
        f.pop("title", None)
    contents = read_package(_foreign(tmp_path / "x", _lab_x_frame(), fields))
    rec = {r.row_id: r.values for r in contents.records}
    assert rec["x1"]["ice_pct"] == pytest.approx(71.0)
    assert rec["x1"]["d002_nm"] == pytest.approx(0.385)
    assert {w.column for w in contents.warnings if "Multiplied" in w.message} >= {"ICE", "d002"}


@pytest.mark.parametrize(("text", "canonical"), [
    ("mAh g-1", "mAh/g"), ("mAh/g", "mAh/g"), ("Ah/g", "Ah/g"), ("Å", "Å"), ("angstrom", "Å"),
    ("mS cm⁻¹", "mS/cm"), ("S/cm", "S/cm"), ("K", "K"), ("°C", "°C"), ("fraction", "-"),
    ("M", "mol/L"), ("m", "mol/kg"), ("m²/g", "m²/g"), ("furlong", None),
], ids=lambda v: str(v))
def test_unit_spellings(text: str, canonical: str | None) -> None:
    assert normalize_unit(text) == canonical


def test_conversions_and_refusals() -> None:
    assert conversion("temperature_c", "K").apply(298.15) == pytest.approx(25.0)
    assert conversion("ionic_conductivity_ms_per_cm", "S/cm").apply(0.012) == pytest.approx(12.0)
    assert conversion("ice_pct", "%").identity
    with pytest.raises(CampaignError, match="cannot be converted") as info:
        conversion("salt_molality_mol_per_kg", "mol/L")
    assert "density" in (info.value.hint or "")
    with pytest.raises(CampaignError, match="not a unit of nm"):
        conversion("d002_nm", "mAh/g")
    # Fractions that are plausible as they are stay as they are.
    assert guess_conversion("ec_frac", [0.2, 0.5])[1] is None


# --- refused packages change nothing -------------------------------------------------------
def _break_json(pkg: Path) -> str:
    (pkg / "datapackage.json").write_text('{"name": "lab-x", "resources": [')
    return "not valid JSON"


def _drop_resource(pkg: Path) -> str:
    (pkg / "data.csv").unlink()
    return "missing"


def _type_error(pkg: Path) -> str:
    frame = _lab_x_frame().astype(object)
    frame.loc[1, "d002"] = "3.7 A"
    frame.to_csv(pkg / "data.csv", index=False)
    return "not a valid number"


def _out_of_range(pkg: Path) -> str:
    frame = _lab_x_frame()
    frame.loc[2, "ICE"] = 1.4  # 140 %
    frame.to_csv(pkg / "data.csv", index=False)
    return "outside the physically possible range"


def _duplicate_ids(pkg: Path) -> str:
    frame = _lab_x_frame()
    frame.loc[2, "sample"] = "x1"
    frame.to_csv(pkg / "data.csv", index=False)
    return "repeats row"


def _unknown_unit(pkg: Path) -> str:
    desc = json.loads((pkg / "datapackage.json").read_text())
    desc["resources"][0]["schema"]["fields"][2]["unit"] = "furlong"
    (pkg / "datapackage.json").write_text(json.dumps(desc))
    return "unknown unit"


@pytest.mark.parametrize("damage", [_break_json, _drop_resource, _type_error, _out_of_range,
                                    _duplicate_ids, _unknown_unit],
                         ids=lambda f: f.__name__.strip("_"))
def test_malformed_package_is_refused_and_changes_nothing(
        tmp_path: Path, damage) -> None:  # noqa: ANN001
    _, shared = _fresh(tmp_path)
    shared.pull(_foreign(tmp_path / "ok", _lab_x_frame(), LAB_X_FIELDS), name="earlier")
    before = _db_state(shared)
    pkg = _foreign(tmp_path / "bad", _lab_x_frame(), LAB_X_FIELDS)
    expected = damage(pkg)
    with pytest.raises(PackageError) as info:
        shared.pull(pkg, name="lab-x")
    assert any(expected in p.message for p in info.value.problems), info.value.problems
    assert _db_state(shared) == before
    assert [s.name for s in shared.sources()] == ["earlier"]


def test_row_problems_name_row_field_value(tmp_path: Path) -> None:
    pkg = _foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS)
    _out_of_range(pkg)
    with pytest.raises(PackageError) as info:
        read_package(pkg)
    (problem,) = info.value.problems
    assert (problem.row, problem.column, problem.value) == (4, "ICE", "1.4")
    assert "140" in problem.message and "--quarantine" in (info.value.hint or "")


def test_quarantine_keeps_valid_rows_and_reports_the_rest(tmp_path: Path) -> None:
    pkg = _foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS)
    _out_of_range(pkg)
    _, shared = _fresh(tmp_path)
    result = shared.pull(pkg, quarantine=True)
    assert (result.n_new, result.n_quarantined) == (2, 1)
    assert list(shared.rows(source="lab-x")["row_id"]) == ["x1", "x2"]
    report = shared.quarantine("lab-x")
    assert report.iloc[0][["row_id", "row", "field", "value"]].tolist() == ["x3", 4, "ICE", "1.4"]


# --- de-duplication ------------------------------------------------------------------------
def test_pulling_twice_changes_nothing(source_store: Store, tmp_path: Path) -> None:
    pkg = publish_campaign(source_store, "hc", tmp_path / "pkg").path
    _, shared = _fresh(tmp_path)
    shared.pull(pkg)
    before = _db_state(shared)
    again = shared.pull(pkg)
    assert again.already_pulled and _db_state(shared) == before


def test_republished_correction_appends_a_version_and_keeps_the_old_one(
        source_store: Store, tmp_path: Path) -> None:
    _, shared = _fresh(tmp_path)
    shared.pull(publish_campaign(source_store, "hc", tmp_path / "v1").path)
    batch = source_store.batches("hc")[0]
    well = batch.wells[1].well
    old = shared.rows(source="hc").set_index("well").loc[well, "ice_pct"]
    fix = MeasurementRecord(well, "ice_pct", 88.8, "%", "ok", "ana",
                            "BioLogic VMP3", datetime(2026, 11, 24, 9, 1, tzinfo=UTC), 3, None)
    source_store.ingest("hc", _plate([fix], "fix"), batch_id=batch.id)
    before = _db_state(shared)
    result = shared.pull(publish_campaign(source_store, "hc", tmp_path / "v2").path)
    assert (result.n_new, result.n_updated, result.n_unchanged) == (0, 1, 11)
    assert _db_state(shared)[1] == before[1] + 1  # one row appended, none changed in place

    rows = shared.rows(source="hc")
    assert rows.loc[rows["well"] == well, "ice_pct"].item() == 88.8 and len(rows) == 11
    history = shared.rows(source="hc", include_superseded=True)
    versions = history[history["well"] == well]
    assert versions["ice_pct"].tolist() == [old, 88.8] != [88.8, 88.8]
    assert versions["current"].tolist() == [False, True] and len(history) == 12
    # every reader sees the current version only
    spec = source_store.spec("hc")
    prior = shared.prior_for(spec.input_names, ["ice_pct"])
    assert 88.8 in prior.Y["ice_pct"].tolist() and old not in prior.Y["ice_pct"].tolist()
    assert len(prior) == int((rows["status"] == "ok").sum())
    assert shared.source("hc").counts["measurement"] == 11
    exported = pd.read_csv(shared.export_package("hc", tmp_path / "again").parent
                           / "measurements.csv")
    assert len(exported) == 11
    assert exported.loc[exported["well"] == well, "ice_pct"].item() == 88.8
    with shared.engine.connect() as conn:
        detail = conn.scalars(select(AuditRow.detail).where(AuditRow.action == "shared.pull")
                              .order_by(AuditRow.id.desc())).first()
    assert detail["updated_row_ids"] == versions["row_id"].tolist()[:1]


def test_a_row_fixed_in_a_new_version_leaves_the_quarantine(tmp_path: Path) -> None:
    pkg = _foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS)
    _out_of_range(pkg)
    _, shared = _fresh(tmp_path)
    shared.pull(pkg, quarantine=True)
    assert shared.quarantine("lab-x")["row_id"].tolist() == ["x3"]
    _lab_x_frame().to_csv(pkg / "data.csv", index=False)  # the publisher fixed x3
    result = shared.pull(pkg)
    assert (result.n_updated, result.n_unchanged, result.n_quarantined) == (1, 2, 0)
    assert shared.quarantine("lab-x").empty
    assert shared.rows(source="lab-x")["row_id"].tolist() == ["x1", "x2", "x3"]
    assert shared.source("lab-x").counts == {"measurement": 3, "failed_synthesis": 0,
                                             "quarantined": 0, "duplicate": 0}
    history = shared.rows(source="lab-x", include_superseded=True, include_quarantined=True)
    assert history[["row_id", "state", "current"]].values.tolist() == [
        ["x1", "accepted", True], ["x2", "accepted", True], ["x3", "quarantined", False],
        ["x3", "accepted", True]]


def _insert_version(shared: SharedDataset, supersedes: int | None) -> None:
    with shared.engine.begin() as conn:
        source = conn.scalar(select(SharedSourceRow.id))
        conn.execute(insert(SharedDataRow).values(
            source_id=source, row_id="x1", values={"ice_pct": 50.0}, values_sha256="0" * 64,
            supersedes_id=supersedes))


def test_the_database_keeps_one_current_version_per_row(tmp_path: Path) -> None:
    _, shared = _fresh(tmp_path)
    shared.pull(_foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS))
    with shared.engine.connect() as conn:
        x1 = conn.scalar(select(SharedDataRow.id).where(SharedDataRow.row_id == "x1"))
    with pytest.raises(IntegrityError):
        _insert_version(shared, None)  # a second first version of x1
    _insert_version(shared, x1)
    with pytest.raises(IntegrityError):
        _insert_version(shared, x1)  # x1 superseded twice: two current versions
    rows = shared.rows(source="lab-x").set_index("row_id")
    assert rows.loc["x1", "ice_pct"] == 50.0 and len(rows) == 3


# --- a source's identity -------------------------------------------------------------------
LAB_X_CITATION = {"planner:citation": "Lab X, J. Hard Carbon Data 1 (2026) 1."}


def test_a_package_that_merely_shares_a_name_does_not_replace_the_source(tmp_path: Path) -> None:
    _, shared = _fresh(tmp_path)
    shared.pull(_foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS, **LAB_X_CITATION))
    before = _db_state(shared)
    impostor = _foreign(tmp_path / "impostor", _lab_x_frame().assign(ICE=0.5), LAB_X_FIELDS,
                        title="Somebody else's carbons",
                        **{"planner:citation": "Somebody, unpublished."})
    with pytest.raises(SourceConflictError) as info:
        shared.pull(impostor)
    assert "'lab-x'" in str(info.value) and "citation" in str(info.value)
    assert "--as NAME" in (info.value.hint or "") and "--replace-source" in (info.value.hint or "")
    assert _db_state(shared) == before
    kept = shared.source("lab-x")
    assert (kept.title, kept.citation) == ("Lab X hard carbons", LAB_X_CITATION["planner:citation"])
    assert shared.rows(source="lab-x")["ice_pct"].tolist() == [71.0, 80.0, 86.0]

    assert shared.pull(impostor, name="somebody").n_new == 3  # under a name of its own
    result = shared.pull(impostor, replace_source=True)  # or, asked for, in place of lab-x
    assert result.metadata_changed == ("title", "citation") and result.n_updated == 3
    assert shared.source("lab-x").citation == "Somebody, unpublished."
    with shared.engine.connect() as conn:
        detail = conn.scalars(select(AuditRow.detail).where(AuditRow.action == "shared.pull")
                              .order_by(AuditRow.id.desc())).first()
    assert detail["replace_source"] is True
    assert detail["previous"]["title"] == "Lab X hard carbons"
    assert detail["previous"]["citation"] == LAB_X_CITATION["planner:citation"]
    assert detail["previous"]["origin"].endswith("x/datapackage.json")
    history = shared.rows(source="lab-x", include_superseded=True)
    assert history.loc[~history["current"], "ice_pct"].tolist() == [71.0, 80.0, 86.0]


def test_a_new_version_from_the_same_folder_may_change_the_metadata(tmp_path: Path) -> None:
    _, shared = _fresh(tmp_path)
    pkg = _foreign(tmp_path / "x", _lab_x_frame(), LAB_X_FIELDS, **LAB_X_CITATION)
    shared.pull(pkg)
    _foreign(pkg, _lab_x_frame(), LAB_X_FIELDS, title="Lab X hard carbons, 2nd edition",
             **LAB_X_CITATION)
    result = shared.pull(pkg)
    assert result.metadata_changed == ("title",) and (result.n_new, result.n_updated) == (0, 0)
    assert shared.source("lab-x").title == "Lab X hard carbons, 2nd edition"
    with shared.engine.connect() as conn:
        detail = conn.scalars(select(AuditRow.detail).where(AuditRow.action == "shared.pull")
                              .order_by(AuditRow.id.desc())).first()
    assert detail["previous"]["title"] == "Lab X hard carbons" and not detail["replace_source"]
    # the same data from another folder, metadata unchanged: a re-download, not a conflict
    copy = tmp_path / "download"
    shutil.copytree(pkg, copy)
    (copy / "data.csv").write_text((copy / "data.csv").read_text().replace("0.71", "0.72"))
    assert shared.pull(copy).n_updated == 1


def test_a_package_named_like_the_seed_cannot_replace_its_citation(tmp_path: Path) -> None:
    folder = tmp_path / "calisol"
    folder.mkdir()
    pd.read_csv(data_dir() / CSV).head(5).to_csv(folder / CSV, index=False)
    write_calisol23_package(folder)
    _, shared = _fresh(tmp_path)
    shared.pull(folder, name="calisol23", quarantine=True)
    fake = _foreign(tmp_path / "fake", _lab_x_frame(), LAB_X_FIELDS, name="calisol23",
                    title="CALiSol-23 (improved)", **{"planner:citation": "Nobody (2026)"})
    with pytest.raises(SourceConflictError):
        shared.pull(fake)
    assert shared.source("calisol23").citation.startswith("P. de Blasio")
    assert set(shared.rows(source="calisol23")["domain"]) == {"electrolyte"}


def _db_at_0003_with_shared_rows(url: str) -> dict[str, int]:
    """A database at revision 0003 (foreign keys on, as the store opens it) holding two sources
    whose rows reference each other."""
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect",
                     lambda dbapi_conn, _: dbapi_conn.execute("PRAGMA foreign_keys=ON"))
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        meta = sa.MetaData()
        meta.reflect(engine)
        sources, rows = meta.tables["shared_sources"], meta.tables["shared_rows"]
        at = datetime(2026, 11, 2, tzinfo=UTC)
        ids: dict[str, int] = {}
        with engine.begin() as conn:
            for name in ("lab-a", "lab-b"):
                ids[name] = conn.execute(sources.insert().values(
                    name=name, title=f"Lab {name[-1].upper()}", domain="hard-carbon",
                    licence="CC0-1.0", licence_url="", citation="", contributors=[], fields=[],
                    package_sha256=name[-1] * 64, descriptor={}, origin=f"{name}/",
                    pulled_at=at, pulled_by="ana").returning(sources.c.id)).scalar_one()
            for key, source, value, dup in (("lab-a:r1", "lab-a", 80.0, None),
                                            ("lab-a:r2", "lab-a", 70.0, None),
                                            ("lab-b:r1", "lab-b", 80.0, "lab-a:r1")):
                ids[key] = conn.execute(rows.insert().values(
                    source_id=ids[source], row_id=key.split(":")[1], kind="measurement",
                    domain="hard-carbon", state="accepted", values={"ice_pct": value},
                    provenance={"operator": "bo"}, problems=[], values_sha256=str(value) * 10,
                    duplicate_of_id=ids.get(dup or ""), created_at=at, updated_at=at,
                ).returning(rows.c.id)).scalar_one()
    finally:
        engine.dispose()
    return ids


def _foreign_keys_hold(conn: sa.Connection) -> bool:
    if conn.dialect.name != "sqlite":
        return True  # PostgreSQL checks every statement
    return conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []


def test_migration_0004_keeps_shared_rows_as_their_current_versions(
        empty_url: str) -> None:  # noqa: F811 - the fixture
    url = empty_url
    ids = _db_at_0003_with_shared_rows(url)
    with Store.open(url) as store:  # upgrades to head
        shared = SharedDataset(store.engine)
        rows = shared.rows(include_duplicates=True, include_superseded=True).fillna(
            {"duplicate_of": ""})
        assert rows[["source", "row_id", "ice_pct", "duplicate_of", "current"]].values.tolist() == [
            ["lab-a", "r1", 80.0, "", True], ["lab-a", "r2", 70.0, "", True],
            ["lab-b", "r1", 80.0, "lab-a:r1", True]]
        assert shared.rows()["row_id"].tolist() == ["r1", "r2"]  # lab-b:r1 is a duplicate
        with store.engine.connect() as conn:
            assert _foreign_keys_hold(conn)
            assert conn.scalars(select(SharedDataRow.supersedes_id)).all() == [None] * 3
        # the upgraded rows take new versions, one chain each
        with store.engine.begin() as conn:
            conn.execute(insert(SharedDataRow).values(
                source_id=conn.scalar(select(SharedSourceRow.id).where(
                    SharedSourceRow.name == "lab-a")), row_id="r2", values={"ice_pct": 72.0},
                values_sha256="1" * 64, supersedes_id=ids["lab-a:r2"]))
        assert shared.rows(source="lab-a")["ice_pct"].tolist() == [80.0, 72.0]
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(SharedDataRow).values(
                source_id=conn.scalar(select(SharedSourceRow.id).where(
                    SharedSourceRow.name == "lab-a")), row_id="r1", values={"ice_pct": 1.0},
                values_sha256="2" * 64))


def test_identical_values_from_another_source_are_marked_duplicates(
        source_store: Store, tmp_path: Path) -> None:
    pkg = publish_campaign(source_store, "hc", tmp_path / "pkg").path
    copy = tmp_path / "copy"
    shutil.copytree(pkg.parent, copy)
    desc = json.loads((copy / "datapackage.json").read_text())
    desc["name"] = "mirror"
    (copy / "datapackage.json").write_text(json.dumps(desc))
    _, shared = _fresh(tmp_path)
    shared.pull(pkg)
    result = shared.pull(copy)
    assert (result.source, result.n_new, result.n_duplicates) == ("mirror", 12, 12)
    assert shared.rows(source="mirror").empty
    dups = shared.rows(source="mirror", include_duplicates=True)
    assert len(dups) == 11 and dups["duplicate_of"].str.startswith("hc:").all()
    assert len(shared.rows()) == 11  # every measurement counted once
    assert shared.source("mirror").counts["duplicate"] == 12


# --- seed data -----------------------------------------------------------------------------
def test_shipped_calisol23_package_is_current() -> None:
    shipped = json.loads((data_dir() / "datapackage.json").read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(calisol23_descriptor(data_dir() / CSV)))
    assert shipped["licenses"][0]["name"] == "CC-BY-4.0" and "de Blasio" in shipped[
        "planner:citation"]


def test_calisol23_slice_seeds_with_quarantined_out_of_range_rows(tmp_path: Path) -> None:
    full = pd.read_csv(data_dir() / CSV)
    hot = full[full["temperature_c"] > 200]
    folder = tmp_path / "calisol"
    folder.mkdir()
    pd.concat([full.head(40), hot]).to_csv(folder / CSV, index=False)
    write_calisol23_package(folder)
    assert validate(str(folder / "datapackage.json")).valid
    _, shared = _fresh(tmp_path)
    result = shared.pull(folder, name="calisol23", quarantine=True)
    assert (result.n_new, result.n_quarantined) == (40, len(hot)) and len(hot) == 2
    rows = shared.rows(source="calisol23")
    assert rows["domain"].eq("electrolyte").all() and rows["row_id"].tolist() == [
        str(i) for i in full.head(40)["source_row"]]
    np.testing.assert_allclose(rows["ionic_conductivity_ms_per_cm"],
                               full.head(40)["ionic_conductivity_ms_per_cm"])
    assert "FEC" in rows and "fec_wt_pct" not in rows  # a solvent fraction, not the additive
    assert shared.source("calisol23").citation.startswith("P. de Blasio")


@pytest.mark.postgres
def test_pull_and_refusal_on_postgresql(source_store: Store, tmp_path: Path,
                                        postgres_url: str) -> None:
    from campaigns.models import Base

    pkg = publish_campaign(source_store, "hc", tmp_path / "pkg").path
    with Store.open(postgres_url) as pg:
        with pg.engine.begin() as conn:  # the server is shared by the session's tests
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        shared = SharedDataset(pg.engine)
        assert shared.pull(pkg).n_new == 12
        rows = shared.rows(source="hc").sort_values("well")
        original = source_store.export_frame("hc")
        original = original[original["status"] != "failed_synthesis"].sort_values("well")
        np.testing.assert_array_equal(rows["ice_pct"].to_numpy(float),
                                      original["ice_pct"].to_numpy(float))
        before = _db_state(shared)
        bad = _foreign(tmp_path / "bad", _lab_x_frame(), LAB_X_FIELDS)
        _out_of_range(bad)
        with pytest.raises(PackageError):
            shared.pull(bad)
        assert _db_state(shared) == before


def test_numbers_typed_as_text_are_converted_or_reported(tmp_path: Path) -> None:
    fields = [dict(f) for f in LAB_X_FIELDS]
    fields[4]["type"] = "string"  # Capacity [Ah/g] published as text
    frame = _lab_x_frame().astype(object)
    pkg = _foreign(tmp_path / "x", frame, fields)
    rows = {r.row_id: r.values for r in read_package(pkg).records}
    assert rows["x2"]["reversible_capacity_mah_per_g"] == pytest.approx(310.0)
    frame.loc[0, "Capacity"] = "n.d."
    frame.to_csv(pkg / "data.csv", index=False)
    with pytest.raises(PackageError) as info:
        read_package(pkg)
    assert [(p.row, p.column, p.value) for p in info.value.problems] == [(2, "Capacity", "n.d.")]


def test_migration_0004_downgrades_to_the_current_versions(empty_url: str) -> None:  # noqa: F811
    from alembic import command
    from alembic.config import Config

    url = empty_url
    ids = _db_at_0003_with_shared_rows(url)
    with Store.open(url) as store:
        with store.engine.begin() as conn:
            conn.execute(insert(SharedDataRow).values(
                source_id=conn.scalar(select(SharedDataRow.source_id).where(
                    SharedDataRow.id == ids["lab-a:r1"])), row_id="r1", values={"ice_pct": 81.0},
                values_sha256="1" * 64, supersedes_id=ids["lab-a:r1"]))
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT r.id, s.name, r.row_id, r.duplicate_of_id "
                                        "FROM shared_rows r JOIN shared_sources s "
                                        "ON s.id = r.source_id ORDER BY r.id")).all()
            assert _foreign_keys_hold(conn)
    current_r1 = rows[-1][0]
    assert [(n, r, d) for _, n, r, d in rows] == [
        ("lab-a", "r2", None), ("lab-b", "r1", current_r1), ("lab-a", "r1", None)]
