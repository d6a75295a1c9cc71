"""Reading the audit log: filtered pages of events, and a customer's access report.

Pages are keyed by ``seq`` (``after_seq`` cursor, at most :data:`MAX_LIMIT` events),
never by offset: the log only grows at the tail, so a cursor page is stable and an
``OFFSET`` over millions of rows is not.  A customer filter goes through
``audit_event_customers`` (one row per customer per event, indexed by customer
then seq), which is portable and indexable on both back ends where JSON
containment would be neither.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from vault.audit.checkpoints import Checkpoint
from vault.audit.records import (
    UNREADABLE,
    RecordedEvent,
    checkpoint_from_row,
    checkpoints_table,
    customers_table,
    events_table,
    recorded_from_row,
)
from vault.errors import IntegrityError, ValidationError

_UNREADABLE_MESSAGE = "the audit log holds values that cannot be read; run audit verification"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters for :func:`list_events`; every filter given must match (AND)."""

    customer_id: uuid.UUID | None = None
    principal: str | None = None
    purpose: str | None = None
    action: str | None = None
    outcome: str | None = None
    occurred_from: dt.datetime | None = None
    """Inclusive lower bound (UTC-aware)."""
    occurred_to: dt.datetime | None = None
    """Exclusive upper bound (UTC-aware)."""
    after_seq: int = 0
    """Cursor: only events with a larger seq (pass the previous page's ``next_after_seq``)."""
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError("limit", f"must be between 1 and {MAX_LIMIT}")
        if not isinstance(self.after_seq, int) or self.after_seq < 0:
            raise ValidationError("after_seq", "must be a non-negative integer")
        if self.customer_id is not None and not isinstance(self.customer_id, uuid.UUID):
            raise ValidationError("customer_id", "must be a customer UUID")
        for name in ("occurred_from", "occurred_to"):
            moment = getattr(self, name)
            if moment is not None and (
                not isinstance(moment, dt.datetime) or moment.tzinfo is None
            ):
                raise ValidationError(name, "must be a timezone-aware date-time")


@dataclass(frozen=True, slots=True)
class EventPage:
    events: tuple[RecordedEvent, ...]
    next_after_seq: int | None
    """The cursor for the next page, or ``None`` when this page is the last."""


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One line of a customer's access report: when, who, why, what, and with what result."""

    seq: int
    occurred_at: dt.datetime
    principal: str
    role: str
    org_unit: str | None
    purpose: str
    action: str
    fields_in_clear: tuple[str, ...]
    outcome: str
    request_id: str


@dataclass(frozen=True, slots=True)
class AccessReportPage:
    customer_id: uuid.UUID
    entries: tuple[AccessEntry, ...]
    next_after_seq: int | None


def list_events(engine: Engine, query: EventQuery | None = None) -> EventPage:
    """One page of events matching ``query``, in seq order."""
    query = query or EventQuery()
    events = events_table()
    statement = sa.select(events)
    if query.customer_id is not None:
        index = customers_table()
        statement = statement.join(index, index.c.seq == events.c.seq).where(
            index.c.customer_id == query.customer_id
        )
    conditions: list[Any] = [events.c.seq > query.after_seq]
    for name in ("principal", "purpose", "action", "outcome"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(events.c[name] == str(value))
    if query.occurred_from is not None:
        conditions.append(events.c.occurred_at >= query.occurred_from)
    if query.occurred_to is not None:
        conditions.append(events.c.occurred_at < query.occurred_to)
    statement = statement.where(*conditions).order_by(events.c.seq).limit(query.limit + 1)
    with engine.connect() as conn:
        try:
            rows = list(conn.execute(statement).mappings())
        except UNREADABLE:
            raise IntegrityError(_UNREADABLE_MESSAGE) from None
    more = len(rows) > query.limit
    page = tuple(recorded_from_row(r) for r in rows[: query.limit])
    return EventPage(events=page, next_after_seq=page[-1].seq if more else None)


def access_report(
    engine: Engine, customer_id: uuid.UUID, *, after_seq: int = 0, limit: int = MAX_LIMIT
) -> AccessReportPage:
    """Every event that touched ``customer_id`` (reads, search hits, writes, denials, exports)."""
    page = list_events(
        engine, EventQuery(customer_id=customer_id, after_seq=after_seq, limit=limit)
    )
    return AccessReportPage(
        customer_id=customer_id,
        entries=tuple(_entry(e) for e in page.events),
        next_after_seq=page.next_after_seq,
    )


def latest_checkpoint(engine: Engine) -> Checkpoint | None:
    """The most recent stored checkpoint (highest seq, then newest), e.g. to export it."""
    table = checkpoints_table()
    query = sa.select(table).order_by(table.c.seq.desc(), table.c.id.desc()).limit(1)
    with engine.connect() as conn:
        try:
            row = conn.execute(query).mappings().first()
            return None if row is None else checkpoint_from_row(row)
        except UNREADABLE:
            raise IntegrityError(_UNREADABLE_MESSAGE) from None


def _entry(event: RecordedEvent) -> AccessEntry:
    return AccessEntry(
        seq=event.seq,
        occurred_at=event.occurred_at,
        principal=event.principal,
        role=event.role,
        org_unit=event.org_unit,
        purpose=event.purpose,
        action=event.action,
        fields_in_clear=event.fields_in_clear,
        outcome=event.outcome,
        request_id=event.request_id,
    )
