"""Policy decisions: which role may take which action for which purpose, over which customers."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import AccessDenied
from vault.policy import (
    ACTIONS,
    PURPOSES,
    Allowed,
    DenialCode,
    Denied,
    Policies,
    Scope,
    load_policies,
)

REPO = Path(__file__).resolve().parents[2]
ROLES_YAML = REPO / "policies" / "roles.yaml"
DOCS = REPO / "docs" / "policies.md"

CS, CP, SN, MK = "customer_support", "claims_processing", "service_notice", "marketing"
AN, AR, ER, AD = "analytics", "audit_review", "erasure_request", "administration"

EXPECTED: dict[str, dict[str, set[str]]] = {
    "customer_service": {
        a: {CS}
        for a in (
            "customer.read",
            "customer.search",
            "customer.update",
            "interaction.create",
            "consent.create",
            "redact.text",
        )
    },
    "claims_adjuster": {
        a: {CP}
        for a in (
            "customer.read",
            "customer.search",
            "claim.create",
            "interaction.create",
            "redact.text",
        )
    },
    "notification_service": {"customer.read": {SN, MK}},
    "analyst": {"export.create": {AN}},
    "compliance_officer": {
        "customer.read": {AR, ER},
        "customer.search": {AR, ER},
        "customer.erase": {ER},
        "audit.read": {AR},
        "audit.verify": {AR},
        "access_report.read": {AR},
    },
    "admin": {"principal.manage": {AD}, "keys.manage": {AD}, "audit.verify": {AD}},
    "crm_integration": {
        "customer.create": {CS, CP},
        "customer.update": {CS, CP},
        "policy.create": {CS, CP},
        "claim.create": {CP},
        "interaction.create": {CS, CP},
        "consent.create": {CS, CP},
    },
}
"""The documented matrix (docs/policies.md): role -> action -> purposes it is allowed for."""

ORG = "7"


@cache
def policies() -> Policies:
    return load_policies(ROLES_YAML)


def _decide(role: str, action: str, purpose: str | None) -> Allowed | Denied:
    return policies().decide(role, action, purpose, principal_org_unit=ORG, customer_org_unit=ORG)


def test_the_shipped_roles_are_the_documented_ones() -> None:
    assert set(policies().roles) == set(EXPECTED)


@pytest.mark.parametrize("role", EXPECTED)
def test_every_action_and_purpose_is_decided_as_documented_for(role: str) -> None:
    wrong = {}
    for action in ACTIONS:
        for purpose in PURPOSES:
            expected = purpose in EXPECTED[role].get(action, set())
            decision = _decide(role, action, purpose)
            if isinstance(decision, Allowed) != expected:
                wrong[(action, purpose)] = decision
            elif isinstance(decision, Allowed):
                assert (decision.role, decision.action, decision.purpose) == (
                    role,
                    action,
                    purpose,
                )
    assert wrong == {}


@pytest.mark.parametrize("role", EXPECTED)
def test_introspection_agrees_with_decisions_for(role: str) -> None:
    for action in ACTIONS:
        for purpose in PURPOSES:
            allowed = isinstance(_decide(role, action, purpose), Allowed)
            assert policies().permits(role, action, purpose) is allowed, (action, purpose)


def test_the_documented_matrix_in_docs_matches_the_policy_file() -> None:
    text = DOCS.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| action | customer"))
    roles = [c.strip() for c in header.strip("|").split("|")][1:]
    assert set(roles) == set(EXPECTED)
    found: dict[str, dict[str, set[str]]] = {r: {} for r in roles}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(roles) + 1 or not re.fullmatch(r"`[a-z_]+\.[a-z_]+`", cells[0]):
            continue
        action = cells[0].strip("`")
        for role, cell in zip(roles, cells[1:], strict=True):
            purposes = set(re.findall(r"`([a-z_]+)`", cell))
            if purposes:
                found[role][action] = purposes
    assert found == EXPECTED


def test_every_action_and_purpose_of_the_vocabulary_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in [*ACTIONS, *PURPOSES]:
        assert f"| `{name}` |" in text, name


def test_a_denial_names_the_refused_purpose_and_role() -> None:
    decision = _decide("customer_service", "customer.read", "marketing")
    assert decision == Denied(
        DenialCode.PURPOSE_NOT_ALLOWED, "purpose marketing not allowed for role customer_service"
    )


def test_a_denial_names_the_refused_action_and_role() -> None:
    decision = _decide("analyst", "customer.read", "analytics")
    assert isinstance(decision, Denied)
    assert decision.code is DenialCode.ACTION_NOT_ALLOWED
    assert decision.reason == "action customer.read not allowed for role analyst"


def test_a_purpose_the_role_has_but_not_for_this_action_is_denied() -> None:
    decision = _decide("compliance_officer", "customer.erase", "audit_review")
    assert isinstance(decision, Denied)
    assert decision.code is DenialCode.PURPOSE_NOT_ALLOWED
    assert decision.reason == (
        "purpose audit_review not allowed for action customer.erase of role compliance_officer"
    )


@pytest.mark.parametrize("purpose", [None, ""])
def test_a_missing_purpose_is_denied_as_purpose_required(purpose: str | None) -> None:
    decision = _decide("customer_service", "customer.read", purpose)
    assert decision == Denied(DenialCode.PURPOSE_REQUIRED, "purpose required")


@pytest.mark.parametrize(
    ("role", "action", "purpose", "code"),
    [
        ("superuser", "customer.read", CS, DenialCode.UNKNOWN_ROLE),
        ("Customer_Service", "customer.read", CS, DenialCode.UNKNOWN_ROLE),
        ("customer_service", "customer.delete", CS, DenialCode.UNKNOWN_ACTION),
        ("customer_service", "customer.read", "curiosity", DenialCode.UNKNOWN_PURPOSE),
        ("customer_service", "customer.read", "Customer_Support", DenialCode.UNKNOWN_PURPOSE),
    ],
)
def test_unknown_role_action_or_purpose_is_denied(
    role: str, action: str, purpose: str, code: DenialCode
) -> None:
    decision = _decide(role, action, purpose)
    assert isinstance(decision, Denied)
    assert decision.code is code


REASON_WORDS = {
    *("unknown", "role", "action", "purpose", "required", "not", "allowed", "for", "of"),
    *("customer", "is", "outside", "the", "principal's", "org", "unit", "has", "no"),
    *("scoped", "to", "an", "and", "none"),
}
"""Every word a denial reason may use besides the policy's own role, action and purpose names."""
_KNOWN = st.sampled_from
_TEXT = st.text(min_size=0, max_size=40)


@given(
    role=st.one_of(_KNOWN(sorted(EXPECTED)), _TEXT),
    action=st.one_of(_KNOWN(sorted(ACTIONS)), _TEXT),
    purpose=st.one_of(_KNOWN(sorted(PURPOSES)), _TEXT, st.none()),
)
def test_anything_outside_the_documented_matrix_is_denied_without_echoing_input(
    role: str, action: str, purpose: str | None
) -> None:
    decision = _decide(role, action, purpose)
    documented = role in EXPECTED and purpose in EXPECTED[role].get(action, set())
    assert isinstance(decision, Allowed) is documented
    if isinstance(decision, Denied):
        assert set(decision.reason.split()) <= REASON_WORDS | set(EXPECTED) | set(ACTIONS) | set(
            PURPOSES
        )


def test_authorize_raises_access_denied_with_the_reason() -> None:
    with pytest.raises(AccessDenied) as raised:
        policies().authorize("analyst", "export.create", "marketing")
    assert raised.value.reason == "purpose marketing not allowed for role analyst"
    allowed = policies().authorize("analyst", "export.create", "analytics")
    assert isinstance(allowed, Allowed)


# -- scope --------------------------------------------------------------------------------


def test_an_org_unit_role_reaches_a_customer_of_its_own_org_unit() -> None:
    decision = policies().decide(
        "customer_service", "customer.read", CS, principal_org_unit="7", customer_org_unit="7"
    )
    assert isinstance(decision, Allowed)
    assert decision.scope is Scope.ORG_UNIT


def test_org_units_compare_in_string_form() -> None:
    decision = policies().decide(
        "customer_service", "customer.read", CS, principal_org_unit="7", customer_org_unit=7
    )
    assert isinstance(decision, Allowed)


@pytest.mark.parametrize(
    "action", [a for a in EXPECTED["customer_service"] if ACTIONS[a].targets_customer]
)
def test_an_org_unit_role_is_denied_a_customer_of_another_org_unit(action: str) -> None:
    decision = policies().decide(
        "customer_service", action, CS, principal_org_unit="7", customer_org_unit="8"
    )
    assert decision == Denied(
        DenialCode.OUT_OF_SCOPE, "customer is outside the principal's org unit"
    )


def test_an_org_unit_role_is_denied_a_customer_without_org_unit() -> None:
    decision = policies().decide(
        "customer_service", "customer.read", CS, principal_org_unit="7", customer_org_unit=None
    )
    assert decision == Denied(DenialCode.OUT_OF_SCOPE, "customer has no org unit")


@pytest.mark.parametrize("action", sorted(EXPECTED["customer_service"]))
def test_an_org_unit_role_without_an_org_unit_of_its_own_is_denied_everything(
    action: str,
) -> None:
    decision = policies().decide("customer_service", action, CS, customer_org_unit="7")
    assert isinstance(decision, Denied)
    assert decision.code is DenialCode.OUT_OF_SCOPE


def test_scope_denials_never_name_the_org_units() -> None:
    decision = policies().decide(
        "customer_service", "customer.read", CS, principal_org_unit="SZ-01", customer_org_unit="BJ"
    )
    assert isinstance(decision, Denied)
    assert "SZ-01" not in decision.reason
    assert "BJ" not in decision.reason


def test_a_search_is_decided_before_the_customers_are_known_and_its_results_filtered() -> None:
    decision = policies().decide("customer_service", "customer.search", CS, principal_org_unit="7")
    assert isinstance(decision, Allowed)
    assert decision.covers("7")
    assert decision.covers(7)
    assert not decision.covers("8")
    assert not decision.covers(None)


@pytest.mark.parametrize("customer_org_unit", ["7", "8", None])
def test_a_role_with_scope_all_reaches_customers_of_any_or_no_org_unit(
    customer_org_unit: str | None,
) -> None:
    decision = policies().decide(
        "claims_adjuster",
        "customer.read",
        CP,
        principal_org_unit="7",
        customer_org_unit=customer_org_unit,
    )
    assert isinstance(decision, Allowed)
    assert decision.covers(customer_org_unit)


def test_actions_that_target_no_customer_ignore_the_customer_org_unit() -> None:
    decision = policies().decide("customer_service", "redact.text", CS, principal_org_unit="7")
    assert isinstance(decision, Allowed)


def test_an_allowed_decision_carries_the_role_views() -> None:
    decision = _decide("claims_adjuster", "customer.read", CP)
    assert isinstance(decision, Allowed)
    assert decision.view_for("customers.id_number") == policies().view_for(
        "claims_adjuster", "customers.id_number"
    )
    assert decision.view_for("customers.annual_income").view.value == "hidden"
    assert decision.view_for("no_such.field").view.value == "hidden"


def test_view_for_rejects_an_unknown_role_or_field() -> None:
    with pytest.raises(KeyError):
        policies().view_for("superuser", "customers.mobile")
    with pytest.raises(KeyError):
        policies().view_for("customer_service", "customers.mobil")
