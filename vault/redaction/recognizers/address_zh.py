"""Chinese postal addresses: province, city, district, road, number, building, room."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from vault.redaction.entities import EntityType
from vault.redaction.lexicon_zh import ADDRESS_STOP_CHARS, PROVINCE_SUFFIXES, PROVINCES
from vault.redaction.recognizers.base import Finding, VaultRecognizer
from vault.redaction.text import alternation, cjk_class_without

_ADMIN_SUFFIX_CHARS = "省市区县号"


@cache
def component_pattern() -> re.Pattern[str]:
    """One address component at a time; the group name says which kind matched.

    Name characters exclude the stop characters (``住在``, ``的``, ``搬到``...)
    so a component never starts inside the words before the address, and
    exclude the administrative suffixes so ``深圳市南山区`` splits into two
    (a district name may hold ``市``, as in ``沙市区``).
    Order matters: a province (closed list) is tried before anything that
    could swallow it, a district before a road (``街道`` before ``街``).
    """
    n = cjk_class_without(ADDRESS_STOP_CHARS + _ADMIN_SUFFIX_CHARS)
    n_dist = cjk_class_without(ADDRESS_STOP_CHARS + _ADMIN_SUFFIX_CHARS.replace("市", ""))
    road_suffix = "(?:大道|大街|胡同|路|街|巷|弄|道)"
    return re.compile(
        "|".join(
            (
                f"(?P<prov>(?:{alternation(PROVINCES)})(?:{alternation(PROVINCE_SUFFIXES)})?"
                f"(?!{road_suffix}|[县区]))",
                f"(?P<dist>{n_dist}{{1,4}}?(?:街道|新区|区|县|旗|镇|乡))",
                f"(?P<city>{n}{{1,4}}?(?:自治州|地区|盟|市))",
                f"(?P<road>{n}{{1,6}}?{road_suffix}(?:[东西南北中]段)?)",
                f"(?P<estate>{n}{{2,6}}?(?:小区|花园|公寓|大厦|家园|新村|社区|广场|中心|大楼|苑|村|院))",
                "(?P<num>(?:[0-9\uff10-\uff19]+(?:-[0-9]+)*|[A-Za-z])"
                "(?:号院|号楼|号|弄|栋|幢|座|单元|楼|层|室|户))",
            )
        )
    )


_POSTCODE = re.compile("[ ]?[0-9]{6}(?![0-9])")


@cache
def tail_pattern() -> re.Pattern[str]:
    """Address characters up to the next number-like suffix, after a chain that stopped.

    Real addresses have pieces no component pattern foresees (``写字楼A座``,
    a street named after a town: ``北镇街``); once a chain reads as an address,
    a short run ending in ``号``/``座``/``室``... is taken as more of it.
    """
    n = cjk_class_without(ADDRESS_STOP_CHARS)
    return re.compile(
        f"(?:{n}|[0-9A-Za-z\\-#]){{1,12}}?(?:号院|号楼|号|栋|幢|座|单元|楼|层|室|户|路|街|巷|弄)"
    )


_PLACES = frozenset(("prov", "city", "dist", "road", "estate"))


class ChineseAddressRecognizer(VaultRecognizer):
    """A chain of adjacent address components that reads as an address.

    Chinese has no spaces, so an address is found as a run of components
    (``广东省`` ``深圳市`` ``南山区`` ``科技园路`` ``88号`` ``3栋`` ``1201室``),
    each a short name plus a suffix.  A run counts when it has two or more
    components and either a house number with a place, a province first, or
    a city with its district; a trailing six-digit postcode joins it.  A city named
    alone (``客户在深圳工作``) is not an address and is kept.
    """

    ENTITY = EntityType.ADDRESS
    SCORE = 0.85

    def find(self, text: str) -> Iterator[Finding]:
        component = component_pattern()
        pos = 0
        while (first := component.search(text, pos)) is not None:
            kinds = [first.lastgroup]
            end = first.end()
            while True:
                gap = 1 if text[end : end + 1] == " " else 0
                nxt = component.match(text, end + gap)
                if nxt is None or nxt.end() == nxt.start():
                    break
                kinds.append(nxt.lastgroup)
                end = nxt.end()
            if self._reads_as_address(kinds):
                end = self._extend(text, end)
                postcode = _POSTCODE.match(text, end)
                if postcode is not None:
                    end = postcode.end()
                yield Finding(first.start(), end, self.SCORE)
                pos = end
            else:
                pos = first.start() + 1

    @staticmethod
    def _extend(text: str, end: int) -> int:
        component, tail = component_pattern(), tail_pattern()
        while (nxt := component.match(text, end) or tail.match(text, end)) is not None:
            if nxt.end() == end:
                break
            end = nxt.end()
        return end

    @staticmethod
    def _reads_as_address(kinds: list[str | None]) -> bool:
        if len(kinds) < 2:
            return False
        present = set(kinds)
        return (
            ("num" in present and bool(present & _PLACES))
            or kinds[0] == "prov"
            or {"city", "dist"} <= present
            or {"road", "estate"} <= present
        )
