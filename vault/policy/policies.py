"""The loaded role policy and its one question: may this role do this action for this purpose?

Deny by default: an unknown role, action or purpose, a missing purpose, an
action or purpose the role is not granted, or a customer outside the role's
scope each give a :class:`~vault.policy.decision.Denied` whose reason names
only vocabulary the policy knows.  Otherwise the answer is an
:class:`~vault.policy.decision.Allowed` carrying the role's field views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from vault.errors import AccessDenied
from vault.policy.decision import HIDDEN, Allowed, Decision, DenialCode, Denied, FieldView, _issue
from vault.policy.vocabulary import ACTIONS, CONSENT_CHANNELS, PURPOSES, Action, Scope
from vault.schema import registry


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """What one role may do, for which purposes, over which customers, seeing which fields."""

    name: str
    description: str
    scope: Scope
    actions: frozenset[str]
    purposes: frozenset[str]
    action_purposes: Mapping[str, frozenset[str]]
    """Actions allowed for fewer purposes than the role's (e.g. erase only for erasure_request)."""
    views: Mapping[str, FieldView]
    """``table.field`` to its view; fields not listed are hidden."""

    def __post_init__(self) -> None:
        # Read-only copies: a loaded policy cannot be changed behind the loader's back.
        object.__setattr__(self, "action_purposes", MappingProxyType(dict(self.action_purposes)))
        object.__setattr__(self, "views", MappingProxyType(dict(self.views)))

    def purposes_for(self, action: str) -> frozenset[str]:
        """The purposes ``action`` is allowed for (none if the action is not granted)."""
        if action not in self.actions:
            return frozenset()
        return self.action_purposes.get(action, self.purposes)

    def permits(self, action: str, purpose: str) -> bool:
        """Whether the role may do ``action`` for ``purpose``, scope aside."""
        return purpose in self.purposes_for(action)

    def view_for(self, field: str) -> FieldView:
        return self.views.get(field, HIDDEN)


def _org_unit(value: str | int | None) -> str | None:
    return None if value is None else str(value)


class Policies:
    """Every role's policy, as loaded and validated by :func:`vault.policy.load_policies`."""

    __slots__ = ("_roles", "source")

    def __init__(self, roles: Mapping[str, RolePolicy], source: Path | None = None) -> None:
        self._roles = MappingProxyType(dict(roles))
        self.source = source
        """The file the policies were read from, if any."""

    # -- introspection (for documentation and the authorization-matrix tests) --

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role name, in file order."""
        return tuple(self._roles)

    def role(self, name: str) -> RolePolicy:
        """The policy of one role; ``KeyError`` for a role the file does not define."""
        try:
            return self._roles[name]
        except KeyError:
            raise KeyError(f"role {name!r} is not defined") from None

    @property
    def actions(self) -> Mapping[str, Action]:
        return ACTIONS

    @property
    def purposes(self) -> Mapping[str, str]:
        return PURPOSES

    @property
    def consent_channels(self) -> frozenset[str]:
        return CONSENT_CHANNELS

    def permits(self, role: str, action: str, purpose: str) -> bool:
        """Whether ``role`` may do ``action`` for ``purpose``, scope aside (unknowns: no)."""
        policy = self._roles.get(role)
        return policy is not None and policy.permits(action, purpose)

    def view_for(self, role: str, field: str) -> FieldView:
        """How ``role`` sees ``table.field``.  ``KeyError`` for an unknown role or field."""
        table, _, name = field.partition(".")
        try:
            registry()[table].field(name)
        except KeyError:
            raise KeyError(f"{field!r} is not a field of the schema registry") from None
        return self.role(role).view_for(field)

    # -- decisions --

    def decide(
        self,
        role: str,
        action: str,
        purpose: str | None,
        *,
        principal_org_unit: str | int | None = None,
        customer_org_unit: str | int | None = None,
    ) -> Decision:
        """Allow with the role's field views, or deny with a reason for the audit event.

        ``customer_org_unit`` is the org unit of the customer the action
        concerns (for ``customer.create``: of the customer to be created).  A
        role scoped to its ``org_unit`` is denied an action that targets a
        customer of another org unit, or of none, and is denied everything
        when the principal has no org unit.  For searches and exports the
        scope is applied to the results with :meth:`Allowed.covers`.

        Org units are identified as ``customers.org_unit_id`` identifies them
        (the ``org_units.id``), compared in string form: resolve a principal's
        org-unit *code* to that id before deciding, since shaping checks the
        record's own ``org_unit_id`` against the decision again.
        """
        policy = self._roles.get(role)
        if policy is None:
            return Denied(DenialCode.UNKNOWN_ROLE, "unknown role")
        known_action = ACTIONS.get(action)
        if known_action is None:
            return Denied(DenialCode.UNKNOWN_ACTION, "unknown action")
        if purpose is None or purpose == "":
            return Denied(DenialCode.PURPOSE_REQUIRED, "purpose required")
        if purpose not in PURPOSES:
            return Denied(DenialCode.UNKNOWN_PURPOSE, "unknown purpose")
        if action not in policy.actions:
            return Denied(
                DenialCode.ACTION_NOT_ALLOWED, f"action {action} not allowed for role {role}"
            )
        if purpose not in policy.purposes:
            return Denied(
                DenialCode.PURPOSE_NOT_ALLOWED, f"purpose {purpose} not allowed for role {role}"
            )
        if not policy.permits(action, purpose):
            return Denied(
                DenialCode.PURPOSE_NOT_ALLOWED,
                f"purpose {purpose} not allowed for action {action} of role {role}",
            )
        principal_unit = _org_unit(principal_org_unit)
        customer_unit = _org_unit(customer_org_unit)
        if policy.scope is Scope.ORG_UNIT:
            if principal_unit is None:
                return Denied(
                    DenialCode.OUT_OF_SCOPE,
                    f"role {role} is scoped to an org unit and the principal has none",
                )
            if known_action.targets_customer:
                if customer_unit is None:
                    return Denied(DenialCode.OUT_OF_SCOPE, "customer has no org unit")
                if customer_unit != principal_unit:
                    return Denied(
                        DenialCode.OUT_OF_SCOPE, "customer is outside the principal's org unit"
                    )
        return _issue(
            role=role,
            action=action,
            purpose=purpose,
            scope=policy.scope,
            views=policy.views,
            principal_org_unit=principal_unit,
            customer_org_unit=customer_unit,
        )

    def authorize(
        self,
        role: str,
        action: str,
        purpose: str | None,
        *,
        principal_org_unit: str | int | None = None,
        customer_org_unit: str | int | None = None,
    ) -> Allowed:
        """:meth:`decide`, raising :class:`~vault.errors.AccessDenied` with the reason if denied."""
        decision = self.decide(
            role,
            action,
            purpose,
            principal_org_unit=principal_org_unit,
            customer_org_unit=customer_org_unit,
        )
        if isinstance(decision, Denied):
            raise AccessDenied(decision.reason)
        return decision

    def __repr__(self) -> str:
        return f"Policies(roles={list(self._roles)!r}, source={self.source!s})"
