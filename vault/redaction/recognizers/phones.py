"""PRC mobile and fixed-line telephone numbers in the spellings people write."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT
from vault.redaction.validation import digits, landline_ok, mobile_ok

_GAP = "[ \\-.\u00a0]?"
_COUNTRY = (
    "(?:"
    "(?:\\+|\uff0b|00)[ ]?86"  # +86, ＋86, 0086
    "|[(\uff08][ ]?(?:\\+|\uff0b|00)?86[ ]?[)\uff09]"  # (+86), （+86）, (86)
    "|86(?=[ \\-])"  # 86-138..., 86 138...
    ")"
)


class MobileRecognizer(RegexRecognizer):
    """Eleven digits starting ``1[3-9]``, grouped 3-4-4 or not, with or without +86.

    Covers ``13812345678``, ``138-1234-5678``, ``138 1234 5678``,
    ``+86 138…``, ``+86-138…``, ``(+86)138…``, ``0086 138…``.  Digits may
    not touch the match, letters and Chinese characters may
    (``手机13812345678``, ``tel13812345678``).  The number must be in the
    mobile plan according to phonenumbers' metadata.
    """

    ENTITY = EntityType.MOBILE
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "mobile",
            NOT_AFTER_DIGIT
            + f"(?:{_COUNTRY}[ \\-]?)?"
            + f"1[3-9][0-9]{_GAP}[0-9]{{4}}{_GAP}[0-9]{{4}}"
            + NOT_BEFORE_DIGIT,
            1.0,
        ),
    )

    def validate(self, match: re.Match[str]) -> bool:
        return mobile_ok(match.group())


class LandlineRecognizer(RegexRecognizer):
    """Area code (2-3 digits after the trunk 0) and a 7-8 digit local number.

    ``010-12345678``, ``(0755)1234567``, ``（021）6123 4567``,
    ``+86 10 12345678``, ``0755 12345678``; an extension (``转8001``,
    ``ext. 12``) is redacted with the number.  A local number without its
    area code is left alone: eight bare digits are as likely an amount as a
    phone.
    """

    ENTITY = EntityType.LANDLINE
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "landline",
            NOT_AFTER_DIGIT
            + "(?:"
            + "(?:\\+|\uff0b|00)[ ]?86[ \\-]?[(\uff08]?0?(?P<a1>[1-9][0-9]{1,2})[)\uff09]?"
            + "|[(\uff08]0?(?P<a2>[1-9][0-9]{1,2})[)\uff09]"
            + "|0(?P<a3>[1-9][0-9]{1,2})"
            + ")"
            + "[ \\-]?(?P<local>[1-9][0-9]{2,3}[ \\-]?[0-9]{4})"
            + "(?:[ ]?(?:\u8f6c|ext\\.?|x|-)[ ]?[0-9]{1,5})?"
            + NOT_BEFORE_DIGIT,
            0.9,
            re.IGNORECASE,
        ),
    )

    def validate(self, match: re.Match[str]) -> bool:
        area = match.group("a1") or match.group("a2") or match.group("a3") or ""
        return landline_ok(area, digits(match.group("local")))
