"""Role-, purpose- and field-level access policy: who may do what, why, and see which fields how.

A building block: reads ``policies/roles.yaml`` (format in ``docs/policies.md``)
and the schema registry, imports nothing from ``api``, ``vault.services``, the
CLI or the database, and builds nothing at import time.

Public API::

    policies = load_policies(Path("policies/roles.yaml"))   # ConfigurationError if invalid
    decision = policies.decide("customer_service", "customer.read", "customer_support",
                               principal_org_unit="3", customer_org_unit="3")
    if isinstance(decision, Denied):
        ...  # decision.reason goes into the audit event; raise AccessDenied(decision.reason)
    shaped = shape_360(decision, record, pseudonym_key=key, redact=redactor_fn)
    shaped.values          # the 360 view the role may see (hidden fields absent)
    shaped.clear_fields    # ["customers.full_name", ...] for the audit event

Introspection for the authorization-matrix tests: :attr:`Policies.roles`,
:meth:`Policies.role`, :meth:`Policies.permits`, :meth:`Policies.view_for`,
:data:`ACTIONS`, :data:`PURPOSES`, :data:`CONSENT_CHANNELS`.
"""

from vault.policy.consent import ConsentState, consent_states, granted_channels
from vault.policy.decision import Allowed, Decision, DenialCode, Denied, FieldView
from vault.policy.loading import load_policies, parse_policies
from vault.policy.policies import Policies, RolePolicy
from vault.policy.shaping import Redact, Shaped, known_values, shape, shape_360
from vault.policy.vocabulary import (
    ACTIONS,
    CONSENT_CHANNELS,
    PURPOSES,
    VIEW_TABLES,
    Action,
    Scope,
    View,
)

__all__ = [
    "ACTIONS",
    "CONSENT_CHANNELS",
    "PURPOSES",
    "VIEW_TABLES",
    "Action",
    "Allowed",
    "ConsentState",
    "Decision",
    "DenialCode",
    "Denied",
    "FieldView",
    "Policies",
    "Redact",
    "RolePolicy",
    "Scope",
    "Shaped",
    "View",
    "consent_states",
    "granted_channels",
    "known_values",
    "load_policies",
    "parse_policies",
    "shape",
    "shape_360",
]
