"""Shaping records for a caller: each field clear, masked, pseudonymised or left out, as decided.

The one function between decrypted data and a response.  It takes only a
genuine :class:`~vault.policy.decision.Allowed` (a :class:`Denied` raises
:class:`~vault.errors.AccessDenied`, anything else ``TypeError``) and applies
the role's view of every field:

* ``clear``: the value as given;
* ``masked``: :func:`vault.masking.mask` by the field's PII type;
  ``customers.id_number`` by its sibling ``id_type``
  (:func:`vault.masking.mask_id_number`); free text is *redacted* by the
  ``redact(text, known)`` callable the caller injects (without one it is
  replaced by ``<REDACTED>``: deny by default);
* ``pseudonym``: :class:`vault.masking.Pseudonymise` keyed by the caller's
  key, scoped to the role and domain-separated by ``table.field``;
* ``hidden``, a field the role does not list, or a key that is not a field of
  the table: absent from the result.

Conditional views (``clear_if_consent``) resolve against the customer's
consents in force for the decision's purpose; without consents they are hidden.
``None`` stays ``None`` in every visible view and is not counted as revealed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vault.errors import AccessDenied
from vault.masking import REDACTED, Pseudonymise, mask, mask_id_number
from vault.policy.consent import ConsentState, consent_states, granted_channels
from vault.policy.decision import Allowed, Denied
from vault.policy.vocabulary import VIEW_TABLES, View
from vault.schema import Field, PiiType, Table, registry

Redact = Callable[[str, Mapping[str, str]], str]
"""``redact(text, known_values) -> text``: the redaction engine, injected by the caller."""

ID_TYPE_FIELD = "id_type"
"""The sibling field naming the document an ``ID_NUMBER`` field holds."""
CHILD_TABLES = ("policies", "claims", "interactions", "consents")
"""The lists of a 360 record, each shaped as rows of the table of the same name."""
SOURCE_LINKS = "source_links"


@dataclass(frozen=True, slots=True)
class Shaped:
    """A record as the caller may see it, and what of it was revealed (for the audit event)."""

    values: dict[str, Any]
    """The record to return; hidden fields are absent."""
    clear_fields: list[str] = field(default_factory=list)
    """``table.field`` of every non-null field returned in clear, sorted."""
    masked_fields: list[str] = field(default_factory=list)
    pseudonym_fields: list[str] = field(default_factory=list)


class _Shaper:
    """One shaping run: the decision, its inputs, and what was revealed so far."""

    def __init__(
        self,
        decision: Allowed,
        *,
        consents: Iterable[ConsentState] | None,
        pseudonym_key: bytes,
        redact: Redact | None,
        known: Mapping[str, str] | None,
    ) -> None:
        self.decision = decision
        self.granted = (
            granted_channels(consents, decision.purpose) if consents is not None else frozenset()
        )
        self.pseudonym_key = pseudonym_key
        self.redact = redact
        self.known: Mapping[str, str] = known or {}
        self.pseudonymisers: dict[str, Pseudonymise] = {}
        self._plans: dict[str, dict[str, tuple[Field, str, View]]] = {}
        self.clear: set[str] = set()
        self.masked: set[str] = set()
        self.pseudonymised: set[str] = set()

    def row(self, table: Table, record: Mapping[str, Any]) -> dict[str, Any]:
        plan = self._plan(table)
        out: dict[str, Any] = {}
        for name, value in record.items():
            decided = plan.get(name)
            if decided is None:
                continue  # hidden, or not a registry field: deny by default
            f, qualified, view = decided
            if value is None:
                out[name] = None
            elif view is View.CLEAR:
                out[name] = value
                self.clear.add(qualified)
            elif view is View.MASKED:
                out[name] = self._mask(f, value, record)
                self.masked.add(qualified)
            else:
                out[name] = self._pseudonym(f, value)
                self.pseudonymised.add(qualified)
        return out

    def _plan(self, table: Table) -> dict[str, tuple[Field, str, View]]:
        """The visible fields of ``table`` and their views, decided once per shaping run.

        Not once per row: a customer's interactions are a long list of the same fields.
        """
        plan = self._plans.get(table.name)
        if plan is None:
            plan = {}
            for f in table.fields:
                qualified = f.qualified_name
                view = self.decision.view_for(qualified).resolve(self.granted)
                if view is not View.HIDDEN:
                    plan[f.name] = (f, qualified, view)
            self._plans[table.name] = plan
        return plan

    def _mask(self, f: Field, value: object, record: Mapping[str, Any]) -> str:
        if f.free_text or f.pii_type is PiiType.FREE_TEXT:
            if self.redact is None:
                return REDACTED
            return self.redact(_text(value), self.known)
        if f.pii_type is PiiType.ID_NUMBER:
            id_type = record.get(ID_TYPE_FIELD)
            return mask_id_number(_text(value), None if id_type is None else str(id_type))
        return mask(_text(value), f.pii_type)

    def _pseudonym(self, f: Field, value: object) -> str:
        operator = self.pseudonymisers.get(f.qualified_name)
        if operator is None:
            operator = Pseudonymise(self.pseudonym_key, self.decision.role, f.qualified_name)
            self.pseudonymisers[f.qualified_name] = operator
        return operator.apply(_text(value))

    def result(self, values: dict[str, Any]) -> Shaped:
        return Shaped(
            values=values,
            clear_fields=sorted(self.clear),
            masked_fields=sorted(self.masked),
            pseudonym_fields=sorted(self.pseudonymised),
        )


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    return str(value)


def _checked(decision: object, purpose: str | None) -> Allowed:
    if isinstance(decision, Denied):
        raise AccessDenied(decision.reason)
    if not isinstance(decision, Allowed) or not decision.genuine:
        raise TypeError("shaping needs an Allowed decision made by Policies.decide")
    if purpose is not None and purpose != decision.purpose:
        raise AccessDenied("purpose differs from the decided purpose")
    return decision


def _view_table(name: str) -> Table:
    if name not in VIEW_TABLES:
        raise KeyError(f"table {name!r} has no field views (views: {', '.join(VIEW_TABLES)})")
    return registry()[name]


def _check_scope(decision: Allowed, profile: Mapping[str, Any]) -> None:
    if "org_unit_id" in profile and not decision.covers(profile["org_unit_id"]):
        raise AccessDenied("customer is outside the principal's org unit")


def shape(
    decision: Allowed,
    table: str,
    record: Mapping[str, Any],
    *,
    consents: Iterable[ConsentState] | None = None,
    purpose: str | None = None,
    pseudonym_key: bytes,
    redact: Redact | None = None,
    known: Mapping[str, str] | None = None,
) -> Shaped:
    """One row of ``table`` as the decision's role may see it.

    ``purpose``, if given, must be the decided purpose.  ``consents`` are the
    customer's (for conditional views); ``known`` the customer's values that
    ``redact`` should find in free text.  A ``customers`` row whose
    ``org_unit_id`` is outside an org-unit-scoped decision raises ``AccessDenied``.
    """
    allowed = _checked(decision, purpose)
    schema_table = _view_table(table)
    if table == "customers":
        _check_scope(allowed, record)
    shaper = _Shaper(
        allowed, consents=consents, pseudonym_key=pseudonym_key, redact=redact, known=known
    )
    return shaper.result(shaper.row(schema_table, record))


def known_values(profile: Mapping[str, Any]) -> dict[str, str]:
    """The customer's personal values that free-text redaction should look for.

    Keyed by bare field name (``mobile``, ``full_name``), as the redaction
    engine reads keys; taken from the unshaped profile.
    """
    customers = registry()["customers"]
    return {
        f.name: _text(profile[f.name])
        for f in customers.fields
        if f.pii_type is not None and profile.get(f.name) not in (None, "")
    }


def shape_360(
    decision: Allowed,
    record: Mapping[str, Any],
    *,
    purpose: str | None = None,
    pseudonym_key: bytes,
    redact: Redact | None = None,
    known: Mapping[str, str] | None = None,
) -> Shaped:
    """A whole customer 360 (profile, source links, policies, claims, interactions, consents).

    ``record`` is what :func:`vault.services.customers.read_customer` returns.
    Consents for conditional views come from the record's own ``consents``;
    ``known`` defaults to :func:`known_values` of the profile.  A list whose
    table the role sees nothing of is left out, as is every other key.
    """
    allowed = _checked(decision, purpose)
    _check_scope(allowed, record)
    raw_consents = record.get("consents") or []
    shaper = _Shaper(
        allowed,
        consents=consent_states(raw_consents),
        pseudonym_key=pseudonym_key,
        redact=redact,
        known=known_values(record) if known is None else known,
    )
    tables = registry()
    values = shaper.row(tables["customers"], record)
    for name in (SOURCE_LINKS, *CHILD_TABLES):
        if not _sees_any(allowed, tables[name]) or name not in record:
            continue
        values[name] = [shaper.row(tables[name], row) for row in record[name] or []]
    return shaper.result(values)


def _sees_any(decision: Allowed, table: Table) -> bool:
    return any(decision.view_for(f.qualified_name).view is not View.HIDDEN for f in table.fields)
