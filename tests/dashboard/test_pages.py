"""Every page of the dashboard, headless with Streamlit's AppTest, on a campaign with history."""

from __future__ import annotations

import base64
import json
import logging

import numpy as np
import pytest

from planner.errors import PlanningError

pytestmark = pytest.mark.slow


def clean(at) -> None:
    """No stack trace and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _plain(obj):
    """Plotly's typed arrays ({"dtype", "bdata"}) as lists; everything else unchanged."""
    if isinstance(obj, dict):
        if set(obj) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"]).tolist()
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def charts(at) -> list[dict]:
    """The page's Plotly figures as plain dicts."""
    return [_plain(json.loads(e.proto.spec)) for e in at.get("plotly_chart")]


def goto(at, page: str):
    at.switch_page(f"views/{page}.py").run()
    return at


@pytest.fixture
def app(app_factory, history_url: str):
    at = app_factory(history_url)
    at.run()
    clean(at)
    return at


def test_plate_page_shows_the_pending_plate_as_a_plate(app) -> None:
    assert app.title[0].value == "This week's plate"
    assert app.sidebar.selectbox[0].value == "hc"
    plates = app.selectbox(key="plate_select")
    assert "W13" in plates.format_func(plates.value)
    assert app.selectbox(key="plate_color").value == "predicted_ice_pct"
    (plate,) = charts(app)
    wells = [t for t in plate["data"] if t["mode"] == "markers+text"]
    assert sum(len(t["x"]) for t in wells) == 96
    assert plate["layout"]["yaxis"]["autorange"] == "reversed"
    assert plate["layout"]["xaxis"]["side"] == "top"
    hover = " ".join(h for t in wells for h in t["customdata"])
    assert "Predicted ICE [%]:" in hover and "±" in hover and "Precursor:" in hover
    labels = [b.label for b in app.get("download_button")]
    assert labels == ["Plate sheet (XLSX)", "Plate sheet (CSV)"]
    assert len(app.dataframe) == 1
    app.selectbox(key="plate_color").set_value("precursor").run()
    clean(app)
    names = {t["name"] for t in charts(app)[0]["data"]}
    assert {"cellulose", "pitch"} <= names


def test_plate_page_colours_a_measured_plate_by_results(app) -> None:
    plates = app.selectbox(key="plate_select")
    plates.set_value(1).run()
    clean(app)
    assert "ICE [%]" in app.selectbox(key="plate_color").options  # measured results
    assert not any(b.label.startswith("Regenerate") and not b.disabled for b in app.button)


def test_plate_page_shows_and_colours_furnace_runs(app) -> None:
    app.selectbox(key="plate_select").set_value(1).run()  # a first plate: four furnace runs
    clean(app)
    table = app.dataframe[0].value
    assert list(table.columns[:3]) == ["Well", "Role", "Furnace run"]
    runs = table.set_index("Well")["Furnace run"]
    assert runs.isna().tolist() == (table["Role"] == "control").tolist()  # controls: no run
    assert sorted(runs.dropna().unique()) == [1, 2, 3, 4]
    # a run is one furnace program: the wells of a run share temperature and heating rate
    program = ["Carbonization temperature [°C]", "Heating rate [°C/min]", "Dwell time [h]"]
    assert (table.dropna(subset=["Furnace run"]).groupby("Furnace run")[program].nunique() == 1
            ).all().all()
    colour = app.selectbox(key="plate_color")
    assert "Furnace run" in colour.options
    colour.set_value("furnace_run").run()
    clean(app)
    traces = {t["name"]: t for t in charts(app)[0]["data"] if t["mode"] == "markers+text"}
    assert {"Run 1", "Run 2", "Run 3", "Run 4"} <= set(traces)
    assert set(traces) - {"Run 1", "Run 2", "Run 3", "Run 4"} == {"no value"}  # the controls
    run_2 = runs.index[runs.eq(2).fillna(False)]
    assert sorted(traces["Run 2"]["x"]) == sorted(int(w[1:]) for w in run_2)


def test_progress_page(app) -> None:
    goto(app, "progress")
    clean(app)
    assert app.title[0].value == "Progress"
    assert any("Simulated data" in w.value for w in app.warning)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Weeks with results"] == "3"
    week, pareto, check = charts(app)
    names = {t["name"] for t in pareto["data"]}
    assert names >= {"2026-W10", "2026-W11", "2026-W12", "Pareto front",
                     "next plate (predicted, 90 % interval)"}
    assert any(s.get("x0") == 80 for s in pareto["layout"]["shapes"])
    assert "Hypervolume" in " ".join(a["text"] for a in week["layout"]["annotations"])
    assert len(check["data"]) >= 2
    assert any("Plate 3 (2026-W12)" in c.value for c in app.caption)


def test_model_check_on_progress_is_reused_by_insight(app) -> None:
    goto(app, "progress")
    app.button(key="run_cv").click().run()
    clean(app)
    parity = charts(app)[-1]
    assert sum(len(t["x"]) for t in parity["data"] if t["name"] == "wells") > 200
    assert any(df.value.shape[0] == 2 for df in app.dataframe)  # metrics per objective
    goto(app, "insight")
    clean(app)
    # the cross-validation of this revision is remembered: importance shows without a click
    assert not [b for b in app.button if b.key == "run_importance"]
    importance = charts(app)[-1]
    assert importance["data"][0]["type"] == "bar"
    assert "Carbonization temperature [°C]" in importance["data"][0]["y"][-2:]  # largest on top


def test_insight_page(app) -> None:
    goto(app, "insight")
    clean(app)
    (pdp,) = charts(app)
    titles = [a["text"] for a in pdp["layout"]["annotations"]]
    assert "Carbonization temperature [°C]" in titles and "Precursor" in titles
    assert app.selectbox(key="ins_target").value == "ice_pct"
    app.radio(key="ins_inputs").set_value("descriptors").run()
    clean(app)
    titles = [a["text"] for a in charts(app)[0]["layout"]["annotations"]]
    assert "BET SSA [m²/g]" in titles and "d002 [nm]" in titles


def test_data_page_filters_and_exports(app) -> None:
    goto(app, "data")
    clean(app)
    table = app.dataframe[0].value
    assert {"Plate", "Week", "Well", "ICE [%]", "Operator", "Instrument"} <= set(table.columns)
    n_all = len(table)
    app.multiselect(key="f_weeks").set_value(["2026-W10"]).run()
    assert 0 < len(app.dataframe[0].value) < n_all
    app.radio(key="data_view").set_value("One row per measurement (with provenance)").run()
    clean(app)
    long = app.dataframe[0].value
    assert {"Quantity", "Value", "Source SHA-256", "Source row", "Superseded"} <= set(long.columns)
    assert set(long["Week"]) == {"2026-W10"}
    assert [b.label for b in app.get("download_button")] == ["CSV", "XLSX"]
    assert app.subheader[-1].value == "Publish"
    app.button[-1].click().run()  # "Build the data package"
    clean(app)
    assert any("Package ready" in s.value for s in app.success)
    assert app.get("download_button")[-1].label == "Data package (ZIP)"


def test_campaigns_page_lists_and_shows_the_spec(app) -> None:
    goto(app, "campaigns")
    clean(app)
    assert app.dataframe[0].value["campaign"].tolist() == ["hc"]
    assert app.subheader[-1].value == "Spec of hc"
    assert "carbonization_temperature_c" in app.text_area[-1].value  # the YAML tab


def test_upload_page_waits_for_a_file(app) -> None:
    goto(app, "upload")
    clean(app)
    # the filled sheet, and the optional zip of instrument files; nothing to press yet
    sheet, instruments = app.file_uploader
    assert sheet.label == "Filled plate sheet"
    assert instruments.label.startswith("Instrument files (optional)")
    assert not app.button


def test_domain_errors_show_message_and_hint(app, monkeypatch) -> None:
    from planner.reports import progress

    def fail(*_a, **_k):
        raise PlanningError("the plate cannot be summarized.", hint="Upload the missing results.")

    monkeypatch.setattr(progress, "campaign_overview", fail)
    goto(app, "progress")
    assert not app.exception
    assert [e.value for e in app.error] == ["the plate cannot be summarized."]
    assert any("Upload the missing results." in i.value for i in app.info)


def test_unexpected_errors_are_logged_not_shown(app, monkeypatch, caplog) -> None:
    from planner.reports import progress

    def crash(*_a, **_k):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(progress, "measured_designs", crash)
    with caplog.at_level(logging.ERROR, logger="dashboard"):
        goto(app, "progress")
    assert not app.exception
    assert "server log" in app.error[0].value and "secret" not in app.error[0].value
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)
