"""Per-well instrument files → measurements through the store, all or nothing, with provenance."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from campaigns.errors import IngestError
from campaigns.instruments import InstrumentFileError
from campaigns.instruments.synthetic import raman_spectrum, xrd_pattern
from campaigns.instruments.upload import (
    ingest_instruments,
    kind_of_name,
    provenance_of,
    well_of_name,
)
from campaigns.plate import fill_layout
from campaigns.sheet import template_frame, write_template
from campaigns.store import Store
from campaigns.templates import load_template
from campaigns.uploads import sheet_wells
from planner.design import space_filling_design

TRUTH = {"d002_nm": 0.375, "lc_nm": 1.3, "la_nm": 4.5, "raman_id_ig": 1.2}


@pytest.fixture
def plate(tmp_path: Path):  # noqa: ANN201
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    spec = load_template("hard-carbon", name="demo")
    store.create_campaign(spec)
    recipes = space_filling_design(spec, spec.sample_well_count, seed=0).to_dict("records")
    batch = store.save_batch("demo", iso_week="2026-W48", wells=fill_layout(spec.plate, recipes),
                             generator="test", seed=0, data_revision=0)
    yield store, spec, batch
    store.close()


def _files(wells: list[str], *, bad: str | None = None) -> dict[str, bytes]:
    out = {}
    for i, w in enumerate(wells):
        out[f"{w}_xrd.xy"] = xrd_pattern(d002_nm=TRUTH["d002_nm"], lc_nm=TRUTH["lc_nm"],
                                         la_nm=TRUTH["la_nm"], seed=i)
        out[f"{w}_raman.txt"] = raman_spectrum(id_ig=TRUTH["raman_id_ig"], seed=i)
    if bad is not None:
        out[bad] = b"2theta intensity\n10 5\n11 oops\n" + b"12 1\n" * 30
    return out


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"plate7/{name}", data)
    return buf.getvalue()


def test_names_and_kinds_from_file_names() -> None:
    assert well_of_name("B03_raman.txt") == "B3" and well_of_name("h12.xy") == "H12"
    assert well_of_name("A123.xy") is None and well_of_name("sample.xy") is None
    assert kind_of_name("B03_raman.txt") == "raman" and kind_of_name("A1-XRD.csv") == "xrd"
    assert kind_of_name("A1.xrdml") == "xrd" and kind_of_name("A1.wdf") == "raman"
    assert kind_of_name("A1.xy") is None


def test_a_zip_named_by_well_fills_the_descriptors_with_provenance(plate) -> None:  # noqa: ANN001
    store, _spec, batch = plate
    wells = [w.well for w in batch.wells[:3]]
    files = _files(wells)
    out = ingest_instruments(store, "demo", _zip(files), files_name="plate7.zip", actor="ana")
    assert out.result.n_new == 4 * len(wells) and out.result.changed_wells == tuple(sorted(wells))
    stored = store.measurements("demo")
    assert set(stored["quantity"]) == set(TRUTH)
    for row in stored.itertuples():
        assert row.value == pytest.approx(TRUTH[row.quantity], rel=0.05)
        prov = provenance_of(row.note)
        assert prov is not None and prov["std"] > 0
        kind = "xrd" if row.quantity != "raman_id_ig" else "raman"
        assert row.instrument == ("XRD" if kind == "xrd" else "Raman")
        name = f"{row.well}_{kind}.{'xy' if kind == 'xrd' else 'txt'}"
        assert prov["file"] == name
        assert prov["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert prov["settings"]["k_lc"] == 0.89 and "Scherrer" in prov["method"] or kind == "raman"
        assert row.source_file == "plate7.zip"
    again = ingest_instruments(store, "demo", _zip(files), files_name="plate7.zip")
    assert again.result.already_uploaded


def test_one_bad_file_rejects_the_whole_upload_naming_it(plate) -> None:  # noqa: ANN001
    store, _spec, batch = plate
    wells = [w.well for w in batch.wells[:2]]
    files = _files(wells, bad=f"{batch.wells[2].well}_xrd.xy")
    files["Z1.xy"] = files[f"{wells[0]}_xrd.xy"]
    files["notes.xy"] = files[f"{wells[0]}_xrd.xy"]
    with pytest.raises(InstrumentFileError) as err:
        ingest_instruments(store, "demo", _zip(files), files_name="plate7.zip")
    text = str(err.value)
    assert f"{batch.wells[2].well}_xrd.xy" in text and "'oops'" in text
    assert "notes.xy: the file name does not start with a well ID" in text
    bad = next(p for p in err.value.problems if "oops" in (p.value or ""))
    assert (bad.row, bad.column) == (3, "intensity")
    assert store.measurements("demo").empty and store.uploads("demo").empty


def test_a_well_not_on_the_plate_and_twin_files_are_refused(plate) -> None:  # noqa: ANN001
    store, spec, batch = plate
    stranger = "J5"  # a 384-well position; this plate has 96 wells
    assert stranger not in {w.well for w in batch.wells}
    first = batch.wells[0].well
    files = _files([first])
    files[f"{stranger}_raman.txt"] = files[f"{first}_raman.txt"]
    files[f"{first}_raman_repeat.txt"] = files[f"{first}_raman.txt"]
    with pytest.raises(InstrumentFileError) as err:
        ingest_instruments(store, "demo", files, files_name="3 files")
    text = str(err.value)
    assert f"well {stranger} is not on plate {batch.id}" in text
    assert f"well {first} already has a Raman file" in text


def test_sheet_with_a_file_column_and_other_results(plate, tmp_path: Path) -> None:  # noqa: ANN001
    store, spec, batch = plate
    path = tmp_path / "sheet.csv"
    write_template(template_frame(spec, batch_id=batch.id, wells=sheet_wells(spec, batch)), path)
    sheet = pd.read_csv(path, dtype=str)
    sheet["XRD file"] = ""
    sheet["Raman file"] = ""
    sheet.loc[0, ["XRD file", "Raman file"]] = ["hc-101.xy", "hc-101 raman.txt"]
    sheet.loc[1, "XRD file"] = "hc-102.xy"
    sheet.loc[0:1, "ICE [%]"] = ["84.5", "81.0"]
    sheet.to_csv(path, index=False)
    files = {"hc-101.xy": xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0),
             "hc-101 raman.txt": raman_spectrum(id_ig=0.9),
             "hc-102.xy": xrd_pattern(d002_nm=0.39, lc_nm=1.0, la_nm=3.5),
             "spare.xy": b"not used"}
    out = ingest_instruments(store, "demo", _zip(files), files_name="fits.zip",
                             sheet=path.read_bytes(), sheet_name="sheet.csv")
    assert any("spare.xy" in str(w) and "ignored" in str(w) for w in out.warnings)
    assert not any("XRD file" in str(w) for w in out.warnings)
    stored = store.measurements("demo").set_index(["well", "quantity"])["value"]
    w0, w1 = sheet.loc[0, "Well"], sheet.loc[1, "Well"]
    assert stored[(w0, "ice_pct")] == 84.5
    assert stored[(w0, "d002_nm")] == pytest.approx(0.37, abs=0.001)
    assert stored[(w0, "raman_id_ig")] == pytest.approx(0.9, rel=0.03)
    assert stored[(w1, "lc_nm")] == pytest.approx(1.0, rel=0.05)
    assert (w1, "raman_id_ig") not in stored.index
    assert store.uploads("demo")["filename"].tolist() == ["sheet.csv + fits.zip"]


def test_sheet_naming_a_missing_file_or_typing_a_value_twice(plate, tmp_path: Path) -> None:  # noqa: ANN001
    store, spec, batch = plate
    path = tmp_path / "sheet.csv"
    write_template(template_frame(spec, batch_id=batch.id, wells=sheet_wells(spec, batch)), path)
    sheet = pd.read_csv(path, dtype=str)
    sheet["XRD file"] = ""
    sheet.loc[0, "XRD file"] = "hc-1O1.xy"  # a letter O for a zero
    sheet.loc[1, "XRD file"] = "hc-102.xy"
    sheet.loc[1, "d002 [nm]"] = "0.381"
    sheet.to_csv(path, index=False)
    files = {"hc-101.xy": xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0),
             "hc-102.xy": xrd_pattern(d002_nm=0.39, lc_nm=1.0, la_nm=3.5)}
    with pytest.raises(InstrumentFileError) as err:
        ingest_instruments(store, "demo", files, files_name="fits", sheet=path.read_bytes(),
                           sheet_name="sheet.csv")
    missing = next(p for p in err.value.problems if p.value == "hc-1O1.xy")
    assert (missing.row, missing.column) == (2, "XRD file")
    assert "Did you mean 'hc-101.xy'?" in (missing.hint or "")
    twice = next(p for p in err.value.problems if "and so does hc-102.xy" in p.message)
    assert (twice.row, twice.column) == (3, "d002 [nm]")
    assert store.measurements("demo").empty


def test_a_bad_sheet_is_refused_as_planner_ingest_would(plate) -> None:  # noqa: ANN001
    store, _spec, batch = plate
    sheet = f"Well,ICE [%]\n{batch.wells[0].well},850\n".encode()
    with pytest.raises(IngestError, match="possible range"):
        ingest_instruments(store, "demo", _files([batch.wells[0].well]), sheet=sheet)
    assert store.measurements("demo").empty


def test_other_settings_make_a_new_upload_that_supersedes(plate) -> None:  # noqa: ANN001
    from campaigns.instruments import CharacterizeSettings

    store, _spec, batch = plate
    files = _files([batch.wells[0].well])
    ingest_instruments(store, "demo", files)
    out = ingest_instruments(store, "demo", files, settings=CharacterizeSettings(k_lc=0.94))
    assert not out.result.already_uploaded and out.result.n_superseding >= 1
    lc = store.measurements("demo").query("quantity == 'lc_nm'")
    assert provenance_of(lc["note"].iloc[0])["settings"]["k_lc"] == 0.94


def test_a_sheet_that_only_maps_files_to_wells(plate) -> None:  # noqa: ANN001
    store, _spec, batch = plate
    w0, w1 = batch.wells[0].well, batch.wells[1].well
    sheet = (f"Batch,Well,XRD file,Raman file\n{batch.id},{w0},s1.xy,s1.txt\n"
             f"{batch.id},{w1},s2.xy,\n{batch.id},Q99,s3.xy,\n").encode()
    files = {"s1.xy": xrd_pattern(d002_nm=0.37, lc_nm=1.5, la_nm=5.0),
             "s1.txt": raman_spectrum(id_ig=1.4),
             "s2.xy": xrd_pattern(d002_nm=0.39, lc_nm=1.0, la_nm=3.5),
             "s3.xy": xrd_pattern(d002_nm=0.39, lc_nm=1.0, la_nm=3.5)}
    with pytest.raises(InstrumentFileError) as err:
        ingest_instruments(store, "demo", files, sheet=sheet, sheet_name="map.csv")
    (p,) = [p for p in err.value.problems if p.severity == "error"]
    assert (p.row, p.column, p.value) == (4, "Well", "Q99")
    assert "s3.xy: well Q99 is not on plate" in p.message
    out = ingest_instruments(store, "demo", files, sheet=sheet.rsplit(b"\n", 2)[0] + b"\n",
                             sheet_name="map.csv")
    assert out.result.n_new == 7
    stored = store.measurements("demo").set_index(["well", "quantity"])
    assert stored.loc[(w0, "raman_id_ig"), "value"] == pytest.approx(1.4, rel=0.03)
    assert stored.loc[(w1, "d002_nm"), "source_row"] == 3
    assert set(stored["source_file"]) == {"map.csv + instrument files"}
