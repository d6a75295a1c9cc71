"""Keyed pseudonyms: stable within a recipient's scope, unlinkable across scopes and keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import ValidationError
from vault.masking import MaskingKey, Pseudonymise
from vault.masking.pseudonyms import PSEUDONYM_LENGTH, PSEUDONYM_PREFIX

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TOKEN = re.compile(r"p1_[a-z2-7]{24}")


@given(st.text(max_size=80))
def test_pseudonym_is_stable_within_a_scope(value: str) -> None:
    assert Pseudonymise(KEY, "partner-a").apply(value) == Pseudonymise(KEY, "partner-a").apply(
        value
    )


@given(st.text(max_size=80))
def test_pseudonym_is_a_fixed_length_url_safe_token(value: str) -> None:
    token = Pseudonymise(KEY, "partner-a").apply(value)
    assert TOKEN.fullmatch(token)
    assert len(token) == PSEUDONYM_LENGTH == 27


@given(st.text(max_size=80))
def test_two_recipients_get_unrelated_pseudonyms_for_one_value(value: str) -> None:
    assert Pseudonymise(KEY, "partner-a").apply(value) != Pseudonymise(KEY, "partner-b").apply(
        value
    )


@given(st.text(max_size=80))
def test_another_key_gives_other_pseudonyms(value: str) -> None:
    assert Pseudonymise(KEY, "partner-a").apply(value) != Pseudonymise(
        OTHER_KEY, "partner-a"
    ).apply(value)


def test_equal_values_in_different_fields_get_different_pseudonyms() -> None:
    mobile = Pseudonymise(KEY, "partner-a", domain="mobile")
    policy = Pseudonymise(KEY, "partner-a", domain="policy_number")
    assert mobile.apply("13812345678") != policy.apply("13812345678")


@given(st.lists(st.text(max_size=20), min_size=2, max_size=50, unique=True))
def test_distinct_values_get_distinct_pseudonyms(values: list[str]) -> None:
    op = Pseudonymise(KEY, "partner-a")
    assert len({op.apply(v) for v in values}) == len(values)


def test_scope_and_domain_are_framed_so_they_cannot_be_shifted_into_each_other() -> None:
    assert Pseudonymise(KEY, "ab", domain="c").apply("x") != Pseudonymise(
        KEY, "a", domain="bc"
    ).apply("x")


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def test_pseudonym_is_hmac_sha256_under_a_per_scope_key() -> None:
    """The construction, spelt out with the standard library, and a known answer.

    Changing either changes every pseudonym ever handed out: recipients could no
    longer line up a new extract with an old one.
    """
    scope_key = hmac.digest(
        KEY, _frame(b"cdv:masking:v1", b"pseudonym", b"partner-a"), hashlib.sha256
    )
    digest = hmac.digest(scope_key, _frame(b"value", b"13812345678"), hashlib.sha256)
    expected = PSEUDONYM_PREFIX + base64.b32encode(digest[:15]).decode().lower()
    assert Pseudonymise(KEY, "partner-a").apply("13812345678") == expected
    assert expected == "p1_suhi6o2fivsxmeyniivxlojz"


def test_a_token_can_be_checked_against_a_value() -> None:
    op = Pseudonymise(KEY, "partner-a")
    assert op.matches("13812345678", op.apply("13812345678"))
    assert not op.matches("13812345679", op.apply("13812345678"))
    assert not op.matches("13812345678", "not a token ü")


def test_keys_never_show_in_reprs_or_pickles() -> None:
    key = MaskingKey(KEY)
    op = Pseudonymise(key, "partner-a")
    for text in (repr(key), str(key), repr(op)):
        assert KEY.hex() not in text
        assert "***" in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_keys_compare_by_value() -> None:
    assert MaskingKey(KEY) == MaskingKey(bytes(KEY))
    assert MaskingKey(KEY) != MaskingKey(OTHER_KEY)


@pytest.mark.parametrize("material", [b"", b"short", bytes(31)])
def test_a_key_shorter_than_32_bytes_is_refused(material: bytes) -> None:
    with pytest.raises(ValidationError, match="key"):
        MaskingKey(material)


@pytest.mark.parametrize("scope", ["", "x" * 201, "partner\x00a"])
def test_an_empty_overlong_or_unprintable_scope_is_refused(scope: str) -> None:
    with pytest.raises(ValidationError, match=r"pseudonymise\.scope"):
        Pseudonymise(KEY, scope)


def test_pseudonymise_from_params_refuses_a_key_that_is_not_bytes() -> None:
    with pytest.raises(ValidationError, match=r"pseudonymise\.key") as raised:
        Pseudonymise.from_params({"key": KEY.hex(), "scope": "partner-a"})
    assert KEY.hex() not in str(raised.value)
