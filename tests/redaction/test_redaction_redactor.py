"""The Redactor's contract: tags, original offsets, overlaps, languages, laziness, no network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from itertools import pairwise
from pathlib import Path

import pytest
from presidio_analyzer import RecognizerResult

from vault.errors import ValidationError
from vault.redaction import EntityType, Redactor, detect_language
from vault.redaction.recognizers.email import EmailAddressRecognizer
from vault.redaction.redactor import resolve

NOTE_ZH = "客户王芳来电，手机13812345678，邮箱wang.fang@163.com谢谢。"
NOTE_EN = "Spoke with Mr. John Smith, email john.smith@example.com, DOB: 1985-03-12."


def test_entities_are_replaced_by_type_tags(redactor: Redactor) -> None:
    result = redactor.redact(NOTE_ZH)
    assert result.text == "客户<PERSON>来电，手机<MOBILE>，邮箱<EMAIL>谢谢。"
    assert result.language == "zh"


def test_entity_offsets_point_into_the_original_text(redactor: Redactor) -> None:
    result = redactor.redact(NOTE_EN)
    spans = [(e.type, NOTE_EN[e.start : e.end]) for e in result.entities]
    assert spans == [
        (EntityType.PERSON, "John Smith"),
        (EntityType.EMAIL, "john.smith@example.com"),
        (EntityType.DATE_OF_BIRTH, "1985-03-12"),
    ]
    assert all(0.5 <= e.score <= 1.0 for e in result.entities)


def test_entities_are_sorted_and_do_not_overlap(redactor: Redactor) -> None:
    entities = redactor.redact(NOTE_ZH + NOTE_EN).entities
    assert all(a.end <= b.start for a, b in pairwise(entities))


def test_language_is_detected_from_chinese_characters() -> None:
    assert detect_language("客户来电") == "zh"
    assert detect_language("Customer called, 1 ID: 张") == "zh"
    assert detect_language("Customer called") == "en"


def test_chinese_recognizers_run_on_a_note_declared_english(redactor: Redactor) -> None:
    result = redactor.redact("Address: 北京市朝阳区建国路88号", lang="en")
    assert result.text == "Address: <ADDRESS>"


def test_unsupported_language_is_a_validation_error(redactor: Redactor) -> None:
    with pytest.raises(ValidationError, match="lang"):
        redactor.redact("bonjour", lang="fr")


def test_empty_text_redacts_to_empty(redactor: Redactor) -> None:
    result = redactor.redact("")
    assert (result.text, result.entities) == ("", [])


def test_known_values_add_to_pattern_findings(redactor: Redactor) -> None:
    result = redactor.redact("今天张 伟又来电，手机13812345678", known={"name": "张伟"})
    assert result.text == "今天<PERSON>又来电，手机<MOBILE>"


def test_building_a_redactor_does_not_build_the_analyzer() -> None:
    redactor = Redactor()
    assert not redactor.loaded
    redactor.redact("hello")
    assert redactor.loaded


def _result(kind: str, start: int, end: int, score: float = 1.0) -> RecognizerResult:
    return RecognizerResult(entity_type=kind, start=start, end=end, score=score)


def test_overlapping_spans_merge_into_one_tagged_by_the_longest() -> None:
    merged = resolve([_result("PERSON", 0, 4), _result("ADDRESS", 2, 12, 0.6)])
    assert [(e.type, e.start, e.end) for e in merged] == [(EntityType.ADDRESS, 0, 12)]


def test_contained_span_is_absorbed() -> None:
    merged = resolve([_result("MOBILE", 5, 16), _result("BANK_CARD", 0, 23, 0.9)])
    assert [(e.type, e.start, e.end) for e in merged] == [(EntityType.BANK_CARD, 0, 23)]


def test_same_span_goes_to_the_higher_score_then_the_earlier_type() -> None:
    by_score = resolve([_result("BANK_CARD", 0, 18, 0.9), _result("PRC_ID", 0, 18, 1.0)])
    assert by_score[0].type is EntityType.PRC_ID
    by_priority = resolve([_result("BANK_CARD", 0, 18), _result("PRC_ID", 0, 18)])
    assert by_priority[0].type is EntityType.PRC_ID


def test_touching_spans_of_one_type_join_and_low_scores_drop() -> None:
    merged = resolve(
        [_result("ADDRESS", 0, 3), _result("ADDRESS", 3, 8), _result("PERSON", 10, 12, 0.3)]
    )
    assert [(e.type, e.start, e.end) for e in merged] == [(EntityType.ADDRESS, 0, 8)]


@pytest.fixture
def blocked_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way out of the process raises, and is recorded."""
    attempts: list[str] = []

    def refuse(name: str):  # type: ignore[no-untyped-def]
        def call(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise OSError(f"network blocked in test ({name})")

        return call

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


def test_building_and_using_a_redactor_attempts_no_connection(
    blocked_network: list[str],
) -> None:
    redactor = Redactor()
    for text in (NOTE_ZH, NOTE_EN, "mail a.b@example.co.uk or x@gmail.com"):
        redactor.redact(text, known={"email": "x@gmail.com", "name": "John Smith"})
    assert blocked_network == []


def test_email_validation_uses_the_bundled_suffix_list_only() -> None:
    recognizer = EmailAddressRecognizer()
    assert recognizer._tld.suffix_list_urls == ()
    assert recognizer._tld.fallback_to_snapshot


def test_a_fresh_process_with_sockets_disabled_redacts_without_network(tmp_path: Path) -> None:
    """Import, build and run in a new interpreter, with an empty HOME (no tldextract cache)."""
    script = textwrap.dedent(
        """
        import socket
        attempts = []
        def refuse(*a, **k):
            attempts.append(a)
            raise OSError("blocked")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from vault.redaction import Redactor
        result = Redactor().redact("邮箱zhang@163.com谢谢，客户王芳来电")
        print(result.text)
        print("attempts", len(attempts))
        """
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert done.stdout.splitlines() == ["邮箱<EMAIL>谢谢，客户<PERSON>来电", "attempts 0"]
    assert not (tmp_path / "cache").exists()


def test_a_spacy_model_that_is_not_installed_falls_back_to_blank_and_says_so() -> None:
    from structlog.testing import capture_logs

    redactor = Redactor(spacy_models={"en": "vault_test_model_not_installed"})
    with capture_logs() as logs:
        result = redactor.redact("Spoke with Mr. John Smith.")
    assert result.text == "Spoke with Mr. <PERSON>."
    assert {
        "event": "spacy_model_not_installed_using_blank",
        "model": "vault_test_model_not_installed",
        "lang": "en",
        "log_level": "warning",
    } in logs


def test_warming_builds_the_engine_before_the_first_text() -> None:
    fresh = Redactor()
    assert not fresh.loaded
    fresh.warm()  # what the API does before it freezes long-lived objects (api/context.py)
    assert fresh.loaded
    assert fresh.redact(NOTE_ZH).text == "客户<PERSON>来电，手机<MOBILE>，邮箱<EMAIL>谢谢。"
