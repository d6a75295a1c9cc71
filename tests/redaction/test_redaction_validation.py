"""The checks behind the patterns, on their own: check digits, number plan, calendar, plates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from vault.redaction import validation as v


@given(st.text(alphabet="0123456789", min_size=15, max_size=18))
def test_luhn_agrees_with_python_stdnum(body: str) -> None:
    number = body + luhn.calc_check_digit(body)
    assert v.luhn_ok(number)
    assert not v.luhn_ok(number[:-1] + str((int(number[-1]) + 1) % 10))


def test_bank_card_lengths_outside_15_to_19_digits_are_rejected() -> None:
    assert not v.bank_card_ok("4" * 12 + luhn.calc_check_digit("4" * 12))
    body = "62220212345678901234"
    assert not v.bank_card_ok(body + luhn.calc_check_digit(body))


def test_placeholder_all_zero_card_is_rejected() -> None:
    assert not v.bank_card_ok("0000 0000 0000 0000")


def test_fifteen_digits_count_only_as_american_express() -> None:
    amex = "37828224631000"
    assert v.bank_card_ok(amex + luhn.calc_check_digit(amex))
    other = "62828224631000"
    assert not v.bank_card_ok(other + luhn.calc_check_digit(other))


def test_resident_id_needs_check_digit_and_real_date_but_not_a_known_county() -> None:
    body = "99999919850312123"  # region 999999 is no county; the check digit is right
    number = body + ric.calc_check_digit(body + "0")
    assert v.resident_id_ok(number)
    assert not ric.is_valid(number)  # stdnum's full check would have let it leak


def test_resident_id_born_before_1900_is_rejected() -> None:
    body = "11010118850312123"
    assert not v.resident_id_ok(body + ric.calc_check_digit(body + "0"))


@pytest.mark.parametrize(
    "value", ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678"]
)
def test_mobile_numbers_in_the_plan_are_accepted(value: str) -> None:
    assert v.mobile_ok(value)


@pytest.mark.parametrize("value", ["12012345678", "1381234567", "+1 138 1234 5678"])
def test_numbers_outside_the_mobile_plan_are_rejected(value: str) -> None:
    assert not v.mobile_ok(value)


@pytest.mark.parametrize(
    ("area", "local", "ok"),
    [
        ("010", "12345678", True),
        ("0755", "1234567", True),
        ("21", "61234567", True),
        ("010", "1234567", False),  # two-digit areas take eight digits
        ("0155", "1234567", False),  # three-digit areas start 3-9
        ("0755", "0234567", False),
    ],
)
def test_landline_structure(area: str, local: str, ok: bool) -> None:
    assert v.landline_ok(area, local) is ok


def test_birth_dates_are_real_and_in_range() -> None:
    assert v.birth_date_ok(1985, 3, 12)
    assert v.birth_date_ok(2000, 2, 29)
    assert not v.birth_date_ok(1900 - 1, 3, 12)
    assert not v.birth_date_ok(1985, 2, 30)
    assert v.birth_date_ok(1985, 3, None)


@pytest.mark.parametrize(
    ("plate", "ok"),
    [
        ("京A12345", True),
        ("粤B·D12345", True),
        ("粤BDA1234", True),
        ("粤B12345F", True),
        ("京A1O345", False),
        ("京I12345", False),
        ("京ABCDE1", False),
        ("X京A12345", False),
    ],
)
def test_plate_rules(plate: str, ok: bool) -> None:
    assert v.plate_ok(plate) is ok
