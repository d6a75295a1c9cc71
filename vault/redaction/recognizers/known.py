"""The values the vault already holds for a customer, found in a note however they are written.

Patterns miss what they were not written for: a mobile typed with dots, a
name with spaces between the characters, an e-mail in capitals, half of an
address.  When the caller knows whose note it is, the vault knows that
customer's values and can look for *them*.  Each value becomes one or more
patterns, normalised by kind:

* phones, ID numbers, policy and claim numbers: the characters in order with
  separators (spaces, dashes, dots, brackets) allowed between any two, full-
  width digits accepted, an optional +86/0086 before a phone;
* e-mails: case-insensitive, ``@``/``.`` also as ``＠``, ``(at)``, `` dot ``;
* names: Chinese characters with any white space between them; Latin names
  case-insensitive, in either order, and each part of three letters or more
  alone when written capitalised;
* addresses: every run of consecutive components (``南山区科技园路88号``),
  or of comma-separated parts for Latin addresses;
* dates of birth: the date in every format the birth-date recognizer reads;
* provinces and cities: with and without their suffix (``深圳市``, ``深圳``).

Values are searched as plain substrings of normalised views of the text, or
walked with a few patterns compiled once, never with a pattern compiled per
value: the 360 read redacts the notes of a customer seen for the first time,
and compiling a pattern per name, address or date cost more than the rest of
the note's redaction (only unknown keys are still matched by a small pattern).

Keys are read through the schema registry (``customers.mobile`` is a
``MOBILE``), with a few aliases (``name``, ``phone``, ``dob``).  Gender and
income are not matched: ``男`` or an amount would erase unrelated words.
Unknown keys are matched literally and tagged ``<PII>``.

presidio's deny-list recognizer would be the obvious tool and fails on
Chinese text: it wraps the words in ``(?<=\\W)``/``(?=\\W)``, and in
``客户张三来电`` the neighbours of ``张三`` are word characters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_en import MONTHS
from vault.redaction.lexicon_zh import PROVINCE_SUFFIXES
from vault.redaction.recognizers.address_zh import component_pattern
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import (
    NOT_AFTER_ALNUM,
    NOT_AFTER_DIGIT,
    NOT_BEFORE_ALNUM,
    NOT_BEFORE_DIGIT,
    has_cjk,
)
from vault.redaction.validation import compact, resident_id_ok
from vault.schema import PiiType, registry

KnownValues = Mapping[str, str | Sequence[str]]

_ALIASES = {
    "name": "full_name",
    "customer_name": "full_name",
    "phone": "mobile",
    "mobile_phone": "mobile",
    "phone_number": "mobile",
    "mobile_number": "mobile",
    "telephone": "mobile",
    "tel": "mobile",
    "landline": "mobile",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "birthday": "birth_date",
    "id_no": "id_number",
    "passport": "id_number",
    "passport_number": "id_number",
    "zip": "postcode",
    "zipcode": "postcode",
    "postal_code": "postcode",
}
_SCHEMA_TABLES = ("customers", "policies", "claims", "employees")
_SKIPPED = frozenset((PiiType.GENDER, PiiType.INCOME))
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_ID_SEPARATORS = frozenset(" \t\n\r\u00a0\u3000-.()\uff08\uff09\u2010\u2011\u2013\u2014")
_NAME_GAPS = frozenset(" \t\n\r\u00a0\u3000\u00b7\u2022")
_LATIN_GAPS = _NAME_GAPS | frozenset(",.")
"""Dropped from the view Latin names and addresses are searched in (``Smith, John``)."""
_VIEW_DROPS = {"identifier": _ID_SEPARATORS, "compact": _NAME_GAPS, "latin": _LATIN_GAPS}
_PHONE_PREFIX = re.compile(
    "(?:(?:\\+|00)[ ]?86|[(](?:\\+|00)?86[)])[ \\-]*(?:[(]?0[)]?[ \\-]*)?[(]?$"
)
"""A country code (and trunk 0) just before a known phone: redacted with it."""


def pii_type_of(key: str) -> PiiType | None:
    """What the schema registry says a known-value key holds; None for an unknown key."""
    name = key.strip().lower().replace("-", "_").replace(" ", "_")
    name = _ALIASES.get(name, name)
    tables = registry()
    for table_name in _SCHEMA_TABLES:
        for f in tables[table_name].fields:
            if f.name == name and f.pii_type is not None:
                return f.pii_type
    return None


def _fold(text: str) -> str:
    """Full-width letters, digits and spaces to ASCII (``１３８`` → ``138``), upper case."""
    return text.translate(_FULLWIDTH).upper()


class _View:
    """``text`` with some characters dropped and the rest folded, mapped back to offsets.

    Searching a normalised value in a normalised text is how "the same mobile,
    spelled differently" is found without a pattern per spelling: in the
    separator-free view ``138.1234.5678`` and ``(+86)138 1234 5678`` both
    contain ``13812345678``.
    """

    __slots__ = ("index", "text")

    def __init__(self, text: str, drop: frozenset[str]) -> None:
        folded = _fold(text)
        keep = [i for i, ch in enumerate(folded) if ch not in drop]
        self.index = keep
        self.text = "".join(folded[i] for i in keep)

    def find_all(self, needle: str) -> Iterator[tuple[int, int]]:
        """Original ``(start, end)`` of every occurrence of ``needle`` in the view."""
        pos = self.text.find(needle)
        while pos >= 0:
            yield self.index[pos], self.index[pos + len(needle) - 1] + 1
            pos = self.text.find(needle, pos + 1)


@dataclass
class _Views:
    """The normalised views of one text, built only when a matcher asks."""

    text: str
    _views: dict[str, _View] = field(default_factory=dict)

    def view(self, name: str) -> _View:
        if name not in self._views:
            drop = _VIEW_DROPS[name]
            self._views[name] = _View(self.text, drop)
        return self._views[name]


def _clear(text: str, start: int, end: int, value: str) -> bool:
    """No letter or digit glued to the value where the value itself starts/ends with one."""
    before = _fold(text[start - 1 : start]) if start else ""
    after = _fold(text[end : end + 1])

    def glued(edge: str, neighbour: str) -> bool:
        if not neighbour or not neighbour.isascii():
            return False
        if edge.isdigit():
            return neighbour.isdigit()
        if edge.isascii() and edge.isalpha():
            return neighbour.isalnum()
        return False

    return not glued(value[:1], before) and not glued(value[-1:], after)


class _Matcher:
    """Finds one known value; ``type`` is what it is reported as."""

    type: EntityType

    def find(self, views: _Views) -> Iterator[tuple[int, int]]:
        raise NotImplementedError


@dataclass(frozen=True)
class _Needles(_Matcher):
    """Plain substrings searched in a normalised view (identifiers, names, addresses).

    ``capitalised``: only where the text writes the value's first letter in
    upper case (``Smith`` the surname, not ``a smith``).
    """

    type: EntityType
    view: str
    needles: tuple[str, ...]
    phone: bool = False
    capitalised: bool = False

    def find(self, views: _Views) -> Iterator[tuple[int, int]]:
        text = views.text
        for needle in self.needles:
            for start, end in views.view(self.view).find_all(needle):
                if self.capitalised and not text[start].isupper():
                    continue
                if self.phone:
                    prefix = _PHONE_PREFIX.search(_fold(text[max(0, start - 12) : start]))
                    if prefix is not None:
                        start -= len(prefix.group())
                if _clear(text, start, end, _fold(text[start:end])):
                    yield start, end


@dataclass(frozen=True)
class _Regex(_Matcher):
    """A small pattern, for Latin names, e-mails, Latin addresses, dates and literals."""

    type: EntityType
    pattern: re.Pattern[str]

    def find(self, views: _Views) -> Iterator[tuple[int, int]]:
        for m in self.pattern.finditer(views.text):
            if m.end() > m.start():
                yield m.span()


def _regex(kind: EntityType, patterns: list[str]) -> list[_Matcher]:
    if not patterns:
        return []
    ordered = sorted(set(patterns), key=len, reverse=True)
    return [_Regex(kind, re.compile("|".join(f"(?:{p})" for p in ordered)))]


def _words(value: str) -> str:
    """A literal with any white space where it has some."""
    return "\\s+".join(re.escape(w) for w in value.split())


def _phone(value: str) -> list[_Matcher]:
    number = compact(value)
    if not number.isdigit():
        return []
    if number.startswith("0086"):
        number = number[4:]
    elif number.startswith("86") and len(number) >= 12:
        number = number[2:]
    if len(number) == 11 and number.startswith("1"):
        return [_Needles(EntityType.MOBILE, "identifier", (number,), phone=True)]
    national = number.lstrip("0")
    if len(national) < 5:
        return []
    return [_Needles(EntityType.LANDLINE, "identifier", ("0" + national, national), phone=True)]


def _identifier(kind: EntityType, value: str) -> list[_Matcher]:
    code = compact(value)
    return [_Needles(kind, "identifier", (code,))] if len(code) >= 4 else []


def _id_type(value: str) -> EntityType:
    code = compact(value)
    if resident_id_ok(code):
        return EntityType.PRC_ID
    if re.fullmatch("[A-Z]{1,2}[0-9]{6,9}", code):
        return EntityType.PASSPORT
    return EntityType.ID_NUMBER


_EMAIL_AT = re.compile("\\s*(?:@|\uff20|[(\\[]at[)\\]]|\\sat\\s)\\s*", re.IGNORECASE)
_EMAIL_DOT = re.compile("\\s*(?:\\.|\u3002|[(\\[]dot[)\\]]|\\sdot\\s)\\s*", re.IGNORECASE)
_EMAIL_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_AFTER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class _Email(_Matcher):
    """One known address, case-insensitive, ``@``/``.`` also as ``＠``, ``(at)``, `` dot ``.

    Walked by hand over the lower-cased text (the separators are two small
    patterns compiled once), because a pattern compiled per address costs
    more than the rest of a note's redaction.
    """

    type: EntityType
    local: tuple[str, ...]
    domain: tuple[str, ...]

    def find(self, views: _Views) -> Iterator[tuple[int, int]]:
        text = views.text
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two (İ): keep offsets
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        first = self.local[0]
        pos = lower.find(first)
        while pos >= 0:
            end = self._match_from(lower, pos)
            glued_before = pos > 0 and text[pos - 1] in _EMAIL_BEFORE
            glued_after = end is not None and end < len(text) and text[end] in _EMAIL_AFTER
            if end is not None and not glued_before and not glued_after:
                yield pos, end
            pos = lower.find(first, pos + 1)

    def _match_from(self, lower: str, pos: int) -> int | None:
        """Where the address that starts at ``pos`` ends, or None if it is not there."""
        for part_index, parts in enumerate((self.local, self.domain)):
            if part_index == 1:
                at = _EMAIL_AT.match(lower, pos)
                if at is None:
                    return None
                pos = at.end()
            for i, part in enumerate(parts):
                if i:
                    dot = _EMAIL_DOT.match(lower, pos)
                    if dot is None:
                        return None
                    pos = dot.end()
                if not lower.startswith(part, pos):
                    return None
                pos += len(part)
        return pos


def _email(value: str) -> list[_Matcher]:
    local, _, domain = value.strip().lower().rpartition("@")
    if not local or not domain:
        return []
    local_parts, domain_parts = tuple(local.split(".")), tuple(domain.split("."))
    if not all(local_parts) or not all(domain_parts):  # "a..b@x": not worth a spelling model
        return _literal(EntityType.EMAIL, value)
    return [_Email(EntityType.EMAIL, local_parts, domain_parts)]


def _cjk_needles(kind: EntityType, values: list[str]) -> list[_Matcher]:
    needles = tuple(sorted({_fold("".join(v.split())) for v in values if len(v.strip()) >= 2}))
    return [_Needles(kind, "compact", needles)] if needles else []


def _latin_key(value: str) -> str:
    """A Latin value as the ``latin`` view holds it: folded, without spaces, commas, dots."""
    return "".join(ch for ch in _fold(value) if ch not in _LATIN_GAPS)


def _name(value: str) -> list[_Matcher]:
    value = " ".join(value.split())
    if has_cjk(value):
        return _cjk_needles(EntityType.PERSON, [value])
    tokens = [t for t in re.split("[\\s,.]+", value) if t]
    if not tokens:
        return []
    whole = {_latin_key("".join(tokens)), _latin_key("".join(reversed(tokens)))}
    found: list[_Matcher] = [_Needles(EntityType.PERSON, "latin", tuple(sorted(whole)))]
    parts = {_latin_key(t) for t in tokens if len(t) >= 3 and t[0].isalpha()} - whole
    if parts:
        found.append(_Needles(EntityType.PERSON, "latin", tuple(sorted(parts)), capitalised=True))
    return found


def _address(value: str) -> list[_Matcher]:
    value = value.strip()
    if has_cjk(value):
        return _cjk_needles(EntityType.ADDRESS, _zh_fragments(value))
    parts = [p.strip() for p in re.split("[,\\n]+", value) if p.strip()]
    fragments: list[str] = []
    for i in range(len(parts)):
        for j in range(i + 1, len(parts) + 1):
            fragments.append("".join(parts[i:j]))
        street = re.match("[0-9]+[A-Za-z]?\\s+(.+)", parts[i])
        if street is not None and len(street.group(1).split()) >= 2:
            fragments.append(street.group(1))
    needles = {key for key in map(_latin_key, fragments) if len(key) >= 4}
    return [_Needles(EntityType.ADDRESS, "latin", tuple(sorted(needles)))] if needles else []


def _zh_fragments(value: str) -> list[str]:
    """The address and every run of its consecutive components (``南山区科技园路88号``)."""
    compact_value = "".join(value.split())
    pattern = component_pattern()
    components: list[tuple[str, str]] = []
    pos = 0
    while pos < len(compact_value):
        m = pattern.match(compact_value, pos)
        if m is None or m.end() == pos:
            # Not a recognised component: glue the character to the previous piece.
            if components:
                kind, text = components[-1]
                components[-1] = (kind, text + compact_value[pos])
            else:
                components.append(("other", compact_value[pos]))
            pos += 1
            continue
        components.append((m.lastgroup or "other", m.group()))
        pos = m.end()
    fragments = [compact_value]
    for i in range(len(components)):
        for j in range(i + 1, len(components) + 1):
            run = components[i:j]
            text = "".join(t for _, t in run)
            if len(run) == 1 and (run[0][0] == "num" or len(text) < 3):
                continue
            fragments.append(text)
    return fragments


def _place(value: str) -> list[_Matcher]:
    value = value.strip()
    if not has_cjk(value):
        return _literal(EntityType.LOCATION, value)
    variants = [value]
    for suffix in (*PROVINCE_SUFFIXES, "县", "区"):
        if value.endswith(suffix) and len(value) - len(suffix) >= 2:
            variants.append(value[: -len(suffix)])
    return _cjk_needles(EntityType.LOCATION, variants)


def _parse_date(value: str) -> dt.date | None:
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class _Date(_Matcher):
    """One known date in every format the birth-date recognizer reads, without context.

    Every date-shaped span is found by one pattern compiled once
    (:func:`_date_shapes`) and compared with the known date; ``03/05/1990`` is
    taken either way round (day first or month first).
    """

    type: EntityType
    date: dt.date

    def find(self, views: _Views) -> Iterator[tuple[int, int]]:
        want = (self.date.year, self.date.month, self.date.day)
        for m in _date_shapes().finditer(views.text):
            groups = m.groupdict()
            if groups["ymd_y"]:
                found = [(groups["ymd_y"], groups["ymd_m"], groups["ymd_d"])]
            elif groups["zh_y"]:
                found = [(groups["zh_y"], groups["zh_m"], groups["zh_d"])]
            elif groups["amb_y"]:
                a, b = groups["amb_a"], groups["amb_b"]
                found = [(groups["amb_y"], b, a), (groups["amb_y"], a, b)]
            elif groups["dm_y"]:
                month = str(MONTHS[groups["dm_mon"].lower()])
                found = [(groups["dm_y"], month, groups["dm_d"])]
            elif groups["md_y"]:
                month = str(MONTHS[groups["md_mon"].lower()])
                found = [(groups["md_y"], month, groups["md_d"])]
            else:
                compact_date = groups["compact"]
                found = [(compact_date[:4], compact_date[4:6], compact_date[6:])]
            if any(tuple(int(x) for x in ymd) == want for ymd in found):
                yield m.span()


@lru_cache(maxsize=1)
def _date_shapes() -> re.Pattern[str]:
    """Dates: ``1990-03-05``, ``1990年3月5日``, ``05/03/1990``, ``5th March 1990``, ``19900305``."""
    months = "|".join(sorted(MONTHS, key=len, reverse=True))
    ordinal = "(?:st|nd|rd|th)?"
    day, month = "(?:[0-9]{1,2})", "(?:[0-9]{1,2})"
    shapes = [
        f"(?P<ymd_y>[0-9]{{4}})[\\-/.](?P<ymd_m>{month})[\\-/.](?P<ymd_d>{day})",
        f"(?P<zh_y>[0-9]{{4}})\\s?年\\s?(?P<zh_m>{month})\\s?月\\s?(?P<zh_d>{day})\\s?[日号]?",
        f"(?P<amb_a>{day})[\\-/.](?P<amb_b>{day})[\\-/.](?P<amb_y>[0-9]{{4}})",
        f"(?P<dm_d>{day}){ordinal}\\s+(?:of\\s+)?(?P<dm_mon>(?i:{months}))\\.?,?\\s+"
        "(?P<dm_y>[0-9]{4})",
        f"(?P<md_mon>(?i:{months}))\\.?\\s+(?P<md_d>{day}){ordinal},?\\s+(?P<md_y>[0-9]{{4}})",
        "(?P<compact>[0-9]{8})",
    ]
    return re.compile("|".join(NOT_AFTER_DIGIT + s + NOT_BEFORE_DIGIT for s in shapes))


def _birth_date(value: str) -> list[_Matcher]:
    date = _parse_date(value)
    if date is None:
        return _literal(EntityType.DATE_OF_BIRTH, value)
    return [_Date(EntityType.DATE_OF_BIRTH, date)]


def _literal(kind: EntityType, value: str) -> list[_Matcher]:
    value = value.strip()
    if len(value) < 2:
        return []
    if has_cjk(value):
        return _cjk_needles(kind, [value])
    pattern = f"(?i:{_words(value)})"
    if value[0].isascii() and value[0].isalnum():
        pattern = NOT_AFTER_ALNUM + pattern
    if value[-1].isascii() and value[-1].isalnum():
        pattern = pattern + NOT_BEFORE_ALNUM
    return _regex(kind, [pattern])


@lru_cache(maxsize=4096)
def matchers_for(key: str, value: str) -> tuple[_Matcher, ...]:
    """The matchers that find ``value`` (held under ``key``) in free text; cached per value.

    A bulk job redacts many notes of the same customer; the cache makes the
    second note free.  Matchers are immutable.
    """
    pii = pii_type_of(key)
    if pii in _SKIPPED or not value.strip():
        return ()
    if pii is PiiType.PERSON_NAME:
        found = _name(value)
    elif pii is PiiType.MOBILE:
        found = _phone(value)
    elif pii in (PiiType.PRC_ID, PiiType.PASSPORT, PiiType.ID_NUMBER):
        found = _identifier(_id_type(value), value)
    elif pii is PiiType.POLICY_NUMBER:
        found = _identifier(EntityType.POLICY_NUMBER, value)
    elif pii is PiiType.CLAIM_NUMBER:
        found = _identifier(EntityType.CLAIM_NUMBER, value)
    elif pii is PiiType.EMAIL:
        found = _email(value)
    elif pii is PiiType.ADDRESS:
        found = _address(value)
    elif pii in (PiiType.PROVINCE, PiiType.CITY):
        found = _place(value)
    elif pii is PiiType.POSTCODE:
        found = _identifier(EntityType.POSTCODE, value)
    elif pii is PiiType.DATE_OF_BIRTH:
        found = _birth_date(value)
    else:
        found = _literal(EntityType.OTHER, value)
    return tuple(found)


class KnownValuesRecognizer(VaultRecognizer):
    """Finds one customer's known values; built per call, never registered."""

    ENTITY = EntityType.OTHER

    def __init__(self, known: KnownValues, supported_language: str = "en") -> None:
        self._matchers: list[_Matcher] = []
        for key, values in known.items():
            for value in [values] if isinstance(values, str) else values:
                self._matchers.extend(matchers_for(key, value))
        super().__init__(supported_language=supported_language)

    @classmethod
    def entity_types(cls) -> tuple[EntityType, ...]:
        return tuple(EntityType)

    def find(self, text: str) -> Iterator[Finding]:
        views = _Views(text)
        for matcher in self._matchers:
            for start, end in matcher.find(views):
                yield Finding(start, end, 1.0, matcher.type)
