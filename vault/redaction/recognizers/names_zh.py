"""Chinese personal names found without a model: a surname where a name is expected."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_zh import (
    COMMON_WORDS,
    FOLLOWER_VERBS,
    NAME_STOP_CHARS,
    NOT_AFTER_TITLE_ZONG,
    ROLE_WORDS,
    SURNAMES,
    TITLES,
    VERB_CONTEXT,
    WEAK_SURNAMES,
)
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import CJK, alternation

_CJK_CHAR = re.compile(f"[{CJK}]")
MAX_GIVEN = 2


def _is_cjk(ch: str) -> bool:
    return bool(ch) and _CJK_CHAR.match(ch) is not None


class ChineseNameRecognizer(VaultRecognizer):
    """Surname (single or compound) plus up to two given-name characters, in context.

    Four ways in, from strongest to weakest:

    * after a role word, optionally with a colon: ``客户王芳来电``,
      ``投保人：张伟``, ``被保险人是李娜``;
    * before a title: ``张先生``, ``王芳女士``, ``李总``; the surname alone is
      redacted and the title kept (``<PERSON>先生``);
    * after a weak lead-in verb (``已联系王芳``, ``与王芳沟通``), only if the
      next character ends the name;
    * at the start of a clause, before a verb of speech or action
      (``王芳来电称…``, ``今天李娜表示…``).

    The given name runs for up to two characters and stops early at a
    character that begins the next word (``来电``, ``表示``).  Surnames that
    are mostly function words (``于``, ``和``, ``解``) count only before a
    title or after a colon, and two-character words such as ``方面`` or
    ``明确`` are never names.  Every full name found is then looked for again
    in the rest of the note, where it may stand without context.
    """

    ENTITY = EntityType.PERSON

    def load(self) -> None:
        surnames = alternation(SURNAMES)
        self._surname = re.compile(surnames)
        self._role = re.compile(
            f"(?:{alternation(ROLE_WORDS)})"
            f"(?P<colon>[ ]?[：:][ ]?|是|为|叫|名叫)?(?=(?:{surnames}))"
        )
        self._verb = re.compile(f"(?:{alternation(VERB_CONTEXT)})(?:了)?(?=(?:{surnames}))")
        self._title = re.compile(alternation(TITLES))
        self._follower = re.compile(
            f"(?:{surnames})[{CJK}]{{1,{MAX_GIVEN}}}?(?=(?:{alternation(FOLLOWER_VERBS)}))"
        )
        self._lead_in_end = re.compile(f"(?:{alternation(ROLE_WORDS + VERB_CONTEXT)})$")

    def find(self, text: str) -> Iterator[Finding]:
        found: list[Finding] = []
        for m in self._role.finditer(text):
            span = self._name_at(text, m.end(), strong=m.group("colon") is not None, weak=False)
            if span is not None:
                found.append(Finding(*span, 0.95 if m.group("colon") else 0.85))
        for m in self._verb.finditer(text):
            span = self._name_at(text, m.end(), strong=False, weak=True)
            if span is not None:
                found.append(Finding(*span, 0.6))
        for m in self._title.finditer(text):
            if m.group() == "总" and text[m.end() : m.end() + 1] in NOT_AFTER_TITLE_ZONG:
                continue
            span = self._name_before(text, m.start())
            if span is not None:
                found.append(Finding(*span, 0.85))
        for m in self._follower.finditer(text):
            if self._boundary_before(text, m.start()) and not self._is_common_word(text, m.start()):
                surname = self._surname.match(text, m.start())
                if (
                    surname is not None
                    and surname.group() not in WEAK_SURNAMES
                    and self._title.match(text, surname.end()) is None
                ):
                    end = m.end()
                    if end - surname.end() == MAX_GIVEN and text[end - 1] in NAME_STOP_CHARS:
                        end -= 1  # 王芳又补充: 又 starts the verb phrase
                    found.append(Finding(m.start(), end, 0.6))
        yield from found
        yield from self._repeats(text, found)

    def _name_at(self, text: str, pos: int, *, strong: bool, weak: bool) -> tuple[int, int] | None:
        """The name starting at ``pos`` (where a surname was seen), or None."""
        surname = self._surname.match(text, pos)
        if surname is None:
            return None
        if surname.group() in WEAK_SURNAMES and not strong:
            return None
        end = surname.end()
        for i in range(MAX_GIVEN):
            ch = text[end : end + 1]
            if not _is_cjk(ch) or self._title.match(text, end) is not None:
                break
            if i > 0 and ch in NAME_STOP_CHARS:
                break
            end += 1
        if end == surname.end() or self._is_common_word(text, pos):
            return None
        if weak:
            after = text[end : end + 1]
            if _is_cjk(after) and after not in NAME_STOP_CHARS and not self._title.match(text, end):
                return None
        return pos, end

    def _name_before(self, text: str, title_start: int) -> tuple[int, int] | None:
        """The name ending where a title starts: surname alone, or with one or two given chars."""
        candidates: list[int] = []
        for length in range(1, MAX_GIVEN + 3):
            start = title_start - length
            if start < 0 or not all(_is_cjk(c) for c in text[start:title_start]):
                break
            surname = self._surname.match(text, start, title_start)
            if surname is None or title_start - surname.end() > MAX_GIVEN:
                continue
            if self._is_common_word(text, start):
                continue
            if surname.group() in WEAK_SURNAMES and length > 1:
                continue
            candidates.append(start)
        if not candidates:
            return None
        # The farthest start that follows a word boundary; else the surname right before.
        for start in reversed(candidates):
            if self._boundary_before(text, start):
                return start, title_start
        return candidates[0], title_start

    def _boundary_before(self, text: str, pos: int) -> bool:
        before = text[pos - 1 : pos]
        if not _is_cjk(before) or before in NAME_STOP_CHARS:
            return True
        return self._lead_in_end.search(text, max(0, pos - 6), pos) is not None

    @staticmethod
    def _is_common_word(text: str, pos: int) -> bool:
        return text[pos : pos + 2] in COMMON_WORDS or text[pos : pos + 3] in COMMON_WORDS

    @staticmethod
    def _repeats(text: str, found: list[Finding]) -> Iterator[Finding]:
        names = {text[f.start : f.end] for f in found if f.end - f.start >= 2}
        for name in sorted(names, key=len, reverse=True):
            for m in re.finditer(re.escape(name), text):
                yield Finding(m.start(), m.end(), 0.8)
