"""SQLite engines that leave WAL checkpoints to a thread of their own (vault/storage/wal.py).

The API's on-loop audit commits must not copy the WAL back into the database
file inside a commit on the event loop; these tests watch the database file
itself grow (or not) to see who copied what, and when.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from vault.errors import ConfigurationError, StorageError
from vault.storage.engine import create_vault_engine
from vault.storage.wal import WalCheckpointer, WalSyncer, checkpoint_wal

BLOB = 6 * 1024 * 1024
"""One commit of about 1,500 pages: past SQLite's auto-checkpoint threshold of 1,000."""


def _write_blob(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (b BLOB)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:b)"), {"b": b"\x01" * BLOB})


@pytest.mark.parametrize("auto_checkpoint", [True, False])
def test_only_an_auto_checkpointing_engine_copies_the_wal_inside_its_commit(
    tmp_path: Path, auto_checkpoint: bool
) -> None:
    database = tmp_path / "wal.db"
    engine = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=auto_checkpoint)
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pragma == (1000 if auto_checkpoint else 0)
        _write_blob(engine)
        copied_by_commit = database.stat().st_size >= BLOB
        assert copied_by_commit is auto_checkpoint
        report = checkpoint_wal(engine, restart_frames=None)
        assert not report.busy
        assert report.checkpointed_frames == report.wal_frames > 1000
        assert database.stat().st_size >= BLOB  # copied now, either way
    finally:
        engine.dispose()


def test_closing_the_checkpointer_checkpoints_once_more(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    writer = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=False)
    checkpointer = WalCheckpointer(writer, interval=3600)
    checkpointer.start()
    try:
        _write_blob(writer)
        assert database.stat().st_size < BLOB
    finally:
        checkpointer.close()
    assert database.stat().st_size >= BLOB
    writer.dispose()


def _wal(database: Path) -> Path:
    return database.with_name(database.name + "-wal")


def _write_rows(engine: sa.Engine, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS r (b BLOB)"))
    for _ in range(count):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO r VALUES (:b)"), {"b": os.urandom(3000)})


@pytest.mark.parametrize("rows", [5, 200])
def test_a_round_restarts_the_wal_only_when_it_is_long(tmp_path: Path, rows: int) -> None:
    database = tmp_path / "wal.db"
    engine = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=False)
    try:
        _write_rows(engine, rows)
        report = checkpoint_wal(engine, restart_frames=100)
        long = rows == 200
        assert not report.busy
        assert report.restarted is long
        with engine.connect() as conn:  # the pool's connection keeps its own lock timeout
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_a_reader_of_the_wal_makes_the_restart_give_up_in_time(tmp_path: Path) -> None:
    """A long reader (an export) must not hold writers up for longer than ``restart_wait``."""
    database = tmp_path / "wal.db"
    engine = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=False)
    readers = create_vault_engine(f"sqlite:///{database}", read_only=True)
    try:
        _write_rows(engine, 10)
        with readers.begin() as reader:
            reader.exec_driver_sql("SELECT count(*) FROM r").scalar()  # holds its snapshot
            _write_rows(engine, 200)
            started = time.monotonic()
            report = checkpoint_wal(engine, restart_frames=100, restart_wait=0.05)
            assert time.monotonic() - started < 2
            assert report.busy
            assert not report.restarted
            assert report.checkpointed_frames < report.wal_frames
        assert checkpoint_wal(engine, restart_frames=100).restarted  # the next round can
    finally:
        readers.dispose()
        engine.dispose()


@pytest.mark.parametrize("restart_frames", [None, 100])
def test_commits_racing_the_checkpoints_do_not_grow_the_wal_for_ever(
    tmp_path: Path, restart_frames: int | None
) -> None:
    """What a busy server does to its WAL, made deterministic.

    SQLite writes the WAL from its start again only when a write begins with
    every frame copied back.  Under load a reader always holds a snapshot (or
    a commit lands) while the passive checkpoint copies, so it never copies
    everything and the WAL only grows; the restarting round waits for that
    reader to finish, and the next commits overwrite the WAL from its start.
    """
    database = tmp_path / "wal.db"
    engine = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=False)
    readers = create_vault_engine(f"sqlite:///{database}", read_only=True)
    _write_rows(engine, 1)
    sizes: list[int] = []
    try:
        for _ in range(5):
            holding, checkpointing, done = (threading.Event() for _ in range(3))

            def read(
                holding: threading.Event = holding,
                checkpointing: threading.Event = checkpointing,
                done: threading.Event = done,
            ) -> None:
                with readers.begin() as reader:
                    reader.exec_driver_sql("SELECT count(*) FROM r").scalar()
                    holding.set()
                    checkpointing.wait(10)
                    time.sleep(0.2)  # still reading while the checkpoint starts
                done.set()

            thread = threading.Thread(target=read)
            thread.start()
            assert holding.wait(10)
            _write_rows(engine, 60)
            checkpointing.set()
            report = checkpoint_wal(engine, restart_frames=restart_frames, restart_wait=10)
            thread.join()
            assert done.is_set()
            assert report.restarted is (restart_frames is not None)
            sizes.append(_wal(database).stat().st_size)
    finally:
        readers.dispose()
        engine.dispose()
    if restart_frames is None:
        assert all(a < b for a, b in itertools.pairwise(sizes))  # grew every round
    else:
        assert max(sizes) < 2 * sizes[0]  # the file stopped growing after the first round


@pytest.mark.parametrize(("durable_commits", "synchronous"), [(True, 2), (False, 1)])
def test_only_an_engine_without_durable_commits_commits_with_synchronous_normal(
    tmp_path: Path, durable_commits: bool, synchronous: int
) -> None:
    """``FULL`` (2) flushes the WAL in every commit; ``NORMAL`` (1) leaves that to a WalSyncer."""
    engine = create_vault_engine(
        f"sqlite:///{tmp_path / 'wal.db'}", durable_commits=durable_commits
    )
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == synchronous
    finally:
        engine.dispose()


class _Flushes:
    """The real ``fdatasync``, noting which file (inode) each flush was of."""

    def __init__(self) -> None:
        self.inodes: list[int] = []

    def __call__(self, fd: int) -> None:
        self.inodes.append(os.fstat(fd).st_ino)
        os.fdatasync(fd)


def _synced(syncer: WalSyncer) -> BaseException | None:
    """Ask for a flush and wait for its outcome."""
    done = threading.Event()
    outcome: list[BaseException | None] = []

    def flushed(failure: BaseException | None) -> None:
        outcome.append(failure)
        done.set()

    syncer.after_sync(flushed)
    assert done.wait(30)
    return outcome[0]


def test_the_syncer_flushes_the_wal_file_itself_even_through_a_symlink(tmp_path: Path) -> None:
    """SQLite names the WAL after the symlink's target; flushing ``link.db-wal`` would miss it."""
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.db"
    link = tmp_path / "link.db"
    engine = create_vault_engine(f"sqlite:///{real}")  # creates the file, mode 0600
    engine.dispose()
    link.symlink_to(real)
    engine = create_vault_engine(f"sqlite:///{link}", durable_commits=False)
    flushes = _Flushes()
    syncer = WalSyncer(engine, flush=flushes)
    try:
        _write_rows(engine, 3)
        assert _synced(syncer) is None
        _write_rows(engine, 3)
        assert _synced(syncer) is None
        assert flushes.inodes == [_wal(real).stat().st_ino] * 2  # one descriptor, kept
        assert not _wal(link).exists()
        engine.dispose()  # the last connection checkpoints the WAL and removes it
        assert not _wal(real).exists()
        # No WAL while commits are waiting for it means something is wrong: fail closed.
        assert isinstance(_synced(syncer), FileNotFoundError)
    finally:
        syncer.close()
        engine.dispose()


def test_the_syncer_answers_after_a_flush_that_started_after_the_request(
    tmp_path: Path,
) -> None:
    """Who asks while a flush runs is not covered by it; one later flush covers them all."""
    engine = create_vault_engine(f"sqlite:///{tmp_path / 'wal.db'}", durable_commits=False)
    _write_rows(engine, 1)
    first_started, release = threading.Event(), threading.Event()
    flushes = _Flushes()

    def flush(fd: int) -> None:
        first_started.set()
        assert release.wait(30)
        flushes(fd)

    syncer = WalSyncer(engine, flush=flush)
    answers: list[tuple[str, BaseException | None]] = []
    try:
        syncer.after_sync(lambda failure: answers.append(("first", failure)))
        assert first_started.wait(30)
        for n in range(5):  # while the first flush is still running
            syncer.after_sync(lambda failure, n=n: answers.append((f"later {n}", failure)))
        time.sleep(0.1)
        assert answers == []  # nobody is answered before a flush completes
    finally:
        release.set()
        syncer.close()
        engine.dispose()
    assert answers == [("first", None)] + [(f"later {n}", None) for n in range(5)]
    assert len(flushes.inodes) == 2


def test_a_failed_flush_fails_every_later_waiter_and_a_closed_syncer_refuses(
    tmp_path: Path,
) -> None:
    """After a failed flush, later flushes could succeed over pages that never got written."""
    engine = create_vault_engine(f"sqlite:///{tmp_path / 'wal.db'}", durable_commits=False)
    _write_rows(engine, 1)
    flushes = _Flushes()
    failures = iter([OSError(5, "Input/output error")])

    def flaky(fd: int) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        flushes(fd)

    syncer = WalSyncer(engine, flush=flaky)
    try:
        first = _synced(syncer)
        assert isinstance(first, OSError)
        assert _synced(syncer) is first  # the disk would flush now: still a failure
        assert flushes.inodes == []  # and it was not even asked
    finally:
        syncer.close()
    closed: list[BaseException | None] = []
    syncer.after_sync(closed.append)  # closed: answered at once, on the caller's thread
    engine.dispose()
    assert isinstance(closed[0], StorageError)


def test_a_syncer_needs_an_sqlite_file() -> None:
    engine = create_vault_engine("sqlite:///:memory:")
    try:
        with pytest.raises(ConfigurationError):
            WalSyncer(engine)
    finally:
        engine.dispose()
