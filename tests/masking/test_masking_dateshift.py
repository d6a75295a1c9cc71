"""Per-customer date shifting: one keyed offset per customer, intervals kept, never zero."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import ValidationError
from vault.masking import CustomerDate, DateShift

KEY = bytes(range(32))
customer_ids = st.uuids().map(str) | st.text(min_size=1, max_size=30)
dates = st.dates(dt.date(1950, 1, 1), dt.date(2060, 12, 31))


@given(customer_ids, dates, dates)
def test_shifting_preserves_intervals_within_a_customer(
    customer: str, first: dt.date, second: dt.date
) -> None:
    shift = DateShift(KEY, "partner-a")
    assert shift.shift(second, customer) - shift.shift(first, customer) == second - first


@given(customer_ids, dates, st.integers(1, 400))
def test_offset_is_never_zero_and_never_beyond_max_days(
    customer: str, date: dt.date, max_days: int
) -> None:
    shift = DateShift(KEY, "partner-a", max_days=max_days)
    days = (shift.shift(date, customer) - date).days
    assert days != 0
    assert -max_days <= days <= max_days


def test_offsets_differ_across_customers_and_cover_both_directions() -> None:
    shift = DateShift(KEY, "partner-a")
    offsets = [shift.offset(f"customer-{i}").days for i in range(300)]
    assert len(set(offsets)) > 40  # of 60 possible
    assert min(offsets) < 0 < max(offsets)


def test_offsets_differ_across_scopes_and_keys() -> None:
    customers = [f"customer-{i}" for i in range(50)]
    base = [DateShift(KEY, "partner-a").offset(c) for c in customers]
    other_scope = [DateShift(KEY, "partner-b").offset(c) for c in customers]
    other_key = [DateShift(bytes(range(1, 33)), "partner-a").offset(c) for c in customers]
    assert base != other_scope
    assert base != other_key


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def test_offset_is_hmac_of_the_customer_under_a_per_scope_key() -> None:
    """The construction, spelt out with the standard library, and a known answer.

    Changing either moves every customer's dates: a recipient's new extract would
    no longer line up with the old one.
    """
    scope_key = hmac.digest(
        KEY, _frame(b"cdv:masking:v1", b"date_shift", b"partner-a"), hashlib.sha256
    )
    draw = int.from_bytes(hmac.digest(scope_key, _frame(b"c-1"), hashlib.sha256)[:8], "big") % 60
    expected = draw - 30 if draw < 30 else draw - 29
    assert DateShift(KEY, "partner-a").offset("c-1") == dt.timedelta(days=expected)
    assert expected == 28


def test_a_uuid_and_its_spellings_share_one_offset() -> None:
    customer = uuid.UUID("6f1c2b1e-1111-4a5b-8c9d-0123456789ab")
    shift = DateShift(KEY, "partner-a")
    assert shift.offset(customer) == shift.offset(str(customer))
    assert shift.offset(customer) == shift.offset(customer.hex.upper())


def test_a_datetime_keeps_its_time_of_day() -> None:
    shift = DateShift(KEY, "partner-a")
    moment = dt.datetime(2024, 3, 1, 14, 30, tzinfo=dt.UTC)
    shifted = shift.shift(moment, "c-1")
    assert isinstance(shifted, dt.datetime)
    assert shifted.timetz() == moment.timetz()


def test_apply_takes_the_customer_with_the_date() -> None:
    shift = DateShift(KEY, "partner-a")
    day = dt.date(2024, 3, 1)
    assert shift.apply(CustomerDate("c-1", day)) == shift.shift(day, "c-1")


@pytest.mark.parametrize("max_days", [0, -5, 3651, True])
def test_max_days_outside_1_to_3650_is_refused(max_days: int) -> None:
    with pytest.raises(ValidationError, match=r"shift_dates\.max_days"):
        DateShift(KEY, "partner-a", max_days=max_days)


def test_from_params_defaults_to_thirty_days() -> None:
    shift = DateShift.from_params({"key": KEY, "scope": "partner-a"})
    assert shift.max_days == 30
    assert "key=***" in repr(shift)
