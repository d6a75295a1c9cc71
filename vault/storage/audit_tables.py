"""SQL tables of the audit log: the hash-chained events, their customer index, signed checkpoints.

They hold identifiers, field *names* and digests only, never a PII value; the
audit building block (:mod:`vault.audit`) validates events before they get here
and computes every hash and signature (storage never imports crypto).

``audit_events.seq`` is assigned by the appender inside its serialised section,
not by a database sequence: a sequence would leave gaps on rollback, and a gap
is exactly what verification reports as a deleted event.  The primary key is
also the last line of defence against a forked chain: two appenders that ever
read the same head cannot both commit the same ``seq``.

``audit_event_customers`` repeats each event's customer ids one per row so the
access report and the ``customer_id`` filter are an index lookup on both back
ends.  It is derived data: the ids that count are the ones inside the hashed
event, and verification checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Uuid
from sqlmodel import Field, SQLModel

from vault.storage.tables import RawBytes, UtcDateTime


class AuditEventRow(SQLModel, table=True):
    """One access to customer data, chained to the event before it."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # (filter column, seq): a filtered page ``WHERE x = ? AND seq > ? ORDER BY seq``
        # is one ordered index range scan.
        Index("ix_audit_events_principal_seq", "principal", "seq"),
        Index("ix_audit_events_purpose_seq", "purpose", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_outcome_seq", "outcome", "seq"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime, nullable=False, index=True)
    principal: str = Field(sa_type=String(128))
    role: str = Field(sa_type=String(64))
    org_unit: str | None = Field(default=None, sa_type=String(64))
    purpose: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(32))
    outcome: str = Field(sa_type=String(16))
    request_id: str = Field(sa_type=String(128), index=True)
    customer_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    fields_in_clear: list[str] = Field(default_factory=list, sa_type=JSON)
    reason: str | None = Field(default=None, sa_type=String(500))
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    previous_hash: bytes = Field(sa_type=RawBytes)
    event_hash: bytes = Field(sa_type=RawBytes)


class AuditEventCustomerRow(SQLModel, table=True):
    """Which events touched which customer: the index behind the access report."""

    __tablename__ = "audit_event_customers"

    customer_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    seq: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("audit_events.seq", ondelete="CASCADE", onupdate="CASCADE"),
            primary_key=True,
            index=True,
        )
    )


class AuditCheckpointRow(SQLModel, table=True):
    """A signed statement "the chain's event ``seq`` has hash ``chain_hash``"."""

    __tablename__ = "audit_checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    chain_hash: bytes = Field(sa_type=RawBytes)
    signed_at: dt.datetime = Field(sa_type=UtcDateTime, nullable=False)
    key_id: str = Field(sa_type=String(16))
    public_key: bytes = Field(sa_type=RawBytes)
    signature: bytes = Field(sa_type=RawBytes)


AUDIT_TABLES: dict[str, type[SQLModel]] = {
    "audit_events": AuditEventRow,
    "audit_event_customers": AuditEventCustomerRow,
    "audit_checkpoints": AuditCheckpointRow,
}
"""The audit tables by name, parents first."""
