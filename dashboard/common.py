"""What every page shares: the store, the signed-in user, the chosen campaign, cached loads,
and error handling.

Pages call :func:`render` with their body; it turns domain errors into a message and a hint
(never a stack trace) and logs anything unexpected to the server log.

Who may write: when the database has user accounts, :func:`store` is bound to the signed-in
user (:mod:`dashboard.login`), so the store itself checks every write against that user's role
and records it under that name. Pages ask :func:`may` before drawing a write control, to hide or
disable what the role cannot do; the store's refusal stays the real guard.

Caching: loads and computations are cached with ``st.cache_data`` on ``(db url, campaign,
revision)`` (plus the plate ids where plates matter). The revision comes from a cheap
fingerprint of the campaign (number of stored measurements, newest plate, spec), so a page only
reloads the snapshot when the data changed, also when the CLI changed it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from campaigns import auth
from campaigns.errors import CampaignError
from campaigns.snapshot import CampaignSnapshot
from campaigns.store import BatchInfo, Store, current_only, default_url
from planner.api import Planner
from planner.errors import PlanningError
from surrogates.errors import SurrogateError

log = logging.getLogger("dashboard")
DOMAIN_ERRORS = (CampaignError, PlanningError, SurrogateError)
CAMPAIGN_KEY = "campaign"
_REQUEST_KEY = "campaign_request"
IDENTITY_KEY = "identity"
"""Where the signed-in :class:`campaigns.auth.Identity` lives in ``st.session_state``."""


# --- the store -----------------------------------------------------------------------------
def db_url() -> str:
    """The database the dashboard shows: ``$PLANNER_DB_URL``, else the CLI's default file."""
    return os.environ.get("PLANNER_DB_URL") or default_url()


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> Store:
    return Store.open(url)


def identity() -> auth.Identity | None:
    """The user signed in to this browser session (``None``: nobody, or no accounts)."""
    return st.session_state.get(IDENTITY_KEY)


def store() -> Store:
    """The open (and migrated) store, shared by every session of this server, acting as the
    session's signed-in user: the store checks each write against that user's role and records
    it under that name."""
    return _open_store(db_url()).as_user(identity())


def api() -> Planner:
    """The Python API over :func:`store`: what pages call to propose plates, store uploads and
    create campaigns, as a notebook would (writes are recorded under the signed-in user, or the
    server's login name on a database without accounts)."""
    return Planner(store())


# --- roles ---------------------------------------------------------------------------------
ROLE_LABELS = {"viewer": "a viewer", "chemist": "a chemist", "owner": "an owner"}


def visible_campaigns() -> set[str] | None:
    """Campaigns the signed-in user holds a role in (an admin: all); ``None`` when the dashboard
    has no sign-in and everyone sees everything."""
    if identity() is None:
        return None
    return set(auth.roles_of(store()))


def role_in(campaign: str) -> str | None:
    """The signed-in user's role in ``campaign`` (``None``: none, or nobody signed in)."""
    if identity() is None:
        return None
    return auth.roles_of(store()).get(campaign)


def may(campaign: str | None, needed: str) -> bool:
    """Whether the session's user may do what ``needed`` allows in ``campaign``, as the store
    would decide it now (always true on a database without accounts)."""
    return auth.can(store(), campaign, needed)


def md_escape(text: str) -> str:
    """``text`` shown as written in Markdown (a user name with ``*`` or ``_`` in it)."""
    return re.sub(r"([\\`*_{}\[\]()<>|~])", r"\\\1", text)


def needs(campaign: str, needed: str, *, what: str) -> str:
    """A note for a control the user may not use: "Uploading results needs the chemist role in
    campaign hc; ana is a viewer there." plus who can grant it."""
    who = identity()
    name = md_escape(who.name) if who is not None else "nobody"
    held = role_in(campaign)
    has = f"{name} is {ROLE_LABELS.get(held, held)} there" if held else f"{name} has no role there"
    grant = (f"planner user grant {shlex.quote(who.name if who else 'NAME')} --campaign "
             f"{shlex.quote(campaign)} --role {needed}")
    return (f"{what} needs the **{needed}** role in campaign **{md_escape(campaign)}**; {has}. An "
            f"owner of the campaign or an admin can grant it (`{grant}`).")


def allowed(campaign: str, needed: str, *, what: str) -> bool:
    """:func:`may`, and when not, the :func:`needs` note on the page instead of the control."""
    if may(campaign, needed):
        return True
    st.info(needs(campaign, needed, what=what), icon=":material/lock:")
    return False


def clear_caches() -> None:
    """Forget cached loads after this dashboard wrote to the store."""
    st.cache_data.clear()


# --- error handling ------------------------------------------------------------------------
def show_error(exc: BaseException) -> None:
    """Show a domain error as its message and hint."""
    st.error(str(exc))
    hint = getattr(exc, "hint", None)
    if hint:
        st.info(f"**Hint:** {hint}")


def render(body: Callable[[], None]) -> None:
    """Run a page body; domain errors show message and hint, anything else a friendly note.

    Streamlit's own control flow (``st.rerun``, ``st.stop``) derives from ``BaseException`` and
    passes through untouched.
    """
    try:
        body()
    except DOMAIN_ERRORS as exc:
        show_error(exc)
    except Exception:  # the last line of defence of a page
        log.exception("dashboard page failed")
        st.error("Something went wrong while drawing this page. The details were written to the "
                 "dashboard's server log.")
        st.info("**Hint:** reload the page. If it happens again, send the server log to the "
                "planner's maintainers.")


# --- campaigns -----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, ttl=5)
def campaign_table(url: str) -> pd.DataFrame:
    """Campaigns with their plates and measurements (refreshed every few seconds)."""
    rows = [{"campaign": c.name, "plates": c.n_batches, "measurements": c.n_measurements,
             "last week": c.last_week or "–", "owner": c.owner, "description": c.description,
             "created": c.created_at} for c in _open_store(url).list_campaigns()]
    return pd.DataFrame(rows, columns=["campaign", "plates", "measurements", "last week",
                                       "owner", "description", "created"])


def selected_campaign() -> str | None:
    """The campaign chosen in the sidebar (kept in the URL as ``?campaign=``)."""
    return st.session_state.get(CAMPAIGN_KEY)


def select_campaign(name: str) -> None:
    """Make ``name`` the current campaign from the next run on (call ``st.rerun()`` after).

    The sidebar's selectbox owns ``st.session_state["campaign"]`` once drawn, so the request is
    parked under another key and applied before the selectbox is drawn again.
    """
    st.session_state[_REQUEST_KEY] = name
    st.query_params[CAMPAIGN_KEY] = name


def campaigns_shown() -> pd.DataFrame:
    """:func:`campaign_table` with only the campaigns the signed-in user holds a role in."""
    table = campaign_table(db_url())
    visible = visible_campaigns()
    if visible is None:
        return table
    return table[table["campaign"].isin(visible)].reset_index(drop=True)


def campaign_picker() -> str | None:
    """The sidebar's campaign chooser; defaults to the URL's campaign, else the busiest one.
    A signed-in user sees the campaigns they hold a role in."""
    table = campaigns_shown()
    names = table["campaign"].tolist()
    if not names:
        if identity() is not None and not campaign_table(db_url()).empty:
            st.sidebar.info("You hold no role in any campaign yet: ask a campaign's owner to "
                            "grant you one, or create a campaign on the **Campaigns** page.")
        else:
            st.sidebar.info("No campaign yet: create one on the **Campaigns** page.")
        st.session_state.pop(CAMPAIGN_KEY, None)
        return None
    wanted = (st.session_state.pop(_REQUEST_KEY, None) or st.session_state.get(CAMPAIGN_KEY)
              or st.query_params.get(CAMPAIGN_KEY))
    if wanted not in names:
        busiest = table.sort_values(["measurements", "campaign"], ascending=[False, True])
        wanted = busiest["campaign"].iloc[0]
    st.session_state[CAMPAIGN_KEY] = wanted
    chosen = st.sidebar.selectbox("Campaign", names, key=CAMPAIGN_KEY)
    if st.query_params.get(CAMPAIGN_KEY) != chosen:
        st.query_params[CAMPAIGN_KEY] = chosen
    return chosen


def require_campaign() -> str:
    """The current campaign; stops the page with a pointer to the Campaigns page if none."""
    name = selected_campaign()
    if not name:
        st.info("Create or choose a campaign first, on the **Campaigns** page.")
        st.stop()
    return name


# --- cached loads --------------------------------------------------------------------------
def fingerprint(campaign: str) -> tuple[int, int, str]:
    """Cheap token that changes whenever the campaign's data, plates or spec change."""
    s = store()
    n_meas = next((c.n_measurements for c in s.list_campaigns() if c.name == campaign), 0)
    try:
        newest = s.batch(campaign).id
    except CampaignError:
        newest = 0
    spec_hash = hashlib.sha256(s.spec(campaign).to_yaml().encode()).hexdigest()[:16]
    return n_meas, newest, spec_hash


@st.cache_data(show_spinner=False, max_entries=8)
def _snapshot(url: str, campaign: str, token: tuple[int, int, str]) -> CampaignSnapshot:
    return _open_store(url).snapshot(campaign)


@st.cache_data(show_spinner=False, max_entries=8)
def _batches(url: str, campaign: str, token: tuple[int, int, str]) -> list[BatchInfo]:
    return _open_store(url).batches(campaign)


@st.cache_data(show_spinner=False, max_entries=8)
def _measurements(url: str, campaign: str, token: tuple[int, int, str]) -> pd.DataFrame:
    return _open_store(url).measurements(campaign, include_superseded=True)


@dataclass(frozen=True)
class CampaignData:
    """One campaign at one revision: what a page reads."""

    url: str
    """Database URL."""
    name: str
    """Campaign name."""
    token: tuple[int, int, str]
    """Fingerprint used as the cache key."""
    snapshot: CampaignSnapshot
    """The snapshot (spec, observations, pending wells)."""
    batches: list[BatchInfo]
    """Plates, oldest first (discarded ones left out)."""

    @property
    def revision(self) -> int:
        return self.snapshot.revision

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        """``(db url, campaign, revision, newest plate, spec hash)``: the cache key of
        computations (a new plate or an edited spec changes it as new data do)."""
        return self.url, self.name, self.snapshot.revision, self.token[1], self.token[2]

    def measurements(self, *, include_superseded: bool = False) -> pd.DataFrame:
        """Long table of measurements with provenance."""
        frame = _measurements(self.url, self.name, self.token)
        return frame if include_superseded else current_only(frame)

    def batch(self, batch_id: int) -> BatchInfo:
        return next(b for b in self.batches if b.id == batch_id)


def load(campaign: str) -> CampaignData:
    """The campaign's snapshot and plates, from cache unless something changed."""
    url = db_url()
    token = fingerprint(campaign)
    return CampaignData(url, campaign, token, _snapshot(url, campaign, token),
                        _batches(url, campaign, token))


def simulated_banner(data: CampaignData) -> None:
    """Label campaigns whose data came from the virtual lab."""
    from planner.reports.progress import is_simulated

    if is_simulated(data.measurements()):
        st.warning("**Simulated data.** Results of this campaign come from the planner's virtual "
                   "lab (a simulation), not from real instruments.", icon=":material/science:")


def cached(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``st.cache_data`` for computations keyed by :attr:`CampaignData.key` and options."""
    return st.cache_data(show_spinner=False, max_entries=16)(fn)


@st.cache_resource(show_spinner=False)
def _done() -> set[tuple[Any, ...]]:
    return set()


def remember(key: tuple[Any, ...]) -> None:
    """Note that an on-demand computation (a cross-validation) ran for ``key`` on this server."""
    _done().add(key)


def remembered(key: tuple[Any, ...]) -> bool:
    """Whether :func:`remember` saw ``key``: its cached result can be shown without asking."""
    return key in _done()


@st.cache_data(show_spinner=False, max_entries=16)
def _model_check(key: tuple[Any, ...], inputs: str, model: str, _data: CampaignData) -> Any:
    from planner.reports.insight import model_check as run

    return run(_data.snapshot, inputs=inputs, model=model)  # type: ignore[arg-type]


def model_check(data: CampaignData, *, inputs: str = "recipe", model: str = "rf") -> Any:
    """Cross-validation of a surrogate on the campaign (cached per revision; shared by the
    progress and insight pages). Remembered so later visits show it without asking."""
    result = _model_check(data.key, inputs, model, data)
    remember(("model_check", *data.key, inputs, model))
    return result


def model_checked(data: CampaignData, *, inputs: str = "recipe", model: str = "rf") -> bool:
    """Whether :func:`model_check` already ran for this revision on this server."""
    return remembered(("model_check", *data.key, inputs, model))
