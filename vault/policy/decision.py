"""What a policy decision is: :class:`Allowed` with the role's field views, or :class:`Denied`.

Only :meth:`vault.policy.Policies.decide` makes an :class:`Allowed`: its
constructor demands a token private to this package, instances cannot be
changed, copied into new objects or pickled, and
:func:`vault.policy.shape` refuses anything that is not a genuine one.  So
code that wants a customer's fields in clear must have asked the policy first.
(Python cannot stop code that reaches into private names on purpose; this
stops it from happening by accident or by a shortcut.)

A :class:`Denied` carries a reason for the audit event.  Reasons are written
from the closed vocabulary only: a role, action or purpose the policy does not
know is called "unknown" and never repeated, since a request header may hold
anything, personal data included.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from vault.errors import AccessDenied
from vault.policy.vocabulary import Scope, View


@dataclass(frozen=True, slots=True)
class FieldView:
    """How a role sees one field: a :class:`View`, possibly conditional on consent.

    With ``consent_channels`` set, the field is shown in clear only when the
    customer's consent in force for the request's purpose is a grant for at
    least one of those channels, and is hidden otherwise.
    """

    view: View
    consent_channels: frozenset[str] | None = None

    @property
    def conditional(self) -> bool:
        return self.consent_channels is not None

    def resolve(self, granted_channels: frozenset[str]) -> View:
        """The view that applies given the channels consented to for the request's purpose."""
        if self.consent_channels is None:
            return self.view
        return self.view if self.consent_channels & granted_channels else View.HIDDEN

    def __str__(self) -> str:
        if self.consent_channels is None:
            return self.view.value
        return f"{self.view.value}_if_consent({', '.join(sorted(self.consent_channels))})"


HIDDEN = FieldView(View.HIDDEN)


class DenialCode(enum.StrEnum):
    """Why a request was denied, as a stable code (the API maps ``purpose_required`` to 400)."""

    UNKNOWN_ROLE = "unknown_role"
    UNKNOWN_ACTION = "unknown_action"
    PURPOSE_REQUIRED = "purpose_required"
    UNKNOWN_PURPOSE = "unknown_purpose"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Denied:
    """The policy refuses; ``reason`` is generic, PII-free, and goes into the audit event."""

    code: DenialCode
    reason: str

    def raise_(self) -> NoReturn:
        """Raise :class:`~vault.errors.AccessDenied` with this reason."""
        raise AccessDenied(self.reason)


class _Issuer:
    """The token only this package holds; its presence marks a genuine :class:`Allowed`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<policy issuer>"


_ISSUER = _Issuer()


class Allowed:
    """The policy allows the request; carries the role's view of every field it may see.

    Fields not in :attr:`views` are hidden.  Construct it only through
    :meth:`vault.policy.Policies.decide`; any other attempt raises ``TypeError``.
    """

    __slots__ = (
        "_issuer",
        "action",
        "customer_org_unit",
        "principal_org_unit",
        "purpose",
        "role",
        "scope",
        "views",
    )

    role: str
    action: str
    purpose: str
    scope: Scope
    principal_org_unit: str | None
    customer_org_unit: str | None
    views: Mapping[str, FieldView]
    """``table.field`` to its view, for every field the role may see in some form."""
    _issuer: _Issuer

    def __init__(
        self,
        issuer: object,
        *,
        role: str,
        action: str,
        purpose: str,
        scope: Scope,
        views: Mapping[str, FieldView],
        principal_org_unit: str | None = None,
        customer_org_unit: str | None = None,
    ) -> None:
        if issuer is not _ISSUER:
            raise TypeError("an Allowed decision is made only by Policies.decide")
        values: dict[str, Any] = {
            "_issuer": issuer,
            "role": role,
            "action": action,
            "purpose": purpose,
            "scope": scope,
            "views": MappingProxyType(dict(views)),
            "principal_org_unit": principal_org_unit,
            "customer_org_unit": customer_org_unit,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def genuine(self) -> bool:
        """Whether this decision was made by the policy (always, short of tampering)."""
        try:
            return self._issuer is _ISSUER
        except AttributeError:  # made by object.__new__, bypassing the constructor
            return False

    def view_for(self, field: str) -> FieldView:
        """The view of ``table.field`` for this role; fields not listed are hidden."""
        return self.views.get(field, HIDDEN)

    def covers(self, customer_org_unit: str | int | None) -> bool:
        """Whether a customer of ``customer_org_unit`` is within the role's scope.

        For filtering the results of searches and exports, which are decided
        before the customers are known.  Org units compare in string form.
        """
        if self.scope is Scope.ALL:
            return True
        return (
            self.principal_org_unit is not None
            and customer_org_unit is not None
            and str(customer_org_unit) == self.principal_org_unit
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("an Allowed decision cannot be changed")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("an Allowed decision cannot be changed")

    def __reduce__(self) -> NoReturn:
        raise TypeError("an Allowed decision cannot be pickled or copied")

    def __copy__(self) -> Allowed:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Allowed:
        return self

    def __repr__(self) -> str:
        return (
            f"Allowed(role={self.role!r}, action={self.action!r}, purpose={self.purpose!r}, "
            f"scope={self.scope.value!r}, fields={len(self.views)})"
        )


Decision = Allowed | Denied
"""What :meth:`vault.policy.Policies.decide` returns."""


def _issue(
    *,
    role: str,
    action: str,
    purpose: str,
    scope: Scope,
    views: Mapping[str, FieldView],
    principal_org_unit: str | None,
    customer_org_unit: str | None,
) -> Allowed:
    """Make a genuine :class:`Allowed`.  For :mod:`vault.policy.policies` only."""
    return Allowed(
        _ISSUER,
        role=role,
        action=action,
        purpose=purpose,
        scope=scope,
        views=views,
        principal_org_unit=principal_org_unit,
        customer_org_unit=customer_org_unit,
    )
