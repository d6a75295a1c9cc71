"""SQLite WAL housekeeping for connections that must not checkpoint themselves.

A WAL-mode commit normally checkpoints when the WAL has grown past a thousand
pages: inside that commit, it copies the pages back into the database file and
fsyncs it, tens of milliseconds on a good disk and unbounded on a stalled one.
The API's on-loop audit commits (:mod:`vault.audit.group`) must not pay that
on the event loop, so their engine has ``auto_checkpoint=False`` and this
thread checkpoints for them, every ``interval`` seconds.

The checkpoint is ``PASSIVE``: it copies what no reader still needs and never
waits for, or blocks, readers and writers; what it cannot copy yet waits for
the next one.  Without it the WAL of such an engine would grow for as long as
the process runs.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from sqlalchemy import Engine

from vault.logs import get_logger

log = get_logger(__name__)

CHECKPOINT_INTERVAL = 0.5
"""Seconds between checkpoints: at a thousand audit commits a second, a few MB of WAL."""


class Checkpointed(NamedTuple):
    """What one ``PRAGMA wal_checkpoint(PASSIVE)`` reported."""

    busy: bool
    """Another checkpoint was running (nothing was done)."""
    wal_frames: int
    checkpointed_frames: int


def checkpoint_wal(engine: Engine) -> Checkpointed:
    """Copy what the WAL holds back into the database file now, without waiting for anyone."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            # Outside a transaction: the engine's connections are in autocommit mode.
            busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    return Checkpointed(bool(busy), int(frames), int(done))


class WalCheckpointer:
    """A daemon thread that runs :func:`checkpoint_wal` every ``interval`` seconds."""

    def __init__(self, engine: Engine, *, interval: float = CHECKPOINT_INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
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
                self.last = checkpoint_wal(self._engine)
            except Exception as exc:  # a locked or failing file: the next round tries again
                log.warning("wal.checkpoint_failed", error_type=type(exc).__name__)
            if stopping:
                return
