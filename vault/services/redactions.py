"""Refreshing stored redactions: work out, off the read path, what reads would redact live.

A read serves a stored redaction only when its basis matches what the read
holds (:mod:`vault.redaction.stored`), so nothing here is needed for a read to
be right: a missing or stale entry costs that read a live redaction, no more.
What a refresh buys is that reads stop paying it: after an import, after an
upgrade of the redaction code (every basis changes), after customers' names or
contact details changed.

For each customer the refresh reads the 360 (decrypting), keeps the entries
that still hold, redacts the rest, and writes the new entries in a short
transaction per batch of customers, sealed with the data key loaded in that
same transaction.  A row rewritten in between (an import replacing a claim's
description) gets an entry whose basis no longer matches its text, which is
served to nobody; a row deleted in between (an erasure) is simply not updated.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from vault import schema
from vault.errors import NotFoundError
from vault.logs import get_logger
from vault.policy import known_values
from vault.progress import NullProgress, Progress
from vault.redaction.stored import StoredRedactions
from vault.sealing import seal
from vault.services import customers as customer_store
from vault.services.datakeys import load_data_keys
from vault.services.runtime import Vault
from vault.storage.tables import Customer, columns, metadata

log = get_logger(__name__)

BATCH = 100
"""Customers per write transaction: few commits, and the write lock held briefly."""


def _tables() -> list[schema.Table]:
    """The tables with stored redactions (the registry's ``redaction_of`` fields)."""
    return [t for t in schema.registry().values() if t.stored_redactions]


@dataclass
class RefreshSummary:
    customers: int = 0
    """Customers looked at."""
    current: int = 0
    """Texts whose stored redaction still held."""
    redacted: int = 0
    """Texts redacted now and stored."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Update:
    table: str
    field: schema.Field
    record_id: uuid.UUID
    entry: dict[str, str]


def refresh_redactions(
    vault: Vault,
    stored: StoredRedactions,
    customer_ids: Iterable[uuid.UUID] | None = None,
    *,
    every: bool = False,
    progress: Progress | None = None,
) -> RefreshSummary:
    """Bring the stored redactions of these customers up to date.

    Without ``customer_ids``: the customers with a text that has no stored
    redaction at all (new rows, and rows an import rewrote), found without
    decrypting; ``every`` takes every customer instead, which also catches
    entries made stale by changed known values or an upgraded engine.
    """
    if customer_ids is not None:
        ids = list(customer_ids)
    else:
        ids = _all_customers(vault) if every else _missing(vault)
    bar = progress or NullProgress()
    summary = RefreshSummary()
    bar.start("redacting free text", len(ids))
    try:
        for batch in _batches(ids, BATCH):
            updates: dict[uuid.UUID, list[_Update]] = {}
            for cid in batch:
                found = _stale(vault, stored, cid, summary)
                if found:
                    updates[cid] = found
            _write(vault, updates)
            bar.advance(len(batch))
            log.info("redactions.progress", customers=summary.customers, redacted=summary.redacted)
    finally:
        bar.finish()
    return summary


def _all_customers(vault: Vault) -> list[uuid.UUID]:
    c = columns(Customer)
    with vault.reader.connect() as conn:
        return list(conn.execute(sa.select(c.id).order_by(c.id)).scalars())


def _missing(vault: Vault) -> list[uuid.UUID]:
    queries = []
    for table in _tables():
        t = metadata().tables[table.name]
        for f in table.stored_redactions:
            source = t.c[str(f.redaction_of)]
            queries.append(
                sa.select(t.c.customer_id).where(source.is_not(None), t.c[f.name].is_(None))
            )
    with vault.reader.connect() as conn:
        found = conn.execute(sa.union(*queries)).scalars()
        return sorted(set(found))


def _batches(ids: list[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _stale(
    vault: Vault, stored: StoredRedactions, cid: uuid.UUID, summary: RefreshSummary
) -> list[_Update]:
    held: dict[str, str] = {}
    try:
        record = customer_store.read_customer(vault, cid, stored_redactions=held)
    except NotFoundError:
        return []  # erased since it was listed
    summary.customers += 1
    known = known_values(record)
    updates: list[_Update] = []
    for table in _tables():
        name = table.name
        for f in table.stored_redactions:
            source = str(f.redaction_of)
            for row in record.get(name) or []:
                text = row.get(source)
                if not isinstance(text, str) or not text:
                    continue
                if stored.basis(text, known) in held:
                    summary.current += 1
                    continue
                updates.append(_Update(name, f, row["id"], stored.entry(text, known)))
                summary.redacted += 1
    return updates


def _write(vault: Vault, updates: dict[uuid.UUID, list[_Update]]) -> None:
    if not updates:
        return
    with vault.engine.begin() as conn:
        keys = load_data_keys(conn, vault.provider, set(updates))
        for cid, rows in updates.items():
            key = keys.get(cid)
            if key is None:
                continue  # erased meanwhile: its rows are gone with its key
            for u in rows:
                table = metadata().tables[u.table]
                conn.execute(
                    sa.update(table)
                    .where(table.c.id == u.record_id)
                    .values({u.field.name: seal(u.field, u.record_id, key, u.entry)})
                )


class RefreshQueue:
    """Refreshes, in one background thread, the customers whose writes have committed.

    Why not in the write itself: a renamed customer's every note is redacted
    again, and on SQLite the entries wait for the write lock a second time; the
    caller of a write should wait for neither.  Nothing is wrong meanwhile: a
    read serves an entry only when its basis matches, so until the refresh
    lands it redacts live.  A customer submitted again while queued is
    refreshed once; a failed refresh is logged (no PII) and leaves reads
    redacting live, as before.  The thread starts on the first submit.
    """

    def __init__(self, vault: Vault, stored: Callable[[], StoredRedactions]) -> None:
        self._vault = vault
        self._stored = stored
        self._pending: dict[uuid.UUID, None] = {}  # an ordered set
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, customer_id: uuid.UUID) -> None:
        """Queue ``customer_id`` for a refresh (after its write has committed)."""
        with self._cond:
            if self._closed:
                return
            self._pending[customer_id] = None
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(
                    target=self._run, name="cdv-redaction-refresh", daemon=True
                )
                thread.start()
                self._thread = thread
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or running; ``False`` if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, within ``timeout`` seconds in all, then stop the thread.

        What is still queued at the deadline is dropped (those reads redact live
        until a later refresh); a batch still running is let finish in its daemon
        thread, and logged, since it may then meet a closed vault and fail.
        """
        deadline = time.monotonic() + timeout
        self.drain(timeout)
        with self._cond:
            self._closed = True
            dropped = len(self._pending)
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if dropped:
            log.warning("redactions.queue_dropped", customers=dropped)
        if thread is not None:
            thread.join(max(deadline - time.monotonic(), 0.0))
            if thread.is_alive():
                log.warning("redactions.refresh_still_running")

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                batch = list(self._pending)[:BATCH]
                for cid in batch:
                    del self._pending[cid]
                self._busy = True
            try:
                self._refresh(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _refresh(self, batch: list[uuid.UUID]) -> None:
        """One batch; if it fails, each customer alone, so one bad row costs only its own."""
        try:
            refresh_redactions(self._vault, self._stored(), batch)
            return
        except Exception as exc:  # the writes stand; reads redact live
            if len(batch) == 1:
                log.warning("redactions.refresh_failed", error=type(exc).__name__)
                return
        for cid in batch:
            self._refresh([cid])
