"""Accounts, per-campaign roles enforced by the store, and the hash-chained audit log."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns import auth
from campaigns.audit import verify_audit
from campaigns.auth import AccessDenied, AuthError, Identity
from campaigns.errors import CampaignError
from campaigns.ingest import MeasurementRecord, ParsedPlate
from campaigns.models import AuditChainRow, AuditRow, UserRow
from campaigns.plate import fill_layout
from campaigns.store import Store
from campaigns.templates import load_template
from planner.design import space_filling_design

PASSWORD = {"ada": "ada-admin-pass", "vic": "viewer-pass-1", "chem": "chemist-pass-1",
            "own": "owner-pass-11", "noa": "no-role-pass"}
ROLE = {"vic": "viewer", "chem": "chemist", "own": "owner"}


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N = 2**10 for fixtures that create many accounts (the cost is stored with
    each hash, so checking still works; the default cost has its own test)."""
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)


def _plate(tag: str, wells: list[str], value: float = 80.0) -> ParsedPlate:
    records = tuple(MeasurementRecord(well=w, quantity="ice_pct", value=value, unit="%",
                                      status="ok", operator="op", instrument="VMP3",
                                      measured_at=None, source_row=i + 2, note=None)
                    for i, w in enumerate(wells))
    return ParsedPlate(filename=f"{tag}.csv", sha256=hashlib.sha256(tag.encode()).hexdigest(),
                       batch_id=None, n_rows=len(records), records=records, warnings=())


class Lab:
    """A campaign with a plate and one uploaded value, then five accounts (ada is the admin)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.spec = load_template("hard-carbon", name="demo")
        store.create_campaign(self.spec, actor="before-accounts")
        recipes = space_filling_design(self.spec, self.spec.sample_well_count,
                                       seed=0).to_dict(orient="records")
        self.batch = store.save_batch("demo", iso_week="2026-W48",
                                      wells=fill_layout(self.spec.plate, recipes),
                                      generator="test", seed=0, data_revision=0)
        self.wells = [w.well for w in self.batch.wells if w.role == "sample"]
        self.upload = store.ingest("demo", _plate("first", self.wells[:2]),
                                   batch_id=self.batch.id).upload_id
        assert auth.add_user(store, "ada", PASSWORD["ada"]) is True  # the first: an admin
        admin = self.as_("ada")
        for name in ("vic", "chem", "own", "noa"):
            auth.add_user(admin, name, PASSWORD[name])
        for name, role in ROLE.items():
            auth.grant(admin, name, "demo", role)

    def as_(self, name: str) -> Store:
        return self.store.as_user(auth.authenticate(self.store, name, PASSWORD[name]))

    def counts(self) -> tuple[int, ...]:
        with self.store.engine.connect() as conn:
            return tuple(conn.scalar(sa.text(f"SELECT count(*) FROM {t}"))
                         for t in ("audit_log", "measurements", "batches", "uploads",
                                   "campaign_roles"))


@pytest.fixture
def lab(any_store: Store, cheap_hashes: None) -> Lab:
    return Lab(any_store)


@pytest.fixture(scope="module")
def _lab_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lab]:
    """One SQLite lab built once per module; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("lab") / "lab.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auth, "SCRYPT_N", 2**10)
        with Store.open(f"sqlite:///{path}") as store:
            built = Lab(store)
    return path, built


@pytest.fixture
def sqlite_lab(_lab_file: tuple[Path, Lab], tmp_path: Path):  # noqa: ANN201
    source, built = _lab_file
    shutil.copy(source, tmp_path / "lab.db")
    with Store.open(f"sqlite:///{tmp_path / 'lab.db'}") as store:
        copy = object.__new__(Lab)
        copy.__dict__.update(built.__dict__, store=store)
        yield copy


# --- passwords -----------------------------------------------------------------------------------
def test_passwords_are_salted_scrypt_hashes_and_never_stored(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as store:
        auth.add_user(store, "ada", "the same secret")
        admin = store.as_user(auth.authenticate(store, "ada", "the same secret"))
        auth.add_user(admin, "ben", "the same secret")
        raw = (tmp_path / "p.db").read_bytes()
        with store.engine.connect() as conn:
            hashes = list(conn.scalars(sa.select(UserRow.password_hash)))
    assert b"the same secret" not in raw
    assert all(h.startswith("scrypt$n=32768,r=8,p=1$") for h in hashes)
    assert hashes[0] != hashes[1]  # a salt per user: equal passwords, different hashes
    assert auth.verify_password("the same secret", hashes[0])
    assert not auth.verify_password("the same secreT", hashes[0])


def test_hashes_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    stored = auth.hash_password("a long password")
    assert auth.verify_password("a long password", stored) and calls
    assert not auth.verify_password("another password", stored) and len(calls) == 2


@pytest.mark.parametrize("stored", [
    "scrypt$n=4194304,r=8,p=1$c2FsdA==$a2V5",  # a cost that would take minutes: refused
    "md5$whatever", "", "scrypt$n=x$$",
], ids=["huge-cost", "other-scheme", "empty", "garbled"])
def test_doctored_hashes_never_match(stored: str) -> None:
    assert not auth.verify_password("anything", stored)


def test_wrong_name_and_wrong_password_read_the_same(sqlite_lab: Lab,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = auth._scrypt
    monkeypatch.setattr(auth, "_scrypt", lambda pw, *a: hashed.append(pw) or real(pw, *a))
    with pytest.raises(AuthError) as wrong_password:
        auth.authenticate(sqlite_lab.store, "chem", "not-the-password")
    with pytest.raises(AuthError) as wrong_name:
        auth.authenticate(sqlite_lab.store, "chemm", "not-the-password")
    assert str(wrong_password.value) == str(wrong_name.value) == "wrong user name or password."
    assert wrong_name.value.hint and "planner user passwd" in wrong_name.value.hint
    # an unknown name costs a hash too (timing); the first one also makes the dummy hash
    assert hashed.count("not-the-password") == 2


@pytest.mark.parametrize("password", ["short", "ADA     "], ids=["too-short", "the-name"])
def test_weak_passwords_are_refused(tmp_path: Path, password: str) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'w.db'}") as store:
        with pytest.raises(AuthError):
            auth.add_user(store, "ada", password)
        assert not auth.has_users(store)


# --- a database without accounts ---------------------------------------------------------------
def test_without_accounts_everything_works_as_before(any_store: Store) -> None:
    spec = load_template("hard-carbon", name="demo")
    any_store.create_campaign(spec, actor="Dr. Somebody Else")
    any_store.update_spec(spec, actor="LOGNAME of the day")
    assert not auth.has_users(any_store)
    assert list(any_store.audit_log("demo")["actor"]) == ["Dr. Somebody Else",
                                                          "LOGNAME of the day"]
    assert auth.can(any_store, "demo", "owner")
    with pytest.raises(AuthError, match="no user accounts"):
        auth.authenticate(any_store, "ada", "whatever-password")


# --- roles -----------------------------------------------------------------------------------
def _upload(lab: Lab, store: Store, actor: str) -> object:
    return store.ingest("demo", _plate(f"up-{actor}", lab.wells[2:4], 81.0),
                        batch_id=lab.batch.id, actor=actor)


def _correct(lab: Lab, store: Store, actor: str) -> object:
    return store.correct_measurement("demo", batch_id=lab.batch.id, well=lab.wells[0],
                                     quantity="ice_pct", value=79.5, note="re-read", actor=actor)


def _retract_value(lab: Lab, store: Store, actor: str) -> object:
    return store.retract_value("demo", batch_id=lab.batch.id, well=lab.wells[1],
                               quantity="ice_pct", reason="leaked cell", actor=actor)


def _retract_upload(lab: Lab, store: Store, actor: str) -> object:
    assert lab.upload is not None
    return store.retract_upload("demo", lab.upload, reason="wrong plate", actor=actor)


def _suggest(lab: Lab, store: Store, actor: str) -> object:
    return store.save_batch("demo", iso_week="2026-W49", wells=list(fill_layout(
        lab.spec.plate, [dict(w.recipe) for w in lab.batch.wells if w.role == "sample"])),
        generator="test", seed=1, data_revision=0, actor=actor)


def _spec(lab: Lab, store: Store, actor: str) -> object:
    return store.update_spec(lab.spec.model_copy(update={"description": "edited"}), actor=actor)


def _grant(lab: Lab, store: Store, actor: str) -> object:
    return auth.grant(store, "noa", "demo", "viewer")


ACTIONS: dict[str, tuple[Callable[[Lab, Store, str], object], str]] = {
    "upload": (_upload, "chemist"), "correct": (_correct, "chemist"),
    "retract-value": (_retract_value, "chemist"), "retract-upload": (_retract_upload, "chemist"),
    "suggest": (_suggest, "chemist"), "edit-spec": (_spec, "owner"), "grant": (_grant, "owner"),
}
RANK = {"noa": 0, "vic": 1, "chem": 2, "own": 3, "ada": 4}
NEEDED = {"chemist": 2, "owner": 3}


@pytest.mark.parametrize("user", list(RANK))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_role_may_do_exactly_its_writes(sqlite_lab: Lab, action: str, user: str) -> None:
    do, needed = ACTIONS[action]
    store = sqlite_lab.as_(user)
    before = sqlite_lab.counts()
    if RANK[user] >= NEEDED[needed]:
        do(sqlite_lab, store, "Dr. Somebody Else")
        last = store.audit_log().iloc[-1]
        assert last["actor"] == user  # the signed-in user, whatever actor= says
        assert sqlite_lab.counts() != before
        return
    with pytest.raises(AccessDenied) as info:
        do(sqlite_lab, store, "Dr. Somebody Else")
    message, hint = str(info.value), info.value.hint or ""
    held = {"noa": "has no role", "vic": "is a viewer", "chem": "is a chemist"}[user]
    assert f"{user} may not" in message and "'demo'" in message
    assert f"needs the {needed} role" in message and held in message
    assert f"planner user grant {user} --campaign demo --role {needed}" in hint
    assert isinstance(info.value, PermissionError) and isinstance(info.value, CampaignError)
    assert sqlite_lab.counts() == before  # nothing at all was written


def test_roles_on_both_engines(lab: Lab) -> None:
    with pytest.raises(AccessDenied):
        _upload(lab, lab.as_("vic"), "x")
    with pytest.raises(AccessDenied):
        _spec(lab, lab.as_("chem"), "x")
    _upload(lab, lab.as_("chem"), "x")
    _spec(lab, lab.as_("own"), "x")
    _grant(lab, lab.as_("own"), "x")
    assert list(lab.store.audit_log("demo")["actor"])[-3:] == ["chem", "own", "own"]
    assert verify_audit(lab.store).ok


def test_nobody_signed_in_cannot_write_once_accounts_exist(sqlite_lab: Lab) -> None:
    before = sqlite_lab.counts()
    with pytest.raises(AccessDenied) as info:
        _correct(sqlite_lab, sqlite_lab.store, "Dr. Somebody Else")
    assert "nobody is signed in" in str(info.value) and "PLANNER_USER" in (info.value.hint or "")
    assert sqlite_lab.counts() == before


def test_an_identity_made_by_hand_or_for_another_database_is_refused(sqlite_lab: Lab,
                                                                      tmp_path: Path) -> None:
    real = auth.authenticate(sqlite_lab.store, "chem", PASSWORD["chem"])
    forged = Identity("ada", True, 1, sqlite_lab.store.url)
    tweaked = replace(real, name="ada", user_id=1)  # keeps chem's proof
    for identity in (forged, tweaked):
        with pytest.raises(AccessDenied, match="not obtained by signing in"):
            _spec(sqlite_lab, sqlite_lab.store.as_user(identity), "x")
    with Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.create_campaign(load_template("hard-carbon", name="demo"))
        auth.add_user(other, "chem", "other-database-pass")
        with pytest.raises(AccessDenied, match="not obtained by signing in"):
            other.as_user(real).update_spec(load_template("hard-carbon", name="demo"))


def test_a_revoked_role_takes_effect_at_once(sqlite_lab: Lab) -> None:
    chem = sqlite_lab.as_("chem")
    _correct(sqlite_lab, chem, "x")
    assert auth.revoke(sqlite_lab.as_("own"), "chem", "demo") == "chemist"
    with pytest.raises(AccessDenied, match="has no role"):
        _correct(sqlite_lab, chem, "x")  # the same identity, still "signed in"
    assert auth.roles_of(sqlite_lab.store, "chem") == {}


def test_only_admins_add_accounts_and_the_first_is_an_admin(sqlite_lab: Lab) -> None:
    for store in (sqlite_lab.store, sqlite_lab.as_("own")):
        with pytest.raises(AccessDenied):
            auth.add_user(store, "eve", "eve-password-1", admin=True)
    assert auth.add_user(sqlite_lab.as_("ada"), "eve", "eve-password-1") is False
    assert {u.name: u.admin for u in auth.users(sqlite_lab.store)} == {
        "ada": True, "chem": False, "eve": False, "noa": False, "own": False, "vic": False}
    with pytest.raises(CampaignError, match="exists already"):
        auth.add_user(sqlite_lab.as_("ada"), "eve", "eve-password-2")


def test_the_creator_of_a_campaign_owns_it(sqlite_lab: Lab) -> None:
    noa = sqlite_lab.as_("noa")
    noa.create_campaign(load_template("electrolyte", name="noa-electrolytes"))
    assert auth.roles_of(noa) == {"noa-electrolytes": "owner"}
    noa.update_spec(load_template("electrolyte", name="noa-electrolytes"))
    auth.grant(noa, "vic", "noa-electrolytes", "chemist")
    with pytest.raises(AccessDenied):
        auth.grant(noa, "vic", "demo", "chemist")  # not noa's campaign
    assert auth.roles_of(sqlite_lab.store, "ada")["noa-electrolytes"] == "owner"  # admin
    assert auth.can(noa, "noa-electrolytes", "owner") and not auth.can(noa, "demo", "viewer")


def test_passwords_are_changed_by_their_owner_or_an_admin(sqlite_lab: Lab) -> None:
    with pytest.raises(AccessDenied):
        auth.set_password(sqlite_lab.as_("chem"), "vic", "chem-sets-vic")
    auth.set_password(sqlite_lab.as_("chem"), "chem", "a new chemist pass")
    auth.set_password(sqlite_lab.as_("ada"), "vic", "reset by the admin")
    for name, old, new in (("chem", PASSWORD["chem"], "a new chemist pass"),
                           ("vic", PASSWORD["vic"], "reset by the admin")):
        with pytest.raises(AuthError):
            auth.authenticate(sqlite_lab.store, name, old)
        assert auth.authenticate(sqlite_lab.store, name, new).name == name
    actions = sqlite_lab.store.audit_log()["action"].tolist()
    assert actions.count("user.passwd") == 2
    assert "a new chemist pass" not in str(sqlite_lab.store.audit_log()["detail"].tolist())


def test_an_early_check_refuses_before_slow_work(sqlite_lab: Lab) -> None:
    assert auth.require(sqlite_lab.as_("chem"), "demo", "chemist") == "chem"
    with pytest.raises(AccessDenied):
        auth.require(sqlite_lab.as_("vic"), "demo", "chemist")


# --- shared data, publishing and restoring -----------------------------------------------------
def test_publish_needs_an_owner_and_pulling_an_admin(sqlite_lab: Lab, tmp_path: Path) -> None:
    from campaigns.shared_dataset import SharedDataset, publish_campaign

    with pytest.raises(AccessDenied, match="owner"):
        publish_campaign(sqlite_lab.as_("chem"), "demo", tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()
    result = publish_campaign(sqlite_lab.as_("own"), "demo", tmp_path / "pkg")
    entry = sqlite_lab.store.audit_log("demo").iloc[-1]
    assert (entry["actor"], entry["action"]) == ("own", "campaign.publish")
    before = sqlite_lab.counts()
    with pytest.raises(AccessDenied, match="admin"):
        SharedDataset(sqlite_lab.as_("own")).pull(result.path, name="ours")
    assert sqlite_lab.counts() == before
    pulled = SharedDataset(sqlite_lab.as_("ada")).pull(result.path, name="ours", actor="x")
    assert pulled.n_new > 0
    entry = sqlite_lab.store.audit_log().iloc[-1]
    assert (entry["actor"], entry["action"]) == ("ada", "shared.pull")


def test_only_an_admin_restores_over_a_database_with_accounts(sqlite_lab: Lab,
                                                              tmp_path: Path) -> None:
    from campaigns.backup import backup, restore

    url = sqlite_lab.store.url
    copy = tmp_path / "copy.db"
    backup(url, copy)
    for identity in (None, auth.authenticate(sqlite_lab.store, "own", PASSWORD["own"])):
        with pytest.raises(AccessDenied, match="admin|nobody"):
            restore(url, copy, force=True, identity=identity)
    admin = auth.authenticate(sqlite_lab.store, "ada", PASSWORD["ada"])
    sqlite_lab.store.close()
    assert restore(url, copy, force=True, identity=admin).path == copy


# --- the audit chain ---------------------------------------------------------------------------
def _sql(store: Store, statement: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_the_audit_chain_verifies_and_names_an_edited_entry(lab: Lab) -> None:
    _correct(lab, lab.as_("chem"), "x")
    check = verify_audit(lab.store)
    assert check.ok and check.n_entries == check.n_linked == check.head_position >= 10
    target = int(lab.store.audit_log("demo").query("action == 'measurement.correct'")["id"].iloc[0])
    _sql(lab.store, f"UPDATE audit_log SET actor = 'vic' WHERE id = {target}")
    broken = verify_audit(lab.store, expect=check.head_sha256)
    assert not broken.ok and broken.first_broken is not None
    assert broken.first_broken.audit_id == target
    assert "changed after it was written" in str(broken.first_broken)
    assert len(broken.problems) == 1  # the links after it still hold: only that entry lies


@pytest.mark.parametrize("tamper", ["delete-middle", "delete-newest", "insert", "rewrite-all"])
def test_the_audit_chain_detects_removed_added_and_rewritten_entries(sqlite_lab: Lab,
                                                                     tamper: str) -> None:
    store = sqlite_lab.store
    noted = verify_audit(store).head_sha256
    ids = [int(i) for i in store.audit_log()["id"]]
    if tamper == "delete-middle":
        _sql(store, f"DELETE FROM audit_chain WHERE audit_id = {ids[3]}")
        _sql(store, f"DELETE FROM audit_log WHERE id = {ids[3]}")
        expected = "missing"
    elif tamper == "delete-newest":
        _sql(store, f"DELETE FROM audit_chain WHERE audit_id = {ids[-1]}")
        _sql(store, f"DELETE FROM audit_log WHERE id = {ids[-1]}")
        expected = "newest entries were deleted"
    elif tamper == "insert":
        _sql(store, "INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES "
                    "('2026-01-01 00:00:00.000000', 'own', 'campaign.update_spec', 1, '{}')")
        expected = "not in the chain"
    else:  # edit an entry and recompute every link after it: only the noted head tells
        from campaigns.audit import GENESIS, chain_existing

        _sql(store, f"UPDATE audit_log SET actor = 'vic' WHERE id = {ids[2]}")
        _sql(store, "DELETE FROM audit_chain")
        _sql(store, f"UPDATE audit_head SET position = 0, sha256 = '{GENESIS}'")
        with store.engine.begin() as conn:
            chain_existing(conn)
        assert verify_audit(store).ok
        expected = "no longer holds the head hash"
    check = verify_audit(store, expect=noted)
    assert not check.ok
    assert any(expected in str(p) for p in check.problems), check.problems


def test_concurrent_writers_keep_one_linear_chain(lab: Lab) -> None:
    stores = [lab.as_("chem"), lab.as_("own"), lab.as_("ada")]
    errors: list[BaseException] = []

    def work(store: Store, k: int) -> None:
        try:
            for i in range(4):
                store.correct_measurement("demo", batch_id=lab.batch.id, well=lab.wells[k],
                                          quantity="ice_pct", value=70.0 + i, note=str(i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check = verify_audit(lab.store)
    assert check.ok, check.problems
    with lab.store.engine.connect() as conn:
        positions = sorted(conn.scalars(sa.select(AuditChainRow.position)))
        n_audit = conn.scalar(sa.select(sa.func.count()).select_from(AuditRow))
    assert positions == list(range(1, n_audit + 1))


def test_upgrading_an_old_database_links_its_audit_log(tmp_path: Path) -> None:
    from tests.campaigns.test_migrations import _build, _seed

    url = f"sqlite:///{tmp_path / 'old.db'}"
    _build(url, "0004")
    _seed(url)
    with Store.open(url) as store:
        check = verify_audit(store)
        assert check.ok and check.n_entries == check.n_linked >= 1
        assert not auth.has_users(store)
        store.update_spec(store.spec("demo"), actor="ana")  # still single-user
        assert verify_audit(store).n_linked == check.n_linked + 1


def test_a_viewer_is_refused_before_a_plate_is_computed(sqlite_lab: Lab,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import planner.propose
    from planner.weekly import suggest_plate

    def computed(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the plate was computed before the role check")

    monkeypatch.setattr(planner.propose, "propose_plate", computed)
    monkeypatch.setattr(planner.propose, "space_filling_plate", computed)
    with pytest.raises(AccessDenied, match="needs the chemist role"):
        suggest_plate(sqlite_lab.as_("vic"), "demo", week="2026-W49")


def test_regenerating_a_plate_is_the_owners_call(sqlite_lab: Lab) -> None:
    from campaigns.plate import fill_layout

    spec = sqlite_lab.spec
    recipes = space_filling_design(spec, spec.sample_well_count, seed=1).to_dict(orient="records")
    wells = fill_layout(spec.plate, recipes)
    chem = sqlite_lab.as_("chem")
    first = chem.save_batch("demo", iso_week="2026-W50", wells=wells, generator="t", seed=1,
                            data_revision=0)  # a chemist proposes a week's plate …
    with pytest.raises(AccessDenied, match="needs the owner role"):  # … but not regenerate it
        chem.save_batch("demo", iso_week="2026-W50", wells=wells, generator="t", seed=2,
                        data_revision=0, replace=True)
    again = sqlite_lab.as_("own").save_batch("demo", iso_week="2026-W50", wells=wells,
                                             generator="t", seed=2, data_revision=0, replace=True)
    assert again.id != first.id
