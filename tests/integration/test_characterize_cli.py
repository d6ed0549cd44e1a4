"""`planner characterize` on files, and instrument files uploaded per well through the CLI."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from campaigns.instruments.synthetic import (
    raman_curve,
    raman_spectrum,
    wdf,
    xrd_curve,
    xrd_pattern,
    xrdml,
)
from campaigns.instruments.upload import provenance_of
from campaigns.store import Store
from tests.integration.test_cli_roundtrip import _run, demo  # noqa: F401


def test_characterize_prints_tables_and_writes_json(tmp_path: Path) -> None:
    files = {
        "A1.xy": xrd_pattern(d002_nm=0.372, lc_nm=1.4, la_nm=4.8, noise=0.02),
        "A1.xrdml": xrdml(*xrd_curve(d002_nm=0.39, lc_nm=1.0, la_nm=3.2, wavelength_nm=0.17890,
                                     start=12, stop=90), wavelength_nm=0.17890),
        "B2_raman.txt": raman_spectrum(id_ig=1.35, noise=0.02),
        "B2.wdf": wdf(*raman_curve(id_ig=0.85)),
        "broken.xy": b"2theta counts\n10 1\n10.1 x\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out_json = tmp_path / "out.json"
    out = _run("characterize", *(str(tmp_path / n) for n in files), "--json", str(out_json),
               code=2)
    assert "d002 [nm]" in out and "ID/IG [-] (heights)" in out
    assert "broken.xy" in out and "'x'" in out  # the bad file is named, the others went on
    doc = json.loads(out_json.read_text())
    got = doc["files"]
    assert abs(got["A1.xy"]["d002_nm"] - 0.372) < 0.001
    assert got["A1.xy"]["lc_nm"] == pytest.approx(1.4, rel=0.05)
    assert got["A1.xy"]["la_nm"] == pytest.approx(4.8, rel=0.05)
    assert got["A1.xy"]["d002_nm_std"] > 0 and got["A1.xy"]["la_nm_std"] > 0
    # the XRDML file declares Co Kα, which is used
    assert abs(got["A1.xrdml"]["d002_nm"] - 0.39) < 0.001
    assert got["A1.xrdml"]["fit"]["settings"]["wavelength_source"].startswith("file")
    assert got["B2_raman.txt"]["id_ig"] == pytest.approx(1.35, rel=0.03)
    assert got["B2_raman.txt"]["id_ig_std"] > 0
    assert got["B2.wdf"]["id_ig"] == pytest.approx(0.85, rel=0.03)
    assert "broken.xy" in doc["errors"] and "broken.xy" not in got
    assert set(got["A1.xy"]["fit"]["curves"]) >= {"x", "data", "fit", "residual", "components"}


def test_characterize_settings_from_flags(tmp_path: Path) -> None:
    path = tmp_path / "co.xy"
    path.write_bytes(xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, wavelength_nm=0.17890,
                                 k_lc=0.94, start=12, stop=90))
    out_json = tmp_path / "o.json"
    _run("characterize", str(path), "--kind", "xrd", "--wavelength-nm", "0.1789", "--k-lc",
         "0.94", "--json", str(out_json))
    got = json.loads(out_json.read_text())["files"]["co.xy"]
    assert abs(got["d002_nm"] - 0.38) < 0.001 and got["lc_nm"] == pytest.approx(1.2, rel=0.05)
    out = _run("characterize", str(path), "--k-lc", "1.5", code=1)
    assert "k_lc" in out and "0.89" in out


def test_sheet_plus_zip_through_planner_ingest(demo: tuple[str, Path]) -> None:  # noqa: F811
    url, tmp = demo
    sheet_path = tmp / "plate.csv"
    _run("plate", "template", "--campaign", "demo", "--out", str(sheet_path))
    sheet = pd.read_csv(sheet_path, dtype=str)
    wells = sheet["Well"].tolist()[:4]
    sheet.loc[:3, "ICE [%]"] = ["80.1", "82.2", "79.5", "85.0"]
    sheet.to_csv(sheet_path, index=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, well in enumerate(wells):
            zf.writestr(f"{well}.xy", xrd_pattern(d002_nm=0.36 + 0.01 * i, lc_nm=1.2, la_nm=4.0,
                                                  seed=i))
            zf.writestr(f"{well}_raman.txt", raman_spectrum(id_ig=1.0 + 0.2 * i, seed=i))
    (tmp / "fits.zip").write_bytes(buf.getvalue())
    out = _run("ingest", str(sheet_path), "--campaign", "demo", "--instruments",
               str(tmp / "fits.zip"))
    assert "Stored 20 new value(s)" in out
    with Store.open(url) as store:
        stored = store.measurements("demo")
    d002 = stored.query("quantity == 'd002_nm'").set_index("well")["value"]
    for i, well in enumerate(wells):
        assert abs(d002[well] - (0.36 + 0.01 * i)) < 0.001
    ratio = stored.query("quantity == 'raman_id_ig'").set_index("well")
    assert ratio.loc[wells[2], "value"] == pytest.approx(1.4, rel=0.03)
    assert provenance_of(ratio.loc[wells[2], "note"])["file"] == f"{wells[2]}_raman.txt"

    # one damaged file among good ones: the whole upload is refused, naming the file
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(f"{sheet['Well'].iloc[5]}_xrd.xy", b"2theta intensity\n10 1\n")
    (tmp / "fits2.zip").write_bytes(buf.getvalue())
    out = _run("data", "instruments", str(tmp / "fits2.zip"), "--campaign", "demo", code=2)
    assert f"{sheet['Well'].iloc[5]}_xrd.xy" in out and "nothing was stored" in out
    with Store.open(url) as store:
        assert len(store.measurements("demo")) == len(stored)

    # a folder of files with other settings: a new upload that supersedes Lc
    folder = tmp / "folder"
    folder.mkdir()
    (folder / f"{wells[0]}-xrd.xy").write_bytes(xrd_pattern(d002_nm=0.36, lc_nm=1.2, la_nm=4.0,
                                                           k_lc=0.94))
    out = _run("data", "instruments", str(folder), "--campaign", "demo", "--k-lc", "0.94")
    assert re.search(r"Stored 0 new value\(s\) and 3 correction\(s\)", out), out
    with Store.open(url) as store:
        lc = store.measurements("demo").query("quantity == 'lc_nm'").set_index("well")
    assert lc.loc[wells[0], "value"] == pytest.approx(1.2, rel=0.05)
    assert provenance_of(lc.loc[wells[0], "note"])["settings"]["k_lc"] == 0.94


def test_dashboard_lists_instrument_values_and_draws_each_fit(demo: tuple[str, Path]) -> None:  # noqa: F811
    """The Instrument fits page after an upload, and the figure the pages draw for a fit."""
    from streamlit.testing.v1 import AppTest

    from campaigns.instruments import characterize
    from dashboard.views.instruments import fit_figure

    url, tmp = demo
    with Store.open(url) as store:
        well = store.batch("demo").wells[0].well
    (tmp / f"{well}.xy").write_bytes(xrd_pattern(d002_nm=0.37, lc_nm=1.3, la_nm=4.2))
    _run("data", "instruments", str(tmp / f"{well}.xy"), "--campaign", "demo")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"),
                           default_timeout=90)
    at.query_params["campaign"] = "demo"
    at.run()
    at.switch_page("views/instruments.py").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Instrument fits"
    table = at.dataframe[0].value
    assert sorted(table["Quantity"]) == ["d002_nm", "la_nm", "lc_nm"]
    assert set(table["File"]) == {f"{well}.xy"} and (table["± std"] > 0).all()

    c = characterize(xrd_pattern(d002_nm=0.37, lc_nm=1.3, la_nm=4.2), name="A1.xy")
    fig = fit_figure(c)
    names = [t.name for t in fig.data]
    assert names == ["data", "background", "(002)", "(10)", "fit", "residual"]
    residual = fig.data[-1]
    assert residual.yaxis == "y2" and len(residual.y) == len(c.curves["x"])
