"""Appending to the audit log: durably, in one serialised section, or not at all.

Every access to customer data records its event *before* the response leaves,
and :meth:`AuditLog.append` returns only after the event is committed.  If the
write fails for any reason (database down, disk full, table gone, a trigger
refusing, a clock that is not UTC-aware) it raises
:class:`~vault.errors.AuditUnavailable` and the caller must not proceed: the
vault fails closed rather than serve an unrecorded access.

Appends are serialised so that the sequence is gapless and every event links to
the one committed just before it:

* on PostgreSQL, ``pg_advisory_xact_lock`` on one constant key, taken first in a
  READ COMMITTED transaction (so the head read after it sees every earlier commit;
  under REPEATABLE READ the snapshot would predate the lock), released at commit;
* on SQLite, the vault engine starts every transaction with ``BEGIN IMMEDIATE``,
  which already admits one writer at a time across threads and processes.

The sequence number is assigned inside that section (head + 1), never by a
database sequence, which would leave gaps on rollback.  Should the serialisation
ever be bypassed, the primary key on ``seq`` makes the second of two racing
appends fail instead of forking the chain.

Every ``checkpoint_every`` events the append also signs a checkpoint, in the same
transaction: the event and its checkpoint commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from vault.audit.chain import GENESIS, event_hash
from vault.audit.checkpoints import Checkpoint, sign_checkpoint
from vault.audit.events import AuditEvent
from vault.audit.records import (
    RecordedEvent,
    body_of,
    checkpoints_table,
    customers_table,
    events_table,
    recorded_from_row,
    row_values,
)
from vault.crypto import Signer
from vault.errors import AuditUnavailable, ConfigurationError

Clock = Callable[[], dt.datetime]

CHAIN_LOCK_KEY = 0x6364765F61756474
"""The PostgreSQL advisory lock that serialises appends ("cdv_audt" as a big-endian int64)."""
DEFAULT_CHECKPOINT_EVERY = 100
WAIT_SECONDS = 30.0
"""How long a request waits for the commit holding its event before it fails closed."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def chain_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction in which this process alone may extend the chain."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
                yield conn
    else:
        with engine.begin() as conn:  # BEGIN IMMEDIATE on the vault's SQLite engine
            yield conn


def chain_head(conn: Connection) -> tuple[int, bytes]:
    """The last event's ``(seq, hash)``, or ``(0, GENESIS)`` for an empty log."""
    events = events_table()
    row = conn.execute(
        sa.select(events.c.seq, events.c.event_hash).order_by(events.c.seq.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS
    return int(row.seq), bytes(row.event_hash)


class AuditLog:
    """The append side of the audit log, bound to one database and one signing key."""

    wait_seconds = WAIT_SECONDS
    """How long a holder of data waits for a submission (here settled before ``submit`` returns)."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer | Callable[[], Signer],
        *,
        clock: Clock = utc_now,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        if checkpoint_every < 1:
            raise ConfigurationError("audit checkpoint_every must be at least 1")
        self._engine = engine
        self._signer_source = signer
        self._clock = clock
        self._every = checkpoint_every

    @property
    def public_key(self) -> bytes:
        """The raw Ed25519 public key that verifies this log's new checkpoints."""
        return self._signer.public_key()

    @property
    def _signer(self) -> Signer:
        """The current signing key: a callable source follows audit-key rotations."""
        source = self._signer_source
        return source if isinstance(source, Signer) else source()

    def append(self, event: AuditEvent) -> RecordedEvent:
        """Record one event durably; returns it with its ``seq``, time and hash.

        Raises :class:`~vault.errors.AuditUnavailable` if it could not be written.
        """
        return self.append_all([event])[0]

    def append_all(self, events: Sequence[AuditEvent]) -> tuple[RecordedEvent, ...]:
        """Record several events in one transaction: all of them, or none (fail closed).

        For responses that touch many customers (a search returning twenty people
        is twenty accesses): one commit, consecutive sequence numbers.
        """
        recorded = self._append_all(events, locked_is_none=False)
        assert recorded is not None
        return recorded

    def try_append_all(self, events: Sequence[AuditEvent]) -> tuple[RecordedEvent, ...] | None:
        """:meth:`append_all`, or ``None`` if SQLite's write lock was held by someone else.

        For an engine that does not wait for the lock (``lock_timeout=0``): the
        caller cannot block, and gives the events to someone who can.  ``None``
        means nothing was written: the lock is taken by ``BEGIN IMMEDIATE``,
        before the transaction's first statement.
        """
        return self._append_all(events, locked_is_none=True)

    def _append_all(
        self, events: Sequence[AuditEvent], *, locked_is_none: bool
    ) -> tuple[RecordedEvent, ...] | None:
        if not events:
            return ()
        for event in events:
            if not isinstance(event, AuditEvent):
                raise TypeError("append takes AuditEvent objects")
        try:
            with chain_transaction(self._engine) as conn:
                return self._write(conn, events)
        except sa.exc.OperationalError as exc:
            if locked_is_none and _locked(exc):
                return None
            raise _unavailable(exc) from None
        except Exception as exc:
            raise _unavailable(exc) from None

    def submit(
        self, events: Sequence[AuditEvent], ticket: object | None = None, *, awaited: bool = False
    ) -> Future[tuple[RecordedEvent, ...]]:
        """:meth:`append_all` now, its outcome as an already settled future.

        ``ticket`` and ``awaited`` are unused here.

        The same interface as :meth:`GroupCommitLog.submit
        <vault.audit.group.GroupCommitLog.submit>`, so that a use case holding data
        back until its event is durable need not know which log it has.
        """
        recorded: Future[tuple[RecordedEvent, ...]] = Future()
        try:
            recorded.set_result(self.append_all(events))
        except AuditUnavailable as failure:
            recorded.set_exception(failure)
        return recorded

    def checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of the current head now (e.g. before exporting it).

        Raises :class:`~vault.errors.AuditUnavailable` if it could not be stored.
        """
        try:
            with chain_transaction(self._engine) as conn:
                seq, head = chain_head(conn)
                checkpoint = sign_checkpoint(self._signer, seq, head, self._now())
                _store_checkpoint(conn, checkpoint)
                return checkpoint
        except Exception as exc:
            raise _unavailable(exc) from None

    def _now(self) -> dt.datetime:
        moment = self._clock()
        if moment.tzinfo is None:
            raise ConfigurationError("the audit clock must return timezone-aware times")
        return moment.astimezone(dt.UTC)

    def _write(self, conn: Connection, events: Sequence[AuditEvent]) -> tuple[RecordedEvent, ...]:
        seq, previous = chain_head(conn)
        now = self._now()  # read inside the lock: time order follows seq order
        first = seq + 1
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for event in events:
            seq += 1
            body = body_of(event, now)
            digest = event_hash(seq, previous, body)
            rows.append(row_values(seq, body, previous, digest))
            links.extend({"seq": seq, "customer_id": c} for c in event.customer_ids)
            previous = digest
        conn.execute(sa.insert(events_table()), rows)
        if links:
            conn.execute(sa.insert(customers_table()), links)
        if (first - 1) // self._every != seq // self._every:
            _store_checkpoint(conn, sign_checkpoint(self._signer, seq, previous, now))
        return tuple(recorded_from_row(row) for row in rows)


def _store_checkpoint(conn: Connection, checkpoint: Checkpoint) -> None:
    conn.execute(
        sa.insert(checkpoints_table()).values(
            seq=checkpoint.seq,
            chain_hash=checkpoint.chain_hash,
            signed_at=checkpoint.signed_at,
            key_id=checkpoint.key_id,
            public_key=checkpoint.public_key,
            signature=checkpoint.signature,
        )
    )


def _locked(exc: sa.exc.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the write lock (SQLITE_BUSY)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _unavailable(exc: Exception) -> AuditUnavailable:
    """A generic error: the driver's message could quote statement parameters."""
    return AuditUnavailable(
        f"the audit log could not record the event ({type(exc).__name__}); "
        "the access must not proceed"
    )
