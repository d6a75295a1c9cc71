"""Encrypted backups and verified restores of the whole vault database.

Backup takes a consistent snapshot into a private temporary directory (mode
0700, removed afterwards): SQLite through its online backup API, PostgreSQL
through ``pg_dump`` inside an exported REPEATABLE READ snapshot, so the row
counts in the manifest describe exactly the dumped data.  The snapshot is then
sealed into the archive (:mod:`vault.backup_archive`) under the keyring's
``backup`` key, written to a new file of mode 0600 that never replaces an
existing one.  No connection secret reaches a command line: ``pg_dump`` and
``psql`` get host, port, user and database through ``PG*`` variables and the
password through a ``PGPASSFILE`` inside the private directory.

Restore verifies the *entire* archive (every chunk, the final chunk, the
digest) into the private directory before it touches the database; refuses a
backup of the other back end or of a schema this vault does not know; replaces
a non-empty database only after confirmation, atomically (SQLite backup API;
one ``psql --single-transaction``); brings the schema up to date; and then
re-applies every erasure tombstone, so a backup taken before an erasure never
brings the customer back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from vault.audit import AuditLog, Outcome, signer_from_keyring
from vault.backup_archive import CHUNK_BYTES, Manifest, open_archive, read_manifest, write_archive
from vault.errors import ConfigurationError, StorageError, ValidationError
from vault.keyring import Keyring, load_keyring
from vault.logs import get_logger
from vault.progress import NullProgress, Progress
from vault.services.erasure import ERASURE_REQUEST, Operator, delete_customer_rows, tombstones_of
from vault.services.runtime import Vault, open_vault, utc_now
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine, normalise_url
from vault.storage.tables import metadata

log = get_logger("vault.backup")
Confirm = Callable[[str], bool]


def backend_of(database_url: str) -> str:
    return "sqlite" if normalise_url(database_url).startswith("sqlite") else "postgresql"


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A temporary directory only this user can enter, removed with everything in it."""
    path = Path(tempfile.mkdtemp(prefix="cdv-"))
    try:
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- backup


def backup(
    vault: Vault,
    out: Path,
    progress: Progress | None = None,
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> dict[str, Any]:
    """Write an encrypted, authenticated archive of the whole database to ``out`` (new file)."""
    progress = progress or NullProgress()
    family = vault.keyring.backup
    if out.exists() or out.is_symlink():
        raise ValidationError("OUT", "already exists; a backup never overwrites a file")
    if not out.parent.is_dir():
        raise ValidationError("OUT", "is in a directory that does not exist")
    backend = backend_of(vault.settings.database_url)
    with private_directory() as tmp:
        snapshot = tmp / "snapshot"
        if backend == "sqlite":
            revisions, counts = _sqlite_snapshot(vault.engine, snapshot)
        else:
            revisions, counts = _pg_snapshot(vault, snapshot, tmp)
        digest, size = _file_digest(snapshot)
        manifest = Manifest(
            backend=backend,
            created_at=vault.clock().astimezone(dt.UTC).isoformat(),
            schema_revisions=tuple(sorted(revisions)),
            row_counts=counts,
            plaintext_sha256=digest,
            plaintext_bytes=size,
            key_version=vault.keyring.backup.primary,
            chunk_bytes=chunk_bytes,
        )
        progress.start("sealing backup", size)
        try:
            with snapshot.open("rb") as plain:
                _write_new_file(
                    out, lambda fh: write_archive(fh, plain, manifest, family, progress.advance)
                )
        finally:
            progress.finish()
    log.info("backup.written", backend=backend, plaintext_bytes=size)
    return {"archive": str(out), "archive_bytes": out.stat().st_size, **manifest.as_dict()}


def _table_names() -> list[str]:
    return sorted(metadata().tables)


def _sqlite_snapshot(engine: Engine, target: Path) -> tuple[list[str], dict[str, int]]:
    database = make_url(str(engine.url)).database
    if not database:
        raise ConfigurationError("the SQLite database URL names no file")
    source = sqlite3.connect(database)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # the online backup API: a consistent copy, page by page
            revisions = [r for (r,) in copy.execute("SELECT version_num FROM alembic_version")]
            counts = {
                name: int(copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608 - names from metadata
                for name in _table_names()
            }
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(target, 0o600)
    return revisions, counts


def _pg_snapshot(vault: Vault, target: Path, tmp: Path) -> tuple[list[str], dict[str, int]]:
    env = _pg_environment(vault.settings.database_url, tmp)
    with vault.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot_id = str(conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
            revisions = [
                str(r)
                for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            ]
            counts = {
                name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())  # noqa: S608 - names from metadata
                for name in _table_names()
            }
            # pg_dump joins the exported snapshot: it dumps exactly what was counted.
            _run(
                ["pg_dump", "--format=plain", "--no-owner", "--no-privileges",
                 f"--snapshot={snapshot_id}", f"--file={target}"],
                env,
                "pg_dump",
            )  # fmt: skip
    os.chmod(target, 0o600)
    return revisions, counts


def _pg_environment(database_url: str, tmp: Path) -> dict[str, str]:
    """libpq settings for pg_dump/psql from the URL, the password in a private PGPASSFILE."""
    url = make_url(normalise_url(database_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in url.query.items()}
    settings = {
        "PGHOST": url.host or query.get("host"),
        "PGPORT": str(url.port) if url.port else query.get("port"),
        "PGUSER": url.username or query.get("user"),
        "PGDATABASE": url.database,
        "PGSSLMODE": query.get("sslmode"),
        "PGSSLROOTCERT": query.get("sslrootcert"),
        "PGSSLCERT": query.get("sslcert"),
        "PGSSLKEY": query.get("sslkey"),
        "PGCONNECT_TIMEOUT": query.get("connect_timeout"),
    }
    env.update({k: v for k, v in settings.items() if v})
    if url.password:
        passfile = tmp / "pgpass"
        escaped = str(url.password).replace("\\", "\\\\").replace(":", "\\:")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"*:*:*:*:{escaped}\n")
        env["PGPASSFILE"] = str(passfile)
    return env


def _run(command: list[str], env: dict[str, str], tool: str) -> None:
    """Run a PostgreSQL client tool; its output is not shown (it could quote data)."""
    if shutil.which(command[0]) is None:
        raise ConfigurationError(
            f"{tool} is not installed (the PostgreSQL client tools are needed)"
        )
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell, no secret in it
            command, env=env, capture_output=True, check=False, timeout=24 * 3600
        )
    except (OSError, subprocess.TimeoutExpired):
        raise StorageError(f"{tool} could not be run") from None
    if result.returncode != 0:
        log.error("backup.tool_failed", tool=tool, exit_code=result.returncode)
        raise StorageError(
            f"{tool} failed with exit code {result.returncode} (is the server reachable, and "
            f"{tool} of a version at least the server's?)"
        )


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _write_new_file(path: Path, write: Callable[[Any], None]) -> None:
    """Write a file of mode 0600 under a temporary name, fsync, then link it into place.

    ``link`` fails if ``path`` appeared meanwhile, so an existing file is never clobbered,
    and a crash leaves at worst the temporary file, never a half-written archive at ``path``.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ValidationError(
                "OUT", "already exists; a backup never overwrites a file"
            ) from None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- restore


def describe(archive: Path) -> Manifest:
    """The manifest of an archive (not verified: for display only)."""
    with _open_archive_file(archive) as fh:
        return read_manifest(fh)[0]


@contextlib.contextmanager
def _open_archive_file(archive: Path) -> Iterator[Any]:
    try:
        fh = archive.open("rb")
    except FileNotFoundError:
        raise ValidationError("IN", "no such file") from None
    except OSError:
        raise ValidationError("IN", "cannot be read") from None
    with fh:
        yield fh


@dataclass(frozen=True, slots=True)
class _Target:
    settings: Settings
    backend: str
    keyring: Keyring


def restore(
    settings: Settings,
    archive: Path,
    *,
    confirm: Confirm,
    progress: Progress | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> dict[str, Any]:
    """Verify ``archive`` completely, then replace the configured database with it."""
    progress = progress or NullProgress()
    keyring = load_keyring(settings.keys_path)
    family = keyring.backup
    target = _Target(settings, backend_of(settings.database_url), keyring)
    with _open_archive_file(archive) as fh:
        manifest = read_manifest(fh)[0]
    _check_compatible(manifest, target)
    with private_directory() as tmp:
        snapshot = tmp / "snapshot"
        fd = os.open(snapshot, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        progress.start("verifying backup", manifest.plaintext_bytes)
        try:
            with _open_archive_file(archive) as fh, os.fdopen(fd, "wb") as sink:
                open_archive(fh, family, sink, progress.advance)
        finally:
            progress.finish()
        # Verified: from here on the archive is trusted.
        engine = create_vault_engine(settings.database_url)
        try:
            if not _is_empty(engine) and not confirm(
                "the configured database is not empty: replace it with the backup?"
            ):
                raise ValidationError("restore", "cancelled; the database was not changed")
            erased = _erased_in(engine)
            engine.dispose()
            if target.backend == "sqlite":
                _sqlite_restore(engine, snapshot)
            else:
                _pg_restore(settings, snapshot, tmp)
            migrate.upgrade(engine)
        finally:
            engine.dispose()
    vault = open_vault(settings, keyring=keyring, clock=clock or utc_now)
    try:
        reapplied = reapply_tombstones(vault, extra=erased)
        with vault.reader.connect() as conn:
            counts = {
                name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())  # noqa: S608 - names from metadata
                for name in _table_names()
            }
    finally:
        vault.close()
    log.info("backup.restored", backend=target.backend, tombstones_reapplied=len(reapplied))
    return {
        "archive": str(archive),
        "manifest": manifest.as_dict(),
        "tombstones_reapplied": len(reapplied),
        "schema_revisions": sorted(migrate.head_revisions()),
        "row_counts": counts,
    }


def _check_compatible(manifest: Manifest, target: _Target) -> None:
    if manifest.backend != target.backend:
        raise ValidationError(
            "archive",
            f"is a backup of a {manifest.backend} vault but the configured database is "
            f"{target.backend}; restore it into a vault of the same kind",
        )
    known = migrate.known_revisions()
    if not set(manifest.schema_revisions) <= known:
        raise ValidationError(
            "archive",
            "comes from a newer vault (unknown schema revision); upgrade this vault first",
        )


def _is_empty(engine: Engine) -> bool:
    """No vault table, or no row in any of them (an ``init``-ed vault counts as empty)."""
    existing = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        for name in _table_names():
            probe = sa.text(f'SELECT 1 FROM "{name}" LIMIT 1')  # noqa: S608 - names from metadata
            if name in existing and conn.execute(probe).first():
                return False
    return True


def _erased_in(engine: Engine) -> set[uuid.UUID]:
    """Customers the database about to be replaced records as erased (its audit log).

    A second source beside the tombstone file: an erasure done through another host
    whose tombstone file this one does not have is still re-applied.
    """
    if "audit_events" not in set(sa.inspect(engine).get_table_names()):
        return set()
    found: set[uuid.UUID] = set()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT customer_ids, detail FROM audit_events "
                "WHERE action = 'erase' AND outcome = :allowed"
            ),
            {"allowed": Outcome.ALLOWED.value},
        )
        for ids, detail in rows:
            detail = _json(detail)
            if isinstance(detail, dict) and detail.get("outcome") == "erased":
                found.update(uuid.UUID(str(i)) for i in _json(ids) or [])
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _sqlite_restore(engine: Engine, snapshot: Path) -> None:
    database = make_url(str(engine.url)).database
    if not database:
        raise ConfigurationError("the SQLite database URL names no file")
    source = sqlite3.connect(snapshot)
    try:
        target = sqlite3.connect(database, timeout=30)
        try:
            target.execute("PRAGMA secure_delete=ON")
            source.backup(target)  # replaces every page in one transaction on the target
        finally:
            target.close()
    finally:
        source.close()


_DROP_EVERYTHING = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', r.tablename);
  END LOOP;
  FOR r IN SELECT sequence_name FROM information_schema.sequences
           WHERE sequence_schema = 'public' LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS public.%I CASCADE', r.sequence_name);
  END LOOP;
END
$$;
"""


def _pg_restore(settings: Settings, snapshot: Path, tmp: Path) -> None:
    """Drop every table and load the dump in one transaction: all of it, or nothing changed."""
    prelude = tmp / "prelude.sql"
    prelude.write_text(_DROP_EVERYTHING, encoding="utf-8")
    env = _pg_environment(settings.database_url, tmp)
    _run(
        ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
         f"--file={prelude}", f"--file={snapshot}"],
        env,
        "psql",
    )  # fmt: skip


# --------------------------------------------------------------------------- tombstones


def reapply_tombstones(
    vault: Vault, *, extra: AbstractSet[uuid.UUID] = frozenset()
) -> list[uuid.UUID]:
    """Erase again every tombstoned customer the database holds (after a restore)."""
    tombstones = tombstones_of(vault)
    recorded = tombstones.erased_ids()
    for customer_id in sorted(extra - recorded):  # remember them outside the database from now on
        tombstones.append(customer_id, vault.clock(), ERASURE_REQUEST)
    wanted = recorded | extra
    if not wanted:
        return []
    c = metadata().tables["customers"].c
    with vault.reader.connect() as conn:
        present = [cid for (cid,) in conn.execute(sa.select(c.id).where(c.id.in_(sorted(wanted))))]
    if not present:
        return []
    audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
    operator = Operator(purpose=ERASURE_REQUEST)
    for customer_id in present:
        audit.append(
            operator.event(Outcome.ALLOWED, customer_id, stage="intent", trigger="restore")
        )
        with vault.engine.begin() as conn:
            delete_customer_rows(conn, customer_id)
        audit.append(
            operator.event(
                Outcome.ALLOWED, customer_id, stage="result", outcome="erased", trigger="restore"
            )
        )
    return present
