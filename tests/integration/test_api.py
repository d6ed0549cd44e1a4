"""The Python API (planner.api): the weekly loop from a notebook, results added as DataFrames
checked exactly like uploaded files, and examples/weekly_loop.py run as a user runs it.

Results come from the SIMULATED virtual lab (planner.simulation.virtual_lab)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.errors import CampaignError, IngestError, NotFoundError, SpecError
from campaigns.ingest import UnusualValuesError
from campaigns.spec import CampaignSpec
from campaigns.store import Store
from campaigns.templates import load_template
from planner.api import Campaign, Planner, backtest
from planner.simulation.virtual_lab import run_plate, sheet_bytes

ROOT = Path(__file__).resolve().parents[2]
WEEK = "2026-W10"


@pytest.fixture
def planner(db_url: str):  # noqa: ANN201
    with Planner.open(db_url, actor="tester") as opened:
        yield opened


@pytest.fixture
def hc(planner: Planner) -> Campaign:
    campaign = planner.create_campaign("hard-carbon", name="hc-spring")
    campaign.suggest(week=WEEK)
    return campaign


def _filled(campaign: Campaign, batch: int | None = None, seed: int = 3) -> pd.DataFrame:
    """The plate's sheet with results from the SIMULATED virtual lab, as a DataFrame."""
    return run_plate(campaign.spec, campaign.plate(batch).batch, seed=seed)


def _n_values(campaign: Campaign) -> int:
    return len(campaign.results(long=True, include_superseded=True))


# --- the weekly loop ---------------------------------------------------------------------------
def test_weekly_loop_create_suggest_sheet_add_results_export(planner: Planner,
                                                             tmp_path: Path) -> None:
    campaign = planner.create_campaign("hard-carbon", name="hc-spring")
    assert planner.campaigns() == ["hc-spring"]
    plate = campaign.suggest(week=WEEK)
    assert plate.created and plate.week == WEEK and len(plate) == 96
    assert plate.generator.startswith("space-filling") and plate.status == "proposed"
    again = campaign.suggest(week=WEEK)
    assert not again.created and again.id == plate.id
    assert campaign.plate(week=WEEK).id == plate.id and [p.id for p in campaign.plates()] == [1]

    sheet = campaign.plate_sheet(tmp_path / "plate.xlsx")
    assert (sheet["Batch"] == plate.id).all() and sheet["Well"].tolist() == [
        w.well for w in plate.wells]
    written = pd.read_excel(tmp_path / "plate.xlsx", sheet_name="Plate")
    assert written["Well"].tolist() == sheet["Well"].tolist()

    filled = _filled(campaign)
    outcome = campaign.add_results(filled)
    r = outcome.result
    labels = [c.label for c in campaign.spec.output_columns()]
    cells = filled[labels].notna()
    failed_only = ~cells.any(axis=1) & filled["Status"].notna()
    assert r.n_new == int(cells.sum().sum()) + int(failed_only.sum()) == _n_values(campaign)
    assert r.batch_id == plate.id and r.batch_status == "completed"
    assert campaign.plate(plate.id).status == "completed"
    wide = campaign.results()
    assert len(wide) == len(filled) and set(wide["well"]) == set(filled["Well"])
    a2 = filled.set_index("Well").loc["A2", "ICE [%]"]
    assert wide.set_index("well").loc["A2", "ice_pct"] == pytest.approx(a2)
    uploads = campaign.uploads()
    assert uploads[["filename", "uploaded_by"]].values.tolist() == [["dataframe", "tester"]]

    exported = campaign.export(tmp_path / "results.csv")
    assert len(pd.read_csv(tmp_path / "results.csv")) == len(exported) == len(wide)
    with pytest.raises(CampaignError, match="neither .csv nor .xlsx"):
        campaign.export(tmp_path / "results.txt")


def test_a_plate_reads_as_a_table_with_its_recipes(hc: Campaign) -> None:
    plate = hc.plate()
    frame = plate.frame()
    assert len(frame) == 96 and {"well", "role", *hc.spec.input_names} <= set(frame.columns)
    assert "row_index" not in frame and list(hc.plate().predictions().columns) == ["well", "role"]
    assert repr(plate).startswith("Plate(id=1, week='2026-W10'") and "<table" in plate._repr_html_()
    with pytest.raises(NotFoundError, match="no plate for 2026-W30") as exc:
        hc.plate(week="2026-W30")
    assert "suggest(week='2026-W30')" in (exc.value.hint or "")


# --- add_results: a DataFrame is checked as the same sheet uploaded as a file ----------------
def _na_text(df: pd.DataFrame) -> None:
    df["ICE [%]"] = df["ICE [%]"].astype(object)
    df.loc[3, "ICE [%]"] = "NA"


def _impossible(df: pd.DataFrame) -> None:
    df.loc[6, "ICE [%]"] = 140.0


def _unknown_well(df: pd.DataFrame) -> None:
    df.loc[5, "Well"] = "Z99"


def _bad_status(df: pd.DataFrame) -> None:
    df.loc[8, "Status"] = "exploded"


def _another_recipe(df: pd.DataFrame) -> None:
    df.loc[10, "Carbonization temperature [°C]"] += 50


def _misspelled_header(df: pd.DataFrame) -> None:
    df.columns = ["ICEE [%]" if c == "ICE [%]" else c for c in df.columns]


def _wrong_unit(df: pd.DataFrame) -> None:
    df["ICE [%]"] = df["ICE [%]"] / 100


def _all_at_once(df: pd.DataFrame) -> None:
    for damage in (_na_text, _impossible, _unknown_well, _bad_status, _another_recipe):
        damage(df)


@pytest.mark.parametrize("damage", [_na_text, _impossible, _unknown_well, _bad_status,
                                    _another_recipe, _misspelled_header, _wrong_unit,
                                    _all_at_once], ids=lambda f: f.__name__.strip("_"))
def test_a_frame_gets_the_same_problems_as_the_same_sheet_uploaded(hc: Campaign, damage) -> None:
    filled = _filled(hc)
    damage(filled)
    with pytest.raises(IngestError) as as_frame:
        hc.add_results(filled, filename="plate.csv")
    with pytest.raises(IngestError) as as_file:
        hc.upload(sheet_bytes(filled), filename="plate.csv")
    assert as_frame.value.problems == as_file.value.problems
    assert type(as_frame.value) is type(as_file.value)
    assert str(as_frame.value) == str(as_file.value)
    assert _n_values(hc) == 0 and hc.uploads().empty  # all or nothing


def test_problems_name_the_spreadsheet_row_column_value_and_a_hint(hc: Campaign) -> None:
    filled = _filled(hc)
    _all_at_once(filled)
    with pytest.raises(IngestError) as exc:
        hc.add_results(filled)
    errors = {(p.row, p.column, p.value) for p in exc.value.problems if p.severity == "error"}
    # the frame's first row is spreadsheet row 2, as under a header
    assert {(5, "ICE [%]", "NA"), (8, "ICE [%]", "140.0"), (7, "Well", "Z99"),
            (10, "Status", "exploded")} <= errors
    assert all(p.hint for p in exc.value.problems)
    assert str(exc.value).startswith("dataframe was rejected with")


def test_wrong_unit_values_are_stored_only_when_confirmed(hc: Campaign) -> None:
    filled = _filled(hc)
    _wrong_unit(filled)
    with pytest.raises(UnusualValuesError) as exc:
        hc.add_results(filled)
    assert "confirm_unusual=True" in (exc.value.hint or "") and _n_values(hc) == 0
    outcome = hc.add_results(filled, confirm_unusual=True)
    assert outcome.result.n_new > 0
    assert any("as confirmed" in p.message for p in outcome.warnings)
    ice = hc.results()["ice_pct"].dropna()
    assert ice.max() < 1.0  # stored as written, never converted


def test_the_batch_column_decides_the_plate(hc: Campaign) -> None:
    hc.suggest(week="2026-W11")  # plate 2, the newest
    filled = _filled(hc, batch=1)
    with pytest.raises(IngestError) as exc:
        hc.add_results(filled, batch=2)
    (problem,) = exc.value.problems
    assert (problem.column, problem.value) == ("Batch", "1") and "batch 2" in problem.message
    with pytest.raises(IngestError, match="differ from those stored for batch 2"):
        hc.add_results(filled.drop(columns="Batch"), batch=2)  # recipes of plate 1
    assert _n_values(hc) == 0
    assert hc.add_results(filled).result.batch_id == 1  # no batch given: the column decides


def test_the_same_results_twice_change_nothing_and_a_new_value_supersedes(hc: Campaign) -> None:
    filled = _filled(hc)
    first = hc.add_results(filled).result
    as_text = filled.map(lambda v: None if pd.isna(v) else str(v))  # same cells, other dtypes
    again = hc.add_results(as_text).result
    assert again.already_uploaded and not again.changed and again.n_unchanged == first.n_new
    changed = filled.copy()
    row = int(changed["ICE [%]"].first_valid_index())
    changed.loc[row, "ICE [%]"] += 1.0
    third = hc.add_results(changed, filename="corrected").result
    assert (third.n_new, third.n_superseding, third.n_unchanged) == (0, 1, first.n_new - 1)
    well = changed.loc[row, "Well"]
    assert hc.results().set_index("well").loc[well, "ice_pct"] == pytest.approx(
        changed.loc[row, "ICE [%]"])
    assert hc.uploads()["filename"].tolist() == ["dataframe", "corrected"]


def test_check_results_validates_without_storing(hc: Campaign) -> None:
    filled = _filled(hc)
    parsed = hc.check_results(filled.set_index("Well"))  # a named index is read as a column
    assert parsed.batch_id == 1 and len(parsed.records) > 0
    assert {r.well for r in parsed.records} <= set(filled["Well"])
    assert _n_values(hc) == 0
    assert hc.add_results(filled).result.n_new == len(parsed.records)


def test_anything_but_a_dataframe_is_refused_with_a_hint(hc: Campaign) -> None:
    with pytest.raises(IngestError, match="expected a pandas DataFrame, got list") as exc:
        hc.add_results([{"Well": "A2", "ICE [%]": 80}])  # type: ignore[arg-type]
    assert exc.value.hint and _n_values(hc) == 0


def test_a_file_upload_reads_paths_and_says_when_it_cannot(hc: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "week10.csv"
    path.write_bytes(sheet_bytes(_filled(hc)))
    outcome = hc.upload(path)
    assert outcome.result.n_new > 0 and hc.uploads()["filename"].tolist() == ["week10.csv"]
    with pytest.raises(CampaignError, match="cannot read") as exc:
        hc.upload(tmp_path / "missing.csv")
    assert exc.value.hint == "Check the path."


def test_corrections_and_retractions_keep_the_history(hc: Campaign) -> None:
    hc.add_results(_filled(hc))
    before = hc.results().set_index("well")
    well = before["ice_pct"].first_valid_index()
    hc.correct(batch=1, well=well, quantity="ice_pct", value=81.5, note="re-measured")
    assert hc.results().set_index("well").loc[well, "ice_pct"] == 81.5
    history = hc.results(include_superseded=True)
    chain = history[(history["well"] == well) & (history["quantity"] == "ice_pct")]
    assert chain["value"].tolist() == [before.loc[well, "ice_pct"], 81.5]
    hc.retract_value(batch=1, well=well, quantity="ice_pct", reason="bad cell")
    long = hc.results(long=True)
    assert long[(long["well"] == well) & (long["quantity"] == "ice_pct")].empty
    upload_id = int(hc.uploads()["upload_id"].iloc[0])
    n = hc.retract_upload(upload_id, reason="sheet of another plate")
    assert n > 0 and hc.uploads()["retracted"].tolist() == [True]
    assert hc.results().empty or hc.results()["ice_pct"].isna().all()


# --- campaigns ---------------------------------------------------------------------------------
def test_campaigns_from_a_template_a_spec_file_and_a_spec_object(planner: Planner,
                                                                  tmp_path: Path) -> None:
    spec = load_template("electrolyte")
    path = tmp_path / "elyte.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    assert planner.create_campaign(path, name="from-path").spec.plate.wells == 24
    assert planner.create_campaign(str(path), name="from-text").name == "from-text"
    assert planner.create_campaign(spec).name == "electrolyte"
    assert planner.create_campaign("hard-carbon").name == "hard-carbon"
    assert planner.campaigns() == ["electrolyte", "from-path", "from-text", "hard-carbon"]
    with pytest.raises(CampaignError, match="already exists"):
        planner.create_campaign("electrolyte")
    with pytest.raises(SpecError) as exc:
        planner.create_campaign("hard-carbn", name="x")
    assert "Did you mean 'hard-carbon'?" in (exc.value.hint or "")
    with pytest.raises(NotFoundError) as missing:
        planner.campaign("from-pat")
    assert "Did you mean 'from-path'?" in (missing.value.hint or "")
    assert planner.due_campaigns(WEEK) == planner.campaigns()


def test_update_spec_keeps_the_name(planner: Planner) -> None:
    campaign = planner.create_campaign("hard-carbon", name="hc")
    spec = campaign.spec
    campaign.update_spec(CampaignSpec.from_dict({**spec.to_dict(), "description": "edited"}))
    assert campaign.spec.description == "edited"
    with pytest.raises(CampaignError, match="named 'other'"):
        campaign.update_spec(CampaignSpec.from_dict({**spec.to_dict(), "name": "other"}))


def test_a_library_campaign_round_trips_its_sheet_with_candidate_ids(planner: Planner) -> None:
    spec = CampaignSpec.from_dict({
        "name": "lib", "library": {"inputs": ["bet_ssa_m2_per_g", "precursor"],
                                   "categorical": ["precursor"]},
        "targets": [{"name": "ice_pct", "direction": "max"}], "plate": {"wells": 24}})
    rng = np.random.default_rng(0)
    library = pd.DataFrame({"candidate_id": [f"HC-{i}" for i in range(40)],
                            "bet_ssa_m2_per_g": rng.uniform(1, 300, 40),
                            "precursor": rng.choice(["pitch", "lignin"], 40)})
    campaign = planner.create_campaign(spec, library=library)
    assert len(campaign.library()) == 40
    plate = campaign.suggest(week=WEEK)
    sheet = campaign.plate_sheet()
    samples = sheet["Role"] == "sample"
    assert sheet.loc[samples, "candidate_id"].isin(library["candidate_id"]).all()
    sheet.loc[samples, "ICE [%]"] = rng.uniform(70, 90, int(samples.sum())).round(1)
    wrong = sheet.copy()
    wrong.loc[wrong.index[samples][0], "candidate_id"] = "HC-999"
    with pytest.raises(IngestError, match="differs from the recipe stored"):
        campaign.add_results(wrong)
    assert campaign.add_results(sheet).result.n_new == int(samples.sum())
    assert campaign.plate(plate.id).status == "completed"
    with pytest.raises(CampaignError, match="not a library campaign"):
        planner.create_campaign("hard-carbon", name="plain", library=library)


# --- backtest ----------------------------------------------------------------------------------
def test_backtest_on_a_dataframe(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"x": rng.uniform(0, 1, 40), "y": rng.uniform(0, 1, 40)})
    table["yield_pct"] = 100 * np.exp(-((table["x"] - 0.7) ** 2 + (table["y"] - 0.2) ** 2) * 8)
    result = backtest(table, targets="yield_pct:max", seeds=2, budget=9, init=3, batch_size=3,
                      top=0.05, workers=1)
    report = result.to_dict()
    assert set(report["strategies"]) == {"random", "gp"}
    assert report["n_candidates"] == 40 and report["pool"] == "dataframe"
    assert len(report["strategies"]["gp"]["first_top_per_seed"]) == 2
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    from planner.backtest import BacktestInputError

    with pytest.raises(BacktestInputError) as exc:
        backtest(path, targets=["yield:max"], seeds=1, workers=1)
    assert "yield_pct" in str(exc.value) + (exc.value.hint or "")


# --- the demo ----------------------------------------------------------------------------------
def test_the_demo_adds_the_virtual_labs_sheets_as_dataframes(store) -> None:  # noqa: ANN001
    from datetime import date

    from planner.simulation.demo import run_demo

    today = date(2026, 3, 11)  # 2026-W11
    result = run_demo(store, weeks=0, electrolyte_weeks=1, today=today)
    assert result.weeks_run == {"demo-hard-carbon": 0, "demo-electrolyte": 1}
    uploads = store.uploads("demo-electrolyte")
    assert uploads["filename"].tolist() == ["demo-electrolyte-2026-W10 (simulated)"]
    assert (uploads["new"] > 0).all() and len(uploads["sha256"].iloc[0]) == 64
    first, this_week = store.batches("demo-electrolyte")
    assert first.status == "completed" and this_week.iso_week == "2026-W11"
    assert store.measurements("demo-electrolyte")["instrument"].str.contains("simulated").all()
    assert run_demo(store, weeks=0, electrolyte_weeks=1, today=today).skipped == [
        "demo-hard-carbon", "demo-electrolyte"]


# --- the example -------------------------------------------------------------------------------
@pytest.mark.slow  # two processes and a BoTorch plate of 96 wells: ~25 s
def test_the_example_runs_the_weekly_loop_on_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'example.db'}"
    out = tmp_path / "results.csv"
    cmd = [sys.executable, str(ROOT / "examples" / "weekly_loop.py"), "--db", url, "--out",
           str(out)]
    env = {**os.environ, "PLANNER_FAST": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "SIMULATED" in done.stdout and "Traceback" not in done.stderr
    with Store.open(url) as store:
        (name,) = store.campaign_names()
        first, second = store.batches(name)
        measured = store.measurements(name)
    assert first.status == "completed" and second.status == "proposed"
    assert first.generator.startswith("space-filling") and second.generator.startswith("botorch")
    samples = [w for w in second.wells if w.role == "sample"]
    assert samples and all(w.predictions.get("targets") for w in samples)
    assert measured["instrument"].str.contains("simulated").all()
    assert len(pd.read_csv(out)) == measured[["batch_id", "well"]].drop_duplicates().shape[0]
    assert (tmp_path / f"plate1-{first.iso_week}.xlsx").is_file()
    # On a database that already holds the example, it says so: a message and a hint.
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=600)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Hint:" in again.stderr and "Traceback" not in again.stderr
