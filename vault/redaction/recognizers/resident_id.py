"""PRC resident identity card numbers (居民身份证号码, GB 11643)."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT
from vault.redaction.validation import resident_id_ok

_SEP = "[ \\-]?"


class ResidentIdRecognizer(RegexRecognizer):
    """18 characters: region, birth date, sequence, MOD 11-2 check digit (``X`` for 10).

    The pattern already pins the birth-date digits to a plausible calendar
    shape and tolerates the 6-8-4 or 6-4-4-4 grouping people type; the check
    digit and the real date are verified by python-stdnum, which throws out
    the one-in-eleven random 18-digit strings that would pass the shape.
    Legacy 15-digit numbers (no check digit, no century) are not matched: they
    were withdrawn in 2013 and look like any other 15-digit serial.
    """

    ENTITY = EntityType.PRC_ID
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "resident id",
            NOT_AFTER_DIGIT
            + "[1-9][0-9]{5}"
            + _SEP
            + "(?:18|19|20)[0-9]{2}"
            + _SEP
            + "(?:0[1-9]|1[0-2])"
            + _SEP
            + "(?:0[1-9]|[12][0-9]|3[01])"
            + _SEP
            + "[0-9]{3}[0-9Xx]"
            + NOT_BEFORE_DIGIT,
            1.0,
        ),
    )

    def validate(self, match: re.Match[str]) -> bool:
        return resident_id_ok(match.group())
