"""Who may do what: user accounts, per-campaign roles, and the check every write passes.

A database without users is a single-user lab: nothing is checked and writes are recorded under
the name the caller passes (``actor=``), as before. From the first user on, every write needs a
signed-in :class:`Identity` with the right role, and the audit log records that user's name,
whatever the caller passes.

Roles, per campaign, each including the one before:

* ``viewer``: reads (the store does not restrict reads; the dashboard shows a campaign to the
  users who hold a role in it);
* ``chemist``: uploads results, corrects and retracts values and uploads, suggests plates;
* ``owner``: edits the spec, regenerates a plate that has no results, publishes the data,
  grants and revokes roles.

An ``admin`` (site-wide flag) manages users and may do anything in any campaign. Whoever creates
a campaign becomes its owner. The first user of a database is created without signing in (by
whoever can open the database) and is an admin; after that only an admin adds users.

Sign in with :func:`authenticate` and bind the identity to a store::

    store = Store.open(url)
    me = authenticate(store, "ana", password)        # AuthError on a wrong name or password
    store = store.as_user(me)                         # or Store.open(url, identity=me)
    store.ingest(...)                                 # AccessDenied unless ana is a chemist

Passwords are stored as scrypt hashes (:func:`hash_password`) with a random salt per user and
the cost parameters next to them; they are compared in constant time. An :class:`Identity` is
minted only by :func:`authenticate` (or :func:`trusted_identity` for a front end that signed the
user in itself, e.g. through OpenID Connect); one built by hand is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import shlex
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audit import audit_entries, verify_audit
from campaigns.errors import CampaignError, NotFoundError, StoreError
from campaigns.hints import did_you_mean
from campaigns.models import AuditRow, CampaignRoleRow, CampaignRow, UserRow

if TYPE_CHECKING:
    from campaigns.store import Store

#: Per-campaign roles, weakest first; each may do everything the ones before it may.
ROLES = ("viewer", "chemist", "owner")
_RANK = {role: i for i, role in enumerate(ROLES, start=1)}
#: Checks the store asks for besides a campaign role: any signed-in user; an admin.
ANY_USER, ADMIN = "user", "admin"

MIN_PASSWORD = 8
MAX_PASSWORD = 1024

#: scrypt cost (RFC 7914): N = 2**15, r = 8, p = 1 takes ~0.1 s and 32 MiB per check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32

#: Signs the identities this process mints (see Identity); never leaves the process.
_PROCESS_KEY = secrets.token_bytes(32)


class AuthError(CampaignError):
    """Signing in failed: wrong name or password, or no account."""

    exit_code = 3


class AccessDenied(CampaignError, PermissionError):
    """A signed-in user (or nobody) tried a write their role does not allow; nothing changed."""

    exit_code = 3


@dataclass(frozen=True)
class Identity:
    """A signed-in user, bound to the database they signed in to.

    Obtain one from :func:`authenticate` (or :func:`trusted_identity`); the store re-reads the
    account and its roles from the database on every write, so a revoked role takes effect at
    once. A page or session may keep it for as long as the user stays signed in.
    """

    name: str
    admin: bool
    """Whether the account was an admin when signing in (the store re-checks on every write)."""
    user_id: int = field(repr=False)
    database: str = field(repr=False)
    """URL (password hidden) of the database the user signed in to."""
    proof: bytes = field(default=b"", repr=False, compare=False)
    """HMAC by this process over the fields above: an identity built by hand has none."""


def _proof(user_id: int, name: str, database: str) -> bytes:
    msg = f"{user_id}\0{name}\0{database}".encode()
    return hmac.new(_PROCESS_KEY, msg, hashlib.sha256).digest()


def _mint(user: UserRow, database: str) -> Identity:
    return Identity(user.name, bool(user.admin), user.id, database,
                    _proof(user.id, user.name, database))


def _genuine(identity: Identity, database: str) -> bool:
    return identity.database == database and hmac.compare_digest(
        identity.proof, _proof(identity.user_id, identity.name, database))


# --- passwords -----------------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n + 2**20, dklen=_KEY_BYTES)


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n=32768,r=8,p=1$<salt base64>$<key base64>``."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison)."""
    try:
        scheme, params, salt64, key64 = stored.split("$")
        cost = dict(kv.split("=") for kv in params.split(","))
        n, r, p = int(cost["n"]), int(cost["r"]), int(cost["p"])
        salt, key = base64.b64decode(salt64), base64.b64decode(key64)
    except (ValueError, KeyError):
        return False
    # Bounds keep a doctored hash from making a sign-in take minutes or gigabytes.
    if scheme != "scrypt" or not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash to check unknown names against, so they take as long as known ones."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def _check_password(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password is {len(password)} characters long; at least "
                        f"{MIN_PASSWORD} are needed.", hint="Choose a longer password (a "
                        "passphrase of a few words is easy to remember).")
    if len(password) > MAX_PASSWORD:
        raise AuthError(f"the password is longer than {MAX_PASSWORD} characters.",
                        hint="Choose a shorter one.")
    if password.strip().casefold() == name.strip().casefold():
        raise AuthError("the password is the user name.", hint="Choose another password.")


def _check_name(name: str) -> str:
    if not name or name != name.strip() or len(name) > 200 or any(
            unicodedata.category(c).startswith("C") for c in name):
        raise CampaignError(
            f"{name!r} is not a usable user name: 1–200 printable characters, without spaces "
            "at either end.", hint="Use the person's name or initials, e.g. ana or 'Ana Ruiz'.")
    return name


# --- signing in ----------------------------------------------------------------------------------
_WRONG = "wrong user name or password."
_WRONG_HINT = ("Names are case-sensitive. Forgot the password? An admin can set a new one with "
               "`planner user passwd NAME`.")


def has_users(store: Store) -> bool:
    """Whether the database has user accounts (then every write needs a signed-in user)."""
    with Session(store.engine) as s:
        return _has_users(s)


def _has_users(s: Session) -> bool:
    return s.scalar(select(UserRow.id).limit(1)) is not None


def authenticate(store: Store, name: str, password: str) -> Identity:
    """Sign in: check ``name`` and ``password`` against the database's accounts.

    Returns:
        The identity to bind to a store (:meth:`campaigns.store.Store.as_user`).

    Raises:
        AuthError: the name or the password is wrong (one message for both, and the same time
            taken, so it does not tell which names exist), or the database has no accounts.
    """
    with Session(store.engine) as s:
        if not _has_users(s):
            raise AuthError(f"{store.url} has no user accounts: there is nobody to sign in as.",
                            hint="Everyone may write while a database has no accounts. Create "
                            "the first (admin) account with `planner user add NAME`.")
        user = s.scalar(select(UserRow).where(UserRow.name == name))
    if user is None:
        verify_password(password, _dummy_hash())
        raise AuthError(_WRONG, hint=_WRONG_HINT)
    if not verify_password(password, user.password_hash):
        raise AuthError(_WRONG, hint=_WRONG_HINT)
    return _mint(user, store.url)


def trusted_identity(store: Store, name: str) -> Identity:
    """The identity of account ``name`` without a password, for a front end that has already
    signed the user in itself (an OpenID Connect login that returned this name or e-mail).

    Only call it with a name an identity provider vouched for; never with user input.

    Raises:
        AuthError: there is no account ``name`` (an admin must add it first).
    """
    with Session(store.engine) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == name))
    if user is None:
        raise AuthError(f"{name!r} signed in, but {store.url} has no account of that name.",
                        hint=f"Ask an admin to add it: planner user add {name!r}.")
    return _mint(user, store.url)


# --- the check -----------------------------------------------------------------------------------
def _where(camp: CampaignRow | None) -> str:
    return "" if camp is None else f" in campaign {camp.name!r}"


def authorize(s: Session, identity: Identity | None, camp: CampaignRow | None, needed: str, *,
              database: str, actor: str = "", what: str = "change data") -> str:
    """Check, inside a write transaction, that ``identity`` may ``what`` in ``camp``.

    Args:
        s: The write transaction's session.
        identity: Who is signed in (``None``: nobody).
        camp: The campaign written to (``None`` for site-wide writes).
        needed: A role of :data:`ROLES`, :data:`ANY_USER` or :data:`ADMIN`.
        database: URL of the store (an identity is valid for the database it signed in to).
        actor: The name the caller passed; recorded only when the database has no users.
        what: The write, in words, for the refusal ("upload results").

    Returns:
        The name to record as the actor.

    Raises:
        AccessDenied: the write is not allowed; the transaction rolls back.
    """
    if identity is None:
        if not _has_users(s):
            return actor
        raise AccessDenied(
            f"this database has user accounts and nobody is signed in: cannot {what}"
            f"{_where(camp)}.",
            hint="Sign in: `planner --user NAME …` (or set PLANNER_USER; the password is asked "
            "for, or read from PLANNER_PASSWORD); in Python, "
            "store.as_user(campaigns.auth.authenticate(store, name, password)).")
    if not _genuine(identity, database):
        raise AccessDenied(
            f"the identity {identity.name!r} was not obtained by signing in to {database}: "
            f"cannot {what}{_where(camp)}.",
            hint="Sign in with campaigns.auth.authenticate(store, name, password).")
    user = s.get(UserRow, identity.user_id)
    if user is None or user.name != identity.name:
        raise AccessDenied(f"the account {identity.name!r} no longer exists: cannot {what}"
                           f"{_where(camp)}.", hint="Ask an admin (`planner user list`).")
    if user.admin or needed == ANY_USER:
        return user.name
    if needed == ADMIN or camp is None:
        raise AccessDenied(f"{user.name} may not {what}: that needs an admin.",
                           hint="Ask an admin; `planner user list` shows who is one.")
    held = s.scalar(select(CampaignRoleRow.role).where(CampaignRoleRow.user_id == user.id,
                                                       CampaignRoleRow.campaign_id == camp.id))
    if held is not None and _RANK.get(held, 0) >= _RANK[needed]:
        return user.name
    holds = f"is a {held}" if held else "has no role"
    raise AccessDenied(
        f"{user.name} may not {what} in campaign {camp.name!r}: that needs the {needed} role, "
        f"and {user.name} {holds} there. Nothing was changed.",
        hint=f"Ask an owner of {camp.name!r} or an admin to run: planner user grant "
        f"{shlex.quote(user.name)} --campaign {shlex.quote(camp.name)} --role {needed}")


def make_owner(s: Session, identity: Identity | None, camp: CampaignRow) -> None:
    """Give the creator of a new campaign the owner role (nothing when nobody is signed in)."""
    if identity is not None:
        s.add(CampaignRoleRow(user_id=identity.user_id, campaign_id=camp.id, role="owner",
                              granted_by=identity.name))


def require(store: Store, campaign: str | None, role: str, *, what: str = "change data") -> str:
    """Refuse early, before slow work, a write the store would refuse at the end.

    Returns:
        The name the write would be recorded under.

    Raises:
        AccessDenied: as the write itself would.
    """
    with store._session() as s:
        camp = None if campaign is None else store._campaign(s, campaign)
        return authorize(s, store.identity, camp, role, database=store.url, what=what)


def can(store: Store, campaign: str | None, role: str) -> bool:
    """Whether the store's user may do what ``role`` allows in ``campaign`` (to show buttons)."""
    try:
        require(store, campaign, role)
    except AccessDenied:
        return False
    return True


def roles_of(store: Store, name: str | None = None) -> dict[str, str]:
    """Campaign -> role of user ``name`` (default: the store's user); an admin is ``owner`` of
    every campaign. Empty when the database has no users or nobody is signed in."""
    who = name if name is not None else (None if store.identity is None else store.identity.name)
    if who is None:
        return {}
    with Session(store.engine) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == who))
        if user is None:
            return {}
        if user.admin:
            return {n: "owner" for n in s.scalars(select(CampaignRow.name))}
        return {c: r for c, r in s.execute(
            select(CampaignRow.name, CampaignRoleRow.role).join(
                CampaignRoleRow, CampaignRoleRow.campaign_id == CampaignRow.id)
            .where(CampaignRoleRow.user_id == user.id))}


# --- managing accounts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UserInfo:
    name: str
    admin: bool
    created_at: datetime
    created_by: str
    roles: dict[str, str]
    """Campaign name -> role."""


def users(store: Store) -> list[UserInfo]:
    """Every account, by name, with its roles."""
    with Session(store.engine) as s:
        roles: dict[int, dict[str, str]] = {}
        for uid, camp, role in s.execute(
                select(CampaignRoleRow.user_id, CampaignRow.name, CampaignRoleRow.role)
                .join(CampaignRow, CampaignRow.id == CampaignRoleRow.campaign_id)):
            roles.setdefault(uid, {})[camp] = role
        return [UserInfo(u.name, bool(u.admin), u.created_at, u.created_by, roles.get(u.id, {}))
                for u in s.scalars(select(UserRow).order_by(UserRow.name))]


def _user(s: Session, name: str) -> UserRow:
    user = s.scalar(select(UserRow).where(UserRow.name == name))
    if user is None:
        names = list(s.scalars(select(UserRow.name)))
        raise NotFoundError(f"no user named {name!r}.", hint=did_you_mean(name, names, cutoff=0.5)
                            or "List users with `planner user list`.")
    return user


def add_user(store: Store, name: str, password: str, *, admin: bool = False) -> bool:
    """Create account ``name``.

    The first account of a database needs nobody signed in and is always an admin; after that
    only a signed-in admin adds accounts.

    Returns:
        Whether the account is an admin.

    Raises:
        AccessDenied: accounts exist and the store's user is not an admin.
        CampaignError: the name is taken or unusable, or the password too short.
    """
    _check_name(name)
    _check_password(password, name)
    hashed = hash_password(password)  # before the transaction: it takes ~0.1 s
    with store._write() as s:
        first = not _has_users(s)
        actor = name if first else authorize(s, store.identity, None, ADMIN,
                                             database=store.url, what="add users")
        if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
            raise CampaignError(f"a user named {name!r} exists already.",
                                hint="Choose another name, or reset that user's password with "
                                f"`planner user passwd {name!r}`.")
        admin = admin or first
        s.add(UserRow(name=name, password_hash=hashed, admin=admin, created_by=actor))
        s.add(AuditRow(actor=actor, action="user.add", campaign_id=None,
                       detail={"user": name, "admin": admin, "first_user": first}))
    return admin


def set_password(store: Store, name: str, password: str) -> None:
    """Set account ``name``'s password: the signed-in user's own, or anyone's by an admin."""
    _check_password(password, name)
    hashed = hash_password(password)
    with store._write() as s:
        own = store.identity is not None and store.identity.name == name
        actor = authorize(s, store.identity, None, ANY_USER if own else ADMIN,
                          database=store.url, what=f"set the password of {name!r}")
        user = _user(s, name)
        user.password_hash = hashed
        s.add(AuditRow(actor=actor, action="user.passwd", campaign_id=None,
                       detail={"user": name}))


def grant(store: Store, name: str, campaign: str, role: str) -> str | None:
    """Give user ``name`` ``role`` in ``campaign`` (an owner of the campaign or an admin may).

    Returns:
        The role the user held before (``None``: none).
    """
    if role not in ROLES:
        raise CampaignError(f"{role!r} is not a role.", hint=f"Roles: {', '.join(ROLES)}.")
    with store._write() as s:
        camp = store._campaign(s, campaign)
        actor = authorize(s, store.identity, camp, "owner", database=store.url,
                          what="grant roles")
        user = _user(s, name)
        row = s.scalar(select(CampaignRoleRow).where(CampaignRoleRow.user_id == user.id,
                                                     CampaignRoleRow.campaign_id == camp.id))
        before = None if row is None else row.role
        if row is None:
            s.add(CampaignRoleRow(user_id=user.id, campaign_id=camp.id, role=role,
                                  granted_by=actor))
        else:
            row.role, row.granted_by = role, actor
        s.add(AuditRow(actor=actor, action="role.grant", campaign_id=camp.id,
                       detail={"user": name, "role": role, "before": before}))
    return before


def revoke(store: Store, name: str, campaign: str) -> str | None:
    """Take away user ``name``'s role in ``campaign``.

    Returns:
        The role the user held (``None``: none; nothing changed).
    """
    with store._write() as s:
        camp = store._campaign(s, campaign)
        actor = authorize(s, store.identity, camp, "owner", database=store.url,
                          what="revoke roles")
        user = _user(s, name)
        row = s.scalar(select(CampaignRoleRow).where(CampaignRoleRow.user_id == user.id,
                                                     CampaignRoleRow.campaign_id == camp.id))
        if row is None:
            return None
        before = row.role
        s.delete(row)
        s.add(AuditRow(actor=actor, action="role.revoke", campaign_id=camp.id,
                       detail={"user": name, "before": before}))
    return before


def check_admin(url: str, identity: Identity | None, *, what: str) -> None:
    """Refuse ``what`` (restoring a backup over the database at ``url``) unless nobody has an
    account there or ``identity`` is one of its admins. Does not upgrade the database."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
            not parsed.database or not Path(parsed.database).expanduser().is_file()):
        return  # no database there yet: nothing to protect (and do not create the file)
    engine = sa.create_engine(parsed)
    try:
        with Session(engine) as s:
            if "users" not in sa.inspect(s.connection()).get_table_names() or not _has_users(s):
                return
            shown = engine.url.render_as_string(hide_password=True)
            authorize(s, identity, None, ADMIN, database=shown, what=what)
    except sa.exc.DBAPIError as exc:
        if parsed.get_backend_name() == "sqlite":
            return  # not a database the planner can read: no accounts in it to protect
        raise StoreError(f"cannot read the accounts of "
                         f"{parsed.render_as_string(hide_password=True)}: {exc.orig}",
                         hint="Check the URL, that the server is running, and your "
                         "permissions. Nothing was changed.") from None
    finally:
        engine.dispose()


__all__ = ["ADMIN", "ANY_USER", "MIN_PASSWORD", "ROLES", "AccessDenied", "AuthError",
           "Identity", "UserInfo", "add_user", "audit_entries", "authenticate", "authorize", "can",
           "check_admin", "grant", "has_users", "hash_password", "make_owner", "require",
           "revoke", "roles_of", "set_password", "trusted_identity", "users", "verify_audit",
           "verify_password"]
