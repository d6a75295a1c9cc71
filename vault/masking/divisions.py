"""China's administrative divisions by name: provinces, cities, and their districts and counties.

Address masks may show a city or district only if it *is* one: a suffix rule
(anything ending in 市 or 区) would show ``城市`` of ``城市花园小区`` or ``农贸市``
of a market's name, which is exactly the detail a mask must hide.  So names
are looked up in a gazetteer: the region-code table python-stdnum ships for
checking resident IDs (GB/T 2260 codes, current and former names), read once
on first use.  Former names are kept because old addresses still use them.

Provinces are matched from the table below instead, with their short names
(``广东`` for ``广东省``), because that is how addresses often begin.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from stdnum import numdb

PROVINCES: tuple[tuple[str, str], ...] = (
    ("北京", "北京市"), ("天津", "天津市"), ("上海", "上海市"), ("重庆", "重庆市"),
    ("河北", "河北省"), ("山西", "山西省"), ("辽宁", "辽宁省"), ("吉林", "吉林省"),
    ("黑龙江", "黑龙江省"), ("江苏", "江苏省"), ("浙江", "浙江省"), ("安徽", "安徽省"),
    ("福建", "福建省"), ("江西", "江西省"), ("山东", "山东省"), ("河南", "河南省"),
    ("湖北", "湖北省"), ("湖南", "湖南省"), ("广东", "广东省"), ("海南", "海南省"),
    ("四川", "四川省"), ("贵州", "贵州省"), ("云南", "云南省"), ("陕西", "陕西省"),
    ("甘肃", "甘肃省"), ("青海", "青海省"), ("台湾", "台湾省"),
    ("内蒙古", "内蒙古自治区"), ("广西", "广西壮族自治区"), ("西藏", "西藏自治区"),
    ("宁夏", "宁夏回族自治区"), ("新疆", "新疆维吾尔自治区"),
    ("香港", "香港特别行政区"), ("澳门", "澳门特别行政区"),
)  # fmt: skip
"""(short name, full name) of every provincial-level division."""

MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})
"""Provincial-level cities: their districts are what other provinces' cities are."""

_FORMER = re.compile(r"^\[[^\]]*\]")
"""The ``[1983-1989]`` validity prefix of a name in the stdnum table."""
_PLACEHOLDER = re.compile(r"^(市辖区|县|市区|郊区|林区)$|直辖|办事处|委員會|群岛")
"""Table rows that group units rather than name one: never a city in an address."""


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Division names as sets, for matching the start of an address name by name."""

    cities: Mapping[str, frozenset[str]]
    """Prefecture-level units (and county-level cities under the province) by province."""
    province_of_city: Mapping[str, str | None]
    """The province of each city name; ``None`` where two provinces have (or had) that name."""
    districts: Mapping[tuple[str, str | None], frozenset[str]]
    """County-level units by (province, city); a municipality's are under (province, None)."""


@cache
def gazetteer() -> Gazetteer:
    """The divisions of every province, read from python-stdnum on first use."""
    cities: dict[str, set[str]] = defaultdict(set)
    current_cities: dict[str, set[str]] = defaultdict(set)
    districts: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for _, _, _, props, children in numdb.get("cn/loc").prefixes:
        province = _full_province(props.get("province", ""))
        if province is None:
            continue
        parents: dict[str, list[str]] = {}
        for _, sub, _, sub_props, _ in children:
            if sub[2:] == "00" and sub != "0000":
                entries = _entries(sub_props.get("county", ""))
                parents[sub[:2]] = [name for name, _ in entries]
                if province not in MUNICIPALITIES:
                    cities[province].update(name for name, _ in entries)
                    current_cities[province].update(name for name, now in entries if now)
        for _, sub, _, sub_props, _ in children:
            if sub[2:] == "00":
                continue
            entries = _entries(sub_props.get("county", ""))
            names = [name for name, _ in entries]
            if province in MUNICIPALITIES:
                districts[(province, None)].update(names)
            elif not parents.get(sub[:2]):
                # A county-level unit under the province itself (湖北省仙桃市) is city-level.
                cities[province].update(names)
                current_cities[province].update(name for name, now in entries if now)
            for parent in parents.get(sub[:2], []):
                districts[(province, parent)].update(names)
    return Gazetteer(
        cities={p: frozenset(n) for p, n in cities.items()},
        province_of_city=_owners(cities, current_cities),
        districts={k: frozenset(n) for k, n in districts.items()},
    )


def _owners(
    cities: Mapping[str, set[str]], current: Mapping[str, set[str]]
) -> dict[str, str | None]:
    """Each city name's province: the one province that has (or, failing that, had) it.

    ``海口市`` was in Guangdong until 1988 and is in Hainan now: it belongs to Hainan.
    """
    owners: dict[str, str | None] = {}
    for name in {n for names in cities.values() for n in names}:
        now = [p for p, names in current.items() if name in names]
        ever = [p for p, names in cities.items() if name in names]
        candidates = now or ever
        owners[name] = candidates[0] if len(candidates) == 1 else None
    return owners


def _entries(entry: str) -> list[tuple[str, bool]]:
    """``[1983-1986]郊区,[1987-]白云区`` → ``[("郊区", False), ("白云区", True)]``.

    Names that group units rather than name one (``市辖区``) are left out.
    """
    out: list[tuple[str, bool]] = []
    for part in entry.split(","):
        validity = _FORMER.match(part)
        name = part[validity.end() :] if validity else part
        name = name.strip()
        if name and not _PLACEHOLDER.search(name):
            current = validity is None or validity.group().endswith("-]")
            out.append((name, current))
    return out


def _full_province(name: str) -> str | None:
    for short, full in PROVINCES:
        if name.startswith(short):
            return full
    return None
