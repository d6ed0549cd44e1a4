"""Sign-in and roles once in a real browser: Debian's headless Chromium driven by Playwright.

Starts ``planner dashboard`` on a free loopback port with a database whose campaign ``hc`` has a
plate and four accounts (an admin, and an owner, a chemist and a viewer of ``hc``). A wrong
password is refused with one generic message; the viewer cannot upload or regenerate; the
chemist may upload but not edit the spec; the owner edits the spec and the audit log names
her. Each signs out at the end, and the sign-in form is all that is left. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.accounts import CAMPAIGN, PASSWORDS, add_accounts
from tests.dashboard.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    UPLOAD,
    dashboard_server,
    nav,
    settle,
    shot,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                              "(scripts/system-deps.sh installs it)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright Python package is not installed (test extra)"),
]


def _database(url: str) -> None:
    """Campaign hc with this week's plate (space-filling), then the accounts."""
    from campaigns.store import Store
    from campaigns.templates import load_template
    from planner.weekly import current_week, suggest_plate

    with Store.open(url) as store:
        store.create_campaign(load_template("hard-carbon", name=CAMPAIGN), actor="setup")
        suggest_plate(store, CAMPAIGN, week=current_week(), actor="setup")
    add_accounts(url)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``planner dashboard`` on a database with accounts; yields the base URL."""
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    _database(url)
    with dashboard_server(url, tmp_path) as base:
        yield base


def sign_in(page, name: str, password: str | None = None) -> None:
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORDS[name] if password is None
                                                   else password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def sign_out(page) -> None:
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Log out").click()
    settle(page)
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)


def test_roles_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1440, "height": 900})
        try:
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(server)
            settle(page)
            sidebar = page.locator('[data-testid="stSidebar"]')

            # 1. the sign-in form and nothing else; a wrong password
            expect(page.get_by_label("User name")).to_be_visible()
            expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
            sign_in(page, "vera", "not-her-password")
            expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
            expect(page.get_by_label("Password", exact=True)).to_have_value("")
            expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
            shot(page, "roles-01-wrong-password")

            # 2. a viewer: sees the plate, cannot regenerate it nor upload results
            sign_in(page, "vera")
            expect(sidebar.get_by_text(re.compile(r"Signed in as vera · viewer in hc"))
                   ).to_be_visible()
            expect(page.get_by_role("button", name="Regenerate this plate…")).to_be_disabled()
            expect(page.get_by_role("button", name=re.compile("^Propose"))).to_have_count(0)
            nav(page, "Upload results")
            expect(page.get_by_text("Uploading results needs the chemist role")).to_be_visible()
            expect(page.locator(UPLOAD)).to_have_count(0)
            shot(page, "roles-02-viewer-upload")
            sign_out(page)

            # 3. a chemist: may upload, may not edit the spec
            sign_in(page, "chem")
            expect(sidebar.get_by_text(re.compile(r"Signed in as chem · chemist in hc"))
                   ).to_be_visible()
            nav(page, "Upload results")
            expect(page.locator(UPLOAD)).to_have_count(1)
            nav(page, "Campaigns")
            expect(page.get_by_text("Editing the spec needs the owner role")).to_be_visible()
            expect(page.get_by_role("button", name="Validate and save")).to_have_count(0)
            shot(page, "roles-03-chemist-campaigns")
            sign_out(page)

            # 4. an owner: edits the spec; the audit log names her
            sign_in(page, "olga")
            nav(page, "Campaigns")
            page.get_by_label("Description").fill("Spec edited by olga in the browser.")
            page.get_by_role("button", name="Validate and save").click()
            settle(page)
            expect(page.get_by_text("Saved the spec of hc")).to_be_visible()
            nav(page, "Audit log")
            expect(page.get_by_text("Audit chain intact")).to_be_visible()
            expect(page.get_by_text(re.compile(r"^campaign\.update_spec by olga on "))
                   ).to_be_visible()
            expect(page.locator('[data-testid="stCode"]').filter(
                has_text="+description: Spec edited by olga in the browser.")).to_have_count(1)
            shot(page, "roles-04-owner-audit")
            sign_out(page)
        finally:
            ctx.close()
