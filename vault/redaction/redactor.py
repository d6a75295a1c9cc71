"""The redactor: presidio's analyzer with the vault's recognizers, offline, and span resolution.

Build one :class:`Redactor` where the application starts (or in a CLI
command's entry) and pass it around; building it costs nothing, and the
analyzer (spaCy pipelines, recognizers, the public suffix list snapshot) is
built on the first call, under a lock.  After that each call is cheap.

Overlaps are resolved in favour of privacy: overlapping spans merge into one
span covering all of them, tagged with the type of the longest member
(highest score, then a fixed type order, breaking ties).  Dropping the
loser, as presidio's anonymizer does, can leave part of a value exposed
when two recognizers disagree on where it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from vault.errors import ValidationError
from vault.redaction.entities import Entity, EntityType, Redaction
from vault.redaction.nlp import OfflineSpacyNlpEngine
from vault.redaction.recognizers.known import KnownValues, KnownValuesRecognizer
from vault.redaction.recognizers.registry import build_recognizers
from vault.redaction.text import detect_language

LANGUAGES = ("en", "zh")
MIN_SCORE = 0.5

_WARM_UP = {
    "en": "Write to help@example.com, call +86 138 0000 0000 or see https://www.example.com/a",
    "zh": "请发邮件至 help@example.com，致电 +86 13800000000，或访问 https://www.example.com/a",
}
"""Synthetic texts (no one's data) that touch every lazily built part, per language."""
_PRIORITY = {t: i for i, t in enumerate(EntityType)}
"""Tie-break between types for the same span: earlier in EntityType wins."""


class RawTextContext(ContextAwareEnhancer):
    """Leaves scores alone: the vault's recognizers check context on the raw text themselves.

    presidio's default ``LemmaContextAwareEnhancer`` compares context words
    with lemmas, and a blank pipeline has none; running it would only cost
    time.
    """

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0.0,
            min_score_with_context_similarity=0.0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        return raw_results


class Redactor:
    """Finds and replaces personal data in free text, fully offline.

    ``spacy_models`` may name an installed spaCy model per language (e.g.
    ``{"en": "en_core_web_sm"}``); its named entities are then used in
    addition to the recognizers.  Models are never downloaded: a model that
    is not installed is replaced by a blank pipeline with a warning.
    """

    def __init__(
        self,
        *,
        languages: Sequence[str] = LANGUAGES,
        min_score: float = MIN_SCORE,
        spacy_models: Mapping[str, str] | None = None,
    ) -> None:
        self.languages = tuple(languages)
        self.min_score = min_score
        self._spacy_models = dict(spacy_models or {})
        self._engine: AnalyzerEngine | None = None
        self._lock = threading.Lock()

    @property
    def spacy_models(self) -> Mapping[str, str]:
        """The installed spaCy models asked for, per language (none: blank pipelines)."""
        return dict(self._spacy_models)

    @property
    def loaded(self) -> bool:
        """Whether the analyzer has been built (it is, on the first ``redact`` or ``load``)."""
        return self._engine is not None

    def load(self) -> AnalyzerEngine:
        """The analyzer engine, built on first use."""
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._build()
                engine = self._engine
        return engine

    def warm(self) -> None:
        """Build the analyzer and what its recognizers build on first use, before any request.

        Some parts are made lazily on the first text that needs them (the public
        suffix trie behind the e-mail and URL recognizers, the phone metadata, per
        language), which would otherwise cost the first request that meets them,
        and would be born after a server froze its long-lived objects
        (``gc.freeze``).
        """
        for lang in self.languages:
            self.redact(_WARM_UP.get(lang, _WARM_UP["en"]), lang=lang)

    def _build(self) -> AnalyzerEngine:
        nlp = OfflineSpacyNlpEngine(self.languages, self._spacy_models)
        nlp.load()
        recognizers: list[EntityRecognizer] = list(build_recognizers(self.languages))
        for lang in self.languages:
            if nlp.has_ner(lang):
                recognizers.append(
                    SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"])
                )
        registry = RecognizerRegistry(
            recognizers=recognizers, supported_languages=list(self.languages)
        )
        return AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=list(self.languages),
            context_aware_enhancer=RawTextContext(),
        )

    def redact(
        self,
        text: str,
        lang: str | None = None,
        known: KnownValues | None = None,
    ) -> Redaction:
        """Replace every entity in ``text`` by ``<TYPE>``; ``lang`` None means detect it."""
        language = lang or detect_language(text)
        if language not in self.languages:
            raise ValidationError("lang", f"must be one of {', '.join(self.languages)}")
        if not text:
            return Redaction(text=text, entities=[], language=language)
        engine = self.load()
        ad_hoc: list[EntityRecognizer] | None = None
        if known:
            ad_hoc = [KnownValuesRecognizer(known, supported_language=language)]
        results = engine.analyze(text=text, language=language, ad_hoc_recognizers=ad_hoc)
        entities = resolve(results, self.min_score)
        return Redaction(text=replace(text, entities), entities=entities, language=language)


def _entity_type(value: Any) -> EntityType:
    try:
        return EntityType(value)
    except ValueError:
        return EntityType.PERSON if value == "PERSON" else EntityType.OTHER


def resolve(results: Sequence[RecognizerResult], min_score: float = MIN_SCORE) -> list[Entity]:
    """Non-overlapping entities from raw results: overlaps merge, touching same-type spans join."""
    spans = sorted(
        (
            Entity(_entity_type(r.entity_type), r.start, r.end, float(r.score))
            for r in results
            if r.score >= min_score and r.end > r.start
        ),
        key=lambda e: (e.start, -e.end),
    )
    merged: list[Entity] = []
    cluster: list[Entity] = []
    cluster_end = -1

    def close() -> None:
        if cluster:
            best = max(cluster, key=lambda e: (e.end - e.start, e.score, -_PRIORITY[e.type]))
            merged.append(Entity(best.type, cluster[0].start, cluster_end, best.score))

    for span in spans:
        if cluster and span.start < cluster_end:
            cluster.append(span)
            cluster_end = max(cluster_end, span.end)
            continue
        close()
        cluster, cluster_end = [span], span.end
    close()

    joined: list[Entity] = []
    for e in merged:
        if joined and joined[-1].type is e.type and joined[-1].end == e.start:
            prev = joined.pop()
            e = Entity(e.type, prev.start, e.end, max(prev.score, e.score))
        joined.append(e)
    return joined


def replace(text: str, entities: Sequence[Entity]) -> str:
    """``text`` with each (sorted, non-overlapping) entity replaced by ``<TYPE>``."""
    out: list[str] = []
    pos = 0
    for e in entities:
        out.append(text[pos : e.start])
        out.append(f"<{e.type.value}>")
        pos = e.end
    out.append(text[pos:])
    return "".join(out)
