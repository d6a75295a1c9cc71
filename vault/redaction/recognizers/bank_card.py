"""Payment card numbers, UnionPay's 19-digit debit cards included."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT
from vault.redaction.validation import bank_card_ok

_RUN = re.compile(NOT_AFTER_DIGIT + "[0-9](?:[ \\-]?[0-9]){14,25}" + NOT_BEFORE_DIGIT)
_GROUP = re.compile("[0-9]+")


class BankCardRecognizer(VaultRecognizer):
    """A run of 15-19 digits, spaced or dashed in any grouping, that passes Luhn.

    presidio's credit-card pattern stops at 17 digits, so the 19-digit
    UnionPay debit cards most Chinese customers carry slip through it.  Here a
    digit run is matched first and then cut: when the whole run fails the
    check (a card followed by a date, ``6222 0212 3456 7890 123 2024``), the
    groups at either end are dropped one by one until a card is found or the
    run is too short.
    """

    ENTITY = EntityType.BANK_CARD
    SCORE = 0.9
    """Below a resident ID's 1.0: an 18-digit ID passes Luhn one time in ten."""

    def find(self, text: str) -> Iterator[Finding]:
        for run in _RUN.finditer(text):
            found = self._card_in(run)
            if found is not None:
                yield Finding(found[0], found[1], self.SCORE)

    @staticmethod
    def _card_in(run: re.Match[str]) -> tuple[int, int] | None:
        groups = [(m.start() + run.start(), m.end() + run.start()) for m in _GROUP.finditer(run[0])]
        text = run.string
        n = len(groups)
        # Longest candidates first: the whole run, then runs shorter by one group, ...
        for size in range(n, 0, -1):
            for first in range(n - size + 1):
                start, end = groups[first][0], groups[first + size - 1][1]
                if bank_card_ok(text[start:end]):
                    return start, end
        return None
