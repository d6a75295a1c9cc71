"""Audit events as stored: the row shape, and the conversions between rows, events and bodies.

Appending, querying and verifying all meet the same rows; this module is where
the stored form is defined once (customer ids as canonical UUID strings, field
names as a JSON list, detail as a JSON object), so the body that is hashed at
append time is byte for byte the body a verifier rebuilds from the row.
"""

from __future__ import annotations

import datetime as dt
import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vault.audit.chain import DetailValue, EncodingError, EventBody, sorted_detail
from vault.audit.checkpoints import Checkpoint
from vault.audit.events import AuditEvent
from vault.errors import IntegrityError
from vault.storage.audit_tables import AuditCheckpointRow, AuditEventCustomerRow, AuditEventRow

UNREADABLE = (ValueError, TypeError, LookupError)
"""What a result processor raises on a stored value its column type cannot hold (SQLite
stores whatever it is given: ``'yesterday'`` in a DATETIME, ``'{'`` in a JSON column)."""


def events_table() -> sa.Table:
    return AuditEventRow.metadata.tables["audit_events"]


def customers_table() -> sa.Table:
    return AuditEventCustomerRow.metadata.tables["audit_event_customers"]


def checkpoints_table() -> sa.Table:
    return AuditCheckpointRow.metadata.tables["audit_checkpoints"]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the log holds it: what the caller reported plus time, sequence and hashes.

    ``action`` and ``outcome`` are the stored strings (they compare equal to the
    :class:`~vault.audit.events.Action` / ``Outcome`` members).
    """

    seq: int
    occurred_at: dt.datetime
    principal: str
    role: str
    org_unit: str | None
    purpose: str
    action: str
    outcome: str
    request_id: str
    customer_ids: tuple[uuid.UUID, ...]
    fields_in_clear: tuple[str, ...]
    reason: str | None
    detail: Mapping[str, DetailValue]
    previous_hash: bytes
    event_hash: bytes


def body_of(event: AuditEvent, occurred_at: dt.datetime) -> EventBody:
    """The hashed body of a new event, in exactly the form it will be stored."""
    return EventBody(
        occurred_at=occurred_at,
        principal=event.principal,
        role=event.role,
        org_unit=event.org_unit,
        purpose=event.purpose,
        action=str(event.action),
        outcome=str(event.outcome),
        request_id=event.request_id,
        customer_ids=tuple(str(c) for c in event.customer_ids),
        fields_in_clear=event.fields_in_clear,
        reason=event.reason,
        detail=sorted_detail(event.detail),
    )


def row_values(seq: int, body: EventBody, previous: bytes, digest: bytes) -> dict[str, Any]:
    """The ``audit_events`` row for a body (the inverse of :func:`body_from_row`)."""
    return {
        "seq": seq,
        "occurred_at": body.occurred_at,
        "principal": body.principal,
        "role": body.role,
        "org_unit": body.org_unit,
        "purpose": body.purpose,
        "action": body.action,
        "outcome": body.outcome,
        "request_id": body.request_id,
        "customer_ids": list(body.customer_ids),
        "fields_in_clear": list(body.fields_in_clear),
        "reason": body.reason,
        "detail": dict(body.detail),
        "previous_hash": previous,
        "event_hash": digest,
    }


def body_from_row(row: Mapping[Any, Any]) -> EventBody:
    """Rebuild the hashed body from a stored row; :class:`EncodingError` if it cannot be one."""
    customer_ids = row["customer_ids"]
    fields = row["fields_in_clear"]
    detail = row["detail"]
    if not isinstance(customer_ids, list) or not isinstance(fields, list):
        raise EncodingError("customer_ids and fields_in_clear are lists")
    if not isinstance(detail, dict):
        raise EncodingError("detail is an object")
    return EventBody(
        occurred_at=row["occurred_at"],
        principal=row["principal"],
        role=row["role"],
        org_unit=row["org_unit"],
        purpose=row["purpose"],
        action=row["action"],
        outcome=row["outcome"],
        request_id=row["request_id"],
        customer_ids=tuple(customer_ids),
        fields_in_clear=tuple(fields),
        reason=row["reason"],
        detail=sorted_detail(detail),
    )


def recorded_from_row(row: Mapping[Any, Any]) -> RecordedEvent:
    """A stored row as a typed event; a row the vault cannot have written is an IntegrityError."""
    try:
        body = body_from_row(row)
        customer_ids = tuple(uuid.UUID(c) for c in body.customer_ids)
    except (EncodingError, ValueError, TypeError, AttributeError):
        raise IntegrityError(
            f"audit event {row['seq']} is malformed; run audit verification"
        ) from None
    return RecordedEvent(
        seq=row["seq"],
        occurred_at=body.occurred_at,
        principal=body.principal,
        role=body.role,
        org_unit=body.org_unit,
        purpose=body.purpose,
        action=body.action,
        outcome=body.outcome,
        request_id=body.request_id,
        customer_ids=customer_ids,
        fields_in_clear=body.fields_in_clear,
        reason=body.reason,
        detail=types.MappingProxyType(dict(body.detail)),
        previous_hash=bytes(row["previous_hash"]),
        event_hash=bytes(row["event_hash"]),
    )


def checkpoint_from_row(row: Mapping[Any, Any]) -> Checkpoint:
    return Checkpoint(
        seq=int(row["seq"]),
        chain_hash=bytes(row["chain_hash"]),
        signed_at=row["signed_at"],
        key_id=str(row["key_id"]),
        public_key=bytes(row["public_key"]),
        signature=bytes(row["signature"]),
    )
