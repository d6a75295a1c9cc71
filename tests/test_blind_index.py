"""Blind indexes: every spelling of an identifier finds the same digest; nothing else does."""

from __future__ import annotations

import datetime as dt

import pytest

from vault import blind_index
from vault.blind_index import BlindIndexer, search_form
from vault.crypto import SecretKey
from vault.errors import ValidationError
from vault.keyring import KeyFamily, KeyVersion

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _indexer(*keys: SecretKey, primary: int = 1) -> BlindIndexer:
    versions = {i: KeyVersion(i, k, NOW) for i, k in enumerate(keys, start=1)}
    return BlindIndexer(KeyFamily("index", primary, versions))


@pytest.mark.parametrize(
    "spelling",
    [
        "13812345678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "138 1234 5678",
        "+8613812345678",
        "(+86) 138-1234-5678",
        "0086 138 1234 5678",
    ],
)
def test_every_spelling_of_a_mobile_has_the_same_digest(spelling: str) -> None:
    indexer = _indexer(SecretKey.generate())
    expected = indexer.digest(blind_index.MOBILE, "+8613812345678")
    assert indexer.digest(blind_index.MOBILE, search_form("mobile", spelling)) == expected


def test_emails_match_case_insensitively() -> None:
    indexer = _indexer(SecretKey.generate())
    a = indexer.digest(blind_index.EMAIL, search_form("email", "ZhangWei@163.COM"))
    b = indexer.digest(blind_index.EMAIL, search_form("email", " zhangwei@163.com "))
    assert a == b


def test_id_numbers_match_regardless_of_spaces_and_case() -> None:
    indexer = _indexer(SecretKey.generate())
    a = indexer.digest(blind_index.ID_NUMBER, search_form("id_number", "11010519491231002x"))
    b = indexer.digest(blind_index.ID_NUMBER, search_form("id_number", "110105 19491231 002X"))
    assert a == b


def test_fields_are_domain_separated() -> None:
    indexer = _indexer(SecretKey.generate())
    assert indexer.digest("mobile", "x") != indexer.digest("email", "x")


def test_digests_depend_on_the_index_key() -> None:
    a, b = _indexer(SecretKey.generate()), _indexer(SecretKey.generate())
    assert a.digest("mobile", "+8613812345678") != b.digest("mobile", "+8613812345678")


def test_lookup_candidates_cover_every_index_key_version_primary_first() -> None:
    old, new = SecretKey.generate(), SecretKey.generate()
    during_rotation = _indexer(old, new, primary=2)
    only_old = _indexer(old)
    only_new = _indexer(new)
    candidates = during_rotation.candidates("mobile", "+8613812345678")
    assert candidates[0] == only_new.digest("mobile", "+8613812345678")
    assert only_old.digest("mobile", "+8613812345678") in candidates


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mobile", "12345"),
        ("mobile", "call-me-maybe"),
        ("email", "no-at-sign"),
        ("id_number", " "),
        ("full_name", "张伟"),
    ],
)
def test_nonsense_search_terms_are_refused_without_echoing_them(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        search_form(field, value)
    assert info.value.field == field
    if value.strip():
        assert value not in str(info.value)
