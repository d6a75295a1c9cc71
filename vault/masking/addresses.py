"""Reading the administrative prefix of a Chinese address: province, city, district.

Masks and generalisation both keep the coarse part of an address and drop the
rest, so both need the same reading of where ``广东省深圳市南山区`` ends.  The
province is matched by full or short name (``广东`` is ``广东省``), which is
what lets ``广东深圳市`` and ``广东省深圳市`` generalise to one province.  A city
or district counts only if the gazetteer (:mod:`vault.masking.divisions`)
knows it in that place, longest name first; a street that merely ends in 市
is never taken for a city.  What cannot be read is ``None``: callers then show
less, never more.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from vault.masking.divisions import MUNICIPALITIES, PROVINCES, gazetteer

_LONGEST_NAME = 16
"""Longer than any city or county name in the gazetteer (15 characters at most)."""


@dataclass(frozen=True, slots=True)
class AddressPrefix:
    """The administrative units an address starts with, as far as they can be read."""

    province: str | None
    """Full name of the provincial-level division (``广东省``, ``北京市``).

    Read from the address, or implied by its city when the address starts
    with a city whose name only one province has."""
    city: str | None
    """Prefecture-level city or equivalent; ``None`` in a municipality (the province is one)."""
    district: str | None
    """County-level unit: district, county, banner or county-level city."""

    @property
    def in_municipality(self) -> bool:
        """Beijing, Tianjin, Shanghai, Chongqing: the district plays the city's part."""
        return self.province in MUNICIPALITIES


def parse_address(value: str) -> AddressPrefix:
    text = "".join(unicodedata.normalize("NFKC", value).split())
    province, pos, loose = _province(text)
    if province is not None:
        prefix = _below_province(text, province, pos, loose)
        # A bare short name followed by no known unit is a street (北京路), not a province.
        if not loose or prefix.city is not None or prefix.district is not None:
            return prefix
    return _from_city(text)


def _province(text: str) -> tuple[str | None, int, bool]:
    """The province, where the text after it starts, and whether only its short name was used."""
    for short, full in PROVINCES:
        if text.startswith(full):
            return full, len(full), False
        if text.startswith(short):
            pos = len(short)
            # "广西省", "北京市" spelt loosely: the suffix belongs to the province.
            suffix = text[pos : pos + 1]
            if suffix == "省" or (suffix == "市" and full in MUNICIPALITIES):
                return full, pos + 1, False
            return full, pos, True
    return None, 0, False


def _below_province(text: str, province: str, pos: int, loose: bool) -> AddressPrefix:
    places = gazetteer()
    if province in MUNICIPALITIES:
        district, _ = _longest(text, pos, places.districts.get((province, None), ()))
        return AddressPrefix(province, None, district)
    known = places.cities.get(province, frozenset())
    city, end = _longest(text, pos, known)
    if city is None and loose:
        # "吉林市..." is the city of Jilin, in the province of Jilin.
        city, end = _longest(text, 0, known)
    if city is None:
        return AddressPrefix(province, None, None)
    district, _ = _longest(text, end, places.districts.get((province, city), ()))
    return AddressPrefix(province, city, district)


def _from_city(text: str) -> AddressPrefix:
    """An address that starts with its city: the province follows from the city, if unique."""
    places = gazetteer()
    city, end = _longest(text, 0, places.province_of_city)
    if city is None:
        return AddressPrefix(None, None, None)
    province = places.province_of_city[city]
    if province is None:
        return AddressPrefix(None, city, None)
    district, _ = _longest(text, end, places.districts.get((province, city), ()))
    return AddressPrefix(province, city, district)


def _longest(text: str, pos: int, names: Collection[str]) -> tuple[str | None, int]:
    """The longest of ``names`` that ``text`` has at ``pos``, and where it ends."""
    for end in range(min(len(text), pos + _LONGEST_NAME), pos + 1, -1):
        if text[pos:end] in names:
            return text[pos:end], end
    return None, pos


def join(*parts: str | None) -> str | None:
    """The parts that are known, concatenated; ``None`` if none is."""
    present = [p for p in parts if p]
    return "".join(present) if present else None
