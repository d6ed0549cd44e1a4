"""The planner's dashboard: ``planner dashboard`` runs ``streamlit run dashboard/app.py``.

The database comes from ``$PLANNER_DB_URL`` (the CLI's ``--db``). This script only sets up the
page, asks who you are (when the database has user accounts, see :mod:`dashboard.login`), draws
the sidebar's campaign chooser and the navigation; each page lives in ``views/``.
"""

from __future__ import annotations

import logging
import sys

import streamlit as st

from dashboard.common import DOMAIN_ERRORS, campaign_picker, db_url, render, show_error, store
from dashboard.login import gate, sidebar_user
from planner.runtime import tune_allocator

tune_allocator()  # the "Suggest" page plans in this process; see planner.runtime

_log = logging.getLogger("dashboard")
if not _log.handlers:  # unexpected page errors and planning fallbacks go to the server log
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    for _package in ("campaigns", "surrogates", "planner"):  # their fallbacks, at WARNING
        logging.getLogger(_package).addHandler(_handler)
        logging.getLogger(_package).setLevel(logging.WARNING)

st.set_page_config(page_title="Battery BO planner", layout="wide",
                   page_icon=":material/battery_charging_full:")

PAGES = [  # (script, title, icon, URL path); the first page is the landing page
    ("plate", "This week's plate", "grid_on", "plate"),
    ("upload", "Upload results", "upload_file", "upload"),
    ("instruments", "Instrument fits", "ssid_chart", "instruments"),
    ("progress", "Progress", "trending_up", "progress"),
    ("insight", "Insight", "insights", "insight"),
    ("cell", "Cell projection", "battery_full", "cell"),
    ("data", "Data", "table_view", "data"),
    ("corrections", "Corrections", "edit_note", "corrections"),
    ("campaigns", "Campaigns", "science", "campaigns"),
    ("audit", "Audit log", "history", "audit"),
]


def _gate() -> None:
    """Nothing of the pages is drawn until the user is signed in; a failing check fails shut."""
    try:
        gate()
    except DOMAIN_ERRORS as exc:
        show_error(exc)
        st.stop()
    except Exception:
        _log.exception("sign-in check failed (database %s)", db_url())
        st.error("The sign-in check failed. The details were written to the server log.")
        st.stop()


def _sidebar() -> None:
    st.sidebar.markdown("### :material/battery_charging_full: Battery BO planner")
    campaign_picker()
    sidebar_user()
    st.sidebar.caption(f"Database: `{store().url}`")


_gate()
render(_sidebar)
try:
    st.navigation([st.Page(f"views/{script}.py", title=title, icon=f":material/{icon}:",
                           url_path=path) for script, title, icon, path in PAGES]).run()
except Exception:  # a page script that fails to import must not show a trace
    _log.exception("page failed to load (database %s)", db_url())
    st.error("This page could not be loaded. The details were written to the server log.")
