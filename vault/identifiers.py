"""Parsing identifiers into one canonical form: PRC IDs, passports, mobiles, emails, names.

Validation at import and blind indexing must agree on what "the same mobile"
means, or a lookup would miss a customer the importer stored.  Both call the
functions here.  Each function returns the canonical value or raises
:class:`~vault.errors.ValidationError` naming the field and the rule, never the
value.  The checks are the well-kept libraries' (python-stdnum, phonenumbers,
email-validator); this module only decides the canonical form.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from vault.errors import ValidationError

RESIDENT_ID = "resident_id"
PASSPORT = "passport"
ID_TYPES = (RESIDENT_ID, PASSPORT)

_PASSPORT_RE = re.compile(r"[A-Z0-9]{5,20}")
_RESIDENT_ID_RE = re.compile(r"\d{17}[\dX]")
_SEPARATORS = str.maketrans("", "", " -\u00a0\t")
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()\u00a0\t")
_CN_MOBILE_RE = re.compile(r"(?:\+86|0086|86)?(1\d{10})")
_MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated PRC resident ID and the facts it embeds."""

    number: str
    birth_date: dt.date
    gender: str
    """``M`` or ``F``, from the parity of the 17th digit."""


def parse_resident_id(
    value: str, field: str = "id_number", *, today: dt.date | None = None
) -> ResidentId:
    """Check digit (ISO 7064 MOD 11-2) and embedded birth date of an 18-character PRC ID.

    Deliberately not ``stdnum.cn.ric.validate`` whole: that also requires the
    area code to be in stdnum's division table *as of the birth year*, and the
    table dates most districts from 1983, so it rejects real IDs of older
    customers.  The check digit already catches typing errors.
    """
    number = value.translate(_SEPARATORS).upper()
    if len(number) != 18:
        raise ValidationError(field, "a resident ID has 18 characters")
    if not _RESIDENT_ID_RE.fullmatch(number):
        raise ValidationError(field, "a resident ID has 17 digits and a digit or X")
    if number[-1] != ric.calc_check_digit(number):
        raise ValidationError(field, "check digit does not match")
    try:
        birth = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        raise ValidationError(field, "embedded birth date is not a real date") from None
    if birth >= (today or dt.date.today()):
        raise ValidationError(field, "embedded birth date is not in the past")
    gender = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, birth_date=birth, gender=gender)


def canonical_passport(value: str, field: str = "id_number") -> str:
    number = value.translate(_SEPARATORS).upper()
    if not _PASSPORT_RE.fullmatch(number):
        raise ValidationError(field, "a passport number has 5-20 letters or digits")
    return number


def canonical_id_number(value: str, id_type: str | None, field: str = "id_number") -> str:
    """The canonical ID number for its document type (unknown type: upper-cased, no separators)."""
    if id_type == RESIDENT_ID:
        return parse_resident_id(value, field).number
    if id_type == PASSPORT:
        return canonical_passport(value, field)
    return value.translate(_SEPARATORS).upper()


def canonical_mobile(value: str, field: str = "mobile") -> str:
    """E.164 form of a mobile number; national spellings are read as Chinese (+86).

    Chinese mobiles in their usual spellings skip the general parser (the slow
    part) but are still judged valid or not by phonenumbers' metadata.
    """
    cn = _CN_MOBILE_RE.fullmatch(value.translate(_PHONE_PUNCTUATION))
    if cn is not None:
        digits = cn.group(1)
        verdict = _cn_mobile_prefix(digits[:7])
        if verdict is not None:
            raise ValidationError(field, verdict)
        return "+86" + digits
    try:
        parsed = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError(field, "not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(field, "not a valid phone number")
    if parsed.country_code == 86 and phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        raise ValidationError(field, "not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65536)
def _cn_mobile_prefix(prefix: str) -> str | None:
    """phonenumbers' verdict on 11-digit Chinese numbers starting with ``prefix`` (7 digits).

    In its metadata every pattern that can match an 11-digit national number
    starting with 1 is a mobile pattern fixed by at most the first 7 digits
    (the rest is any four or more digits), so the verdict for the prefix is the verdict for
    every number under it; caching it skips the general parser per row.
    """
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(prefix + "0000"))
    if not phonenumbers.is_valid_number(number):
        return "not a valid phone number"
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return "not a mobile number"
    return None


def canonical_email(value: str, field: str = "email") -> str:
    """Syntax check without DNS; the stored form keeps the local part's case."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(field, "not a valid email address") from None
    return str(result.normalized)


def email_index_form(email: str) -> str:
    """Emails are matched case-insensitively, local part included."""
    return email.strip().casefold()


def canonical_name(value: str, field: str = "full_name") -> str:
    """NFKC, single spaces, 1-100 characters."""
    name = " ".join(unicodedata.normalize("NFKC", value).split())
    if not name:
        raise ValidationError(field, "is required")
    if len(name) > 100:
        raise ValidationError(field, "longer than 100 characters")
    return name


def name_index_form(name: str) -> str:
    """Names are matched ignoring case and white space (``张 伟`` is ``张伟``)."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())
