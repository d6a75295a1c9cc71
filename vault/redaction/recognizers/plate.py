"""PRC vehicle licence plates (机动车号牌), ordinary and new-energy."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_zh import PLATE_PROVINCES
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_BEFORE_ALNUM
from vault.redaction.validation import plate_ok

_SEP = "[\u00b7\u2022\u30fb.\\- ]?"  # ·, •, ・, ., -, space


class LicensePlateRecognizer(RegexRecognizer):
    """Province character, office letter, then 5 (ordinary) or 6 (new-energy) characters.

    ``京A12345``, ``京A·12345``, ``黑Y-74068``, ``粤B·D12345``, ``粤BD12345``,
    ``粤B12345D``, ``京A1234学``.  The province character is itself the left
    boundary (it is never a Latin letter or digit); the right boundary is
    explicit.  Letters I and O are never issued, which the validation checks.
    """

    ENTITY = EntityType.LICENSE_PLATE
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "plate",
            f"[{PLATE_PROVINCES}][A-HJ-NP-Z]{_SEP}"
            "(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[\u6302\u5b66\u8b66\u6e2f\u6fb3\u9886])"
            + NOT_BEFORE_ALNUM,
            0.95,
            re.IGNORECASE,
        ),
    )

    def validate(self, match: re.Match[str]) -> bool:
        value = match.group()
        if value[-1] in "\u6302\u5b66\u8b66\u6e2f\u6fb3\u9886":  # 挂学警港澳领
            return value[0] in PLATE_PROVINCES and len(re.sub("[^0-9A-Za-z]", "", value)) == 5
        return plate_ok(value)
