"""Signing in to the dashboard and what each role sees (AppTest, on the history database with
accounts: an admin, an owner, a chemist and a viewer of campaign ``hc``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from campaigns import auth
from campaigns.store import Store
from dashboard import login
from tests.dashboard.accounts import ADMIN, CAMPAIGN, PASSWORDS, add_accounts, signed_in
from tests.dashboard.conftest import filled_sheet
from tests.dashboard.test_pages import clean, goto

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def accounts_file(history_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("accounts") / "accounts.db"
    shutil.copy(history_file, path)
    add_accounts(f"sqlite:///{path}")
    return path


@pytest.fixture
def accounts_url(accounts_file: Path, tmp_path: Path) -> str:
    """A private copy of the history database with accounts."""
    path = tmp_path / "accounts.db"
    shutil.copy(accounts_file, path)
    return f"sqlite:///{path}"


def sign_in(at, name: str, password: str | None = None):
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORDS[name] if password is None else password)
    at.button(key="login_submit").click().run()
    return at


def signed_in_app(app_factory, url: str, name: str):
    at = app_factory(url).run()
    sign_in(at, name)
    clean(at)
    return at


def sidebar_text(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


# --- signing in --------------------------------------------------------------------------------
def test_without_accounts_there_is_no_sign_in(app_factory, history_url: str) -> None:
    at = app_factory(history_url).run()
    clean(at)
    assert at.title[0].value == "This week's plate"
    assert not [t for t in at.text_input if t.key == "login_password"]
    assert not [b for b in at.sidebar.button if b.key == "logout"]


def test_the_sign_in_form_is_all_a_visitor_sees(app_factory, accounts_url: str) -> None:
    at = app_factory(accounts_url).run()
    clean(at)
    assert [t.key for t in at.text_input] == ["login_name", "login_password"]
    password = at.text_input(key="login_password").proto
    assert password.type == password.PASSWORD
    assert not at.sidebar.selectbox and not at.dataframe and not at.get("plotly_chart")
    assert "This week's plate" not in [t.value for t in at.title]
    with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
        goto(at, "data")  # the form is the only page there is


@pytest.mark.parametrize(("name", "password"), [("vera", "not-her-password"),
                                                ("nobody", "whatever-123"),
                                                ("Vera", PASSWORDS["vera"])],
                         ids=["wrong-password", "unknown-user", "name-case"])
def test_a_wrong_sign_in_shows_one_generic_error(app_factory, accounts_url: str, name: str,
                                                 password: str) -> None:
    at = app_factory(accounts_url).run()
    sign_in(at, name, password)
    assert not at.exception
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert "identity" not in at.session_state
    assert not at.sidebar.selectbox


def test_sign_in_and_log_out(app_factory, accounts_url: str) -> None:
    at = signed_in_app(app_factory, accounts_url, "chem")
    assert at.title[0].value == "This week's plate"
    assert at.session_state["identity"].name == "chem"
    assert "Signed in as **chem** · chemist in hc" in sidebar_text(at)
    assert at.sidebar.selectbox[0].value == CAMPAIGN
    at.sidebar.button(key="logout").click().run()
    clean(at)
    assert "identity" not in at.session_state
    assert [t.key for t in at.text_input] == ["login_name", "login_password"]
    assert not at.sidebar.selectbox


def test_a_user_sees_only_campaigns_they_hold_a_role_in(app_factory, accounts_url: str) -> None:
    at = signed_in_app(app_factory, accounts_url, "vera")
    assert at.sidebar.selectbox[0].options == [CAMPAIGN]
    goto(at, "campaigns")
    assert at.dataframe[0].value["campaign"].tolist() == [CAMPAIGN]
    admin = signed_in_app(app_factory, accounts_url, ADMIN)
    assert sorted(admin.sidebar.selectbox[0].options) == [CAMPAIGN, "other"]
    assert "Signed in as **ada** · admin" in sidebar_text(admin)


@pytest.mark.parametrize(("name", "shown"), [
    ("ana", "ana"), ("o_brien", r"o\_brien"), ("*x* [y](z)", r"\*x\* \[y\]\(z\)"),
    ("Dr. Ruiz-Lima", "Dr. Ruiz-Lima")])
def test_names_are_shown_as_written(name: str, shown: str) -> None:
    from dashboard.common import md_escape

    assert md_escape(name) == shown


# --- what each role may do ---------------------------------------------------------------------
def test_a_viewer_sees_the_data_but_no_write_control(app_factory, accounts_url: str) -> None:
    at = signed_in_app(app_factory, accounts_url, "vera")
    regenerate = at.button(key="regenerate")
    assert regenerate.disabled and "owner" in regenerate.help
    assert not [b for b in at.button if b.key in ("propose", "propose_other")]
    assert [b.label for b in at.get("download_button")] == ["Plate sheet (XLSX)",
                                                            "Plate sheet (CSV)"]
    goto(at, "upload")
    clean(at)
    assert not at.file_uploader
    assert "Uploading results needs the **chemist** role in campaign **hc**" in at.info[0].value
    assert "vera is a viewer there" in at.info[0].value
    goto(at, "corrections")
    clean(at)
    assert at.dataframe  # the uploads are listed
    assert not [b for b in at.button if b.key in ("retract_go", "corr_save", "corr_withdraw")]
    assert any("needs the **chemist** role" in i.value for i in at.info)
    goto(at, "campaigns")
    clean(at)
    assert not [b for b in at.button if b.key in ("save_form", "save_yaml")]
    assert any("Editing the spec needs the **owner** role" in i.value for i in at.info)
    assert "name: hc" in at.code[0].value  # the spec, read-only
    goto(at, "data")
    clean(at)
    assert at.dataframe and not at.get("form")
    assert any("Publishing the data needs the **owner** role" in i.value for i in at.info)


def test_a_chemist_uploads_under_their_own_name(app_factory, accounts_url: str) -> None:
    with Store.open(accounts_url) as store:
        spec, batch = store.spec(CAMPAIGN), store.batch(CAMPAIGN)
    at = signed_in_app(app_factory, accounts_url, "chem")
    assert at.button(key="regenerate").disabled  # chemists propose, owners regenerate
    goto(at, "upload")
    sheet = filled_sheet(spec, batch).to_csv(index=False).encode()
    at.file_uploader[0].upload("week13.csv", sheet, "text/csv").run()
    at.button(key="commit").click().run()
    clean(at)
    assert any("is now **completed**" in s.value for s in at.success)
    with Store.open(accounts_url) as store:
        stored = store.measurements(CAMPAIGN)
        audit = store.audit_log(CAMPAIGN)
    mine = stored[stored["batch_id"] == batch.id]
    assert len(mine) > 400 and set(mine["uploaded_by"]) == {"chem"}
    assert audit.iloc[-1][["actor", "action"]].tolist() == ["chem", "measurements.ingest"]
    goto(at, "campaigns")
    assert not [b for b in at.button if b.key in ("save_form", "save_yaml")]
    goto(at, "data")
    at.radio(key="data_view").set_value("One row per measurement (with provenance)").run()
    clean(at)
    shown = at.dataframe[0].value
    assert set(shown.loc[shown["Plate"] == batch.id, "Uploaded by"]) == {"chem"}


def test_an_owner_edits_the_spec_and_is_named_in_the_audit_log(app_factory,
                                                               accounts_url: str) -> None:
    at = signed_in_app(app_factory, accounts_url, "olga")
    goto(at, "campaigns")
    next(t for t in at.text_area if t.label == "Description").set_value("owner was here")
    at.button(key="save_form").click().run()
    clean(at)
    assert any(f"Saved the spec of **{CAMPAIGN}**" in s.value for s in at.success)
    with Store.open(accounts_url) as store:
        assert "owner was here" in store.spec(CAMPAIGN).description
        last = store.audit_log(CAMPAIGN).iloc[-1]
    assert (last["actor"], last["action"]) == ("olga", "campaign.update_spec")


def test_an_owner_may_regenerate_an_unmeasured_plate(app_factory, accounts_url: str) -> None:
    at = signed_in_app(app_factory, accounts_url, "olga")
    assert not at.button(key="regenerate").disabled  # plate 4 has no results yet
    vera = signed_in_app(app_factory, accounts_url, "vera")
    assert vera.button(key="regenerate").disabled


def test_a_refusal_is_shown_when_the_role_was_taken_away_meanwhile(
        app_factory, accounts_url: str) -> None:
    """olga asked to regenerate as an owner; an admin makes her a viewer before she confirms:
    the write is refused with its message and hint (no trace), and nothing changes."""
    at = signed_in_app(app_factory, accounts_url, "olga")
    at.button(key="regenerate").click().run()
    assert any("Replace plate 4" in w.value for w in at.warning)
    with signed_in(accounts_url, ADMIN) as admin:
        assert auth.grant(admin, "olga", CAMPAIGN, "viewer") == "owner"
    at.button(key="confirm_yes").click().run()
    assert not at.exception
    assert any("olga may not regenerate plates in campaign 'hc': that needs the owner role, "
               "and olga is a viewer there" in e.value for e in at.error)
    assert any("planner user grant olga --campaign hc --role owner" in i.value for i in at.info)
    assert at.button(key="regenerate").disabled
    with Store.open(accounts_url) as store:
        assert [b.status for b in store.batches(CAMPAIGN, include_discarded=True)].count(
            "discarded") == 0


# --- OpenID Connect ---------------------------------------------------------------------------
@pytest.fixture
def oidc_store(accounts_url: str):
    with signed_in(accounts_url, ADMIN) as admin:
        auth.add_user(admin, "ana@lab.org", "ana-pass-1234")
        auth.add_user(admin, "bo", "bo-pass-12345")
    with Store.open(accounts_url) as store:
        yield store


@pytest.mark.parametrize(("claims", "name"), [
    ({"email": "ana@lab.org", "email_verified": True}, "ana@lab.org"),
    ({"email": "ana@lab.org"}, "ana@lab.org"),  # providers that do not say
    ({"email": "someone@else.org", "preferred_username": "bo"}, "bo"),
    ({"email": "bo@lab.org", "email_verified": False, "preferred_username": "bo"}, "bo"),
], ids=["verified-email", "email", "username-after-email", "unverified-email-skipped"])
def test_a_provider_person_maps_to_their_account(oidc_store, claims, name) -> None:
    who = login.oidc_identity(oidc_store, {"is_logged_in": True, **claims})
    assert who.name == name
    assert auth.can(oidc_store.as_user(who), None, auth.ANY_USER)  # a genuine identity


@pytest.mark.parametrize("claims", [
    {"email": "stranger@evil.org", "preferred_username": "stranger"},
    {"email": "ANA@lab.org"},  # names are matched exactly
], ids=["unknown", "other-case"])
def test_a_provider_person_without_an_account_is_refused(oidc_store, claims) -> None:
    with pytest.raises(auth.AuthError, match="has no account of that name") as info:
        login.oidc_identity(oidc_store, {"is_logged_in": True, **claims})
    assert "planner user add" in info.value.hint


@pytest.mark.parametrize("claims", [
    {"sub": "1234"},
    {"email": "ana@lab.org", "email_verified": False},  # an address nobody vouched for
], ids=["no-name", "unverified-email-only"])
def test_a_provider_that_names_nobody_is_refused(oidc_store, claims) -> None:
    with pytest.raises(auth.AuthError, match="neither a verified e-mail") as info:
        login.oidc_identity(oidc_store, {"is_logged_in": True, **claims})
    assert "email" in info.value.hint


OIDC = {"redirect_uri": "http://lab:8501/oauth2callback", "cookie_secret": "s" * 32}
PROVIDER = {"client_id": "planner", "client_secret": "x",
            "server_metadata_url": "https://id.lab.org/.well-known/openid-configuration"}


@pytest.mark.parametrize(("section", "providers"), [
    (None, []),
    ({}, []),
    ({**OIDC, **PROVIDER}, [None]),
    ({**OIDC, "keycloak": PROVIDER, "google": PROVIDER}, ["google", "keycloak"]),
    ({**OIDC, "keycloak": {"client_id": "planner"}}, []),
    (PROVIDER, []),
], ids=["none", "empty", "unnamed", "named", "incomplete-provider", "no-cookie-secret"])
def test_providers_of_an_auth_block(section, providers) -> None:
    assert login.oidc_providers(section) == providers


def test_a_configured_provider_is_offered_next_to_the_form(app_factory, accounts_url) -> None:
    at = app_factory(accounts_url)
    at.secrets["auth"] = {**OIDC, "keycloak": PROVIDER}
    at.run()
    clean(at)
    assert [t.key for t in at.text_input] == ["login_name", "login_password"]
    assert [b.label for b in at.button if b.key.startswith("oidc_")] == [
        "Sign in with Keycloak"]


def test_a_provider_without_accounts_lets_nobody_in(app_factory, tmp_path: Path) -> None:
    at = app_factory(f"sqlite:///{tmp_path / 'none.db'}", campaign=None)
    at.secrets["auth"] = {**OIDC, **PROVIDER}
    at.run()
    clean(at)
    assert not at.text_input and not at.sidebar.selectbox
    assert "no user accounts yet" in at.warning[0].value
    assert [b.label for b in at.button if b.key.startswith("oidc_")] == [
        "Sign in with your organisation"]
