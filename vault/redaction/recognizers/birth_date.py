"""Dates of birth, in English and Chinese spellings, only where the text says *birth*."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_en import MONTHS
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT, alternation
from vault.redaction.validation import birth_date_ok

_Y = "(?P<y>(?:19|20)[0-9]{2})"
_M = "(?P<m>[0-9]{1,2})"
_D = "(?P<d>[0-9]{1,2})"
_MON = f"(?P<mon>{alternation(MONTHS)})\\.?"
_ORD = "(?:st|nd|rd|th)?"

_DATES = re.compile(
    "|".join(
        f"(?:{NOT_AFTER_DIGIT}{p}{NOT_BEFORE_DIGIT})".replace("(?P<", "(?P<" + tag + "_")
        for tag, p in (
            ("iso", f"{_Y}[\\-/.]{_M}[\\-/.]{_D}"),
            ("zh", f"{_Y} ?年 ?{_M} ?月(?: ?{_D} ?[日号])?"),
            ("dmy", f"{_D}[\\-/.]{_M}[\\-/.]{_Y}"),
            ("dmon", f"{_D}{_ORD} (?:of )?{_MON},? {_Y}"),
            ("mond", f"{_MON} {_D}{_ORD},? {_Y}"),
            (
                "compact",
                "(?P<y>(?:19|20)[0-9]{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12][0-9]|3[01])",
            ),
        )
    ),
    re.IGNORECASE,
)

_BEFORE = re.compile(
    "(?:(?<![A-Za-z])(?:date of birth|birth ?date|birthday|born|d\\.?o\\.?b\\.?|b\\.)(?![A-Za-z])"
    "|出生日期|出生年月日|出生年月|出生于|出生在|出生|生日|(?<![发产卫])生于|诞生于)",
    re.IGNORECASE,
)
_BREAK = re.compile("[0-9。！？；;!?\n]|\\. ")
"""A digit or a sentence end between keyword and date: the keyword is about something else."""
_AFTER = re.compile("[ ]?(?:出生|生人|生(?![效产病成活意存命前日]))")


class BirthDateRecognizer(VaultRecognizer):
    """A calendar date right after a birth keyword, or right before ``出生``.

    A date alone is not personal: notes are full of incident, payment and
    renewal dates, and redacting them would gut the note.  So a date counts
    only when a birth keyword (``DOB``, ``born``, ``date of birth``,
    ``出生日期``, ``生日``, ``生于`` but not ``发生于``) ends at most 25
    characters before it, in the same sentence, with no digit in between
    (``出生日期1985-03-12，生效日期2024-01-01`` flags only the first), or when
    ``出生``/``生`` follows it (``1985年3月12日出生``).
    Formats: ``1985-03-12``, ``1985/3/12``, ``12/03/1985`` (either order),
    ``12 March 1985``, ``March 12th, 1985``, ``1985年3月12日``, ``1985年3月``,
    ``19850312``.  Chinese-numeral dates (``一九八五年``) are not handled.
    """

    ENTITY = EntityType.DATE_OF_BIRTH
    SCORE = 0.95
    WINDOW = 25

    def find(self, text: str) -> Iterator[Finding]:
        for match in _DATES.finditer(text):
            if self._valid(match) and self._in_birth_context(text, match.start(), match.end()):
                yield Finding(match.start(), match.end(), self.SCORE)

    @staticmethod
    def _valid(match: re.Match[str]) -> bool:
        groups = {k.split("_", 1)[1]: v for k, v in match.groupdict().items() if v is not None}
        year = int(groups["y"])
        day = int(groups["d"]) if "d" in groups else None
        month = MONTHS[groups["mon"].lower()] if "mon" in groups else int(groups["m"])
        if match.group("dmy_y") is not None:
            # 03/12/1985 is 3 December in Europe and China, 12 March in the US: either will do.
            assert day is not None
            return birth_date_ok(year, month, day) or birth_date_ok(year, day, month)
        return birth_date_ok(year, month, day)

    def _in_birth_context(self, text: str, start: int, end: int) -> bool:
        window_start = max(0, start - self.WINDOW)
        last_end = -1
        for keyword in _BEFORE.finditer(text, window_start, start):
            last_end = keyword.end()
        between = text[last_end:start]
        if last_end >= 0 and not _BREAK.search(between):
            return True
        return _AFTER.match(text, end) is not None
