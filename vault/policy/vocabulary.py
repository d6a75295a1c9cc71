"""The closed sets a role policy is written in: actions, purposes, scopes, views, consent channels.

A policy file may only name what is listed here; anything else is a
configuration error when the file is loaded and a denial when it arrives in a
request.  Adding an action or a purpose is a code change, reviewed like one,
never a typo in a YAML file.  ``docs/policies.md`` documents every entry.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a principal can ask the vault to do."""

    name: str
    description: str
    targets_customer: bool
    """Whether the action concerns one known customer, so that an ``org_unit`` scope
    applies to it at decision time (searches and exports filter their results instead)."""


def _actions(*actions: Action) -> Mapping[str, Action]:
    return MappingProxyType({a.name: a for a in actions})


ACTIONS: Mapping[str, Action] = _actions(
    Action("customer.read", "read one customer's 360 view, shaped by the role's views", True),
    Action("customer.search", "find customer ids by ID number, mobile or email", False),
    Action("customer.create", "create a customer profile", True),
    Action("customer.update", "change a customer's profile fields", True),
    Action("customer.erase", "erase a customer (destroy the data key)", True),
    Action("policy.create", "add an insurance policy to a customer", True),
    Action("claim.create", "add a claim to a customer's policy", True),
    Action("interaction.create", "record a contact with a customer", True),
    Action("consent.create", "record a consent grant or withdrawal", True),
    Action("audit.read", "read the audit log", False),
    Action("audit.verify", "verify the audit log's hash chain", False),
    Action("access_report.read", "report who accessed one customer's data", True),
    Action("export.create", "produce a de-identified analytics export", False),
    Action("redact.text", "redact personal data from free text", False),
    Action("principal.manage", "create, change or revoke principals and credentials", False),
    Action("keys.manage", "rotate and retire keys", False),
)
"""Every action, by name.  A role may be granted only these."""

PURPOSES: Mapping[str, str] = MappingProxyType(
    {
        "customer_support": "answering a customer's own request or enquiry",
        "claims_processing": "assessing, verifying and paying claims",
        "service_notice": "notices the customer must receive about their policies",
        "marketing": "offers, only to customers who consented for the channel",
        "analytics": "aggregate, de-identified analysis",
        "audit_review": "reviewing who accessed what, and why",
        "erasure_request": "carrying out a customer's request to be erased",
        "retention": "erasing customers whose retention period has ended (retention.yaml)",
        "administration": "managing principals and keys; no customer data",
    }
)
"""Every purpose of processing, by name, with what it covers."""


class Scope(enum.StrEnum):
    """Which customers a role reaches."""

    ALL = "all"
    """Every customer."""
    ORG_UNIT = "org_unit"
    """Only customers of the principal's own org unit."""


class View(enum.StrEnum):
    """How one field is shown to a role."""

    CLEAR = "clear"
    """The value as stored."""
    MASKED = "masked"
    """The format-aware partial mask (:func:`vault.masking.mask`); free text is redacted."""
    PSEUDONYM = "pseudonym"
    """A keyed token, stable for one role and unrelated across roles."""
    HIDDEN = "hidden"
    """Left out of the result entirely."""


CONSENT_CHANNELS: frozenset[str] = frozenset(("phone", "email", "sms", "wechat", "app", "post"))
"""The channels a consent is recorded for (``consents.channel``)."""

VIEW_TABLES: tuple[str, ...] = (
    "customers",
    "policies",
    "claims",
    "interactions",
    "consents",
    "source_links",
)
"""The schema-registry tables a role's field views may name: the parts of the customer 360."""
