"""Erasure by crypto-shredding (PIPL art. 47, GDPR art. 17): a customer's data, gone for good.

What erasing a customer does, in this order:

1. the request is decided and its *intent* audited (API principals through
   :class:`~vault.services.access.AccessService`, operators at the command line
   directly), carrying only the customer id, a random UUID;
2. a tombstone is appended to the file beside the keyring and fsynced
   (:mod:`vault.tombstones`), *before* anything is deleted: a crash after the
   delete but before the tombstone would let a restore bring the customer back,
   while a tombstone without its delete only means the erasure is redone;
3. in one transaction, every row of every table the schema registry marks as
   the customer's data (``Table.erased_with``) is deleted, children first: the
   wrapped data key, the profile with its blind-index columns, source links,
   policies, claims, interactions, consents;
4. the result is audited.

Destroying the wrapped data key is what makes it final.  SQLite runs with
``secure_delete=ON`` and overwrites deleted rows; PostgreSQL keeps dead tuples
until VACUUM and its WAL and base backups keep old pages longer, but every
field in them is sealed under a data key that no longer exists anywhere (the
keyring never held it; it existed only wrapped, in the deleted row).  Old
backups still hold the wrapped key: that is why a restore re-applies the
tombstones (:mod:`vault.services.backup`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vault import schema
from vault.audit import Action, AuditEvent, AuditLog, Outcome
from vault.audit.group import GroupCommitLog
from vault.errors import NotFoundError
from vault.services.access import AccessService, Caller
from vault.services.runtime import Vault
from vault.storage.tables import Customer, columns, metadata
from vault.tombstones import Tombstone, TombstoneFile, tombstone_path

ERASE_ACTION = "customer.erase"
ERASURE_REQUEST = "erasure_request"
RETENTION = "retention"
OPERATOR_ROLE = "operator"
"""The audit role of someone at the command line: they hold the keyring, no policy applies."""


@dataclass(frozen=True, slots=True)
class ErasureResult:
    customer_id: uuid.UUID
    outcome: str
    """``erased`` now, or ``already_erased`` earlier (erasing twice is not an error)."""
    erased_at: dt.datetime
    rows_deleted: dict[str, int] = field(default_factory=dict)

    @classmethod
    def already(cls, tombstone: Tombstone) -> ErasureResult:
        return cls(tombstone.customer_id, "already_erased", tombstone.erased_at, {})

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.customer_id),
            "outcome": self.outcome,
            "erased_at": self.erased_at.isoformat(),
            "rows_deleted": dict(self.rows_deleted),
        }


def tombstones_of(vault: Vault) -> TombstoneFile:
    """The tombstone file of this vault (refuses a keyring without a ``backup`` key)."""
    return TombstoneFile(tombstone_path(vault.settings.keys_path), vault.keyring.backup)


def customer_exists(conn: Connection, customer_id: uuid.UUID) -> bool:
    c = columns(Customer)
    return conn.execute(sa.select(c.id).where(c.id == customer_id)).first() is not None


def delete_customer_rows(conn: Connection, customer_id: uuid.UUID) -> dict[str, int]:
    """Delete the customer's rows from every table the registry says holds its data."""
    tables = metadata().tables
    counts: dict[str, int] = {}
    for entry in schema.erased_with_customer():
        table = tables[entry.name]
        assert entry.erased_with is not None
        result = conn.execute(sa.delete(table).where(table.c[entry.erased_with] == customer_id))
        counts[entry.name] = int(result.rowcount)
    return counts


def erase_customer(
    vault: Vault, customer_id: uuid.UUID, *, reason: str, tombstones: TombstoneFile | None = None
) -> ErasureResult:
    """The erasure itself (tombstone, then one transaction), without policy or audit."""
    tombstones = tombstones or tombstones_of(vault)
    previous = tombstones.find(customer_id)
    with vault.reader.connect() as conn:
        exists = customer_exists(conn, customer_id)
    if not exists:
        if previous is not None:
            return ErasureResult.already(previous)
        raise NotFoundError("no such customer")
    stone = previous or tombstones.append(customer_id, vault.clock(), reason)
    with vault.engine.begin() as conn:
        deleted = delete_customer_rows(conn, customer_id)
    if deleted.get("customers", 0) == 0:  # erased by a concurrent request meanwhile
        return ErasureResult.already(stone)
    return ErasureResult(customer_id, "erased", stone.erased_at, deleted)


def erase_as_principal(
    access: AccessService, caller: Caller, customer_id: uuid.UUID
) -> dict[str, Any]:
    """``DELETE /v1/customers/{id}``: decided and audited like every write (intent, result)."""
    vault = access.vault
    tombstones = tombstones_of(vault)
    with vault.reader.connect() as conn:
        exists = customer_exists(conn, customer_id)
    previous = None if exists else tombstones.find(customer_id)
    if previous is not None:
        access.record(
            caller,
            ERASE_ACTION,
            customer_ids=[customer_id],
            detail={"stage": "result", "outcome": "already_erased"},
        )
        return ErasureResult.already(previous).as_dict()

    def perform() -> tuple[uuid.UUID, dict[str, Any]]:
        done = erase_customer(vault, customer_id, reason=ERASURE_REQUEST, tombstones=tombstones)
        return customer_id, done.as_dict()

    return access.write(caller, ERASE_ACTION, customer_id, perform)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}")


def operator_principal() -> str:
    """``cli:<os account>`` for the audit log, or plain ``cli`` if the account name is odd."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        return "cli"
    return f"cli:{user}" if _TOKEN.fullmatch(user) and not user.isdigit() else "cli"


@dataclass(frozen=True, slots=True)
class Operator:
    """Someone at the command line (holding the keyring), as the audit log records them."""

    purpose: str
    principal: str = field(default_factory=operator_principal)
    request_id: str = field(default_factory=lambda: f"cli-{uuid.uuid4().hex}")

    def event(self, result: Outcome, customer_id: uuid.UUID, **detail: str) -> AuditEvent:
        return AuditEvent(
            principal=self.principal,
            role=OPERATOR_ROLE,
            purpose=self.purpose,
            action=Action.ERASE,
            outcome=result,
            request_id=self.request_id,
            customer_ids=(customer_id,),
            detail={"policy_action": ERASE_ACTION, "via": "cli", **detail},
        )


def erase_as_operator(
    vault: Vault,
    audit: AuditLog | GroupCommitLog,
    operator: Operator,
    customer_id: uuid.UUID,
    *,
    tombstones: TombstoneFile | None = None,
) -> ErasureResult:
    """``customer-vault erase`` and retention runs: audited intent, erasure, audited result."""
    tombstones = tombstones or tombstones_of(vault)
    audit.append(operator.event(Outcome.ALLOWED, customer_id, stage="intent"))
    try:
        done = erase_customer(vault, customer_id, reason=operator.purpose, tombstones=tombstones)
    except NotFoundError:
        audit.append(operator.event(Outcome.FAILED, customer_id, stage="result"))
        raise
    except Exception:
        with contextlib.suppress(Exception):  # the original failure is the one to report
            audit.append(operator.event(Outcome.FAILED, customer_id, stage="result"))
        raise
    audit.append(operator.event(Outcome.ALLOWED, customer_id, stage="result", outcome=done.outcome))
    return done
