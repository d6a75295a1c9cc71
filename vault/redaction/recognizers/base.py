"""The two shapes every vault recognizer takes: find candidates, then validate them.

``VaultRecognizer`` adapts a small ``find(text)`` generator to presidio's
``LocalRecognizer`` so the analyzer engine can run it, tag its results with
its id and resolve duplicates.  ``RegexRecognizer`` is the common case: a few
patterns, a ``validate(match)`` hook kept apart from the patterns (check
digits, calendars, number plans live in :mod:`vault.redaction.validation`),
and optional required context checked on the raw text, since a blank spaCy
pipeline gives presidio's context enhancer no lemmas to work with.

Patterns use stdlib ``re`` and explicit look-arounds, never ``\\b``: see
:mod:`vault.redaction.text`.  A pattern may mark the reported part of its
match with a ``value`` group, so it can require a lead-in without
redacting it.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from vault.redaction.entities import EntityType
from vault.redaction.text import ContextWords


@dataclass(frozen=True, slots=True)
class Finding:
    """A candidate span a recognizer stands behind, with its confidence."""

    start: int
    end: int
    score: float
    type: EntityType | None = None
    """Overrides the recognizer's entity type (the known-values recognizer reports several)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regular expression of a recognizer, with its base score.

    ``context`` makes the pattern count only where one of its keywords is near:
    the shape alone (eight digits after a letter) is too common to report.
    """

    name: str
    regex: str
    score: float
    flags: int = 0
    context: ContextWords | None = None


class VaultRecognizer(LocalRecognizer):
    """A presidio recognizer for one entity type, written as a ``find`` generator."""

    ENTITY: ClassVar[EntityType]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[self.entity_types()[0].value],
            supported_language=supported_language,
            name=type(self).__name__,
        )
        self.supported_entities = [t.value for t in self.entity_types()]

    @classmethod
    def entity_types(cls) -> tuple[EntityType, ...]:
        return (cls.ENTITY,)

    def load(self) -> None:
        """Nothing to load by default; presidio calls this from ``__init__``."""

    @abstractmethod
    def find(self, text: str) -> Iterator[Finding]:
        """Yield every validated span of ``text`` this recognizer stands behind."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        return [
            RecognizerResult(
                entity_type=(f.type or self.ENTITY).value,
                start=f.start,
                end=f.end,
                score=f.score,
                recognition_metadata=dict(metadata),
            )
            for f in self.find(text)
        ]


class RegexRecognizer(VaultRecognizer):
    """Patterns that propose, ``validate`` that disposes, context that may be required."""

    PATTERNS: ClassVar[tuple[Pattern, ...]]

    def load(self) -> None:
        self._compiled = [(p, re.compile(p.regex, p.flags)) for p in self.PATTERNS]

    def validate(self, match: re.Match[str]) -> bool:
        """Whether the matched text really is a value of this type (check digit, calendar...)."""
        return True

    def find(self, text: str) -> Iterator[Finding]:
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(text):
                start, end = match.span("value") if "value" in compiled.groupindex else match.span()
                if start == end or not self.validate(match):
                    continue
                if pattern.context is not None and not pattern.context.around(text, start, end):
                    continue
                yield Finding(start, end, pattern.score)
