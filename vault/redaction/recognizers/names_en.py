"""Latin-script personal names found without a model: capitalised words where a name is expected."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_en import (
    CALENDAR_WORDS,
    HONORIFICS,
    NAME_FOLLOWERS,
    NAME_LEAD_INS,
    NOT_NAMES,
)
from vault.redaction.lexicon_zh import ROLE_WORDS
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import NOT_AFTER_LETTER, NOT_BEFORE_LETTER, alternation

_WORD = "(?:Mc|Mac|O'|D')?[A-Z](?:[a-z]+|[A-Z]+)(?:[-'][A-Z]?[a-z]+)*"
_INITIAL = "[A-Z]\\."
_NAME = f"{_WORD}(?:[ ](?:{_INITIAL}|{_WORD})){{0,3}}"
_TOKEN = re.compile(f"{_WORD}|{_INITIAL}")


class LatinNameRecognizer(VaultRecognizer):
    """One to four capitalised words after an honorific or a lead-in, or two before a verb.

    ``Mr Smith``, ``Dr. Anna Wilson``, ``spoke with Ryan Gallagher``,
    ``insured: Tara Cooper``, ``客户John Smith``; ``Regina Reid called``,
    ``Regina Reid's claim``.  Words that are not names (``Claims``, ``The``)
    end a name or, first, veto it; calendar words (``May``, ``April``) only
    when they stand alone.  Every name found, and each of its words of three
    letters or more, is then looked for again in the rest of the note.
    """

    ENTITY = EntityType.PERSON

    def load(self) -> None:
        self._honorific = re.compile(
            NOT_AFTER_LETTER + f"(?:{alternation(HONORIFICS)})\\.?[ ]+(?P<name>{_NAME})"
        )
        self._lead_in = re.compile(
            f"(?:{NOT_AFTER_LETTER}(?i:{alternation(NAME_LEAD_INS)}){NOT_BEFORE_LETTER}"
            f"|{alternation(ROLE_WORDS)})"
            f"[ ]*(?:(?:is|was|named|called)[ ]+)?[:：,]?[ ]*(?P<name>{_NAME})"
        )
        self._follower = re.compile(
            NOT_AFTER_LETTER
            + f"(?P<name>{_WORD}(?:[ ](?:{_INITIAL}|{_WORD})){{1,3}})"
            + f"(?:[ ]+(?:{alternation(NAME_FOLLOWERS)}){NOT_BEFORE_LETTER}|'s[ ]+[a-z])"
        )

    def find(self, text: str) -> Iterator[Finding]:
        found: list[Finding] = []
        for pattern, score, min_words in (
            (self._honorific, 0.9, 1),
            (self._lead_in, 0.85, 1),
            (self._follower, 0.7, 2),
        ):
            for m in pattern.finditer(text):
                span = self._trim(m, min_words)
                if span is not None:
                    found.append(Finding(*span, score))
        yield from found
        yield from self._repeats(text, found)

    @staticmethod
    def _trim(match: re.Match[str], min_words: int) -> tuple[int, int] | None:
        """The name's span, cut at the first word that is not a name."""
        start = match.start("name")
        end = start
        words = 0
        tokens = list(_TOKEN.finditer(match.string, start, match.end("name")))
        for i, token in enumerate(tokens):
            word = token.group().rstrip(".")
            if word in NOT_NAMES:
                # May, April, June... are names too, when another name word follows or precedes.
                soft = word in CALENDAR_WORDS and (words > 0 or i + 1 < len(tokens))
                if not soft:
                    break
            end = token.end()
            words += 1
        if words < min_words or end == start:
            return None
        return start, end

    @staticmethod
    def _repeats(text: str, found: list[Finding]) -> Iterator[Finding]:
        names: set[str] = set()
        for f in found:
            name = text[f.start : f.end]
            names.add(name)
            names.update(w for w in re.findall(_WORD, name) if len(w) >= 3 and w not in NOT_NAMES)
        for name in sorted(names, key=len, reverse=True):
            pattern = NOT_AFTER_LETTER + re.escape(name) + NOT_BEFORE_LETTER
            for m in re.finditer(pattern, text):
                yield Finding(m.start(), m.end(), 0.8)
