"""The Audit log page (AppTest): who did what and when, before and after, filters, export, the
hash chain's check; and who stored each value on the Data page."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from campaigns.audit import AUDIT_COLUMNS, audit_entries, audit_table
from campaigns.store import Store
from dashboard import tables
from tests.dashboard.accounts import ADMIN, CAMPAIGN, PASSWORDS, add_accounts, signed_in
from tests.dashboard.test_pages import clean, goto

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def audited_file(history_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history database with accounts, a correction by chem and a spec edit by olga."""
    path = tmp_path_factory.mktemp("audited") / "audited.db"
    shutil.copy(history_file, path)
    url = f"sqlite:///{path}"
    add_accounts(url)
    with Store.open(url) as store:
        row = store.measurements(CAMPAIGN).query("quantity == 'ice_pct'").iloc[0]
    with signed_in(url, "chem") as chem:
        chem.correct_measurement(CAMPAIGN, batch_id=int(row.batch_id), well=row.well,
                                 quantity="ice_pct", value=77.7, note="re-read the cycler file")
    with signed_in(url, "olga") as olga:
        spec = olga.spec(CAMPAIGN)
        olga.update_spec(spec.model_copy(update={"description": "edited by olga"}))
    return path


@pytest.fixture
def audited_url(audited_file: Path, tmp_path: Path) -> str:
    path = tmp_path / "audited.db"
    shutil.copy(audited_file, path)
    return f"sqlite:///{path}"


def audit_page(app_factory, url: str, user: str | None, *, check: bool = True):
    at = app_factory(url).run()
    if user is not None:
        at.text_input(key="login_name").input(user)
        at.text_input(key="login_password").input(PASSWORDS[user])
        at.button(key="login_submit").click().run()
    goto(at, "audit")
    assert not at.exception
    if check:
        clean(at)
    assert at.title[0].value == "Audit log"
    return at


def listed(at) -> pd.DataFrame:
    return at.dataframe[0].value


def test_every_write_is_listed_newest_first_and_the_chain_is_intact(app_factory,
                                                                    history_url: str) -> None:
    with Store.open(history_url) as store:
        entries = audit_entries(store)
    at = audit_page(app_factory, history_url, None)
    assert "Audit chain intact" in at.success[0].value
    assert f"{len(entries)} entries" in at.success[0].value
    shown = listed(at)
    assert shown["id"].tolist() == entries["id"].tolist()[::-1]
    assert list(shown.columns) == tables.AUDIT_SHOWN
    assert set(shown["action"]) == {"campaign.create", "batch.propose", "measurements.ingest"}
    assert [b.label for b in at.get("download_button")] == ["CSV", "XLSX"]


def test_filters_by_user_action_campaign_and_dates(app_factory, audited_url: str) -> None:
    at = audit_page(app_factory, audited_url, ADMIN)
    assert at.selectbox(key="audit_campaign").value == CAMPAIGN  # the sidebar's campaign
    assert set(listed(at)["campaign"]) == {CAMPAIGN}
    at.selectbox(key="audit_campaign").set_value("").run()
    everything = listed(at)
    assert set(everything["campaign"].dropna()) == {CAMPAIGN, "other"}
    assert set(everything.loc[everything["campaign"].isna(), "action"]) == {"user.add"}
    at.selectbox(key="audit_user").set_value("chem").run()
    assert listed(at)["action"].tolist() == ["measurement.correct"]
    at.selectbox(key="audit_user").set_value("").run()
    at.selectbox(key="audit_action").set_value("role.").run()
    shown = listed(at)
    assert set(shown["action"]) == {"role.grant"} and len(shown) == 3
    assert sorted(shown["after"]) == ["chemist", "owner", "viewer"]
    at.selectbox(key="audit_action").set_value("").run()
    long_ago = date(date.today().year - 5, 1, 1)  # inside the picker's ten-year window
    at.date_input(key="audit_dates").set_value((long_ago, long_ago.replace(month=12))).run()
    clean(at)
    assert listed(at).empty and "0 of" in " ".join(c.value for c in at.caption)


def test_a_correction_shows_who_and_the_values_before_and_after(app_factory,
                                                                audited_url: str) -> None:
    with Store.open(audited_url) as store:
        last = audit_entries(store, action="measurement.correct").iloc[-1]
    old = last["detail"]["before"]["value"]
    at = audit_page(app_factory, audited_url, "vera")
    row = listed(at).set_index("id").loc[last["id"]]
    assert row["actor"] == "chem" and row["action"] == "measurement.correct"
    assert row["before"] == f"{old:g} % (ok)" and row["after"] == "77.7 % (ok)"
    assert "re-read the cycler file" in row["summary"]


def test_a_viewer_sees_only_their_campaigns_entries(app_factory, audited_url: str) -> None:
    at = audit_page(app_factory, audited_url, "vera")
    at.selectbox(key="audit_campaign").set_value("").run()
    shown = listed(at)
    assert set(shown["campaign"]) == {CAMPAIGN}
    assert "user.add" not in set(shown["action"])
    assert at.selectbox(key="audit_campaign").options == ["All campaigns", CAMPAIGN]


def test_a_spec_edit_shows_what_changed(app_factory, audited_url: str) -> None:
    with Store.open(audited_url) as store:
        edit = audit_entries(store, action="campaign.update_spec").iloc[-1]
    at = audit_page(app_factory, audited_url, "olga")
    row = listed(at).set_index("id").loc[edit["id"]]
    assert row["actor"] == "olga" and row["after"].startswith("new spec")
    at.selectbox(key="audit_entry").set_value(int(edit["id"])).run()
    clean(at)
    diff = at.code[0].value
    assert "+description: edited by olga" in diff and "-description:" in diff


def test_an_entry_edited_behind_the_planners_back_is_named(app_factory,
                                                          history_url: str) -> None:
    with Store.open(history_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    at = audit_page(app_factory, history_url, None, check=False)
    assert not at.success
    (error,) = at.error
    assert "The audit log was changed outside the planner" in error.value
    assert "audit entry 2 (link 2" in error.value and "was changed after it was written" in (
        error.value)
    assert "planner db restore" in at.info[0].value


def test_the_export_holds_every_listed_entry_as_written(audited_url: str) -> None:
    """What the CSV and XLSX buttons download: the filtered entries, detail as JSON."""
    with Store.open(audited_url) as store:
        frame = audit_entries(store, campaign=CAMPAIGN)
    back = pd.read_csv(io.BytesIO(tables.csv_bytes(audit_table(frame))))
    assert list(back.columns) == AUDIT_COLUMNS and back["id"].tolist() == frame["id"].tolist()
    assert json.loads(back["detail"].iloc[-1]) == frame["detail"].iloc[-1]
    sheet = pd.read_excel(io.BytesIO(tables.xlsx_bytes(audit_table(frame), sheet="Audit log")),
                          sheet_name="Audit log")
    assert sheet["actor"].fillna("").tolist() == frame["actor"].tolist()


def test_the_data_page_names_who_stored_each_value(app_factory, audited_url: str) -> None:
    with signed_in(audited_url, "chem") as chem:
        upload = chem.uploads(CAMPAIGN).iloc[-1]
        chem.retract_upload(CAMPAIGN, int(upload.upload_id), reason="wrong plate")
    at = app_factory(audited_url).run()
    at.text_input(key="login_name").input("vera")
    at.text_input(key="login_password").input(PASSWORDS["vera"])
    at.button(key="login_submit").click().run()
    goto(at, "data")
    at.radio(key="data_view").set_value("One row per measurement (with provenance)").run()
    clean(at)
    shown = at.dataframe[0].value
    assert set(shown["Uploaded by"].dropna()) == {"test"}  # the history's uploads
    by = shown.groupby(shown["Uploaded by"].notna())["Recorded by"].agg(set)
    assert by[True] == {"test"}
    assert by[False] == {"chem"}  # the correction and the retracted upload's withdrawals
    corrected = shown[shown["Note"] == "re-read the cycler file"]
    assert corrected["Recorded by"].tolist() == ["chem"]
