"""Canonical identifiers: the well-kept validators decide, this module only normalises."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from vault import identifiers
from vault.errors import ValidationError


def _valid_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def test_a_valid_resident_id_yields_its_birth_date_and_gender() -> None:
    number = _valid_id("11010519900307001")
    parsed = identifiers.parse_resident_id(number)
    assert parsed.birth_date == dt.date(1990, 3, 7)
    assert parsed.gender == "M"  # 17th digit 1 is odd
    assert identifiers.parse_resident_id(_valid_id("11010519900307002")).gender == "F"


def test_a_wrong_check_digit_is_named_without_the_value() -> None:
    number = _valid_id("11010519900307001")
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(ValidationError, match="check digit") as info:
        identifiers.parse_resident_id(wrong)
    assert wrong not in str(info.value)


def test_an_impossible_embedded_birth_date_is_refused() -> None:
    with pytest.raises(ValidationError, match="birth date"):
        identifiers.parse_resident_id(_valid_id("11010519900230001"))


@pytest.mark.parametrize("value", ["13812345678", "138-1234-5678", "+86 138 1234 5678"])
def test_mobiles_become_e164(value: str) -> None:
    assert identifiers.canonical_mobile(value) == "+8613812345678"


@pytest.mark.parametrize("value", ["010-12345678", "1381234567", "23812345678", "abc"])
def test_landlines_and_malformed_numbers_are_not_mobiles(value: str) -> None:
    with pytest.raises(ValidationError):
        identifiers.canonical_mobile(value)


def test_foreign_mobiles_in_e164_are_accepted() -> None:
    assert identifiers.canonical_mobile("+1 650 253 0000") == "+16502530000"


def test_names_are_normalised_and_bounded() -> None:
    assert identifiers.canonical_name("  John   Smith ") == "John Smith"
    assert identifiers.name_index_form("张 伟") == identifiers.name_index_form("张伟")
    with pytest.raises(ValidationError, match="100"):
        identifiers.canonical_name("x" * 101)


def test_emails_keep_their_local_part_but_index_case_insensitively() -> None:
    assert identifiers.canonical_email("ZhangWei@163.com") == "ZhangWei@163.com"
    assert identifiers.email_index_form("ZhangWei@163.com") == "zhangwei@163.com"
    with pytest.raises(ValidationError):
        identifiers.canonical_email("zhang@@163.com")


@given(number=st.integers(min_value=10_000_000_000, max_value=19_999_999_999))
def test_the_chinese_mobile_fast_path_agrees_with_phonenumbers(number: int) -> None:
    """The cached 7-digit-prefix verdict equals phonenumbers' full parse of the whole number."""
    parsed = phonenumbers.parse(str(number), "CN")
    expected = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    try:
        identifiers.canonical_mobile(str(number))
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected
