"""Benchmark: the vault's Redactor against stock presidio-analyzer on the same generated notes.

Both run offline on blank spaCy pipelines, in this process, on one core:

* **vault**: :class:`vault.redaction.Redactor` (the vault's recognizers, known values).
* **stock presidio**: ``AnalyzerEngine`` with presidio's predefined recognizers for
  English (presidio ships none for Chinese, so every note is analysed as ``en``),
  the default lemma context enhancer, and the one change offline operation
  needs: its EmailRecognizer validates domains against tldextract's bundled
  suffix list instead of downloading it.  Stock presidio cannot use ``known``.

Recall is type-agnostic (a planted span counts as found when redacted spans
cover every character of it, whatever they are tagged), so the two are
comparable although their entity types differ.  Ratios are computed from
figures measured in this same run.

    .venv/bin/python bench/redact.py [--notes N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from vault.redaction import Redactor
from vault.redaction.corpus import Note, generate_corpus
from vault.redaction.evaluation import Report, evaluate
from vault.redaction.nlp import OfflineSpacyNlpEngine
from vault.redaction.recognizers.email import offline_tld_extractor

Detector = Callable[[Note], Sequence[tuple[str, int, int]]]


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's EmailRecognizer with tldextract's bundled suffix list (no download)."""

    def __init__(self) -> None:
        super().__init__()
        self._tld = offline_tld_extractor()

    def validate_result(self, pattern_text: str) -> bool:
        return self._tld(pattern_text).fqdn != ""


def stock_presidio() -> AnalyzerEngine:
    nlp = OfflineSpacyNlpEngine(["en"])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    registry.recognizers = [
        OfflineEmailRecognizer() if isinstance(r, EmailRecognizer) else r
        for r in registry.recognizers
    ]
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def vault_detector(redactor: Redactor) -> Detector:
    def detect(note: Note) -> list[tuple[str, int, int]]:
        result = redactor.redact(note.text, lang=note.lang, known=note.known)
        return [(e.type.value, e.start, e.end) for e in result.entities]

    return detect


def stock_detector(engine: AnalyzerEngine) -> Detector:
    def detect(note: Note) -> list[tuple[str, int, int]]:
        results = engine.analyze(text=note.text, language="en", score_threshold=0.5)
        return [(r.entity_type, r.start, r.end) for r in results]

    return detect


def measure(name: str, detect: Detector, notes: list[Note]) -> Report:
    detect(notes[0])  # warm-up: lazy loading is not part of the figure
    started = time.perf_counter()
    report = evaluate(notes, detect)
    print(f"{name}: evaluated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=2000, help="notes to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed (default 7)")
    args = parser.parse_args(argv)

    notes = list(generate_corpus(args.notes, seed=args.seed))
    print(f"{len(notes)} notes (half English, half Chinese), seed {args.seed}\n")

    build = time.perf_counter()
    redactor = Redactor()
    redactor.load()
    vault_build = time.perf_counter() - build
    build = time.perf_counter()
    stock = stock_presidio()
    stock_build = time.perf_counter() - build

    ours = measure("vault", vault_detector(redactor), notes)
    theirs = measure("stock presidio", stock_detector(stock), notes)

    def rate(r: Report) -> float:
        return r.notes / r.seconds if r.seconds else 0.0

    print("## vault Redactor\n")
    print(ours.table())
    print("\n## stock presidio-analyzer (blank en pipeline, predefined recognizers)\n")
    print(theirs.table())
    print("\n## side by side\n")
    print("| | vault | stock presidio | vault / stock |")
    print("|---|---:|---:|---:|")
    rows = [
        ("notes/s (one core)", rate(ours), rate(theirs)),
        ("ms per 100 tokens", ours.ms_per_100_tokens, theirs.ms_per_100_tokens),
        ("overall recall", ours.overall_recall, theirs.overall_recall),
        ("known-value recall", ours.known_recall, theirs.known_recall),
        ("unknown-name recall", ours.unknown_name_recall, theirs.unknown_name_recall),
        ("non-PII words kept", ours.words_kept_share, theirs.words_kept_share),
        ("engine build, s", vault_build, stock_build),
    ]
    for label, a, b in rows:
        ratio = f"{a / b:.2f}" if b else "inf"
        print(f"| {label} | {a:.4g} | {b:.4g} | {ratio} |")
    print("\n### recall by planted type\n")
    print("| type | vault | stock presidio |")
    print("|---|---:|---:|")
    for kind in sorted(ours.by_type):
        if ours.by_type[kind].planted:
            theirs_score = theirs.by_type.get(kind)
            stock_recall = theirs_score.recall if theirs_score and theirs_score.planted else 0.0
            print(f"| {kind} | {ours.by_type[kind].recall:.4f} | {stock_recall:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
