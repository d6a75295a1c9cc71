"""Reading phone numbers in any spelling into the parts a mask keeps or hides.

Masks must agree on *what* a number is before they decide what to show:
``138-1234-5678``, ``+86 138 1234 5678`` and ``008613812345678`` are one
mobile, and each must come out as ``138****5678``.  Chinese mobiles and
landlines are recognised by their numbering plan here rather than by
phonenumbers' metadata, so a newly opened prefix or a 7-digit subscriber
number in a city the metadata thinks has 8 still masks properly instead of
being redacted; numbers outside +86 are left to phonenumbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

_SEPARATORS = str.maketrans("", "", " -()./\u00a0\t")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_CN_LANDLINE = re.compile(r"0(10|2\d|[3-9]\d\d)(\d{7,8})", re.ASCII)
"""Trunk 0, area code (010, 02x, or three digits), subscriber number of 7-8 digits.

The area code's own digits fix its length, so the split is never ambiguous."""


@dataclass(frozen=True, slots=True)
class CnMobile:
    number: str
    """The 11-digit national number."""


@dataclass(frozen=True, slots=True)
class CnLandline:
    area_code: str
    """With the trunk prefix: ``010``, ``0755``."""
    subscriber: str


@dataclass(frozen=True, slots=True)
class ForeignNumber:
    country_code: int
    national_number: str


Phone = CnMobile | CnLandline | ForeignNumber


def parse_phone(value: str) -> Phone | None:
    """The number's parts, or ``None`` if it is not recognisably a phone number."""
    compact = unicodedata.normalize("NFKC", value).translate(_SEPARATORS)
    cn = _cn_national(compact)
    if cn is not None:
        national, dialled_from_abroad = cn
        if _CN_MOBILE.fullmatch(national):
            return CnMobile(national)
        if dialled_from_abroad and not national.startswith("0"):
            national = "0" + national
        landline = _CN_LANDLINE.fullmatch(national)
        if landline:
            return CnLandline("0" + landline.group(1), landline.group(2))
        return None
    if not compact.startswith(("+", "00")):
        return None
    try:
        parsed = phonenumbers.parse("+" + compact.lstrip("+").removeprefix("00"), None)
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code is None or not phonenumbers.is_possible_number(parsed):
        return None
    return ForeignNumber(parsed.country_code, phonenumbers.national_significant_number(parsed))


def _cn_national(compact: str) -> tuple[str, bool] | None:
    """The national part of a Chinese number and whether it came with the country code.

    ``None`` for other countries and for what is not digits.  A landline needs
    its trunk ``0`` unless the country code was given: a bare 9-digit string is
    not read as a number in Chongqing.
    """
    national, international = compact, False
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            national, international = compact[len(prefix) :], True
            break
    else:
        if compact.startswith(("+", "00")):
            return None
        if compact.startswith("86") and len(compact) == 13:
            national, international = compact[2:], True
    if not (national.isascii() and national.isdigit()):
        return None
    return national, international
