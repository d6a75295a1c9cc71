"""Access to customer data on behalf of a principal: decide, decrypt, shape, audit, return.

Every use case here follows the same order, which is the point of the module:

1. the policy decides (role, action, purpose, and the customer's org unit for scope);
2. a denial is written to the audit log, then raised;
3. only then is customer data decrypted, and only through the decision
   (:func:`vault.policy.shape_360` refuses anything but a genuine ``Allowed``);
4. the audit event, with the fields returned in clear, is durably written;
5. and only then does the shaped data go back to the caller.  If step 4 fails
   the caller gets :class:`~vault.errors.AuditUnavailable` and no data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import sqlalchemy as sa

from vault.audit import Action, AuditEvent, AuditLog, Outcome
from vault.audit import access_report as audit_access_report
from vault.audit.group import GroupCommitLog, Ticket, await_durable, wait_durable
from vault.audit.log import WAIT_SECONDS
from vault.audit.records import RecordedEvent
from vault.errors import AccessDenied, NotFoundError, OutOfScope
from vault.logs import get_logger
from vault.policy import Allowed, Denied, Policies, known_values, shape_360
from vault.services import customers as customer_store
from vault.services.principals import PrincipalInfo
from vault.services.runtime import Vault
from vault.storage.tables import Customer, OrgUnit, columns

if TYPE_CHECKING:
    from vault.redaction.stored import StoredRedactions
    from vault.services.importing import ScopeCheck

log = get_logger(__name__)

AUDIT_ACTIONS = {
    "customer.read": Action.READ,
    "customer.search": Action.SEARCH,
    "customer.create": Action.CREATE,
    "customer.update": Action.UPDATE,
    "customer.erase": Action.ERASE,
    "policy.create": Action.CREATE,
    "claim.create": Action.CREATE,
    "interaction.create": Action.CREATE,
    "consent.create": Action.CREATE,
    "access_report.read": Action.READ,
    "export.create": Action.EXPORT,
    "keys.manage": Action.ROTATE_KEYS,
}

Redact = Callable[[str, Mapping[str, str]], str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, for what purpose, in which request."""

    principal: PrincipalInfo
    purpose: str | None
    request_id: str
    org_unit_id: int | None
    """The principal's org unit as the customers table stores it (for scope checks)."""
    ticket: Ticket | None = None
    """The request's announced audit submission (:meth:`GroupCommitLog.expect`), if any."""


class Pending(Generic[T]):
    """Shaped data held back until the audit event that covers it is durable.

    The audit contract (no access without its event, fail closed) holds either
    way you take the data out: :meth:`result` blocks the calling thread until
    the commit, :meth:`released` lets an ``async`` caller wait without holding a
    thread, so that the worker thread is free for the next request while the
    group commit gathers this one's event with others.
    """

    __slots__ = ("_recorded", "_timeout", "_value")

    def __init__(
        self,
        value: T,
        recorded: Future[tuple[RecordedEvent, ...]],
        timeout: float = WAIT_SECONDS,
    ) -> None:
        self._value = value
        self._recorded = recorded
        self._timeout = timeout

    def result(self) -> T:
        """The data once its event is committed; AuditUnavailable if it was not in time."""
        wait_durable(self._recorded, self._timeout)
        return self._value

    async def released(self) -> T:
        """:meth:`result` for a coroutine: the event loop is not blocked while waiting."""
        await await_durable(self._recorded, self._timeout)
        return self._value


class AccessService:
    """The customer-data use cases of the API, bound to one vault, policy set and audit log."""

    def __init__(
        self,
        vault: Vault,
        policies: Policies,
        audit: AuditLog | GroupCommitLog,
        *,
        redact: Callable[[], Redact] | None = None,
        stored_redactions: Callable[[], StoredRedactions] | None = None,
        after_write: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        self.vault = vault
        self.policies = policies
        self.audit = audit
        self._redact = redact
        self._stored = stored_redactions
        self._after_write = after_write
        """Told each written customer once the write has committed (the API: the redaction
        refresh queue, :class:`~vault.services.redactions.RefreshQueue`)."""

    # --- callers ----------------------------------------------------------------------

    def caller(
        self,
        principal: PrincipalInfo,
        purpose: str | None,
        request_id: str,
        ticket: Ticket | None = None,
    ) -> Caller:
        org_unit_id = principal.org_unit_id
        if principal.org_unit is not None and org_unit_id is None:
            with self.vault.reader.connect() as conn:
                unit = columns(OrgUnit)
                org_unit_id = conn.execute(
                    sa.select(unit.id).where(unit.code == principal.org_unit)
                ).scalar()
        return Caller(principal, purpose, request_id, org_unit_id, ticket)

    def check(
        self,
        caller: Caller,
        action: str,
        customer_id: uuid.UUID | None = None,
        *,
        creating: bool = False,
        target_org_unit: str | None = None,
    ) -> Allowed:
        """Role, action and purpose, before anything is read (scope is checked per customer).

        ``customer_id``, when the request names one, goes into a denial's audit event.
        When ``creating``, scope is the new customer's org unit ``target_org_unit``:
        a customer without one (or with an unknown one) is outside every org-unit
        scope, so an org-unit-scoped role must create customers in its own unit.
        """
        customer_org_unit = caller.org_unit_id
        if creating:
            customer_org_unit = (
                self._org_unit_id(target_org_unit) if target_org_unit is not None else None
            )
        return self._decide_in_scope(caller, action, customer_id, customer_org_unit)

    def _org_unit_id(self, code: str) -> int | None:
        unit = columns(OrgUnit)
        with self.vault.reader.connect() as conn:
            found = conn.execute(sa.select(unit.id).where(unit.code == code)).scalar()
        return None if found is None else int(found)

    # --- audit ------------------------------------------------------------------------

    def _event(
        self,
        caller: Caller,
        action: str,
        outcome: Outcome,
        *,
        customer_ids: Sequence[uuid.UUID] = (),
        fields: Sequence[str] = (),
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            principal=caller.principal.name,
            role=caller.principal.role,
            org_unit=caller.principal.org_unit,
            purpose=(
                caller.purpose
                if caller.purpose is not None and caller.purpose in self.policies.purposes
                else "unknown"
            ),
            action=AUDIT_ACTIONS.get(action, Action.READ),
            outcome=outcome,
            request_id=caller.request_id,
            customer_ids=tuple(customer_ids),
            fields_in_clear=tuple(fields),
            reason=reason,
            detail={"policy_action": action, **(detail or {})},
        )

    def record(
        self,
        caller: Caller,
        action: str,
        *,
        customer_ids: Sequence[uuid.UUID] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Audit an allowed request that touched no data (e.g. erasing an erased customer)."""
        self.audit.append(
            self._event(caller, action, Outcome.ALLOWED, customer_ids=customer_ids, detail=detail)
        )

    def record_failed(
        self, caller: Caller, action: str, *, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Audit that an allowed request failed after its intent was recorded."""
        self.audit.append(self._event(caller, action, Outcome.FAILED, detail=detail))

    def deny(self, caller: Caller, action: str, reason: str) -> NoReturn:
        """Refuse (and audit) a request the use case found out of bounds after the policy check."""
        self._deny(caller, action, reason)

    def _deny(
        self, caller: Caller, action: str, reason: str, customer_ids: Sequence[uuid.UUID] = ()
    ) -> NoReturn:
        event = self._event(
            caller, action, Outcome.DENIED, customer_ids=customer_ids, reason=reason
        )
        wait_durable(self.audit.submit([event], caller.ticket), self.audit.wait_seconds)
        raise AccessDenied(reason)

    def _decide(self, caller: Caller, action: str, customer_id: uuid.UUID) -> Allowed:
        """The decision for one stored customer, scoped by its org unit."""
        return self._decide_in_scope(
            caller, action, customer_id, self._customer_org_unit(customer_id)
        )

    def _decide_in_scope(
        self, caller: Caller, action: str, customer_id: uuid.UUID | None, org_unit: int | None
    ) -> Allowed:
        """The policy's answer for a customer in ``org_unit``; a denial is audited, then raised."""
        decision = self._policy_decision(caller, action, org_unit)
        if isinstance(decision, Denied):
            self._deny(caller, action, decision.reason, [customer_id] if customer_id else [])
        return decision

    def _policy_decision(
        self, caller: Caller, action: str, org_unit: int | None
    ) -> Allowed | Denied:
        return self.policies.decide(
            caller.principal.role,
            action,
            caller.purpose,
            principal_org_unit=caller.org_unit_id,
            customer_org_unit=org_unit,
        )

    def _customer_org_unit(self, customer_id: uuid.UUID) -> int | None:
        c = columns(Customer)
        with self.vault.reader.connect() as conn:
            row = conn.execute(sa.select(c.org_unit_id).where(c.id == customer_id)).first()
        if row is None:
            raise NotFoundError("no such customer")
        return None if row[0] is None else int(row[0])

    # --- reads ------------------------------------------------------------------------

    def _shape(
        self, decision: Allowed, record: dict[str, Any], stored: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        redact = self._redact() if self._redact is not None else None
        if redact is not None and stored and self._stored is not None:
            redact = self._stored().serving(stored, redact)
        shaped = shape_360(
            decision,
            record,
            pseudonym_key=self.vault.keyring.pseudonym_key.reveal(),
            redact=redact,
            known=known_values(record),
        )
        return shaped.values, list(shaped.clear_fields)

    def read_customer(self, caller: Caller, customer_id: uuid.UUID) -> dict[str, Any]:
        """The customer 360, each field as the caller's role may see it for this purpose."""
        return self.begin_read(caller, customer_id).result()

    def begin_read(
        self, caller: Caller, customer_id: uuid.UUID, *, awaited: bool = False
    ) -> Pending[dict[str, Any]]:
        """:meth:`read_customer`, its data held back until its audit event is committed.

        ``awaited``: the caller will only ``await`` :meth:`Pending.released` on this
        event loop (the audit commit may then run on the loop; see
        :mod:`vault.audit.group`).
        """
        decisions: list[Allowed] = []

        def authorise(org_unit: int | None) -> None:  # after the row is found, before decrypting
            decisions.append(self._decide_in_scope(caller, "customer.read", customer_id, org_unit))

        stored: dict[str, str] = {}
        record = customer_store.read_customer(
            self.vault, customer_id, authorise=authorise, stored_redactions=stored
        )
        values, clear = self._shape(decisions[0], record, stored)
        event = self._event(
            caller, "customer.read", Outcome.ALLOWED, customer_ids=[customer_id], fields=clear
        )
        recorded = self.audit.submit([event], caller.ticket, awaited=awaited)
        return Pending(values, recorded, self.audit.wait_seconds)

    def search(self, caller: Caller, field: str, value: str) -> list[dict[str, Any]]:
        """Blind-index search; one audit event per customer returned (all or none written)."""
        decision = self.check(caller, "customer.search")
        found = customer_store.find_customers(self.vault, field, value)
        results: list[dict[str, Any]] = []
        events: list[AuditEvent] = []
        for customer_id in found:
            if not decision.covers(self._customer_org_unit(customer_id)):
                continue  # out of the caller's scope: not returned, not revealed to exist
            stored: dict[str, str] = {}
            record = customer_store.read_customer(self.vault, customer_id, stored_redactions=stored)
            values, clear = self._shape(decision, record, stored)
            results.append(values)
            events.append(
                self._event(
                    caller,
                    "customer.search",
                    Outcome.ALLOWED,
                    customer_ids=[customer_id],
                    fields=clear,
                    detail={"search_field": field},
                )
            )
        if not events:
            events.append(
                self._event(
                    caller,
                    "customer.search",
                    Outcome.ALLOWED,
                    detail={"search_field": field, "result_count": 0},
                )
            )
        self.audit.append_all(events)
        return results

    def access_report(self, caller: Caller, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """Who read this customer's data, when, for what, which fields in clear (PIPL/GDPR)."""
        self._decide(caller, "access_report.read", customer_id)
        entries: list[Any] = []
        after = 0
        while True:
            page = audit_access_report(self.vault.reader, customer_id, after_seq=after)
            entries.extend(page.entries)
            if page.next_after_seq is None:
                break
            after = page.next_after_seq
        self.audit.append(
            self._event(
                caller,
                "access_report.read",
                Outcome.ALLOWED,
                customer_ids=[customer_id],
                detail={"entries": len(entries)},
            )
        )
        return [dataclasses.asdict(entry) for entry in entries]

    # --- writes -----------------------------------------------------------------------

    def write(
        self,
        caller: Caller,
        action: str,
        customer_id: uuid.UUID | None,
        perform: Callable[[], tuple[uuid.UUID, dict[str, Any]]],
        *,
        target_org_unit: str | None = None,
    ) -> dict[str, Any]:
        """Run a write after the policy allows it, audited before and after.

        The allowed write is recorded *before* it happens, so no write can exist
        without its audit event; its result (or its failure) is recorded after.
        """
        if customer_id is None:  # a create
            self.check(caller, action, creating=True, target_org_unit=target_org_unit)
        else:
            self._decide(caller, action, customer_id)
        pending = [customer_id] if customer_id else []
        self.audit.append(
            self._event(
                caller, action, Outcome.ALLOWED, customer_ids=pending, detail={"stage": "intent"}
            )
        )
        try:
            subject, result = perform()
        except OutOfScope as refused:  # rolled back: nothing was written
            self._deny(caller, action, refused.reason, [refused.customer_id])
        except Exception:
            with contextlib.suppress(Exception):
                self.audit.append(
                    self._event(
                        caller,
                        action,
                        Outcome.FAILED,
                        customer_ids=pending,
                        detail={"stage": "result"},
                    )
                )
            raise
        self.audit.append(
            self._event(
                caller,
                action,
                Outcome.ALLOWED,
                customer_ids=[subject],
                detail={"stage": "result", "outcome": str(result.get("outcome", ""))},
            )
        )
        if self._after_write is not None:
            try:
                self._after_write(subject)
            except Exception as exc:  # the write has committed and must answer as such
                log.warning("access.after_write_failed", error=type(exc).__name__)
        return result

    def scope_check(self, caller: Caller, action: str) -> ScopeCheck:
        """For a write's identity resolution: refuse any customer outside the caller's scope.

        A create names its new customer's org unit, which :meth:`check` admits; but
        the row may resolve (by ID number, or name and mobile) to a customer who is
        already stored elsewhere, and then it would change that customer.  The
        check raises :class:`~vault.errors.OutOfScope` inside the write's
        transaction; :meth:`write` audits the denial after the rollback.
        """

        def check(customer_id: uuid.UUID, org_unit: int | None) -> None:
            decision = self._policy_decision(caller, action, org_unit)
            if isinstance(decision, Denied):
                raise OutOfScope(decision.reason, customer_id)

        return check

    # --- administration ---------------------------------------------------------------

    def administer(
        self,
        caller: Caller,
        action: str,
        perform: Callable[[], T],
        summary: Callable[[T], Mapping[str, int | str]],
    ) -> T:
        """Run an administrative operation (a key rotation) audited before and after.

        Like :meth:`write`, the intent is on record before anything changes; the
        result event carries ``summary`` (counts and versions, never values).
        """
        self.check(caller, action)
        self.audit.append(self._event(caller, action, Outcome.ALLOWED, detail={"stage": "intent"}))
        try:
            result = perform()
        except Exception:
            with contextlib.suppress(Exception):
                self.audit.append(
                    self._event(caller, action, Outcome.FAILED, detail={"stage": "result"})
                )
            raise
        self.audit.append(
            self._event(
                caller, action, Outcome.ALLOWED, detail={"stage": "result", **summary(result)}
            )
        )
        return result
