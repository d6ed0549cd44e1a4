"""Signing in to the dashboard: the planner's own accounts, and a lab's OpenID Connect provider.

A database without user accounts needs no sign-in: the dashboard works as a single-user tool
(and ``planner dashboard`` then refuses to listen on anything but loopback). From the first
account on (``planner user add``), every page first shows a sign-in form and nothing else; a
correct name and password keep the :class:`campaigns.auth.Identity` in ``st.session_state``,
and :func:`dashboard.common.store` acts as that user from then on.

When ``.streamlit/secrets.toml`` holds an ``[auth]`` block, the form also offers Streamlit's
``st.login`` (OpenID Connect, needs the ``authlib`` package: ``pip install
'battery-bo-planner[oidc]'``). The provider's e-mail or user name must be the name of an
account in the database (:func:`oidc_identity`); anyone else is refused. See docs/accounts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from campaigns import auth
from campaigns.store import Store
from dashboard.common import (
    IDENTITY_KEY,
    db_url,
    identity,
    md_escape,
    role_in,
    selected_campaign,
    store,
)

_OIDC_KEYS = ("redirect_uri", "cookie_secret")
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


# --- OpenID Connect ------------------------------------------------------------------------
def oidc_providers(section: Mapping[str, Any] | None) -> list[str | None]:
    """The providers an ``[auth]`` block of secrets.toml configures, for ``st.login``.

    Args:
        section: The ``[auth]`` table (``None``: no block).

    Returns:
        ``[None]`` for one unnamed provider (its keys in ``[auth]`` itself), the names of
        ``[auth.NAME]`` tables otherwise; ``[]`` when the block is missing or incomplete (no
        ``redirect_uri`` or ``cookie_secret``, or no provider with a client id, secret and
        metadata URL).
    """
    if not section or not all(k in section for k in _OIDC_KEYS):
        return []
    named = sorted(str(k) for k, v in section.items()
                   if isinstance(v, Mapping) and all(p in v for p in _PROVIDER_KEYS))
    if named:
        return list[str | None](named)
    return [None] if all(p in section for p in _PROVIDER_KEYS) else []


def _secrets_auth() -> Mapping[str, Any] | None:
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets.toml anywhere, or one that does not parse
        return None
    return section if isinstance(section, Mapping) else None


def configured_providers() -> list[str | None]:
    """:func:`oidc_providers` of this server's secrets.toml."""
    return oidc_providers(_secrets_auth())


def oidc_names(claims: Mapping[str, Any]) -> list[str]:
    """The account names an identity provider's claims vouch for, in the order tried: the
    e-mail address (unless the provider says it is unverified), then ``preferred_username``."""
    names = []
    email = claims.get("email")
    if isinstance(email, str) and email.strip() and claims.get("email_verified") is not False:
        names.append(email.strip())
    username = claims.get("preferred_username")
    if isinstance(username, str) and username.strip() and username.strip() not in names:
        names.append(username.strip())
    return names


def oidc_identity(store: Store, claims: Mapping[str, Any]) -> auth.Identity:
    """Map a person an OpenID Connect provider signed in to an account of the database.

    Args:
        store: The dashboard's store.
        claims: ``st.user`` after ``st.login``: the provider's ID-token claims.

    Returns:
        The identity of the first account named like :func:`oidc_names` (the e-mail address,
        then ``preferred_username``); names are matched exactly, as at the password form.

    Raises:
        AuthError: the provider vouched for nobody the database knows (an admin must add an
            account of that name first), or for no name at all.
    """
    names = oidc_names(claims)
    if not names:
        raise auth.AuthError(
            "the identity provider signed you in but sent neither a verified e-mail address nor "
            "a user name, so the planner cannot tell who you are.",
            hint="Ask your administrator to let the provider send the `email` (or "
            "`preferred_username`) claim: the default scope is 'openid profile email'.")
    for name in names:
        try:
            return auth.trusted_identity(store, name)
        except auth.AuthError:
            continue
    shown = " or ".join(repr(n) for n in names)
    raise auth.AuthError(
        f"you signed in with your identity provider as {shown}, but this planner has no "
        "account of that name.",
        hint=f"Ask an admin of the planner to add one: planner user add {names[0]!r} (and to "
        "grant it a role in your campaigns).")


def _user_claims() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except (AttributeError, FileNotFoundError):
        return {}


# --- the gate ------------------------------------------------------------------------------
def login_required() -> bool:
    """Whether this dashboard asks who you are: the database has accounts, or a provider is
    configured."""
    return auth.has_users(store()) or bool(configured_providers())


def _sign_in(who: auth.Identity) -> None:
    st.session_state.clear()  # nothing of an earlier visitor's session carries over
    st.session_state[IDENTITY_KEY] = who


def sign_out() -> None:
    """Forget the signed-in user (and everything this browser session kept)."""
    via_provider = bool(_user_claims().get("is_logged_in"))
    st.session_state.clear()
    if via_provider:
        st.logout()  # also clears the provider's cookie; the page reloads


def _password_form() -> None:
    with st.form("login", clear_on_submit=True, enter_to_submit=True):
        name = st.text_input("User name", key="login_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", key="login_submit")
    if not submitted:
        return
    try:
        who = auth.authenticate(store(), name.strip(), password)
    except auth.AuthError as exc:  # one message for a wrong name and a wrong password
        st.error(str(exc)[:1].upper() + str(exc)[1:])
        if exc.hint:
            st.info(f"**Hint:** {exc.hint}")
        return
    _sign_in(who)
    st.rerun()


def _provider_buttons(providers: list[str | None]) -> None:
    for provider in providers:
        label = "Sign in with your organisation" if provider is None else (
            f"Sign in with {provider.replace('-', ' ').title()}")
        if st.button(label, key=f"oidc_{provider or 'default'}", icon=":material/key:"):
            st.login(provider)  # None: the unnamed provider


def _from_provider(providers: list[str | None]) -> None:
    """After ``st.login``: map the provider's person to an account, or refuse them."""
    claims = _user_claims()
    if not providers or not claims.get("is_logged_in"):
        return
    try:
        who = oidc_identity(store(), claims)
    except auth.AuthError as exc:
        st.error(str(exc))
        st.info(f"**Hint:** {exc.hint}")
        if st.button("Sign out of the provider", key="oidc_logout"):
            st.logout()
        st.stop()
    _sign_in(who)


def gate() -> auth.Identity | None:
    """Who may see the pages: the signed-in user; ``None`` when no sign-in is needed.

    Draws the sign-in form, and stops the script, while nobody is signed in and the
    database has accounts (or a provider is configured).
    """
    if not login_required():
        st.session_state.pop(IDENTITY_KEY, None)
        return None
    who = identity()
    if who is not None:
        return who
    providers = configured_providers()
    _from_provider(providers)
    if (who := identity()) is not None:
        return who
    # The form is the only page: a page's own URL shows the form too, and the menu of pages
    # that a signed-in user saw in this tab is withdrawn.
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:",
                           default=True)], position="hidden").run()
    st.stop()
    return None  # pragma: no cover - st.stop() raises


def sign_in_page() -> None:
    """The sign-in form (and the provider's button, when one is configured)."""
    providers = configured_providers()
    st.title("Battery BO planner")
    st.markdown("Sign in to see and plan your campaigns.")
    left, _ = st.columns([2, 3])
    with left:
        if auth.has_users(store()):
            _password_form()
        else:
            st.warning("This planner has no user accounts yet, so nobody can sign in.")
            st.info("**Hint:** create the first (admin) account on the server: "
                    "`planner user add NAME`.")
        if providers:
            st.caption("or")
            _provider_buttons(providers)
    st.caption(f"Database: `{db_url()}`")


def sidebar_user() -> None:
    """Who is signed in, their role in the chosen campaign, and the Log out button."""
    who = identity()
    if who is None:
        return
    campaign = selected_campaign()
    if who.admin:
        where = " · admin"
    elif campaign and (role := role_in(campaign)):
        where = f" · {role} in {md_escape(campaign)}"
    else:
        where = ""
    st.sidebar.markdown(f":material/person: Signed in as **{md_escape(who.name)}**{where}")
    if st.sidebar.button("Log out", key="logout", icon=":material/logout:"):
        sign_out()
        st.rerun()
