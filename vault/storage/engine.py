"""Database engines for the two supported back ends: an SQLite file and PostgreSQL.

SQLite is configured for a privacy store, not only for speed: WAL for readers
during imports, ``secure_delete`` so erased rows are overwritten rather than
left in free pages, foreign keys on (cascading erasure depends on them), and a
busy timeout so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url

from vault.errors import ConfigurationError


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("the database URL is not valid") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise ConfigurationError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
        )
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_vault_engine(
    url: str,
    *,
    read_only: bool = False,
    lock_timeout: float = 30.0,
    auto_checkpoint: bool = True,
    durable_commits: bool = True,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` with the vault's connection settings.

    ``hide_parameters``: SQLAlchemy otherwise puts bound values (which may be
    plaintext on their way to being rejected) into exception messages.

    On SQLite every transaction of the default engine starts with ``BEGIN
    IMMEDIATE`` (it takes the write lock up front, so read-then-write
    transactions never deadlock); a ``read_only`` engine uses a deferred
    ``BEGIN`` so that readers run side by side in WAL mode.  Only code that
    never writes may use it.  ``lock_timeout`` is how long (seconds) SQLite
    waits for another connection's write lock before failing with "database is
    locked"; 0 fails at once (for code on an event loop, which must not block).

    ``auto_checkpoint=False`` (SQLite): this engine's commits never copy the
    WAL back into the database file (``PRAGMA wal_autocheckpoint=0``), a step
    that reads and fsyncs up to a thousand pages inside whichever commit
    crosses the threshold.  Code on an event loop uses it; whoever creates such
    an engine must checkpoint the WAL elsewhere (:class:`~vault.storage.wal.WalCheckpointer`).

    ``durable_commits=False`` (SQLite): a commit returns once its pages are in
    the WAL file, before they are flushed to the disk (``PRAGMA
    synchronous=NORMAL`` instead of ``FULL``); a power cut can lose it.  For
    code that must not wait for the disk (an event loop): whoever uses such an
    engine must not treat a commit as durable until the WAL has been flushed
    after it (:class:`~vault.storage.wal.WalSyncer`).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            _private_file(Path(database))
        # Keep enough pooled connections for the API's worker threads: with the default
        # of 5, overflow connections under 16 concurrent requests were opened and closed
        # all the time, and each open runs the PRAGMAs below (measured: ~8% of wall time).
        kwargs.setdefault("pool_size", 20)
        dialect = _register_sqlite_dialects()[read_only]
        url = make_url(url).set(drivername=f"sqlite+{dialect}").render_as_string(False)
        engine = create_engine(
            url, connect_args={"timeout": lock_timeout}, hide_parameters=True, **kwargs
        )
        pragmas = functools.partial(_sqlite_pragmas, lock_timeout, auto_checkpoint, durable_commits)
        event.listen(engine, "connect", pragmas)
        # pysqlite's own transaction handling fights BEGIN IMMEDIATE; take over.
        event.listen(engine, "connect", _sqlite_autocommit_off)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def _private_file(path: Path) -> None:
    """Create the database file (and its directory) readable by its owner only.

    SQLite gives its -wal and -shm files the main file's mode, so this covers them too.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if os.name != "posix":
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        # An existing file that others can read is refused, as the keyring is: its ciphertexts
        # and blind-index digests are offline-attackable material, not for group or world.
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                raise ConfigurationError(
                    f"the database file {file} is accessible by group or others "
                    f"(mode {mode:04o}); run `chmod 600 {file}`"
                )


def _sqlite_pragmas(
    lock_timeout: float,
    auto_checkpoint: bool,
    durable_commits: bool,
    dbapi_connection: Any,
    _record: Any,
) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={'FULL' if durable_commits else 'NORMAL'}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
            f"PRAGMA busy_timeout={int(lock_timeout * 1000)}",
            *(() if auto_checkpoint else ("PRAGMA wal_autocheckpoint=0",)),
        ):
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_autocommit_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


class _ImmediateSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, with every transaction opened by ``BEGIN IMMEDIATE`` (the write lock first).

    Done in the dialect's ``do_begin`` (pysqlite's own does nothing) rather than
    in a ``begin`` engine event: an engine with any connection event listener
    dispatches events around every statement it runs, and the event's
    ``exec_driver_sql`` is a whole SQLAlchemy execution per transaction (together
    about a twentieth of a 360 read's time in process).
    """

    begin_statement = "BEGIN IMMEDIATE"
    supports_statement_cache = True  # SQLAlchemy asks each subclass to say so itself

    def do_begin(self, dbapi_connection: Any) -> None:
        dbapi_connection.execute(self.begin_statement)


class _DeferredSQLiteDialect(_ImmediateSQLiteDialect):
    """The read-only engine's: a deferred ``BEGIN``, so that readers run side by side in WAL."""

    begin_statement = "BEGIN"
    supports_statement_cache = True


_DIALECTS = {False: "cdv_immediate", True: "cdv_deferred"}


def _register_sqlite_dialects() -> dict[bool, str]:
    """Make the two dialects known to SQLAlchemy by URL (on first engine, not at import)."""
    for name, cls in (
        (_DIALECTS[False], _ImmediateSQLiteDialect),
        (_DIALECTS[True], _DeferredSQLiteDialect),
    ):
        registry.register(f"sqlite.{name}", __name__, cls.__name__)
    return _DIALECTS
