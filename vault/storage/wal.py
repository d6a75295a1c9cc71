"""SQLite WAL housekeeping for connections that must not checkpoint or flush themselves.

A WAL-mode commit normally checkpoints when the WAL has grown past a thousand
pages: inside that commit, it copies the pages back into the database file and
fsyncs it, tens of milliseconds on a good disk and unbounded on a stalled one.
The API's on-loop audit commits (:mod:`vault.audit.group`) must not pay that
on the event loop, so their engine has ``auto_checkpoint=False`` and this
thread checkpoints for them, every ``interval`` seconds.

Each round starts with a ``PASSIVE`` checkpoint: it copies what no reader
still needs and never waits for, or blocks, readers and writers.  That alone
does not bound the WAL.  SQLite writes the WAL from its start again only when
a write transaction begins while every frame is copied back, and under steady
commits some commit always lands while the checkpoint copies, so the file
would grow for as long as the load lasts (measured: 50 MB in 15 s of the read
benchmark, every read slower for searching the longer WAL index).  So when a
round leaves more than ``restart_frames`` frames in the WAL, it follows with
a ``RESTART`` checkpoint: that one blocks new writers while it copies the
little the passive one left, and waits up to ``restart_wait`` seconds for the
current writer and for readers of the WAL to finish, so that the next commit
writes the WAL from its start again.  (Not ``TRUNCATE``: a WAL emptied to zero
bytes grows its file again with every commit, and a growing file makes each
commit's fsync write its metadata too.)  On-loop audit commits that meet its
lock go to the writer thread meanwhile, which waits (:mod:`vault.audit.group`);
a round that cannot restart in time (a long reader, an export) reports
``busy`` and the next round tries again.

The same commits do not flush the WAL to the disk either (their engine has
``durable_commits=False``): an ``fdatasync`` is a fraction of a millisecond
on a good disk, but a virtual disk stalls now and then (measured: 75 ms,
about once in fifteen seconds of the read benchmark), and on the loop such a
stall freezes every request.  :class:`WalSyncer` flushes for them in a thread
of its own and only then says that their commits are durable; one flush
covers every commit made before it started, so under load each flush serves
several commits.  (SQLite still flushes the WAL's header itself in the first
commit after each restart, whoever makes it: once per restart, not per
commit.)
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Engine

from vault.errors import ConfigurationError, StorageError
from vault.logs import get_logger

log = get_logger(__name__)

CHECKPOINT_INTERVAL = 0.5
"""Seconds between checkpoints: at a thousand audit commits a second, a few MB of WAL."""
RESTART_FRAMES = 1000
"""A WAL longer than this after a passive checkpoint is restarted (SQLite's own
auto-checkpoint threshold, about 4 MB of pages)."""
RESTART_WAIT = 0.05
"""How long a restarting checkpoint waits for the writer and the WAL's readers: writers
wait for it meanwhile, so it must be short."""


class Checkpointed(NamedTuple):
    """What one round of checkpointing reported (SQLite's ``wal_checkpoint`` row)."""

    busy: bool
    """The round could not finish: another checkpoint was running, or (restarting) the
    writer or a reader of the WAL did not finish in time."""
    wal_frames: int
    """Frames in the WAL after the round."""
    checkpointed_frames: int
    restarted: bool = False
    """The round went on to a ``RESTART`` checkpoint: the next commit writes the WAL from
    its start."""


def checkpoint_wal(
    engine: Engine,
    *,
    restart_frames: int | None = RESTART_FRAMES,
    restart_wait: float = RESTART_WAIT,
) -> Checkpointed:
    """Copy what the WAL holds back into the database file now; restart a long WAL.

    The passive part waits for no one.  When it leaves more than
    ``restart_frames`` frames in the WAL (``None``: never), a ``RESTART``
    checkpoint follows, waiting at most ``restart_wait`` seconds (see the
    module docstring for why a passive checkpoint alone lets the WAL grow).
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            # Outside a transaction: the engine's connections are in autocommit mode.
            busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or restart_frames is None or frames <= restart_frames:
                return Checkpointed(bool(busy), int(frames), int(done))
            (timeout,) = cursor.execute("PRAGMA busy_timeout").fetchone()
            cursor.execute(f"PRAGMA busy_timeout={max(1, int(restart_wait * 1000))}")
            try:
                busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")
            return Checkpointed(bool(busy), int(frames), int(done), restarted=not busy)
        finally:
            cursor.close()
    finally:
        connection.close()


class WalCheckpointer:
    """A daemon thread that runs :func:`checkpoint_wal` every ``interval`` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = CHECKPOINT_INTERVAL,
        restart_frames: int | None = RESTART_FRAMES,
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._restart_frames = restart_frames
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: Checkpointed | None = None
        """The latest checkpoint's report (for tests and diagnostics)."""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread, after one last checkpoint of what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self._interval)
            try:
                self.last = checkpoint_wal(self._engine, restart_frames=self._restart_frames)
            except Exception as exc:  # a locked or failing file: the next round tries again
                log.warning("wal.checkpoint_failed", error_type=type(exc).__name__)
            if stopping:
                return


_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)  # macOS has none

Flushed = Callable[[BaseException | None], None]
"""Told ``None`` once the WAL is flushed, or what made the flush fail."""


class WalSyncer:
    """A daemon thread that flushes an SQLite engine's WAL, then tells who was waiting.

    For an engine with ``durable_commits=False``, whose commits are not durable
    when they return (see the module docstring).  A flush is what
    ``synchronous=FULL`` runs inside each commit, an ``fdatasync`` of the WAL
    file; any descriptor of the file will do, so the syncer keeps its own.

    Kept open, not opened per flush: Linux reports a failed write-back once,
    to the descriptors open at the time, so a descriptor opened later could
    "flush" pages that never reached the disk.  For the same reason the first
    failed flush is final: SQLite counts those commits as done (it never
    rewrites their frames), so later flushes could succeed over a hole, and
    the WAL's chained checksums would make recovery drop everything after it.
    Every later waiter is told the same failure until the process restarts,
    as PostgreSQL panics on a failed fsync.
    """

    def __init__(self, engine: Engine, *, flush: Callable[[int], None] = _fdatasync) -> None:
        """``flush``: what flushes a descriptor (``fdatasync``; tests wrap it)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
            raise ConfigurationError("a WAL syncer needs an SQLite database file")
        # SQLite names the WAL after the file a symlink points to, and the path is read now,
        # not in whatever directory the process is in later.
        self._wal = Path(os.path.realpath(database) + "-wal")
        self._flush = flush
        self._fd: int | None = None
        self._failure: BaseException | None = None
        self._queue: queue.SimpleQueue[Flushed | None] = queue.SimpleQueue()  # None: stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def after_sync(self, flushed: Flushed) -> None:
        """Call ``flushed`` after a flush that starts after this call.

        So everything committed before the call is durable when ``flushed(None)``
        runs, on the syncer's thread.  ``flushed(exc)``: the flush failed, now
        or before (on the syncer's thread), or the syncer is closed (at once,
        on the caller's).
        """
        with self._lock:
            if not self._closed:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="wal-sync", daemon=True)
                    thread.start()
                    self._thread = thread
                self._queue.put(flushed)
                return
        flushed(StorageError("the WAL syncer is closed"))

    def close(self) -> None:
        """Stop after flushing for everyone already waiting."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        try:
            self._serve()
        finally:  # however the thread ends, nobody is left waiting in vain
            with self._lock:
                self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            left = [item for item in _drain(self._queue) if item is not None]
            _tell_all(left, StorageError("the WAL syncer stopped"))

    def _serve(self) -> None:
        while True:
            waiting = [self._queue.get(), *_drain(self._queue)]
            # Everyone who asked before this flush starts is covered by it.
            callbacks = [item for item in waiting if item is not None]
            if callbacks:
                _tell_all(callbacks, self._flush_wal())
            if len(callbacks) < len(waiting):  # close() asked to stop
                return

    def _flush_wal(self) -> BaseException | None:
        if self._failure is not None:
            return self._failure
        try:
            if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
                os.close(self._fd)  # SQLite removed the file (its last connection closed)
                self._fd = None
            if self._fd is None:
                # No WAL while the loop's engine holds a connection means a wrong path:
                # FileNotFoundError, fail closed, never "durable".
                self._fd = os.open(self._wal, os.O_RDONLY)
        except OSError as exc:
            return exc
        try:
            self._flush(self._fd)
        except Exception as exc:
            self._failure = exc
            log.error(
                "wal.sync_failed",
                error_type=type(exc).__name__,
                errno=getattr(exc, "errno", None),
                consequence="on-loop audit commits fail closed until the API restarts",
            )
            return exc
        return None


def _drain(waiting: queue.SimpleQueue[Flushed | None]) -> list[Flushed | None]:
    items: list[Flushed | None] = []
    while True:
        try:
            items.append(waiting.get_nowait())
        except queue.Empty:
            return items


def _tell_all(callbacks: list[Flushed], failure: BaseException | None) -> None:
    for flushed in callbacks:
        try:
            flushed(failure)
        except Exception as exc:  # one waiter's failure must not strand the others
            log.error("wal.sync_callback_failed", error_type=type(exc).__name__)
