"""User accounts on the dashboard tests' history database (imported by the login, audit and
browser tests).

``add_accounts(url)`` gives campaign ``hc`` four people: ``ada`` (the first account, an admin),
``olga`` (owner), ``chem`` (chemist) and ``vera`` (viewer), each with the password in
:data:`PASSWORDS`; and a second campaign, ``other``, in which only the admin holds a role.
"""

from __future__ import annotations

from campaigns import auth
from campaigns.store import Store
from campaigns.templates import load_template

CAMPAIGN = "hc"
ADMIN = "ada"
ROLES = {"olga": "owner", "chem": "chemist", "vera": "viewer"}
PASSWORDS = {"ada": "admin-pass-123", "olga": "owner-pass-123", "chem": "chemist-pass-123",
             "vera": "viewer-pass-123"}


def add_accounts(url: str, *, campaign: str = CAMPAIGN) -> None:
    """Create the accounts and roles above (and campaign ``other``) at ``url``."""
    with Store.open(url) as store:
        auth.add_user(store, ADMIN, PASSWORDS[ADMIN])
        admin = store.as_user(auth.authenticate(store, ADMIN, PASSWORDS[ADMIN]))
        for name, role in ROLES.items():
            auth.add_user(admin, name, PASSWORDS[name])
            auth.grant(admin, name, campaign, role)
        admin.create_campaign(load_template("hard-carbon", name="other"))


def signed_in(url: str, name: str) -> Store:
    """A store acting as ``name`` (close it after use)."""
    store = Store.open(url)
    return store.as_user(auth.authenticate(store, name, PASSWORDS[name]))
