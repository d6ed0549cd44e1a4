"""The weekly loop through the pages (AppTest): create, edit, propose, regenerate, upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.store import Store
from campaigns.templates import template_text
from tests.dashboard.conftest import CAMPAIGN, filled_sheet
from tests.dashboard.test_helpers import bad_sheet
from tests.dashboard.test_pages import clean, goto

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"


def test_first_visit_points_to_the_campaigns_page(app_factory, empty_url) -> None:
    at = app_factory(empty_url, campaign=None).run()
    clean(at)
    assert any("Campaigns" in i.value for i in at.info)
    goto(at, "campaigns")
    assert any("No campaign yet" in i.value for i in at.info)


def test_create_propose_and_regenerate_a_plate(app_factory, empty_url: str) -> None:
    at = app_factory(empty_url, campaign=None).run()
    goto(at, "campaigns")
    at.text_input(key="new_name").set_value("bad name!")
    at.button(key="create_template").click().run()
    assert not at.exception
    assert "problem(s); nothing was saved" in at.error[0].value and "bad name!" in at.error[0].value
    at.text_input(key="new_name").set_value("hc-new")
    at.button(key="create_template").click().run()
    clean(at)
    assert any("Created campaign **hc-new**" in s.value for s in at.success)
    assert at.sidebar.selectbox[0].value == "hc-new"

    goto(at, "plate")
    clean(at)
    at.button(key="propose").click().run()
    clean(at)
    assert any("Proposed plate 1" in s.value and "space-filling" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1
    at.button(key="regenerate").click().run()
    assert any("Replace plate 1" in w.value for w in at.warning)
    at.button(key="confirm_yes").click().run()
    clean(at)
    assert any("Regenerated plate 2" in s.value for s in at.success)
    with Store.open(empty_url) as store:
        assert [(b.id, b.status) for b in store.batches("hc-new", include_discarded=True)] == [
            (1, "discarded"), (2, "proposed")]


def test_spec_from_yaml_and_inline_validation(app_factory, empty_url: str) -> None:
    at = app_factory(empty_url, campaign=None).run()
    goto(at, "campaigns")
    bad = template_text("hard-carbon").replace("upper: 1800", "upper: 700")
    at.file_uploader(key="spec_upload").upload("hc.yaml", bad.encode(), "application/x-yaml").run()
    at.button(key="create_yaml").click().run()
    assert not at.exception
    assert "parameters[1]" in at.error[0].value
    assert "lower (800.0) must be below upper (700.0)" in at.error[0].value
    at.file_uploader(key="spec_upload").set_value(("hc.yaml", template_text("hard-carbon").encode(),
                                                  "application/x-yaml"))
    at.text_input(key="spec_rename").set_value("from-yaml")
    at.button(key="create_yaml").click().run()
    clean(at)
    assert at.sidebar.selectbox[0].value == "from-yaml"

    # edit the YAML: every problem is listed next to the editor, nothing is saved
    original = at.text_area[-1].value
    at.text_area[-1].set_value(original.replace("upper: 10.0\n", "upper: -1.0\n", 1)
                               .replace("wells: 96", "wells: 24"))
    at.button(key="save_yaml").click().run()
    assert not at.exception
    text = at.error[0].value
    assert "nothing was saved" in text and "parameters[3]" in text and "H12" in text
    # a valid edit is saved
    at.text_area[-1].set_value(original.replace("upper: 10.0\n", "upper: 12.0\n", 1))
    at.button(key="save_yaml").click().run()
    clean(at)
    with Store.open(empty_url) as store:
        assert store.spec("from-yaml").parameter("dwell_h").upper == 12
    # the form: a 24-well plate cannot hold control H12
    wells = next(s.key for s in at.selectbox if s.key.startswith("form_wells"))
    at.selectbox(key=wells).set_value(24)
    at.button(key="save_form").click().run()
    assert not at.exception and "H12" in at.error[0].value


def test_bad_upload_shows_every_problem_and_stores_nothing(app_factory, history_url) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
        before = len(store.measurements(CAMPAIGN))
    at = app_factory(history_url).run()
    goto(at, "upload")
    at.file_uploader[0].upload("week13.csv", bad_sheet(spec, batch), "text/csv").run()
    assert not at.exception
    assert "week13.csv was rejected" in at.error[0].value
    assert "Nothing was stored" in at.error[0].value
    problems = at.table[0].value
    assert {"5", "7", "9", "11"} <= set(problems["Row"]) and (problems[""] == "error").sum() >= 4
    sheet = at.dataframe[0].value
    assert list(sheet.columns[:5]) == ["Batch", "Well", "Role", "ICE [%]",
                                       "Reversible capacity [mAh/g]"]  # problems in view
    assert {5, 7, 9, 11} <= set(sheet.index) and len(sheet) < 20  # only rows with problems
    assert not [b for b in at.button if b.key == "commit"]
    with Store.open(history_url) as store:
        assert len(store.measurements(CAMPAIGN)) == before


def test_wrong_unit_values_are_stored_only_after_ticking_the_confirmation(app_factory,
                                                                         history_url) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
    sheet = filled_sheet(spec, batch).astype(object)
    row = int(sheet["ICE [%]"].first_valid_index())
    sheet.loc[row, "ICE [%]"] = "0.85"
    at = app_factory(history_url).run()
    goto(at, "upload")
    at.file_uploader[0].upload("week13.csv", sheet.to_csv(index=False).encode(), "text/csv").run()
    assert not at.exception and "week13.csv was rejected" in at.error[0].value
    assert not [b for b in at.button if b.key == "commit"]
    (box,) = at.checkbox
    assert box.label == "I confirm the flagged unusual values are correct" and not box.value
    box.check().run()
    clean(at)
    assert any("week13.csv is valid" in s.value for s in at.success)
    at.button(key="commit").click().run()
    clean(at)
    with Store.open(history_url) as store:
        stored = store.measurements(CAMPAIGN)
    ice = stored[(stored["batch_id"] == batch.id) & (stored["quantity"] == "ice_pct")]
    assert ice.set_index("well").loc[sheet.loc[row, "Well"], "value"] == 0.85


def test_another_plates_sheet_is_refused_on_the_chosen_plate(app_factory, history_url) -> None:
    with Store.open(history_url) as store:
        spec, batches = store.spec(CAMPAIGN), store.batches(CAMPAIGN)
    third, fourth = batches[2], batches[3]
    at = app_factory(history_url).run()
    goto(at, "upload")
    at.selectbox(key="upload_batch").set_value(fourth.id).run()
    sheet = filled_sheet(spec, third).to_csv(index=False).encode()
    at.file_uploader[0].upload("plate3.csv", sheet, "text/csv").run()
    assert not at.exception and "plate3.csv was rejected" in at.error[0].value
    problems = at.table[0].value
    assert problems["Column"].tolist() == ["Batch"]
    assert f"the file says batch {third.id}" in problems["Problem"].iloc[0]
    assert not at.checkbox and not [b for b in at.button if b.key == "commit"]


def test_good_upload_is_stored_only_after_confirming(app_factory, history_url) -> None:
    with Store.open(history_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
        before = len(store.measurements(CAMPAIGN))
    sheet = filled_sheet(spec, batch)
    at = app_factory(history_url).run()
    goto(at, "upload")
    at.file_uploader[0].upload("week13.csv", sheet.to_csv(index=False).encode(), "text/csv").run()
    clean(at)
    assert any("week13.csv is valid" in s.value for s in at.success)
    with Store.open(history_url) as store:
        assert len(store.measurements(CAMPAIGN)) == before  # not yet
    at.button(key="commit").click().run()
    clean(at)
    metrics = {m.label: m.value for m in at.metric}
    with Store.open(history_url) as store:
        stored = store.measurements(CAMPAIGN)
        assert int(metrics["New values"]) == len(stored) - before > 400
        assert store.batch(CAMPAIGN).status == "completed"
    assert any("plate 4 is now **completed**" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1  # the plate coloured by measured ICE
    assert not at.file_uploader[0].value  # ready for the next file
    goto(at, "progress")
    clean(at)
    assert {m.label: m.value for m in at.metric}["Weeks with results"] == "4"
