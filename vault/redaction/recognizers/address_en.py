"""Street addresses written in English: US style and Chinese addresses in English."""

from __future__ import annotations

import re
from typing import ClassVar

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_en import STREET_SUFFIXES, UNIT_WORDS, US_STATES
from vault.redaction.recognizers.base import Pattern, RegexRecognizer
from vault.redaction.text import NOT_AFTER_ALNUM, NOT_BEFORE_LETTER, alternation

_WORD = "[A-Z][A-Za-z'\\-]*\\.?"
_PLACE = "[A-Z][A-Za-z'\\-]*"
_UNIT = (
    f"(?:{alternation(UNIT_WORDS)})(?![A-Za-z])\\.?[ ]?#?"
    "(?:[0-9][0-9A-Za-z\\-]{0,5}|[A-Z](?![A-Za-z]))"
)
_STREET = (
    "(?:No\\.?[ ]?)?[0-9]{1,6}[A-Za-z]?(?:-[0-9]{1,4})?[ ]+"
    "(?:[NSEW]\\.?[ ]+)?"
    f"(?:{_WORD}[ ]+){{1,3}}"
    f"(?:{alternation(STREET_SUFFIXES)})\\.?" + NOT_BEFORE_LETTER
)
_ADDRESS = (
    NOT_AFTER_ALNUM
    + f"(?:{_UNIT},?[ ]*){{0,2}}"
    + _STREET
    + f"(?:,?[ ]*{_UNIT}|[ ]?#[0-9]{{1,6}})*"
    # Chinese address in English: ..., Nanshan District, Shenzhen, Guangdong Province
    + f"(?:,[ ]*{_PLACE}(?:[ ]{_PLACE})?[ ](?:District|County|Town|Township|New Area)"
    + f"(?:,[ ]*{_PLACE}(?:[ ]City)?)?(?:,[ ]*{_PLACE}[ ]Province)?(?:,?[ ]*[0-9]{{6}})?)?"
    # US: ..., Adamsbury, OR 13900
    + f"(?:,?[ ]*{_WORD}(?:[ ]{_WORD}){{0,3}},?[ ]+"
    + "(?P<state>[A-Z]{2})[ ]+[0-9]{5}(?:-[0-9]{4})?)?"
)


class EnglishAddressRecognizer(RegexRecognizer):
    """House number, one to three capitalised words, a USPS street suffix, then what follows.

    ``7631 Johnson Village Suite 690, Adamsbury, OR 13900``,
    ``Room 1201, No. 88 Keji Road, Nanshan District, Shenzhen``.  Units,
    city/state/ZIP and district/city/province tails are taken when present;
    a two-letter state must be a USPS code.  An address without a house
    number (``on Main Street``) is not matched.
    """

    ENTITY = EntityType.ADDRESS
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (Pattern("street address", _ADDRESS, 0.85),)

    def validate(self, match: re.Match[str]) -> bool:
        state = match.group("state")
        return state is None or state in US_STATES
