"""Checks that turn a pattern match into a finding: check digits, calendars, number plans.

Kept apart from the patterns on purpose.  A pattern says what a value *looks
like* and is tuned for recall; the checks here say whether it *is* one, and
are the well-kept libraries' where one exists (python-stdnum for the resident
ID, phonenumbers for the Chinese number plan).  Every function takes the
matched text and answers yes or no; none raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from vault.redaction.lexicon_zh import PLATE_PROVINCES

_NON_DIGITS = re.compile(r"[^0-9]")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")

EARLIEST_BIRTH_YEAR = 1900
LATEST_BIRTH_YEAR = 2099
"""Birth dates outside these years are taken for something else (a typo, a serial)."""


def digits(value: str) -> str:
    return _NON_DIGITS.sub("", value)


def compact(value: str) -> str:
    """Letters and digits only, upper-cased: ``110101 19900307 123x`` → ``11010119900307123X``."""
    return _NON_ALNUM.sub("", value).upper()


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check used by every payment card scheme, UnionPay included."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def bank_card_ok(value: str) -> bool:
    """16-19 digits passing Luhn, or a 15-digit American Express number (34/37).

    Not all-one-digit: ``0000 0000 0000 0000`` passes Luhn and is a placeholder.
    """
    number = digits(value)
    if len(set(number)) == 1:
        return False
    if 16 <= len(number) <= 19:
        return luhn_ok(number)
    if len(number) == 15 and number[:2] in ("34", "37"):
        return luhn_ok(number)
    return False


def resident_id_ok(value: str) -> bool:
    """ISO 7064 MOD 11-2 check digit and a real, plausible embedded birth date.

    Both checks are python-stdnum's.  Its ``is_valid`` also requires the
    region code to be a county that existed in the birth year, according to
    its own table; a redactor should not let a real ID through because that
    table is incomplete, so that part is left out.
    """
    number = compact(value)
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if ric.calc_check_digit(number) != number[17]:
        return False
    try:
        born = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        return False
    return birth_date_ok(born.year, born.month, born.day)


def _cn_number_type(national: str) -> int | None:
    try:
        parsed = phonenumbers.parse("+86" + national, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return int(phonenumbers.number_type(parsed))


def mobile_ok(value: str) -> bool:
    """A number in the PRC mobile plan, with or without the +86 / 0086 prefix."""
    number = digits(value)
    if len(number) == 13 and number.startswith("86"):
        number = number[2:]
    elif len(number) == 15 and number.startswith("0086"):
        number = number[4:]
    if len(number) != 11 or number[0] != "1":
        return False
    return _cn_number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def landline_ok(area: str, local: str) -> bool:
    """A fixed line: a PRC area code (trunk 0 optional) and a 7-8 digit local number.

    Structural on purpose: phonenumbers knows which areas have gone to eight
    digits and rejects ``(0755)1234567``, yet such numbers are written in
    notes (old records, typos) and are still personal data.  Two-digit area
    codes (Beijing 10, 20-29) take eight digits; three-digit codes start 3-9.
    """
    area_digits = digits(area).lstrip("0")
    local_digits = digits(local)
    if local_digits[:1] in ("", "0") or len(local_digits) not in (7, 8):
        return False
    if len(area_digits) == 2:
        return (area_digits == "10" or area_digits[0] == "2") and len(local_digits) == 8
    return len(area_digits) == 3 and area_digits[0] in "3456789"


def birth_date_ok(year: int, month: int, day: int | None) -> bool:
    """A real calendar date (or month, when ``day`` is None) in a plausible birth year."""
    if not EARLIEST_BIRTH_YEAR <= year <= LATEST_BIRTH_YEAR:
        return False
    try:
        dt.date(year, month, day or 1)
    except ValueError:
        return False
    return True


_PLATE_LETTERS = set("ABCDEFGHJKLMNPQRSTUVWXYZ")
_ENERGY = set("DF")


def plate_ok(value: str) -> bool:
    """A PRC plate: province character, issuing-office letter, then 5 or 6 serial characters.

    Ordinary plates carry 5 letters or digits with no I or O; new-energy plates
    carry 6, starting or ending with D/F (electric/hybrid), the rest digits.
    """
    if not value or value[0] not in PLATE_PROVINCES:
        return False
    body = compact(value[1:])
    if len(body) < 6 or body[0] not in _PLATE_LETTERS:
        return False
    serial = body[1:]
    if len(serial) == 5:
        if any(c in "IO" for c in serial):
            return False
        return sum(c.isdigit() for c in serial) >= 2
    if len(serial) == 6:
        if serial[0] in _ENERGY:
            return (serial[1] in _PLATE_LETTERS or serial[1].isdigit()) and serial[2:].isdigit()
        return serial[-1] in _ENERGY and serial[:5].isdigit()
    return False
