"""presidio's spaCy engine on blank pipelines: tokenisation only, nothing downloaded.

``AnalyzerEngine()`` without an engine builds presidio's default one, which
asks for ``en_core_web_lg`` and, when the model is missing, runs
``spacy download``: a network call, from a privacy vault, at run time.  This
engine overrides ``load`` so that a language gets ``spacy.blank(lang)``
(rule-based tokenizer, no weights) unless a model for it is named *and*
already installed as a package; nothing is ever fetched.

``spacy.blank("zh")`` uses spaCy's character segmenter by default, which
needs neither jieba nor pkuseg (pkuseg would download its model on first
use).  Characters are tokens; the recognizers read raw text anyway.

Blank pipelines produce no lemmas, so presidio's lemma-based context
enhancer has nothing to compare context words with: recognizers check their
own context on the raw text instead (:class:`~vault.redaction.text.ContextWords`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from spacy.language import Language

from vault.logs import get_logger

log = get_logger(__name__)

BLANK = "blank"


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """One pipeline per language: an installed spaCy model if asked for, else a blank one."""

    engine_name = "offline_spacy"

    def __init__(self, languages: Sequence[str], models: Mapping[str, str] | None = None) -> None:
        chosen = dict(models or {})
        super().__init__(
            models=[
                {"lang_code": lang, "model_name": chosen.get(lang, BLANK)} for lang in languages
            ],
            ner_model_configuration=NerModelConfiguration(),
        )

    def load(self) -> None:
        pipelines: dict[str, Language] = {}
        for model in self.models:
            lang, name = model["lang_code"], model["model_name"]
            pipelines[lang] = self._pipeline(lang, name)
        self.nlp = pipelines  # type: ignore[assignment]  # presidio declares it None

    @staticmethod
    def _pipeline(lang: str, name: str) -> Language:
        if name != BLANK and spacy.util.is_package(name):
            return spacy.load(name)
        if name != BLANK:
            log.warning("spacy_model_not_installed_using_blank", model=name, lang=lang)
        return spacy.blank(lang)

    def has_ner(self, lang: str) -> bool:
        """Whether the pipeline for ``lang`` can name entities (only with an installed model)."""
        pipelines: Mapping[str, Language] = self.nlp or {}
        return lang in pipelines and "ner" in pipelines[lang].pipe_names
