"""The insurer's own policy and claim numbers (``POL`` / ``CLM`` + 12 digits)."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_AFTER_ALNUM, NOT_BEFORE_DIGIT


def _reference(prefix: str) -> str:
    return NOT_AFTER_ALNUM + prefix + "[ \\-]?[0-9]{12}" + NOT_BEFORE_DIGIT


class PolicyNumberRecognizer(RegexRecognizer):
    """``POL`` + 12 digits: links a note to one policy and so to one customer.

    The format is the insurer's own and carries no check digit, so the shape
    is the whole test; it is distinctive enough to need no context.
    """

    ENTITY = EntityType.POLICY_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("policy number", _reference("POL"), 1.0, re.IGNORECASE),
    )


class ClaimNumberRecognizer(RegexRecognizer):
    """``CLM`` + 12 digits, the claim reference printed on every claim letter."""

    ENTITY = EntityType.CLAIM_NUMBER
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("claim number", _reference("CLM"), 1.0, re.IGNORECASE),
    )
