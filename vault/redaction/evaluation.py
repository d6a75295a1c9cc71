"""Scoring a redactor against a labelled corpus: recall, precision, words kept, speed.

Definitions, chosen for what a leak means rather than for flattering numbers:

* **recall** of a planted span: it counts as found only if *every* character
  of it lies inside some redacted span (of any type: a mobile tagged
  ``<LANDLINE>`` has not leaked).  One leaked digit is a miss.
* **precision** of a redacted span of type T: it is correct if it overlaps any
  planted span.  Reported per predicted type.
* **known recall**: recall over spans planted from the note's ``known`` values.
  **unknown-name recall**: recall over ``PERSON`` spans not from ``known``.
* **words kept**: tokens (a Latin word, a digit run, or one Chinese
  character) lying wholly outside planted spans that no redacted span
  touches, over all such tokens.
* **speed**: wall time of ``redact`` per note and per 100 tokens.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vault.redaction.corpus import Note, Span
from vault.redaction.text import CJK

_TOKEN = re.compile(f"[A-Za-z]+|[0-9]+|[{CJK}]")

Detector = Callable[[Note], Sequence[tuple[str, int, int]]]
"""Runs a redactor on a note and returns its ``(type, start, end)`` spans."""


@dataclass
class TypeScore:
    planted: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


@dataclass
class Report:
    by_type: dict[str, TypeScore] = field(default_factory=dict)
    known_planted: int = 0
    known_found: int = 0
    unknown_names_planted: int = 0
    unknown_names_found: int = 0
    words: int = 0
    words_kept: int = 0
    notes: int = 0
    tokens: int = 0
    seconds: float = 0.0
    misses: list[tuple[str, str, str]] = field(default_factory=list)
    """(note id, type, missed text) for the first misses, to read, never to log in production."""

    @property
    def known_recall(self) -> float:
        return self.known_found / self.known_planted if self.known_planted else 1.0

    @property
    def unknown_name_recall(self) -> float:
        if not self.unknown_names_planted:
            return 1.0
        return self.unknown_names_found / self.unknown_names_planted

    @property
    def words_kept_share(self) -> float:
        return self.words_kept / self.words if self.words else 1.0

    @property
    def overall_recall(self) -> float:
        planted = sum(s.planted for s in self.by_type.values())
        found = sum(s.found for s in self.by_type.values())
        return found / planted if planted else 1.0

    @property
    def ms_per_note(self) -> float:
        return 1000 * self.seconds / self.notes if self.notes else 0.0

    @property
    def ms_per_100_tokens(self) -> float:
        return 100_000 * self.seconds / self.tokens if self.tokens else 0.0

    def table(self) -> str:
        """A Markdown table of per-type recall and precision, then the summary figures."""
        lines = ["| type | planted | recall | predicted | precision |", "|---|---:|---:|---:|---:|"]
        for name in sorted(self.by_type):
            s = self.by_type[name]
            recall = f"{s.recall:.4f}" if s.planted else "-"
            precision = f"{s.precision:.4f}" if s.predicted else "-"
            lines.append(f"| {name} | {s.planted} | {recall} | {s.predicted} | {precision} |")
        lines += [
            "",
            f"- overall recall: {self.overall_recall:.4f}",
            f"- known-value recall: {self.known_recall:.4f} "
            f"({self.known_found}/{self.known_planted})",
            f"- recall on names not known to the vault: {self.unknown_name_recall:.4f} "
            f"({self.unknown_names_found}/{self.unknown_names_planted})",
            f"- non-PII words kept: {self.words_kept_share:.4f} ({self.words_kept}/{self.words})",
            f"- speed: {self.ms_per_note:.2f} ms/note, "
            f"{self.ms_per_100_tokens:.2f} ms per 100 tokens "
            f"({self.tokens / max(self.notes, 1):.0f} tokens/note)",
        ]
        return "\n".join(lines)


def _covered(span: Span, predicted: Sequence[tuple[str, int, int]]) -> bool:
    pos = span.start
    for _, start, end in sorted(predicted, key=lambda p: p[1]):
        if start <= pos < end:
            pos = end
        if pos >= span.end:
            return True
    return pos >= span.end


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def evaluate(notes: Iterable[Note], detect: Detector, max_misses: int = 50) -> Report:
    """Run ``detect`` on every note and score it; timing covers ``detect`` alone.

    Time is this thread's CPU time: the target is per note *on one core*, and CPU
    time does not count the moments other processes on a busy machine had the core.
    """
    report = Report()
    for note in notes:
        started = time.thread_time()
        predicted = list(detect(note))
        report.seconds += time.thread_time() - started
        report.notes += 1
        tokens = list(_TOKEN.finditer(note.text))
        report.tokens += len(tokens)
        for span in note.spans:
            score = report.by_type.setdefault(span.type.value, TypeScore())
            score.planted += 1
            found = _covered(span, predicted)
            score.found += found
            if span.known:
                report.known_planted += 1
                report.known_found += found
            elif span.type.value == "PERSON":
                report.unknown_names_planted += 1
                report.unknown_names_found += found
            if not found and len(report.misses) < max_misses:
                report.misses.append((note.id, span.type.value, note.text[span.start : span.end]))
        for kind, start, end in predicted:
            score = report.by_type.setdefault(kind, TypeScore())
            score.predicted += 1
            score.correct += any(_overlaps(start, end, s.start, s.end) for s in note.spans)
        for token in tokens:
            if any(_overlaps(token.start(), token.end(), s.start, s.end) for s in note.spans):
                continue
            report.words += 1
            report.words_kept += not any(
                _overlaps(token.start(), token.end(), p_start, p_end)
                for _, p_start, p_end in predicted
            )
    return report


def false_positives(
    notes: Iterable[Note], detect: Detector, limit: int = 50
) -> list[tuple[str, str, str]]:
    """(note id, type, text) of redacted spans that overlap nothing planted: for tuning."""
    out: Counter[tuple[str, str, str]] = Counter()
    for note in notes:
        for kind, start, end in detect(note):
            if not any(_overlaps(start, end, s.start, s.end) for s in note.spans):
                out[(note.id, kind, note.text[start:end])] += 1
                if len(out) >= limit:
                    return list(out)
    return list(out)
