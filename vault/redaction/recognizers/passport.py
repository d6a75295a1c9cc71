"""Passport and travel-permit numbers."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM, ContextWords

PASSPORT_CONTEXT = ContextWords(
    (
        "passport",
        "passport no",
        "passport number",
        "travel document",
        "护照",
        "护照号",
        "护照号码",
        "证件号",
        "证件号码",
        "通行证",
        "港澳通行证",
        "台胞证",
        "回乡证",
    ),
    before=30,
    adjacent=True,
)


class PassportRecognizer(RegexRecognizer):
    """PRC passports on their own; other shapes only next to a passport keyword.

    PRC ordinary passports are ``E`` + 8 digits or ``E`` + letter + 7 digits
    (older ones ``G`` + 8 digits): distinctive enough to report anywhere.  A
    letter or two and 6-9 digits, or 9 digits (US), is far too common a shape
    (order numbers, serials), so it counts only after ``passport``/``护照``.
    """

    ENTITY = EntityType.PASSPORT
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("prc e-passport", NOT_AFTER_ALNUM + "E[0-9]{8}" + NOT_BEFORE_ALNUM, 0.7),
        Pattern(
            "prc e-passport, letter serial",
            NOT_AFTER_ALNUM + "E[A-HJ-NP-Z][0-9]{7}" + NOT_BEFORE_ALNUM,
            0.7,
        ),
        Pattern("prc passport, older", NOT_AFTER_ALNUM + "G[0-9]{8}" + NOT_BEFORE_ALNUM, 0.6),
        Pattern(
            "passport in context",
            NOT_AFTER_ALNUM + "(?:[A-Z]{1,2}[0-9]{6,9}|[0-9]{9})" + NOT_BEFORE_ALNUM,
            0.9,
            re.IGNORECASE,
            PASSPORT_CONTEXT,
        ),
    )

    def validate(self, match: re.Match[str]) -> bool:
        serial = re.sub("[^0-9]", "", match.group())
        return len(set(serial)) > 1
