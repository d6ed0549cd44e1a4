"""Backups of the planner database: a consistent copy while others write, and a safe restore.

SQLite
    :func:`backup` copies the file with SQLite's online backup API
    (:meth:`sqlite3.Connection.backup`), which yields a consistent snapshot even while the
    dashboard or another ``planner`` command writes. :func:`restore` checks the backup first
    (a SQLite database with an ``alembic_version`` this code knows, passing ``PRAGMA
    quick_check``), copies it to a temporary file next to the target and swaps it in with
    :func:`os.replace`: a crash mid-restore leaves the old database or the new one, never half
    of one.
PostgreSQL
    ``pg_dump --format=custom`` writes the backup (a consistent snapshot by design);
    ``pg_restore --clean --if-exists`` turns it back into SQL, which ``psql`` runs in ONE
    transaction, so a failed restore changes nothing. The client tools are found on ``PATH`` or
    in ``/usr/lib/postgresql/*/bin``.

Big candidate libraries
    A big library's candidates live in a Parquet file next to the database
    (:mod:`campaigns.library_store`), referenced and checksummed from it. :func:`backup` copies
    each campaign's current library file into a sibling folder ``OUT.libraries/`` (with a
    ``manifest.json`` of paths and SHA-256 sums; every copy is checked against the database's
    checksum), and :func:`restore` checks them all before it changes anything, then puts them
    into the target's library folder (:attr:`campaigns.store.Store.library_dir`). Files of
    earlier imports (kept for provenance) and files stored outside the library folder are not
    copied; :attr:`BackupInfo.libraries_left_out` names them.

Neither writes over data silently: a backup refuses to overwrite an existing file and a restore
refuses a target that holds data, unless ``force`` is given. Backups are never migrated: an
older backup is restored as it is and upgraded by the next :meth:`campaigns.store.Store.open`.

Example::

    info = backup("sqlite:///planner.db", Path("planner-2026-03-14.db"))
    info.describe()   # '1.2 MB, schema revision 0003, 2 campaign(s), 1,204 measurement(s)'
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from campaigns.auth import Identity, check_admin
from campaigns.errors import StoreError

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
_COUNTED = ("campaigns", "measurements")
_IN_USE_HINT = "Stop the dashboard and every other planner command using it, then try again."


class BackupError(StoreError):
    """A backup could not be written, or a file cannot be restored; nothing was changed."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds."""

    path: Path
    """The backup file."""
    engine: str
    """``"sqlite"`` or ``"postgresql"``: the database it restores into."""
    size_bytes: int
    """Size of the file."""
    revision: str
    """Alembic schema revision of the data (``"0003"``)."""
    n_campaigns: int
    """Campaigns in it."""
    n_measurements: int
    """Stored measurement rows in it, superseded and retracted ones included."""
    library_files: tuple[str, ...] = ()
    """Big-library Parquet files copied with it (paths relative to the library folder)."""
    library_bytes: int = 0
    """Their total size."""
    library_folder: Path | None = None
    """Where they are: ``OUT.libraries/`` for a backup, the target's library folder for a
    restore (``None`` when there are none)."""
    libraries_left_out: tuple[str, ...] = field(default_factory=tuple)
    """Library files the database references that are not in the backup or were not restored,
    each with the reason (for people)."""

    def describe(self) -> str:
        """One line for people, e.g. ``"1.2 MB, schema revision 0003, 2 campaign(s), 1,204
        measurement(s)"`` (and ``", 1 library table(s), 0.8 GB"`` when it has any)."""
        size = self.size_bytes
        shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
        text = (f"{shown}, schema revision {self.revision}, {self.n_campaigns:,} campaign(s), "
                f"{self.n_measurements:,} measurement(s)")
        if self.library_files:
            text += (f", {len(self.library_files)} library table(s) of "
                     f"{self.library_bytes / 1e6:,.1f} MB")
        return text


# --- revisions -------------------------------------------------------------------------------
def _script():  # noqa: ANN202 - alembic.script.ScriptDirectory
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("campaigns") / "migrations"))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    """The newest schema revision this version of the planner writes."""
    head = _script().get_current_head()
    assert head is not None
    return head


def _check_revision(revision: str | None, path: Path, *, known: bool = True) -> str:
    """``revision``, after refusing none at all and (if ``known``) one this code does not know."""
    if revision is None:
        raise BackupError(
            f"{path} is not a planner database: it has no schema revision (alembic_version).",
            hint="Restore a file written by `planner db backup`; back up a planner database.")
    if known and revision not in {r.revision for r in _script().walk_revisions()}:
        raise BackupError(
            f"{path} has schema revision {revision!r}, which this version of battery-bo-planner "
            f"does not know (newest known: {head_revision()!r}): a newer version wrote it.",
            hint="Upgrade battery-bo-planner (pip install -U battery-bo-planner) and restore "
            "again. Nothing was changed.")
    return revision


# --- files -----------------------------------------------------------------------------------
def _kind(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"there is no file {path}.",
                          hint="Check the path of the backup.") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}.",
                          hint="Check the path and your permissions.") from None
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path} is not a planner backup (neither a SQLite database nor a pg_dump archive).",
        hint="Restore a file written by `planner db backup`; nothing was changed.")


def _temporary(next_to: Path, tag: str) -> Path:
    return next_to.parent / f".{next_to.name}.{tag}-{uuid.uuid4().hex[:8]}.tmp"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # directories cannot be fsynced on every platform
        pass
    finally:
        os.close(fd)


def _swap_in(tmp: Path, target: Path) -> None:
    """Atomically put ``tmp`` where ``target`` is, durable once this returns."""
    _fsync(tmp)
    os.replace(tmp, target)
    _fsync(target.parent)


def _check_out(out: Path, *, force: bool) -> None:
    if out.exists() and not force:
        raise BackupError(f"{out} exists already; it was not overwritten.",
                          hint="Choose another file name, or add --force to overwrite it.")
    if not out.parent.is_dir():
        raise BackupError(f"cannot write {out}: the folder {out.parent} does not exist.",
                          hint="Create the folder first or choose another path.")


@contextlib.contextmanager
def _writing(tmp: Path, *, what: str) -> Iterator[None]:
    """Remove ``tmp`` whatever happens; a failed write is a :class:`BackupError`."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        busy = "locked" in detail or "busy" in detail
        raise BackupError(f"{what} failed: {detail}. Nothing was changed.",
                          hint=_IN_USE_HINT if busy else "Check the free disk space and your "
                          "permissions on the folder.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --- SQLite ----------------------------------------------------------------------------------
def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"cannot back up or restore {url.render_as_string()}: only SQLite "
                          "files and PostgreSQL databases are supported.",
                          hint="Use --db sqlite:///path/to/planner.db.")
    return Path(url.database)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that runs nothing the file's schema asks for (it may be foreign)."""
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _describe_sqlite(path: Path, *, shown: Path | None = None, known: bool = True) -> BackupInfo:
    """Check a SQLite backup and count what it holds; ``known`` requires a revision we know."""
    shown = shown or path
    try:
        conn = _connect_readonly(path)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise BackupError(f"{shown} is damaged (SQLite quick_check: {check and check[0]}).",
                                  hint="Use another file written by `planner db backup`.")
            tables = _sqlite_tables(conn)
            revision = (conn.execute("SELECT version_num FROM alembic_version").fetchone()
                        if "alembic_version" in tables else None)
            counts = {t: (conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                          if t in tables else 0) for t in _COUNTED}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{shown} cannot be read as a SQLite database ({exc}).",
                          hint="Use a file written by `planner db backup`.") from None
    rev = _check_revision(revision[0] if revision else None, shown, known=known)
    return BackupInfo(shown, "sqlite", path.stat().st_size, rev, counts["campaigns"],
                      counts["measurements"])


def _copy_sqlite(source: Path, dest: Path) -> None:
    """Consistent copy with SQLite's online backup API (safe while others write ``source``)."""
    src = sqlite3.connect(f"file:{quote(str(source.resolve()))}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _backup_sqlite(db: Path, out: Path, *, force: bool) -> BackupInfo:
    if not db.is_file():
        raise BackupError(f"there is no database at {db}.",
                          hint="Check --db (or $PLANNER_DB_URL); nothing was written.")
    with db.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{db} is not a SQLite database; nothing was written.",
                              hint="Check --db (or $PLANNER_DB_URL).")
    if out.exists() and out.resolve() == db.resolve():
        raise BackupError(f"{out} is the database itself.", hint="Write the backup elsewhere.")
    _check_out(out, force=force)
    tmp = _temporary(out, "backup")
    with _writing(tmp, what=f"backing up {db}"):
        _copy_sqlite(db, tmp)
        info = _describe_sqlite(tmp, shown=out, known=False)
        # The library files the copy references (not the live database: it may have moved on).
        info, folder = _backup_libraries(f"sqlite:///{tmp}", f"sqlite:///{db}", out, info,
                                         force=force)
        _finish_backup(tmp, out, folder)
    return info


def _finish_backup(tmp: Path, out: Path, folder: Path | None) -> None:
    """Put the backup file and its library folder in place (the folder is removed on error)."""
    try:
        _swap_in(tmp, out)
        _place_folder(folder, libraries_folder(out))
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _sqlite_contents(path: Path) -> str | None:
    """What the target holds, in words, or ``None`` when it holds nothing worth keeping."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        conn = _connect_readonly(path)
        try:
            tables = _sqlite_tables(conn) - {"alembic_version"}
            rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return "a file that is not a planner database"
    if not any(rows.values()):
        return None
    return (f"{rows.get('campaigns', 0):,} campaign(s) and {rows.get('measurements', 0):,} "
            "measurement(s)")


def _restore_sqlite(source: Path, db: Path, *, force: bool) -> BackupInfo:
    info = _describe_sqlite(source)
    held = _sqlite_contents(db)
    if held is not None and not force:
        raise BackupError(
            f"{db} holds {held}; restoring would replace them. Nothing was changed.",
            hint=f"Back it up first (planner db backup FILE), then add --force; or restore into a "
            f"new file with --db sqlite:///{db.with_name('restored.db')}.")
    busy = [p.name for p in (Path(f"{db}-journal"), Path(f"{db}-wal")) if p.exists()]
    if busy:
        raise BackupError(f"{db} is being written right now ({', '.join(busy)} exists); nothing "
                          "was changed.", hint=_IN_USE_HINT)
    db.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db}"
    staged = _stage_libraries(source, library_dir(url))
    tmp = _temporary(db, "restore")
    try:
        with _writing(tmp, what=f"restoring {source} into {db}"):
            _copy_sqlite(source, tmp)
            _describe_sqlite(tmp, shown=source)  # the copy is whole before it replaces anything
            if db.exists():
                shutil.copymode(db, tmp)  # whoever could open the database still can
            _swap_in(tmp, db)
    except BaseException:
        _unstage(staged)
        raise
    _place_staged(staged)
    logger.info("restored %s into %s", source, db)
    return _restored_libraries(url, source, info)


def _place_staged(staged: list[tuple[Path, Path]]) -> None:
    for tmp, final in staged:
        os.replace(tmp, final)
    for folder in {final.parent for _, final in staged}:
        _fsync(folder)


# --- big-library files ------------------------------------------------------------------------
MANIFEST = "manifest.json"


def libraries_folder(backup_file: Path) -> Path:
    """The folder that holds a backup's big-library files: ``OUT.libraries/`` next to ``OUT``."""
    return backup_file.with_name(backup_file.name + ".libraries")


def library_dir(url: str) -> Path:
    """The big-library folder of the database at ``url`` (:attr:`Store.library_dir`)."""
    from campaigns.store import Store

    engine = sa.create_engine(url)
    try:
        return Store(engine).library_dir
    finally:
        engine.dispose()


@dataclass(frozen=True)
class _LibraryRef:
    campaign: str
    path: str
    """As stored: relative to the library folder, or absolute."""
    sha256: str
    size_bytes: int


def _library_refs(url: str) -> list[_LibraryRef]:
    """The current library file of each campaign in the database at ``url`` (newest import)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if "library_tables" not in sa.inspect(conn).get_table_names():
                return []
            rows = conn.execute(sa.text(
                "SELECT c.name, l.path, l.sha256, l.size_bytes FROM library_tables l "
                "JOIN campaigns c ON c.id = l.campaign_id "
                "WHERE l.id IN (SELECT max(id) FROM library_tables GROUP BY campaign_id) "
                "ORDER BY c.name")).all()
    except sa.exc.DBAPIError as exc:
        raise BackupError(f"cannot read the library references: {exc.orig}",
                          hint="Check the URL and your permissions.") from None
    finally:
        engine.dispose()
    return [_LibraryRef(str(n), str(p), str(h), int(b)) for n, p, h, b in rows]


def _sha256(path: Path) -> str:
    from campaigns.library_table import file_sha256

    return file_sha256(path)


def _copy_libraries(refs: list[_LibraryRef], source_dir: Path, folder: Path
                    ) -> tuple[list[dict[str, object]], list[str]]:
    """Copy the referenced files under ``source_dir`` into ``folder`` (which exists), each
    checked against its reference's SHA-256; returns the manifest entries and what was left out.

    Raises:
        BackupError: A file does not match its checksum (changed or damaged since the import).
    """
    entries: list[dict[str, object]] = []
    left_out: list[str] = []
    for ref in refs:
        if Path(ref.path).is_absolute():
            left_out.append(f"{ref.path} (campaign {ref.campaign}): stored outside the library "
                            "folder; back it up yourself")
            continue
        src = source_dir / ref.path
        if not src.is_file():
            left_out.append(f"{src} (campaign {ref.campaign}): the file is missing")
            continue
        dest = folder / ref.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        if _sha256(dest) != ref.sha256:
            raise BackupError(
                f"{src} (campaign {ref.campaign}) does not match its SHA-256 checksum: it was "
                "changed or damaged after the import. Nothing was written.",
                hint="Restore the file from an earlier backup, or import the table again "
                "(planner library import CAMPAIGN FILE), then back up.")
        entries.append({"campaign": ref.campaign, "path": ref.path, "sha256": ref.sha256,
                        "size_bytes": dest.stat().st_size})
    return entries, left_out


def _backup_libraries(refs_url: str, live_url: str, out: Path, info: BackupInfo, *,
                      force: bool) -> tuple[BackupInfo, Path | None]:
    """Copy the library files the backup references into a temporary folder next to ``out``;
    returns the updated info and that folder (``None`` when there is nothing to copy)."""
    refs = _library_refs(refs_url)
    if not refs:
        return info, None
    final = libraries_folder(out)
    if final.exists() and not force:
        raise BackupError(f"{final} exists already; it was not overwritten.",
                          hint="Choose another file name, or add --force to overwrite it.")
    tmp = _temporary(final, "backup")
    tmp.mkdir()
    try:
        entries, left_out = _copy_libraries(refs, library_dir(live_url), tmp)
        (tmp / MANIFEST).write_text(json.dumps({"format": 1, "files": entries}, indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not entries:  # nothing copied: no folder, only the warnings
        shutil.rmtree(tmp, ignore_errors=True)
        return replace(info, libraries_left_out=tuple(left_out)), None
    files = tuple(str(e["path"]) for e in entries)
    size = sum(int(str(e["size_bytes"])) for e in entries)
    return replace(info, library_files=files, library_bytes=size, library_folder=final,
                   libraries_left_out=tuple(left_out)), tmp


def _place_folder(tmp: Path | None, final: Path) -> None:
    """Move the finished library folder into place (replacing an old one under --force)."""
    if tmp is None:
        return
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(final.parent)


def _read_manifest(source: Path) -> list[dict[str, object]]:
    folder = libraries_folder(source)
    path = folder / MANIFEST
    if not folder.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = list(data["files"])
        for e in entries:
            rel = Path(str(e["path"]))
            if rel.is_absolute() or ".." in rel.parts:
                raise ValueError(f"path {rel} leaves the folder")
            str(e["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{path} cannot be read ({exc}); nothing was changed.",
                          hint="Keep the .libraries folder exactly as `planner db backup` wrote "
                          "it, or move it away to restore the database without its libraries."
                          ) from None
    return entries


def _stage_libraries(source: Path, target_dir: Path) -> list[tuple[Path, Path]]:
    """Check every library file of the backup and copy it next to its place in ``target_dir``
    under a temporary name; returns ``(temporary, final)`` pairs. Nothing is replaced yet.

    Raises:
        BackupError: A file is missing or does not match its checksum (nothing was changed).
    """
    folder = libraries_folder(source)
    staged: list[tuple[Path, Path]] = []
    try:
        for e in _read_manifest(source):
            src = folder / str(e["path"])
            hint = ("Use the .libraries folder `planner db backup` wrote with this backup; "
                    "nothing was changed.")
            if not src.is_file():
                raise BackupError(f"{src} is missing from the backup's library folder.",
                                  hint=hint)
            if _sha256(src) != e["sha256"]:
                raise BackupError(f"{src} does not match its SHA-256 checksum: it was changed "
                                  "or damaged after the backup.", hint=hint)
            final = target_dir / str(e["path"])
            if final.is_file() and _sha256(final) == e["sha256"]:
                continue  # already there, the same bytes
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temporary(final, "restore")
            staged.append((tmp, final))
            shutil.copyfile(src, tmp)
            _fsync(tmp)
    except BaseException:
        _unstage(staged)
        raise
    return staged


def _unstage(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _ in staged:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _restored_libraries(url: str, source: Path, info: BackupInfo) -> BackupInfo:
    """``info`` with the library files now in place and those the database misses."""
    target_dir = library_dir(url)
    entries = {str(e["path"]) for e in _read_manifest(source)}
    present, left_out = [], []
    for ref in _library_refs(url):
        path = Path(ref.path) if Path(ref.path).is_absolute() else target_dir / ref.path
        if path.is_file():
            present.append(ref.path)
        else:
            why = "not in the backup" if ref.path not in entries else "missing"
            left_out.append(f"{path} (campaign {ref.campaign}): {why}")
    size = sum((target_dir / p).stat().st_size for p in present
               if not Path(p).is_absolute())
    return replace(info, library_files=tuple(present), library_bytes=size,
                   library_folder=target_dir if present or left_out else None,
                   libraries_left_out=tuple(left_out))


# --- PostgreSQL ------------------------------------------------------------------------------
def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", Path(path).parts[-3]))

    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if hits:
        return hits[-1]
    raise BackupError(
        f"{name} was not found; it is needed to back up and restore PostgreSQL databases.",
        hint="Install the PostgreSQL client tools (Debian/Ubuntu: apt install postgresql-client; "
        "macOS: brew install libpq) in a version at least as new as the server, and put them on "
        "PATH.")


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI (no password) and the environment carrying the password."""
    plain = sa.URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                          database=url.database, query=url.query)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], *, env: dict[str, str] | None = None, what: str,
         hint: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"cannot run {args[0]}: {exc.strerror or exc}.", hint=hint) from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        detail = "; ".join(lines[-3:]) or f"exit code {done.returncode}"
        if "server version mismatch" in detail:
            hint = (f"Install a {Path(args[0]).name} at least as new as the server (PostgreSQL "
                    "client tools) and put it first on PATH.")
        raise BackupError(f"{what} failed: {detail}", hint=hint)
    return done


def _stream(args: list[str], *, what: str, hint: str) -> Iterator[str]:
    """Lines of a tool's standard output, read as they come (a table dump can be large)."""
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                    encoding="utf-8", errors="replace")
        except OSError as exc:
            raise BackupError(f"cannot run {args[0]}: {exc.strerror or exc}.", hint=hint) from None
        assert proc.stdout is not None
        with proc:
            for line in proc.stdout:
                yield line.rstrip("\n")
        if proc.returncode != 0:
            stderr.seek(0)
            lines = [ln for ln in stderr.read().decode(errors="replace").splitlines() if ln.strip()]
            raise BackupError(f"{what} failed: {'; '.join(lines[-3:]) or proc.returncode}",
                              hint=hint)


def _describe_pg(path: Path, *, shown: Path | None = None,
                 known: bool = True) -> tuple[BackupInfo, set[str]]:
    """Check a pg_dump archive like :func:`_describe_sqlite`; also returns its tables."""
    shown = shown or path
    pg_restore = _pg_tool("pg_restore")
    hint = "Use a file written by `planner db backup` from a PostgreSQL database."
    listing = _run([pg_restore, "--list", str(path)], what=f"reading {shown}", hint=hint).stdout
    tables = set(re.findall(r"^\d+;\s+\d+\s+\d+\s+TABLE\s+(?!DATA\s)\S+\s+(\S+)\s", listing,
                            flags=re.M))
    args = [pg_restore, "--data-only", "--file=-"]
    for t in ("alembic_version", *_COUNTED):
        if t in tables:
            args.append(f"--table={t}")
    counts: dict[str, int] = {}
    revision: str | None = None
    if "alembic_version" in tables:
        current: str | None = None
        for line in _stream([*args, str(path)], what=f"reading {shown}", hint=hint):
            if current is None:
                m = re.match(r'COPY (?:\S+\.)?"?(\w+)"? \(.*\) FROM stdin;', line)
                if m:
                    current = m.group(1)
                    counts.setdefault(current, 0)
            elif line == "\\.":
                current = None
            else:
                counts[current] += 1
                if current == "alembic_version" and revision is None:
                    revision = line.strip()
    revision = _check_revision(revision, shown, known=known)
    info = BackupInfo(shown, "postgresql", path.stat().st_size, revision,
                      counts.get("campaigns", 0), counts.get("measurements", 0))
    return info, tables


def _backup_pg(url: sa.URL, out: Path, *, force: bool) -> BackupInfo:
    _check_out(out, force=force)
    conninfo, env = _libpq(url)
    tmp = _temporary(out, "backup")
    with _writing(tmp, what=f"writing {out}"):
        _run([_pg_tool("pg_dump"), "--format=custom", f"--file={tmp}", f"--dbname={conninfo}"],
             env=env, what=f"pg_dump of {url.render_as_string()}",
             hint="Check the URL, that the server is running, and your permissions.")
        info, _ = _describe_pg(tmp, shown=out, known=False)
        live = url.render_as_string(hide_password=False)
        info, folder = _backup_libraries(live, live, out, info, force=force)
        _finish_backup(tmp, out, folder)
    return info


def _planner_tables() -> set[str]:
    from campaigns.models import Base

    return {*Base.metadata.tables, "alembic_version"}


def _pg_contents(url: sa.URL) -> tuple[str | None, set[str]]:
    """What the target holds, in words (``None`` when empty), and its planner tables."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names()) & _planner_tables()
            rows = {t: conn.scalar(sa.text(f'SELECT count(*) FROM "{t}"'))
                    for t in present - {"alembic_version"}}
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot connect to {url.render_as_string()}: {exc.orig}",
                          hint="Check the URL, that the server is running, and your "
                          "permissions.") from None
    finally:
        engine.dispose()
    if not any(rows.values()):
        return None, present
    held = (f"{rows.get('campaigns', 0):,} campaign(s) and {rows.get('measurements', 0):,} "
            "measurement(s)")
    return held, present


def _restore_pg(source: Path, url: sa.URL, *, force: bool) -> BackupInfo:
    info, archived = _describe_pg(source)
    held, present = _pg_contents(url)
    if held is not None and not force:
        raise BackupError(
            f"{url.render_as_string()} holds {held}; restoring would replace them. Nothing was "
            "changed.", hint="Back it up first (planner db backup FILE), then add --force; or "
            "restore into a new, empty database.")
    conninfo, env = _libpq(url)
    target = url.render_as_string(hide_password=False)
    staged = _stage_libraries(source, library_dir(target))
    try:
        _restore_pg_data(source, url, conninfo, env, present, archived)
    except BaseException:
        _unstage(staged)
        raise
    _place_staged(staged)
    logger.info("restored %s into %s", source, url.render_as_string())
    return _restored_libraries(target, source, info)


def _restore_pg_data(source: Path, url: sa.URL, conninfo: str, env: dict[str, str],
                     present: set[str], archived: set[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="planner-restore-") as tmp:
        script = Path(tmp) / "restore.sql"
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
              f"--file={script}", str(source)], what=f"reading {source}",
             hint="Use a file written by `planner db backup`.")
        # Planner tables the backup does not have (added by a later migration) go too, in the
        # same transaction: the restored database is exactly the backup.
        extra = sorted(present - archived)
        head = "".join(f'DROP TABLE IF EXISTS public."{t}" CASCADE;\n' for t in extra)
        script.write_text(head + script.read_text(encoding="utf-8"), encoding="utf-8")
        _run([_pg_tool("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
              "--single-transaction", f"--file={script}", f"--dbname={conninfo}"], env=env,
             what=f"restoring {source} into {url.render_as_string()} (nothing was changed)",
             hint="Check the URL and your permissions; " + _IN_USE_HINT)


# --- public ----------------------------------------------------------------------------------
def _url(url: str) -> tuple[sa.URL, str]:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise BackupError(f"cannot use database URL {url!r}: {exc}",
                          hint="Use sqlite:///path/to/file.db or "
                          "postgresql+psycopg://user@host/dbname.") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up a {backend} database.",
                          hint="Backups support SQLite files and PostgreSQL.")
    return parsed, backend


def backup(url: str, out: Path, *, force: bool = False) -> BackupInfo:
    """Write a consistent backup of the database at ``url`` to ``out``.

    Args:
        url: SQLAlchemy URL of the database (``sqlite:///…`` or ``postgresql+psycopg://…``).
        out: The backup file: a SQLite database, or a ``pg_dump`` custom-format archive.
        force: Overwrite ``out`` if it exists.

    Returns:
        What the backup holds. The file appears only once it is complete.

    Raises:
        BackupError: No database at ``url``, ``out`` exists (without ``force``), or the copy
            failed (PostgreSQL client tools missing or too old, server unreachable).
    """
    parsed, backend = _url(url)
    out = Path(out)
    if backend == "sqlite":
        return _backup_sqlite(_sqlite_path(parsed), out, force=force)
    return _backup_pg(parsed, out, force=force)


def inspect_backup(path: Path) -> BackupInfo:
    """Check that ``path`` is a backup this version can restore, and say what it holds.

    Raises:
        BackupError: Not a SQLite database or ``pg_dump`` archive, damaged, without a planner
            schema revision, or written by a newer version.
    """
    path = Path(path)
    if _kind(path) == "sqlite":
        return _describe_sqlite(path)
    return _describe_pg(path)[0]


def restore(url: str, source: Path, *, force: bool = False,
            identity: Identity | None = None) -> BackupInfo:
    """Replace the database at ``url`` with the backup ``source``, all of it or nothing.

    The backup is checked first (:func:`inspect_backup`). A SQLite target is replaced by an
    atomic file swap; a PostgreSQL target in one transaction. An older backup is restored as it
    is; the next :meth:`campaigns.store.Store.open` upgrades it.

    Args:
        url: SQLAlchemy URL of the target database.
        source: A file written by :func:`backup`, of the same kind of database as ``url``.
        force: Replace a target that holds data.
        identity: The signed-in user (:func:`campaigns.auth.authenticate`): when the target
            has user accounts, only one of its admins may replace it.

    Returns:
        What was restored.

    Raises:
        BackupError: The file is not a restorable backup, is for the other kind of database,
            the target holds data (without ``force``) or is being written; nothing was changed.
        AccessDenied: The target has user accounts and ``identity`` is not one of its admins.
    """
    parsed, backend = _url(url)
    check_admin(url, identity, what="restore a backup over this database")
    source = Path(source)
    kind = _kind(source)
    if kind != backend:
        other = "sqlite:///path/to/planner.db" if kind == "sqlite" else (
            "postgresql+psycopg://user@host/dbname")
        raise BackupError(f"{source} is a {kind} backup and cannot be restored into a {backend} "
                          "database.", hint=f"Restore it with --db {other}.")
    if backend == "sqlite":
        return _restore_sqlite(source, _sqlite_path(parsed), force=force)
    return _restore_pg(source, parsed, force=force)


__all__ = ["BackupError", "BackupInfo", "backup", "head_revision", "inspect_backup",
           "libraries_folder", "library_dir", "restore"]
