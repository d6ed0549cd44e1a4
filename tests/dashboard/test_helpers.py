"""The dashboard's non-Streamlit helpers: upload review, spec forms, exports and figures."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from campaigns.errors import Problem, SpecError
from campaigns.plate import PLATE_SHAPES
from campaigns.spec import CampaignSpec
from campaigns.store import Store
from campaigns.templates import load_template
from dashboard import figures, forms, tables
from planner.reports import progress
from tests.dashboard.conftest import CAMPAIGN, filled_sheet


def bad_sheet(spec, batch) -> bytes:
    """A filled sheet with four kinds of mistakes a lab makes, as CSV bytes."""
    sheet = filled_sheet(spec, batch).astype(object)
    sheet.loc[3, "ICE [%]"] = "eighty"                  # text in a number cell
    sheet.loc[5, "Reversible capacity [mAh/g]"] = "1500"  # impossible value
    sheet.loc[7, "Well"] = "Z99"                          # not a well
    sheet.loc[9, "Status"] = "exploded"                   # unknown status
    return sheet.to_csv(index=False).encode()


# --- upload review -----------------------------------------------------------------------------
def test_review_marks_every_problem_in_place_and_stores_nothing(history_url: str) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
        before = len(store.measurements(CAMPAIGN))
        review = tables.review_upload(store, CAMPAIGN, bad_sheet(spec, batch), filename="bad.csv")
        assert len(store.measurements(CAMPAIGN)) == before
    assert not review.accepted and "rejected" in review.message
    errors = review.errors
    where = {(p.row, p.column) for p in errors}
    assert where >= {(5, "ICE [%]"), (7, "Reversible capacity [mAh/g]"), (9, "Well"),
                     (11, "Status")}
    styles = tables.problem_styles(review.table, review.problems)
    shown = tables.display_sheet(review.table)
    assert styles.shape == shown.shape and list(styles.index) == list(shown.index)
    assert styles.loc[5, "ICE [%]"] == tables.ERROR_CELL
    assert styles.loc[9, "Well"] == tables.ERROR_CELL
    assert styles.loc[2, "ICE [%]"] == ""  # a good cell stays plain
    assert set(tables.flagged_rows(review.table, review.problems)) >= {5, 7, 9, 11}
    frame = tables.problems_frame(review.problems)
    assert len(frame) == len(review.problems) and frame.iloc[0][""] == "error"


def test_review_accepts_a_good_sheet(history_url: str) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
        data = filled_sheet(spec, batch).to_csv(index=False).encode()
        review = tables.review_upload(store, CAMPAIGN, data, filename="good.csv")
    assert review.accepted and review.batch_id == batch.id and not review.errors
    assert len(review.parsed.records) > 90


def test_review_refuses_another_plates_sheet_naming_the_batch(history_url: str) -> None:
    with Store.open(history_url) as store:
        spec, batches = store.spec(CAMPAIGN), store.batches(CAMPAIGN)
        third, fourth = batches[2], batches[3]
        data = filled_sheet(spec, third).to_csv(index=False).encode()
        wrong = tables.review_upload(store, CAMPAIGN, data, filename="p.csv", batch_id=fourth.id)
        right = tables.review_upload(store, CAMPAIGN, data, filename="p.csv")
    assert not wrong.accepted and not wrong.needs_confirmation
    (problem,) = wrong.problems
    assert (problem.column, problem.value) == ("Batch", str(third.id))
    assert f"upload it to batch {third.id}" in problem.hint
    assert right.accepted and right.batch_id == third.id


def test_review_offers_confirmation_only_for_wrong_unit_values(history_url: str) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
        sheet = filled_sheet(spec, batch).astype(object)
        row = int(sheet["ICE [%]"].first_valid_index())
        sheet.loc[row, "ICE [%]"] = "0.85"
        data = sheet.to_csv(index=False).encode()
        review = tables.review_upload(store, CAMPAIGN, data, filename="p.csv")
        confirmed = tables.review_upload(store, CAMPAIGN, data, filename="p.csv",
                                         confirm_unusual=True)
        sheet.loc[row + 1, "Well"] = "Z99"
        mixed = tables.review_upload(store, CAMPAIGN, sheet.to_csv(index=False).encode(),
                                     filename="p.csv")
    assert not review.accepted and review.needs_confirmation
    assert [(p.row, p.value) for p in review.errors] == [(row + 2, "0.85")]
    assert confirmed.accepted and not confirmed.errors
    assert any(p.row == row + 2 and "confirmed" in p.message for p in confirmed.warnings)
    assert not mixed.accepted and not mixed.needs_confirmation


def test_problem_styles_colour_rows_and_columns_and_rank_errors_first() -> None:
    table = pd.DataFrame({"Well": ["A1", "A2"], "ICE [%]": ["0.8", "0.9"], "Notes": ["", ""]},
                         index=pd.Index([2, 3], name="row"))
    problems = [Problem(None, "ICE [%]", None, "looks like a fraction", severity="error"),
                Problem(3, None, None, "row problem", severity="warning"),
                Problem(3, "ICE [%]", "0.9", "cell warning", severity="warning")]
    styles = tables.problem_styles(table, problems)
    assert styles.loc[2, "ICE [%]"] == tables.ERROR_LINE      # the column
    assert styles.loc[3, "ICE [%]"] == tables.WARNING_CELL    # cell warning outranks column error
    assert styles.loc[3, "Notes"] == tables.WARNING_LINE      # the row
    assert styles.loc[2, "Notes"] == ""


def test_display_sheet_makes_repeated_headers_unique() -> None:
    table = pd.DataFrame([["1", "2", "3"]], columns=["ICE [%]", "ICE [%]", ""], index=[2])
    assert list(tables.display_sheet(table).columns) == ["ICE [%]", "ICE [%] (2)", "(no header)"]


# --- exports and filters -----------------------------------------------------------------------
def test_sheet_bytes_round_trip(history_snapshot) -> None:
    snap, batches = history_snapshot
    csv = pd.read_csv(io.BytesIO(tables.sheet_bytes(snap.spec, batches[-1], "csv")))
    assert len(csv) == 96 and list(csv.columns[:3]) == ["Batch", "Well", "Role"]
    xlsx = tables.sheet_bytes(snap.spec, batches[-1], "xlsx")
    book = pd.read_excel(io.BytesIO(xlsx), sheet_name=None)
    assert set(book) == {"Plate", "Instructions"}


def test_filter_frame_by_week_status_quantity_and_wells() -> None:
    frame = pd.DataFrame({"iso_week": ["W1", "W1", "W2", "W2"],
                          "status": ["ok", "failed_cell", "ok", "ok"],
                          "quantity": ["ice_pct", "ice_pct", "d002_nm", "ice_pct"],
                          "well": ["A1", "B12", "B1", "C3"]})
    assert len(tables.filter_frame(frame)) == 4
    assert tables.filter_frame(frame, weeks=["W2"])["well"].tolist() == ["B1", "C3"]
    ok_ice = tables.filter_frame(frame, statuses=["ok"], quantities=["ice_pct"])
    assert ok_ice["well"].tolist() == ["A1", "C3"]
    assert tables.filter_frame(frame, wells="b, c3")["well"].tolist() == ["B12", "B1", "C3"]


def test_labelled_uses_units_and_drops_empty_bookkeeping() -> None:
    frame = pd.DataFrame({"batch_id": [1], "candidate_id": [None], "ice_pct": [80.0],
                          "x_custom": [1]})
    assert list(tables.labelled(frame).columns) == ["Plate", "ICE [%]", "x_custom"]
    xlsx = pd.read_excel(io.BytesIO(tables.xlsx_bytes(frame)))
    assert xlsx["ice_pct"].iloc[0] == 80.0


def test_publish_zip_holds_a_data_package(history_url: str) -> None:
    with Store.open(history_url) as store:
        result, data = tables.publish_zip(store, CAMPAIGN, licence="CC-BY-4.0",
                                          contributors=["Ana Lima <ana@lab.org>", ""])
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert f"{CAMPAIGN}-package/datapackage.json" in names
    descriptor = zipfile.ZipFile(io.BytesIO(data)).read(f"{CAMPAIGN}-package/datapackage.json")
    package = json.loads(descriptor)
    assert package["licenses"][0]["name"] == "CC-BY-4.0" and result.n_measurements > 200


# --- spec forms --------------------------------------------------------------------------------
@pytest.mark.parametrize("template", ["hard-carbon", "electrolyte"])
def test_forms_round_trip_a_spec_unchanged(template: str) -> None:
    spec = load_template(template, name="x")
    data = forms.edited_spec(
        spec, description=spec.description, owner=spec.owner,
        parameters=forms.parameters_table(spec), targets=forms.targets_table(spec),
        descriptors=[d.name for d in spec.descriptors], wells=spec.plate.wells,
        replicates=spec.plate.replicates, controls=forms.controls_table(spec),
        shared_parameters=list(spec.plate.shared_parameters))
    assert CampaignSpec.from_dict(data) == spec


def test_forms_report_every_problem_of_an_edit() -> None:
    spec = load_template("hard-carbon", name="x")
    params = forms.parameters_table(spec)
    params.loc[1, ["lower", "upper"]] = [1900.0, 1000.0]          # bounds swapped
    # a bad name and no lower bound
    params.loc[len(params)] = ["new param", "continuous", np.nan, 3.0, "", "", False]
    targets = forms.targets_table(spec)
    targets.loc[0, "direction"] = "up"
    data = forms.edited_spec(spec, description="", owner="", parameters=params, targets=targets,
                             descriptors=[], wells=24, replicates=2,
                             controls=forms.controls_table(spec), shared_parameters=[])
    with pytest.raises(SpecError) as info:
        CampaignSpec.from_dict(data)
    text = "\n".join(info.value.problems)
    assert "parameters[1]" in text and "parameters[6]" in text and "targets[0].direction" in text
    assert "H12" in text  # control wells off a 24-well plate


def test_forms_keep_control_recipes_and_resolution() -> None:
    spec = load_template("electrolyte", name="x")
    data = forms.edited_spec(spec, description="d", owner="o",
                             parameters=forms.parameters_table(spec),
                             targets=forms.targets_table(spec), descriptors=[], wells=24,
                             replicates=0, controls=forms.controls_table(spec),
                             shared_parameters=[])
    new = CampaignSpec.from_dict(data)
    assert new.plate.controls[0].recipe == spec.plate.controls[0].recipe
    assert new.parameters == spec.parameters and new.plate.replicates == 0


# --- figures -----------------------------------------------------------------------------------
@pytest.mark.parametrize("wells", [24, 48, 96])
def test_plate_map_reads_like_a_plate(wells: int) -> None:
    base = load_template("hard-carbon", name="x").to_dict()
    base["plate"] = {"wells": wells, "controls": [{"well": "A1", "material": "ref"}],
                     "replicates": 1}
    spec = CampaignSpec.from_dict(base)
    from campaigns.plate import fill_layout
    from campaigns.store import BatchInfo, WellInfo
    from planner.design import space_filling_design

    recipes = space_filling_design(spec, spec.plate.sample_wells, seed=0).to_dict(orient="records")
    planned = fill_layout(spec.plate, recipes)
    stored = tuple(WellInfo(w.well, w.role, w.recipe, w.predictions, w.replicate_of, None, 0)
                   for w in planned)
    batch = BatchInfo(1, "x", "2026-W01", "proposed", "test", 0, 0, {}, [],
                      pd.Timestamp("2026-01-01"), stored)
    frame = progress.plate_frame(batch, spec)
    fig = figures.plate_map(frame, spec, color="carbonization_temperature_c")
    rows, ncols = PLATE_SHAPES[wells]
    assert fig.layout.yaxis.autorange == "reversed"  # row A on top
    assert list(fig.layout.yaxis.categoryarray) == list(rows)
    assert fig.layout.xaxis.side == "top"
    assert list(fig.layout.xaxis.tickvals) == list(range(1, ncols + 1))
    wells_drawn = sum(len(t.x) for t in fig.data if t.mode == "markers+text")
    assert wells_drawn == wells
    text = [m for t in fig.data if t.mode == "markers+text" for m in t.text]
    assert text.count("C") == 1 and text.count("R") == 1
    hover = "".join(c for t in fig.data if t.customdata is not None for c in t.customdata)
    assert "Carbonization temperature [°C]" in hover
    by_level = figures.plate_map(frame, spec, color="precursor")
    levels = [t.name for t in by_level.data if t.mode == "markers+text"]
    assert levels[0] == "cellulose"  # the spec's order


def test_progress_figures_show_front_predictions_and_constraint(history_snapshot) -> None:
    snap, batches = history_snapshot
    designs = progress.measured_designs(snap)
    pending = progress.plate_frame(progress.pending_batch(snap, batches), snap.spec)
    fig = figures.pareto_figure(designs, snap.spec, x="ice_pct", y="reversible_capacity_mah_per_g",
                                predicted=pending)
    names = [t.name for t in fig.data]
    assert "Pareto front" in names and "next plate (predicted, 90 % interval)" in names
    assert sum(len(t.x) for t in fig.data if t.name.startswith("2026-W")) == len(designs)
    assert any(s.x0 == 80 for s in fig.layout.shapes)  # the ICE = 80 % line
    week = figures.week_figure(progress.best_so_far(snap), progress.hypervolume_by_week(snap),
                               snap.spec)
    assert len(week.layout.annotations) >= 3
