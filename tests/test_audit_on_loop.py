"""SQLite: audit events a caller awaits on the event loop are committed on that loop.

The loop must never wait for SQLite's write lock: when someone else holds it,
the batch goes to the writer thread, and the loop keeps serving meanwhile.
(PostgreSQL keeps the writer thread throughout; these tests are SQLite's.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import read_event
from sqlalchemy import Engine

from api.context import AppContext
from vault.audit import (
    AuditLog,
    public_keys_from_keyring,
    signer_from_keyring,
    verify_log,
)
from vault.audit.group import GATHER_PASSES, GroupCommitLog, await_durable
from vault.errors import AuditUnavailable
from vault.services.runtime import Vault
from vault.settings import Settings
from vault.storage.engine import create_vault_engine
from vault.storage.wal import WalSyncer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


class _Clock:
    """The audit clock, noting which thread each commit ran on (it is read inside it)."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self) -> dt.datetime:
        self.threads.append(threading.get_ident())
        return dt.datetime.now(dt.UTC)


@pytest.fixture
def loop_engine(vault: Vault, database_url: str) -> Iterator[Engine]:
    engine = create_vault_engine(database_url, lock_timeout=0, pool_size=1)
    yield engine
    engine.dispose()


def _logs(
    vault: Vault, loop_engine: Engine, clock: _Clock, *, gather_passes: int = GATHER_PASSES
) -> GroupCommitLog:
    signer = signer_from_keyring(vault.keyring)
    return GroupCommitLog(
        AuditLog(vault.engine, signer, clock=clock),
        on_loop=AuditLog(loop_engine, signer, clock=clock),
        gather_passes=gather_passes,
    )


def _hold_write_lock(vault: Vault) -> sqlite3.Connection:
    other = sqlite3.connect(
        str(vault.engine.url.database),
        isolation_level=None,
        check_same_thread=False,
    )
    other.execute("BEGIN IMMEDIATE")
    return other


def test_awaited_submissions_are_committed_together_on_the_loop(
    vault: Vault, loop_engine: Engine
) -> None:
    clock = _Clock()
    log = _logs(vault, loop_engine, clock)

    async def requests() -> tuple[int, list[int]]:
        futures = [log.submit([read_event(n)], awaited=True) for n in range(5)]
        recorded = [await await_durable(f) for f in futures]
        return threading.get_ident(), [r[0].seq for r in recorded]

    loop_thread, seqs = asyncio.run(requests())
    log.close()
    assert seqs == [1, 2, 3, 4, 5]
    assert clock.threads == [loop_thread]  # one commit, on the loop's own thread
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
    assert report.ok
    assert report.events_checked == 5


@pytest.mark.parametrize(("gather_passes", "commits"), [(0, 10), (2, 4), (20, 1)])
def test_a_batch_waits_for_company_while_passes_add_to_it_but_no_longer_than_its_bound(
    vault: Vault, loop_engine: Engine, gather_passes: int, commits: int
) -> None:
    """One submission per pass of the loop, ten passes in a row.

    Each pass adds to the batch, so it keeps waiting until ``gather_passes``
    passes are over (0: committed at once; 2: three per commit), or until a pass
    adds nothing (20: all ten, once the submitting stops).
    """
    clock = _Clock()
    log = _logs(vault, loop_engine, clock, gather_passes=gather_passes)

    async def requests() -> list[int]:
        futures = []
        for n in range(10):
            futures.append(log.submit([read_event(n)], awaited=True))
            await asyncio.sleep(0)  # the next submission comes one pass later
        return [(await await_durable(f))[0].seq for f in futures]

    seqs = asyncio.run(requests())
    log.close()
    assert seqs == list(range(1, 11))
    assert len(clock.threads) == commits  # the clock is read once per commit
    assert verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).ok


def test_not_awaited_or_off_the_loop_a_submission_goes_to_the_writer_thread(
    vault: Vault, loop_engine: Engine
) -> None:
    clock = _Clock()
    log = _logs(vault, loop_engine, clock)

    async def request() -> int:
        await await_durable(log.submit([read_event(1)]))  # awaited=False: e.g. a blocking caller
        return threading.get_ident()

    loop_thread = asyncio.run(request())
    log.submit([read_event(2)], awaited=True).result(timeout=30)  # no running loop here
    log.close()
    assert len(clock.threads) == 2
    assert loop_thread not in clock.threads
    assert threading.get_ident() not in clock.threads


def test_with_the_write_lock_held_elsewhere_the_loop_hands_over_and_keeps_serving(
    vault: Vault, loop_engine: Engine
) -> None:
    clock = _Clock()
    log = _logs(vault, loop_engine, clock)
    other = _hold_write_lock(vault)
    released = threading.Timer(1.5, other.rollback)

    async def request() -> tuple[int, float, int]:
        recorded = log.submit([read_event(1)], awaited=True)
        started = time.monotonic()
        await asyncio.sleep(0.05)  # a loop blocked on the lock would not wake for 1.5 s
        responsive = time.monotonic() - started
        released.start()
        seq = (await await_durable(recorded))[0].seq
        return threading.get_ident(), responsive, seq

    try:
        loop_thread, responsive, seq = asyncio.run(request())
    finally:
        released.join()
        other.close()
        log.close()
    assert responsive < 1.0
    assert seq == 1  # recorded once, by the writer thread once the lock was free
    assert len(clock.threads) == 1
    assert clock.threads[0] != loop_thread
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
    assert report.ok
    assert report.events_checked == 1


def test_a_log_that_cannot_wait_for_the_lock_writes_nothing_and_says_so(
    vault: Vault, loop_engine: Engine
) -> None:
    log = AuditLog(loop_engine, signer_from_keyring(vault.keyring))
    other = _hold_write_lock(vault)
    try:
        started = time.monotonic()
        assert log.try_append_all([read_event(1)]) is None
        assert time.monotonic() - started < 1.0  # refused at once, not after a busy wait
    finally:
        other.rollback()
        other.close()
    recorded = log.try_append_all([read_event(2)])
    assert recorded is not None
    assert [r.seq for r in recorded] == [1]
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
    assert report.ok
    assert report.events_checked == 1


def test_an_on_loop_commit_that_fails_fails_its_requests_at_once(
    vault: Vault, loop_engine: Engine, tmp_path: Path
) -> None:
    """Fail closed, and promptly: not after the waiters' timeout."""
    signer = signer_from_keyring(vault.keyring)
    empty = create_vault_engine(f"sqlite:///{tmp_path / 'no-tables.db'}", lock_timeout=0)
    log = GroupCommitLog(AuditLog(vault.engine, signer), on_loop=AuditLog(empty, signer))

    async def requests() -> list[BaseException | None]:
        broken = log.submit([read_event(1)], awaited=True)  # the table is not there
        wrong = log.submit([object()], awaited=True)  # type: ignore[list-item]  # not an event
        outcomes: list[BaseException | None] = []
        for future in (broken, wrong):
            try:
                await await_durable(future, timeout=10)
                outcomes.append(None)
            except AuditUnavailable as exc:
                outcomes.append(exc)
        return outcomes

    started = time.monotonic()
    try:
        outcomes = asyncio.run(requests())
    finally:
        log.close()
        empty.dispose()
    assert all(isinstance(o, AuditUnavailable) for o in outcomes)
    assert time.monotonic() - started < 5
    assert verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).events_checked == 0


def test_closing_fails_the_batches_still_waiting_for_their_loop(
    vault: Vault, loop_engine: Engine
) -> None:
    log = _logs(vault, loop_engine, _Clock())

    async def request() -> BaseException | None:
        recorded = log.submit([read_event(1)], awaited=True)
        log.close()  # before the loop's callback has run
        try:
            await await_durable(recorded, timeout=10)
        except AuditUnavailable as exc:
            return exc
        return None

    assert isinstance(asyncio.run(request()), AuditUnavailable)
    assert verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).events_checked == 0


def _stalling_syncer(engine: Engine, flushes: list[str]) -> tuple[WalSyncer, threading.Event]:
    """A syncer whose disk hangs until the returned event is set (then flushes for real)."""
    release = threading.Event()

    def flush(fd: int) -> None:
        flushes.append("started")
        assert release.wait(30)
        os.fdatasync(fd)
        flushes.append("done")

    return WalSyncer(engine, flush=flush), release


def test_an_on_loop_batch_is_answered_after_its_wal_flush_which_the_loop_never_waits_for(
    vault: Vault, database_url: str
) -> None:
    """A stalling disk delays only the requests waiting for the flush, not the loop."""
    engine = create_vault_engine(
        database_url, lock_timeout=0, durable_commits=False, auto_checkpoint=False, pool_size=1
    )
    flushes: list[str] = []
    syncer, release = _stalling_syncer(engine, flushes)
    clock = _Clock()
    signer = signer_from_keyring(vault.keyring)
    log = GroupCommitLog(
        AuditLog(vault.engine, signer, clock=clock),
        on_loop=AuditLog(engine, signer, clock=clock),
        on_loop_sync=syncer,
    )

    async def request() -> tuple[int, float, bool, int, int]:
        recorded = log.submit([read_event(1)], awaited=True)
        started = time.monotonic()
        for _ in range(10):  # the loop keeps running while the flush hangs
            await asyncio.sleep(0.01)
        responsive = time.monotonic() - started
        answered_early = recorded.done()
        committed = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
        release.set()
        seq = (await await_durable(recorded))[0].seq
        return threading.get_ident(), responsive, answered_early, committed.events_checked, seq

    try:
        loop_thread, responsive, answered_early, committed, seq = asyncio.run(request())
    finally:
        release.set()  # a failed assertion above must not leave the flush hanging for 30 s
        log.close()
        syncer.close()
        engine.dispose()
    assert responsive < 1.0
    assert committed == 1  # in the log while its flush was still pending ...
    assert not answered_early  # ... but not answered before the flush was done
    assert flushes == ["started", "done"]
    assert seq == 1
    assert clock.threads == [loop_thread]  # committed on the loop, flushed elsewhere


def _failure_of_one_read(vault: Vault, engine: Engine, syncer: WalSyncer) -> BaseException | None:
    """Submit one awaited read's event with ``syncer`` flushing; what its waiter was told."""
    signer = signer_from_keyring(vault.keyring)
    log = GroupCommitLog(
        AuditLog(vault.engine, signer), on_loop=AuditLog(engine, signer), on_loop_sync=syncer
    )

    async def request() -> BaseException | None:
        try:
            await await_durable(log.submit([read_event(1)], awaited=True), timeout=20)
        except AuditUnavailable as exc:
            return exc
        return None

    try:
        return asyncio.run(request())
    finally:
        log.close()


def test_an_on_loop_batch_whose_flush_fails_fails_closed(vault: Vault, database_url: str) -> None:
    engine = create_vault_engine(database_url, lock_timeout=0, durable_commits=False, pool_size=1)

    def failing(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    syncer = WalSyncer(engine, flush=failing)
    try:
        failure = _failure_of_one_read(vault, engine, syncer)
    finally:
        syncer.close()
        engine.dispose()
    assert isinstance(failure, AuditUnavailable)
    assert "Input/output" not in str(failure)  # the caller learns that, not the driver's words
    # The event itself stays in the log, possibly not durable: that errs on the side of audit.
    assert verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).events_checked == 1


def test_an_on_loop_batch_with_no_syncer_left_fails_closed_at_once(
    vault: Vault, database_url: str
) -> None:
    """A stopped syncer flushes nothing: its batches fail now, not at the waiters' timeout."""
    engine = create_vault_engine(database_url, lock_timeout=0, durable_commits=False, pool_size=1)
    syncer = WalSyncer(engine)
    syncer.close()
    started = time.monotonic()
    try:
        failure = _failure_of_one_read(vault, engine, syncer)
    finally:
        engine.dispose()
    assert isinstance(failure, AuditUnavailable)
    assert time.monotonic() - started < 10


def test_the_apps_on_loop_commits_leave_wal_checkpoints_and_flushes_to_their_threads(
    settings: Settings,
) -> None:
    """What the API builds: a loop engine that never checkpoints or flushes, threads that do."""
    context = AppContext.open(settings)
    try:
        assert context._loop_engine is not None
        assert context._checkpointer is not None
        assert context._syncer is not None
        assert context.audit._on_loop_sync is context._syncer  # what makes them durable
        with context._loop_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        with context.vault.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        deadline = time.monotonic() + 10
        while context._checkpointer.last is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert context._checkpointer.last is not None
        assert not context._checkpointer.last.busy
    finally:
        context.close()
