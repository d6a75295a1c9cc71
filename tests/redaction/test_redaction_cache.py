"""The redaction cache answers repeats from memory, never a stale or another customer's answer."""

from __future__ import annotations

import pytest

from vault.errors import ConfigurationError
from vault.redaction import Redactor
from vault.redaction.cache import CachedRedactor
from vault.settings import DEFAULT_REDACTION_CACHE, Settings

NOTE = "客户来电，手机13812345678，要求寄送保单。"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_repeat_is_answered_from_memory_with_the_same_result(redactor: Redactor) -> None:
    cache = CachedRedactor(redactor)
    first = cache.redact(NOTE, known={"name": "王芳"})
    again = cache.redact(NOTE, known={"name": "王芳"})
    assert (cache.hits, cache.misses) == (1, 1)
    assert again == first == redactor.redact(NOTE, known={"name": "王芳"})
    again.entities.clear()  # a caller mutating its answer does not reach the cache
    assert cache.redact(NOTE, known={"name": "王芳"}).entities == first.entities


def test_changed_known_values_or_language_are_a_different_entry(redactor: Redactor) -> None:
    cache = CachedRedactor(redactor)
    note = "王芳女士来电核对保单，张伟陪同。"
    with_wang = cache.redact(note, known={"name": "王芳"})
    with_zhang = cache.redact(note, known={"name": "张伟"})
    assert cache.misses == 2
    assert with_wang.text != with_zhang.text or with_wang.entities != with_zhang.entities
    cache.redact(note, lang="zh", known={"name": "王芳"})
    assert cache.misses == 3
    cache.redact(note, known={"name": ["王芳"]})  # the same value as a list is the same entry
    assert cache.hits == 1


def test_entries_expire_and_the_oldest_go_first(redactor: Redactor) -> None:
    clock = Clock()
    cache = CachedRedactor(redactor, max_entries=2, ttl=10, clock=clock)
    for text in ("note one 13812345678", "note two", "note three"):
        cache.redact(text)
    assert len(cache) == 2
    cache.redact("note one 13812345678")
    assert cache.hits == 0  # evicted
    cache.redact("note three")
    assert cache.hits == 1
    clock.now = 11
    cache.redact("note three")
    assert cache.hits == 1  # expired: analysed again


def test_zero_entries_or_long_texts_bypass_the_cache(redactor: Redactor) -> None:
    off = CachedRedactor(redactor, max_entries=0)
    off.redact(NOTE)
    off.redact(NOTE)
    assert len(off) == 0
    assert off.hits == 0
    short = CachedRedactor(redactor, max_text=10)
    short.redact(NOTE)
    assert len(short) == 0


def test_keys_depend_on_a_per_cache_secret(redactor: Redactor) -> None:
    a, b = CachedRedactor(redactor), CachedRedactor(redactor)
    assert a._digest(NOTE, None, None) != b._digest(NOTE, None, None)
    assert a._digest(NOTE, None, None) == a._digest(NOTE, None, None)
    assert NOTE.encode() not in a._digest(NOTE, None, None)


def test_bad_settings_are_refused(redactor: Redactor) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        CachedRedactor(redactor, max_entries=-1)
    with pytest.raises(ValueError, match="ttl"):
        CachedRedactor(redactor, ttl=0)


def test_the_cache_size_setting_is_read_and_checked() -> None:
    assert Settings.resolve(env={}).redaction_cache == DEFAULT_REDACTION_CACHE
    assert Settings.resolve(env={"VAULT_REDACTION_CACHE": "0"}).redaction_cache == 0
    for bad in ("-1", "lots", "1e9"):
        with pytest.raises(ConfigurationError, match="VAULT_REDACTION_CACHE"):
            Settings.resolve(env={"VAULT_REDACTION_CACHE": bad})
