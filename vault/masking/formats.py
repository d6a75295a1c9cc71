"""Format-aware partial masks: show what lets a person recognise their own data, hide the rest.

Each mask follows common Chinese practice for its format (what call-centre
screens and statements show) and is written so that a masked value never
reveals more than its rule allows:

* the kept characters are counted from a *parsed* value, never from the raw
  spelling, so ``+86 138 1234 5678`` keeps the same digits as ``13812345678``;
* every hidden character becomes ``*`` (or a fixed ``***``/``****`` where the
  length itself would say something, as for e-mail local parts and addresses);
* a value the mask cannot read is fully redacted (:data:`~vault.masking.base.REDACTED`):
  guessing at the format of something unexpected is how partial masks leak.

Every mask is deterministic, so equal values mask equally, which is what lets
a masked view still be compared by eye.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import ClassVar, Literal, Self, cast, get_args

from vault.errors import ValidationError
from vault.masking.addresses import join, parse_address
from vault.masking.base import MASK_CHAR, REDACTED, Operator, Params
from vault.masking.names import NAME_DOTS, chinese_form, normalise, shown_prefix
from vault.masking.phones import CnLandline, CnMobile, ForeignNumber, parse_phone

_SEPARATORS = str.maketrans("", "", " -\u00a0\t")
_RESIDENT_ID = re.compile(r"[1-9][0-9]{16}[0-9X]")
_PASSPORT = re.compile(r"[A-Z0-9]{7,20}")
_POSTCODE = re.compile(r"[0-9]{6}")
_BANK_CARD = re.compile(r"[0-9][0-9 -]*[0-9]")
_HIDDEN_TAIL = "****"
"""Stands for a hidden remainder whose length is not shown (address detail)."""
_HIDDEN_LOCAL = "***"


def _compact(value: str) -> str:
    return unicodedata.normalize("NFKC", value).translate(_SEPARATORS).upper()


def _stars(count: int) -> str:
    return MASK_CHAR * count


def _keep_last(digits: str, keep: int) -> str:
    """All but the last ``keep`` characters starred (``keep`` may be 0)."""
    return _stars(len(digits) - keep) + digits[len(digits) - keep :]


class FormatMask(Operator[str, str]):
    """A mask for one format; most take no parameters, so building one only rejects extras."""

    __slots__ = ()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        Params(cls.name, params).finish()
        return cls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ResidentIdMask(FormatMask):
    """PRC resident ID: first and last character only, ``1****************X``.

    Positions 7-14 are the birth date and 17 the gender digit; the region code
    (1-6) narrows a person down to a county.  The first digit names only a
    broad region and the last is a check character, so those two are what
    may show.  Anything that is not 18 characters after removing separators
    is redacted: an old 15-digit ID ends in its gender digit.
    """

    name = "mask_resident_id"

    def apply(self, value: str) -> str:
        number = _compact(value)
        if not number:
            return ""
        if not _RESIDENT_ID.fullmatch(number):
            return REDACTED
        return number[0] + _stars(16) + number[17]


class PassportMask(FormatMask):
    """Passport number: first character and last two, ``E******78``.

    Numbers shorter than 7 are redacted, so at least four characters are always hidden.
    """

    name = "mask_passport"

    def apply(self, value: str) -> str:
        number = _compact(value)
        if not number:
            return ""
        if not _PASSPORT.fullmatch(number):
            return REDACTED
        return number[0] + _stars(len(number) - 3) + number[-2:]


class PhoneMask(FormatMask):
    """Phone numbers in any spelling, masked in their normalised form.

    * Chinese mobile: first 3 and last 4 of the national number, ``138****5678``
      (the 4 hidden digits are the ones that, with the prefix, route to a person).
    * Chinese landline: area code and the last 2-4 digits, always hiding at least
      four, ``010-****5678``, ``0755-****567``.
    * Other countries: country code and last 4 (fewer for short numbers, again
      hiding at least four), ``+44 ******3456``.
    """

    name = "mask_phone"

    def apply(self, value: str) -> str:
        if not value.strip():
            return ""
        phone = parse_phone(value)
        if isinstance(phone, CnMobile):
            return phone.number[:3] + _stars(4) + phone.number[7:]
        if isinstance(phone, CnLandline):
            sub = phone.subscriber
            return f"{phone.area_code}-{_keep_last(sub, min(4, len(sub) - 4))}"
        if isinstance(phone, ForeignNumber):
            nsn = phone.national_number
            return f"+{phone.country_code} {_keep_last(nsn, max(0, min(4, len(nsn) - 4)))}"
        return REDACTED


class EmailMask(FormatMask):
    """E-mail: first character of the local part, then ``***``; the domain is kept.

    ``zhangwei@163.com`` → ``z***@163.com``.  The fixed ``***`` hides the local
    part's length; a one-character local part shows nothing of itself.
    """

    name = "mask_email"

    def apply(self, value: str) -> str:
        text = value.strip()
        if not text:
            return ""
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain or any(ch.isspace() for ch in text):
            return REDACTED
        shown = local[0] if len(local) > 1 else ""
        return f"{shown}{_HIDDEN_LOCAL}@{domain}"


class BankCardMask(FormatMask):
    """Bank card (16-19 digits): last 4 digits only; spaces or dashes keep their places.

    ``6222 0212 3456 7890`` → ``**** **** **** 7890``; ``6222021234567890123`` →
    ``***************0123``.  The BIN (first 6) is hidden too: with the last 4
    it would narrow the card to a few million numbers of one bank.
    """

    name = "mask_bank_card"

    def apply(self, value: str) -> str:
        text = unicodedata.normalize("NFKC", value).strip()
        if not text:
            return ""
        if not _BANK_CARD.fullmatch(text):
            return REDACTED
        digits = sum(ch.isdigit() for ch in text)
        if not 16 <= digits <= 19:
            return REDACTED
        out: list[str] = []
        seen = 0
        for ch in reversed(text):
            if ch.isdigit():
                seen += 1
                out.append(ch if seen <= 4 else MASK_CHAR)
            else:
                out.append(ch)
        return "".join(reversed(out))


class PersonNameMask(FormatMask):
    """Names: Chinese names keep the surname (``张*``, ``欧阳**``), others each part's initial.

    ``John Smith`` → ``J*** S****``: one ``*`` per hidden letter or digit;
    hyphens, apostrophes and dots stay, so ``O'Neil`` → ``O'****``.  A name in
    Chinese characters has one ``*`` per hidden character and keeps the ``·``
    of transliterated names.
    """

    name = "mask_person_name"

    def apply(self, value: str) -> str:
        chinese = chinese_form(value)
        if chinese is not None:
            shown = shown_prefix(chinese)
            rest = chinese[len(shown) :]
            return shown + "".join(ch if ch in NAME_DOTS else MASK_CHAR for ch in rest)
        name = normalise(value)
        if not name:
            return ""
        parts = name.split(" ")
        if not any(ch.isalnum() for part in parts for ch in part[1:]):
            # Nothing but initials ("J", "J. R."): the rule would show it all, so show none.
            return _starred(name)
        return " ".join(part[0] + _starred(part[1:]) for part in parts)


def _starred(text: str) -> str:
    return "".join(MASK_CHAR if ch.isalnum() else ch for ch in text)


AddressKeep = Literal["province", "city", "district"]


class AddressMask(Operator[str, str]):
    """Chinese address: the administrative prefix, then ``****`` for the rest.

    ``keep`` chooses how far the prefix goes:

    * ``province``: ``广东省****``;
    * ``city`` (default): ``广东省深圳市****``; in a municipality, whose districts
      are city-sized, the district: ``北京市朝阳区****``;
    * ``district``: ``广东省深圳市南山区****``.

    Only units read by :func:`~vault.masking.addresses.parse_address` are shown;
    an address with none (including every non-Chinese address) is redacted.
    """

    name = "mask_address"
    __slots__ = ("keep",)
    KEEP: ClassVar[tuple[str, ...]] = get_args(AddressKeep)

    def __init__(self, keep: AddressKeep = "city") -> None:
        if keep not in self.KEEP:
            raise ValidationError(f"{self.name}.keep", f"must be one of {', '.join(self.KEEP)}")
        self.keep: AddressKeep = keep

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        keep = p.take("keep", str, "city")
        p.finish()
        return cls(cast(AddressKeep, keep))  # the constructor checks it

    def apply(self, value: str) -> str:
        if not value.strip():
            return ""
        prefix = parse_address(value)
        if self.keep == "province":
            shown = prefix.province
        elif self.keep == "city":
            shown = (
                join(prefix.province, prefix.district)
                if prefix.in_municipality
                else join(prefix.province, prefix.city)
            )
        else:
            shown = join(prefix.province, prefix.city, prefix.district)
        return REDACTED if shown is None else shown + _HIDDEN_TAIL

    def __repr__(self) -> str:
        return f"AddressMask(keep={self.keep!r})"


class PostcodeMask(FormatMask):
    """Chinese postcode: the first two digits (the province), ``51****``."""

    name = "mask_postcode"

    def apply(self, value: str) -> str:
        code = _compact(value)
        if not code:
            return ""
        if not _POSTCODE.fullmatch(code):
            return REDACTED
        return code[:2] + _stars(4)


class BirthDateMask(FormatMask):
    """Birth date (ISO text): the year only, ``1990-**-**``.

    The year is what generalisation keeps at its first level too; month and
    day are what turn a birth date into a near-unique key.
    """

    name = "mask_birth_date"

    def apply(self, value: str) -> str:
        text = value.strip()
        if not text:
            return ""
        try:
            date = dt.date.fromisoformat(text)
        except ValueError:
            return REDACTED
        return f"{date.year:04d}-**-**"
