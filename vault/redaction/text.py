"""Boundaries, context windows and language detection that work next to Chinese characters.

``\\b`` and ``\\W`` are the classic way to delimit a match, and both are wrong
for Chinese notes: Python's ``\\w`` matches CJK characters, so in
``手机13812345678`` there is no word boundary before the ``1`` and a
``\\b``-delimited mobile pattern finds nothing.  Every recognizer therefore
delimits values by what may not touch them (a digit, or a digit or Latin
letter) with explicit look-arounds, built here once so that no pattern spells
its own.

A blank spaCy pipeline has no lemmas, so presidio's lemma-based context
enhancer never fires.  Context is checked here instead, on the raw text
around a match, which works the same for ``DOB:`` and ``出生日期：``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

NOT_AFTER_DIGIT = r"(?<![0-9])"
NOT_BEFORE_DIGIT = r"(?![0-9])"
NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"
NOT_AFTER_LETTER = r"(?<![A-Za-z])"
NOT_BEFORE_LETTER = r"(?![A-Za-z])"

_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
"""CJK ideographs: extension A, unified, compatibility."""
CJK = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
"""The ranges above, ready to put inside ``[...]``."""

_CJK_RE = re.compile(f"[{CJK}]")


def has_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def detect_language(text: str) -> str:
    """``zh`` when the text holds any Chinese character, else ``en``.

    A single ideograph is enough: CRM notes mix scripts, and the Chinese
    pipeline handles Latin text well while the English one cannot segment
    Chinese.
    """
    return "zh" if has_cjk(text) else "en"


def cjk_class_without(excluded: Iterable[str]) -> str:
    """A ``[...]`` class of CJK ideographs minus ``excluded``, for stdlib ``re``.

    ``re`` has no class subtraction, and a negative look-ahead per character
    is several times slower, so the class is spelled out as ranges.
    """
    removed = sorted({ord(c) for c in excluded if _CJK_RE.fullmatch(c)})
    parts: list[str] = []
    for lo, hi in _CJK_RANGES:
        start = lo
        for cp in (c for c in removed if lo <= c <= hi):
            if cp > start:
                parts.append(f"{chr(start)}-{chr(cp - 1)}")
            start = cp + 1
        if start <= hi:
            parts.append(f"{chr(start)}-{chr(hi)}")
    return "[" + "".join(parts) + "]"


def alternation(words: Iterable[str]) -> str:
    """Escaped words joined longest first, so ``被保险人`` wins over ``保险``."""
    unique = sorted(set(words), key=lambda w: (-len(w), w))
    return "|".join(re.escape(w) for w in unique)


@dataclass(frozen=True)
class ContextWords:
    """Keywords looked for in a window of raw text before and after a match.

    Latin keywords must not be glued to other letters (``dob`` is not in
    ``adobe``); CJK keywords have no such boundary because Chinese has no
    spaces.  Matching is case-insensitive.
    """

    words: tuple[str, ...]
    before: int = 40
    """How many characters before the match are searched."""
    after: int = 0
    """How many characters after the match are searched."""
    adjacent: bool = False
    """Require that no digit stands between the keyword and the match, so that in
    ``护照E12345678，订单A12345678`` the keyword vouches for the first value only."""
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = []
        for w in sorted(set(self.words), key=lambda w: (-len(w), w)):
            escaped = re.escape(w)
            if w[:1].isascii() and w[:1].isalpha():
                escaped = NOT_AFTER_LETTER + escaped
            if w[-1:].isascii() and w[-1:].isalpha():
                escaped = escaped + NOT_BEFORE_LETTER
            parts.append(escaped)
        object.__setattr__(self, "_pattern", re.compile("|".join(parts), re.IGNORECASE))

    def around(self, text: str, start: int, end: int) -> bool:
        """Whether a keyword occurs within the window around ``text[start:end]``."""
        if self.before:
            keywords = list(self._pattern.finditer(text, max(0, start - self.before), start))
            last = keywords[-1] if keywords else None
            if last is not None and not (
                self.adjacent and any(c.isdigit() for c in text[last.end() : start])
            ):
                return True
        return bool(self.after) and self._pattern.search(text, end, end + self.after) is not None
