"""The Corrections page: retract a wrong upload, correct and withdraw one value (AppTest)."""

from __future__ import annotations

import pytest

from campaigns.store import Store
from tests.dashboard.conftest import CAMPAIGN
from tests.dashboard.test_pages import clean, goto

pytestmark = pytest.mark.slow


def test_retract_an_upload_from_the_dashboard(app_factory, history_url: str) -> None:
    with Store.open(history_url) as store:
        uploads = store.uploads(CAMPAIGN)
        before = len(store.measurements(CAMPAIGN))
    last = uploads.iloc[-1]
    at = app_factory(history_url)
    at.run()
    goto(at, "corrections")
    clean(at)
    assert at.title[0].value == "Corrections"
    assert at.selectbox(key="retract_upload").value == int(last.upload_id)  # the newest
    at.text_input(key="retract_reason").input("sheet of another plate")
    at.button(key="retract_go").click().run()  # not confirmed: nothing happens
    assert at.warning and "Tick the box" in at.warning[0].value
    with Store.open(history_url) as store:
        assert not store.uploads(CAMPAIGN)["retracted"].any()
    at.checkbox(key="retract_sure").check()
    at.text_input(key="retract_reason").input("sheet of another plate")
    at.button(key="retract_go").click().run()
    clean(at)
    assert at.success and "retracted" in at.success[0].value
    with Store.open(history_url) as store:
        after = store.measurements(CAMPAIGN)
        retracted = store.uploads(CAMPAIGN).set_index("upload_id").loc[int(last.upload_id)]
        audit = store.audit_log(CAMPAIGN)
    assert retracted["retracted"]
    assert len(after) == before - int(last.new) - int(last.superseding)
    assert (after["source_file"] != last.filename).all()
    assert audit["action"].iloc[-1] == "upload.retract"
    assert audit["detail"].iloc[-1]["reason"] == "sheet of another plate"


def test_correct_one_value_from_the_dashboard(app_factory, history_url: str) -> None:
    with Store.open(history_url) as store:
        current = store.measurements(CAMPAIGN)
    at = app_factory(history_url)
    at.run()
    goto(at, "corrections")
    plate = at.selectbox(key="corr_plate")
    row = current[current["quantity"] == "ice_pct"].iloc[0]
    plate.set_value(int(row.batch_id)).run()
    at.selectbox(key="corr_well").set_value(row.well).run()
    at.selectbox(key="corr_quantity").set_value("ice_pct").run()
    assert f"{row.value:g}" in " ".join(c.value for c in at.caption)
    at.number_input(key="corr_value").set_value(77.7)
    at.text_input(key="corr_reason").input("re-read the cycler file")
    at.button(key="corr_save").click().run()
    clean(at)
    with Store.open(history_url) as store:
        now = store.measurements(CAMPAIGN)
    mine = now[(now["batch_id"] == row.batch_id) & (now["well"] == row.well)
               & (now["quantity"] == "ice_pct")]
    assert mine["value"].tolist() == [77.7]
    assert mine["note"].tolist() == ["re-read the cycler file"]
