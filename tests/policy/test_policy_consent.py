"""Consent-conditional contact details: the notification service sees a mobile or an e-mail in
clear only where the customer's consent in force grants that purpose on a matching channel."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.policy import (
    Allowed,
    ConsentState,
    Policies,
    View,
    granted_channels,
    load_policies,
    shape,
    shape_360,
)

ROLES_YAML = Path(__file__).resolve().parents[2] / "policies" / "roles.yaml"
KEY = bytes(range(32))
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
PROFILE: dict[str, Any] = {
    "id": "c-1",
    "full_name": "张伟",
    "mobile": "+8613812345678",
    "email": "zhangwei@163.com",
    "id_number": "11010519491231002X",
    "id_type": "resident_id",
    "org_unit_id": 3,
}
MOBILE_CHANNELS = {"sms", "phone"}
EMAIL_CHANNELS = {"email"}


@cache
def policies() -> Policies:
    return load_policies(ROLES_YAML)


def notifier(purpose: str) -> Allowed:
    decision = policies().decide("notification_service", "customer.read", purpose)
    assert isinstance(decision, Allowed)
    return decision


def consent(purpose: str, channel: str, status: str, days: int = 0) -> ConsentState:
    return ConsentState(purpose, channel, status, T0 + dt.timedelta(days=days))


def contact(purpose: str, consents: list[ConsentState] | None) -> dict[str, Any]:
    return shape(
        notifier(purpose), "customers", PROFILE, consents=consents, pseudonym_key=KEY
    ).values


def test_the_yaml_makes_mobile_and_email_conditional_on_their_channels() -> None:
    mobile = policies().view_for("notification_service", "customers.mobile")
    email = policies().view_for("notification_service", "customers.email")
    assert (mobile.view, mobile.consent_channels) == (View.CLEAR, frozenset(MOBILE_CHANNELS))
    assert (email.view, email.consent_channels) == (View.CLEAR, frozenset(EMAIL_CHANNELS))


@pytest.mark.parametrize("purpose", ["service_notice", "marketing"])
@pytest.mark.parametrize("channel", ["sms", "phone"])
def test_mobile_is_clear_with_a_granted_consent_for_the_purpose_on_sms_or_phone(
    purpose: str, channel: str
) -> None:
    values = contact(purpose, [consent(purpose, channel, "granted")])
    assert values["mobile"] == PROFILE["mobile"]
    assert "email" not in values


@pytest.mark.parametrize("purpose", ["service_notice", "marketing"])
def test_email_is_clear_with_a_granted_consent_for_the_purpose_on_email(purpose: str) -> None:
    values = contact(purpose, [consent(purpose, "email", "granted")])
    assert values["email"] == PROFILE["email"]
    assert "mobile" not in values


@pytest.mark.parametrize("consents", [None, []])
def test_without_any_consent_both_contact_details_are_hidden(
    consents: list[ConsentState] | None,
) -> None:
    values = contact("marketing", consents)
    assert "mobile" not in values
    assert "email" not in values
    assert values["full_name"] == "张伟"


def test_a_withdrawn_consent_hides_the_contact_detail() -> None:
    values = contact("marketing", [consent("marketing", "sms", "withdrawn")])
    assert "mobile" not in values


def test_a_consent_for_another_purpose_does_not_count() -> None:
    values = contact(
        "marketing", [consent("service_notice", c, "granted") for c in ("sms", "email")]
    )
    assert "mobile" not in values
    assert "email" not in values


def test_a_consent_on_another_channel_does_not_count() -> None:
    values = contact("marketing", [consent("marketing", c, "granted") for c in ("wechat", "app")])
    assert "mobile" not in values
    assert "email" not in values


def test_the_latest_consent_wins_whatever_the_order_given() -> None:
    granted_then_withdrawn = [
        consent("marketing", "sms", "withdrawn", days=5),
        consent("marketing", "sms", "granted", days=1),
    ]
    withdrawn_then_granted = [
        consent("marketing", "sms", "granted", days=9),
        consent("marketing", "sms", "withdrawn", days=5),
    ]
    assert "mobile" not in contact("marketing", granted_then_withdrawn)
    assert contact("marketing", withdrawn_then_granted)["mobile"] == PROFILE["mobile"]


def test_a_withdrawal_recorded_at_the_same_instant_as_a_grant_wins() -> None:
    both = [consent("marketing", "sms", "granted"), consent("marketing", "sms", "withdrawn")]
    assert "mobile" not in contact("marketing", both)
    assert "mobile" not in contact("marketing", both[::-1])


def test_one_granted_channel_of_several_is_enough() -> None:
    consents = [consent("marketing", "sms", "withdrawn"), consent("marketing", "phone", "granted")]
    assert contact("marketing", consents)["mobile"] == PROFILE["mobile"]


def test_naive_and_aware_times_compare_with_naive_read_as_utc() -> None:
    naive_later = ConsentState("marketing", "sms", "withdrawn", dt.datetime(2024, 1, 2))
    consents = [consent("marketing", "sms", "granted"), naive_later]
    assert "mobile" not in contact("marketing", consents)


def test_a_revealed_contact_detail_is_listed_for_the_audit_event() -> None:
    shaped = shape(
        notifier("marketing"),
        "customers",
        PROFILE,
        consents=[consent("marketing", "email", "granted")],
        pseudonym_key=KEY,
    )
    assert "customers.email" in shaped.clear_fields
    assert "customers.mobile" not in shaped.clear_fields


def test_the_notification_service_sees_nothing_else_of_the_profile() -> None:
    values = contact("service_notice", [consent("service_notice", "sms", "granted")])
    assert set(values) == {"id", "full_name", "mobile"}


def test_a_360_record_uses_its_own_consents() -> None:
    record = PROFILE | {
        "consents": [
            {
                "purpose": "service_notice",
                "channel": "email",
                "status": "granted",
                "recorded_at": T0.isoformat(),
                "source": "web_form",
            },
            {
                "purpose": "service_notice",
                "channel": "sms",
                "status": "granted",
                "recorded_at": T0,
            },
            {
                "purpose": "service_notice",
                "channel": "sms",
                "status": "withdrawn",
                "recorded_at": T0 + dt.timedelta(days=1),
            },
        ],
        "claims": [{"id": "k-1", "description": "secret"}],
    }
    shaped = shape_360(notifier("service_notice"), record, pseudonym_key=KEY)
    assert shaped.values["email"] == PROFILE["email"]
    assert "mobile" not in shaped.values
    assert "claims" not in shaped.values
    assert [c["status"] for c in shaped.values["consents"]] == ["granted", "granted", "withdrawn"]
    assert "source" not in shaped.values["consents"][0]
    marketing = shape_360(notifier("marketing"), record, pseudonym_key=KEY)
    assert "email" not in marketing.values


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["marketing", "service_notice", "analytics"]),
        st.sampled_from(["sms", "phone", "email", "wechat"]),
        st.sampled_from(["granted", "withdrawn"]),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=12,
)


def _model_granted(events: list[tuple[str, str, str, int]], purpose: str) -> set[str]:
    """The rule written out plainly: latest per channel, withdrawal first among equals."""
    granted = set()
    for channel in {e[1] for e in events if e[0] == purpose}:
        mine = [e for e in events if e[0] == purpose and e[1] == channel]
        latest = max(e[3] for e in mine)
        if all(e[2] == "granted" for e in mine if e[3] == latest):
            granted.add(channel)
    return granted


@given(events=_EVENTS, purpose=st.sampled_from(["marketing", "service_notice"]))
def test_contact_details_follow_the_consent_in_force_for_any_history(
    events: list[tuple[str, str, str, int]], purpose: str
) -> None:
    consents = [consent(p, c, s, d) for p, c, s, d in events]
    granted = _model_granted(events, purpose)
    assert granted_channels(consents, purpose) == granted
    values = contact(purpose, consents)
    assert ("mobile" in values) is bool(granted & MOBILE_CHANNELS)
    assert ("email" in values) is bool(granted & EMAIL_CHANNELS)
