"""The tamper-evident audit log: one event per access to customer data, hash-chained and signed.

Why each part exists:

``events``       what an event may say (ids and field *names*, never a value), checked on
                 construction, so the log can never become a second, clear-text copy of PII
``chain``        the canonical encoding and SHA-256 link of each event to the one before,
                 so deleting, inserting, reordering or editing an event shows
``log``          the appender: durable before it returns, serialised across threads and
                 processes, fail closed (:class:`~vault.errors.AuditUnavailable`)
``checkpoints``  Ed25519-signed "event N has hash H" statements, stored and exportable as
                 JSON, so a consistent rewrite of the whole chain is still caught by anyone
                 holding the public key
``verify``       the streaming verifier that names the seq and kind of every break
``queries``      filtered, cursor-paginated pages and the per-customer access report

Typical use (the services build the log once and pass it in)::

    log = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
    log.append(AuditEvent(principal=..., role=..., purpose=..., action=Action.READ,
                          outcome=Outcome.ALLOWED, request_id=..., customer_ids=(cid,),
                          fields_in_clear=("customers.mobile",)))
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
"""

from __future__ import annotations

from vault.audit.chain import GENESIS, EventBody, event_hash
from vault.audit.checkpoints import (
    Checkpoint,
    key_id,
    public_key_from_b64,
    public_keys_from_keyring,
    sign_checkpoint,
    signer_from_keyring,
    verify_checkpoint_signature,
)
from vault.audit.events import Action, AuditEvent, Outcome
from vault.audit.log import DEFAULT_CHECKPOINT_EVERY, AuditLog
from vault.audit.queries import (
    MAX_LIMIT,
    AccessEntry,
    AccessReportPage,
    EventPage,
    EventQuery,
    access_report,
    latest_checkpoint,
    list_events,
)
from vault.audit.records import RecordedEvent
from vault.audit.verify import (
    Break,
    BreakKind,
    VerificationReport,
    verify_exported_checkpoint,
    verify_log,
)

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "GENESIS",
    "MAX_LIMIT",
    "AccessEntry",
    "AccessReportPage",
    "Action",
    "AuditEvent",
    "AuditLog",
    "Break",
    "BreakKind",
    "Checkpoint",
    "EventBody",
    "EventPage",
    "EventQuery",
    "Outcome",
    "RecordedEvent",
    "VerificationReport",
    "access_report",
    "event_hash",
    "key_id",
    "latest_checkpoint",
    "list_events",
    "public_key_from_b64",
    "public_keys_from_keyring",
    "sign_checkpoint",
    "signer_from_keyring",
    "verify_checkpoint_signature",
    "verify_exported_checkpoint",
    "verify_log",
]
