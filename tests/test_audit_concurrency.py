"""Concurrent appends keep the audit chain gapless and valid: threads and forked processes.

Runs on SQLite (serialised by ``BEGIN IMMEDIATE``) and PostgreSQL (serialised by a
transaction-scoped advisory lock).  Everyone is released at once by a barrier so
the appends really contend.
"""

from __future__ import annotations

import multiprocessing
import secrets
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from vault.audit import Action, AuditEvent, AuditLog, Outcome, verify_log
from vault.audit.records import checkpoints_table, events_table
from vault.crypto import SecretKey, Signer
from vault.storage.audit_tables import AUDIT_TABLES
from vault.storage.engine import create_vault_engine

THREADS = 6
PER_THREAD = 10
PROCESSES = 3
CHECKPOINT_EVERY = 7


def _clear_audit_tables(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            names = ", ".join(f'"{t}"' for t in AUDIT_TABLES)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_vault_engine(database_url)
    _clear_audit_tables(engine)
    yield engine
    _clear_audit_tables(engine)
    engine.dispose()


def _event(request_id: str) -> AuditEvent:
    return AuditEvent(
        principal="svc-batch",
        role="system",
        purpose="claims_handling",
        action=Action.READ,
        outcome=Outcome.ALLOWED,
        request_id=request_id,
    )


def _append_from_threads(log: AuditLog, worker: str, start: Any) -> None:
    """``THREADS`` threads, each appending ``PER_THREAD`` events once ``start`` is set."""
    failures: list[BaseException] = []
    together = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        start.wait()
        together.wait()
        try:
            for i in range(PER_THREAD):
                log.append(_event(f"{worker}-t{thread}-{i}"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _child(url: str, seed: bytes, worker: str, start: Any) -> None:
    """A forked process: its own engine (never the parent's pooled connections)."""
    try:
        engine = create_vault_engine(url)
        log = AuditLog(engine, Signer(SecretKey(seed)), checkpoint_every=CHECKPOINT_EVERY)
        _append_from_threads(log, worker, start)
        engine.dispose()
    except BaseException:
        traceback.print_exc()
        raise


def _assert_gapless_and_valid(engine: Engine, public_key: bytes, expected: int) -> None:
    events, checkpoints = events_table(), checkpoints_table()
    with engine.connect() as conn:
        seqs = list(conn.execute(sa.select(events.c.seq).order_by(events.c.seq)).scalars())
        request_ids = list(conn.execute(sa.select(events.c.request_id)).scalars())
        signed = list(
            conn.execute(sa.select(checkpoints.c.seq).order_by(checkpoints.c.seq)).scalars()
        )
    assert seqs == list(range(1, expected + 1))
    assert len(set(request_ids)) == expected  # every append landed exactly once
    assert signed == list(range(CHECKPOINT_EVERY, expected + 1, CHECKPOINT_EVERY))
    report = verify_log(engine, [public_key], chunk_size=50)
    assert report.ok, report.breaks
    assert report.head_seq == expected


def test_threads_appending_at_once_keep_a_gapless_valid_chain(engine: Engine) -> None:
    signer = Signer(SecretKey.generate())
    log = AuditLog(engine, signer, checkpoint_every=CHECKPOINT_EVERY)
    start = threading.Event()
    start.set()
    _append_from_threads(log, "solo", start)
    _assert_gapless_and_valid(engine, signer.public_key(), THREADS * PER_THREAD)


def test_processes_with_threads_appending_at_once_keep_a_gapless_valid_chain(
    engine: Engine, database_url: str
) -> None:
    seed = secrets.token_bytes(32)
    signer = Signer(SecretKey(seed))
    context = multiprocessing.get_context("fork")
    start = context.Event()
    engine.dispose()  # no pooled connection is inherited by the children
    children = [
        context.Process(target=_child, args=(database_url, seed, f"p{n}", start))
        for n in range(PROCESSES)
    ]
    for child in children:
        child.start()
    start.set()  # the parent's threads join in as the children's are released
    parent = AuditLog(engine, signer, checkpoint_every=CHECKPOINT_EVERY)
    _append_from_threads(parent, "parent", start)
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    _assert_gapless_and_valid(engine, signer.public_key(), (PROCESSES + 1) * THREADS * PER_THREAD)
