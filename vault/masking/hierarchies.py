"""Generalisation hierarchies: the ladders k-anonymity climbs, one rung per level.

A hierarchy turns a value into ever coarser labels: level 0 is the value
itself, the last level is ``*`` for everything, and every level in between
*merges* classes of the level below and never splits one: two values that
share a label at level ``n`` share it at every level above.  k-anonymity
search relies on that (raising a level can only grow the equivalence
classes), so each hierarchy below is built such that the label at a level is
a function of the label one level down (ages from the birth *year*, income
bands whose coarse cuts are a subset of the fine ones), and the tests check it.

Values are typed (a birth date is a ``date``, an income a ``Decimal``); labels
are strings, ready for an extract.  ``today`` is passed in, never read from a
clock, so an export is reproducible.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Self, TypeVar

from vault.errors import ValidationError
from vault.masking.addresses import join, parse_address
from vault.masking.base import MASK_CHAR, Params
from vault.schema import PiiType

T = TypeVar("T")

TOP = MASK_CHAR
"""The label of the last level of every hierarchy."""


class Hierarchy(ABC, Generic[T]):
    """Levels ``0 .. levels - 1`` of generalisation for one kind of value."""

    __slots__ = ()
    name: ClassVar[str]
    level_names: ClassVar[tuple[str, ...]]
    """What each level shows, from ``level_names[0]`` (the value) to the last (``*``)."""

    @property
    def levels(self) -> int:
        """How many levels there are; valid levels are ``range(levels)``."""
        return len(self.level_names)

    @property
    def top(self) -> int:
        """The level at which every value is ``*``."""
        return self.levels - 1

    def check_level(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= self.top:
            raise ValidationError("level", f"must be an integer from 0 to {self.top}")

    def generalise(self, value: T, level: int) -> str:
        """The label of ``value`` at ``level`` (0: the value itself, top: ``*``)."""
        self.check_level(level)
        if level == self.top:
            return TOP
        return self._label(value, level)

    @abstractmethod
    def _label(self, value: T, level: int) -> str:
        """The label at a level below the top (``0 <= level < top``)."""

    @classmethod
    @abstractmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Check untyped parameters (``today``, bands...) and build the hierarchy."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BirthDateHierarchy(Hierarchy[dt.date]):
    """Birth date → year → 5-year age band → 10-year age band → ``*``.

    The age is ``today.year - birth year``: the age reached in the current
    year.  An age that depends on the birthday would let two people born in
    the same year (merged at the year level) fall into different bands above
    it, which breaks the hierarchy.  Ages from ``top_code`` up share one band
    (``90+``) at both band levels: the very old are few enough to stand out.
    """

    name = "birth_date"
    level_names = ("date", "year", "age_5y", "age_10y", "*")
    __slots__ = ("today", "top_code")

    def __init__(self, today: dt.date, top_code: int = 90) -> None:
        if not isinstance(today, dt.date):
            raise ValidationError(f"{self.name}.today", "must be a date")
        if isinstance(top_code, bool) or top_code % 10 or not 10 <= top_code <= 150:
            raise ValidationError(f"{self.name}.top_code", "must be a multiple of 10 in 10-150")
        self.today = _as_date(today)
        self.top_code = top_code

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        today = p.take("today", dt.date)
        top_code = p.take("top_code", int, 90)
        p.finish()
        return cls(today, top_code)

    def _label(self, value: dt.date, level: int) -> str:
        birth = _as_date(value)
        if birth > self.today:
            raise ValidationError(self.name, "is after today")
        if level == 0:
            return birth.isoformat()
        if level == 1:
            return f"{birth.year:04d}"
        age = self.today.year - birth.year
        width = 5 if level == 2 else 10
        if age >= self.top_code:
            return f"{self.top_code}+"
        low = age // width * width
        return f"{low}-{low + width - 1}"

    def __repr__(self) -> str:
        return f"BirthDateHierarchy(today={self.today.isoformat()}, top_code={self.top_code})"


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


class AddressHierarchy(Hierarchy[str]):
    """Address → city → province → ``*``, read by :func:`~vault.masking.addresses.parse_address`.

    A municipality is its own city (``北京市`` at both levels).  What cannot be
    read generalises to less: an address with a province but no readable city
    shows the province at the city level; one with neither is ``*``.
    """

    name = "address"
    level_names = ("address", "city", "province", "*")
    __slots__ = ()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        Params(cls.name, params).finish()
        return cls()

    def _label(self, value: str, level: int) -> str:
        if level == 0:
            return value
        prefix = parse_address(value)
        shown = join(prefix.province, prefix.city) if level == 1 else prefix.province
        return shown or TOP


class PostcodeHierarchy(Hierarchy[str]):
    """Six-digit postcode → first 4 (``5180**``) → first 2 (``51****``) → ``*``."""

    name = "postcode"
    level_names = ("postcode", "4_digits", "2_digits", "*")
    __slots__ = ()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        Params(cls.name, params).finish()
        return cls()

    def _label(self, value: str, level: int) -> str:
        if level == 0:
            return value
        code = value.strip()
        if len(code) != 6 or not (code.isascii() and code.isdigit()):
            return TOP
        kept = 6 - 2 * level
        return code[:kept] + MASK_CHAR * (6 - kept)


class IncomeHierarchy(Hierarchy[Decimal | int]):
    """Annual income (CNY) → band → coarse band → ``*``.

    Default bands: ``<50k``, ``50k-100k``, ``100k-200k``, ``200k-500k``, ``≥500k``;
    coarse: ``<100k``, ``100k-500k``, ``≥500k``.  The coarse cut points must be
    a subset of the fine ones, so that each coarse band is a union of fine bands.
    """

    name = "income"
    level_names = ("income", "band", "coarse_band", "*")
    __slots__ = ("bands", "coarse_bands")
    BANDS: ClassVar[tuple[int, ...]] = (50_000, 100_000, 200_000, 500_000)
    COARSE_BANDS: ClassVar[tuple[int, ...]] = (100_000, 500_000)

    def __init__(
        self, bands: Sequence[int] = BANDS, coarse_bands: Sequence[int] = COARSE_BANDS
    ) -> None:
        self.bands = _cut_points(f"{self.name}.bands", bands)
        self.coarse_bands = _cut_points(f"{self.name}.coarse_bands", coarse_bands)
        if not set(self.coarse_bands) <= set(self.bands):
            raise ValidationError(
                f"{self.name}.coarse_bands", "every coarse cut point must also be a band cut point"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        bands = p.take("bands", list, None)
        coarse = p.take("coarse_bands", list, None)
        p.finish()
        return cls(
            cls.BANDS if bands is None else bands,
            cls.COARSE_BANDS if coarse is None else coarse,
        )

    def _label(self, value: Decimal | int, level: int) -> str:
        amount = Decimal(value)
        if not amount.is_finite() or amount < 0:
            raise ValidationError(self.name, "must be a finite amount of zero or more")
        if level == 0:
            return str(value)
        cuts = self.bands if level == 1 else self.coarse_bands
        i = bisect.bisect_right(cuts, amount)
        if i == 0:
            return f"<{_amount(cuts[0])}"
        if i == len(cuts):
            return f"≥{_amount(cuts[-1])}"
        return f"{_amount(cuts[i - 1])}-{_amount(cuts[i])}"

    def __repr__(self) -> str:
        return f"IncomeHierarchy(bands={self.bands}, coarse_bands={self.coarse_bands})"


def _cut_points(field: str, cuts: Sequence[object]) -> tuple[int, ...]:
    points = tuple(c for c in cuts if isinstance(c, int) and not isinstance(c, bool))
    if not points or len(points) != len(cuts):
        raise ValidationError(field, "must be a non-empty list of whole amounts")
    if points[0] <= 0 or any(a >= b for a, b in itertools.pairwise(points)):
        raise ValidationError(field, "must be positive and strictly increasing")
    return points


def _amount(value: int) -> str:
    if value % 1_000_000 == 0:
        return f"{value // 1_000_000}m"
    if value % 1_000 == 0:
        return f"{value // 1_000}k"
    return str(value)


class CategoricalHierarchy(Hierarchy[str]):
    """Any categorical value → ``*``: no grouping is meaningful without a domain model."""

    name = "categorical"
    level_names = ("value", "*")
    __slots__ = ()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        Params(cls.name, params).finish()
        return cls()

    def _label(self, value: str, level: int) -> str:
        return value


class GenderHierarchy(CategoricalHierarchy):
    """Gender → ``*``."""

    name = "gender"
    __slots__ = ()


@cache
def hierarchy_classes() -> Mapping[str, type[Hierarchy[Any]]]:
    """Every hierarchy, by name.  Built on first use."""
    classes: tuple[type[Hierarchy[Any]], ...] = (
        BirthDateHierarchy,
        AddressHierarchy,
        PostcodeHierarchy,
        IncomeHierarchy,
        GenderHierarchy,
        CategoricalHierarchy,
    )
    return MappingProxyType({c.name: c for c in classes})


def build_hierarchy(name: str, params: Mapping[str, object] | None = None) -> Hierarchy[Any]:
    """The hierarchy called ``name``, built from (and checking) ``params``."""
    try:
        cls = hierarchy_classes()[name]
    except KeyError:
        raise ValidationError("hierarchy", "is not a known generalisation hierarchy") from None
    return cls.from_params(params or {})


_BY_TYPE: Mapping[PiiType, str] = MappingProxyType(
    {
        PiiType.DATE_OF_BIRTH: BirthDateHierarchy.name,
        PiiType.ADDRESS: AddressHierarchy.name,
        PiiType.POSTCODE: PostcodeHierarchy.name,
        PiiType.INCOME: IncomeHierarchy.name,
        PiiType.GENDER: GenderHierarchy.name,
    }
)


def hierarchy_name(pii_type: PiiType | None) -> str:
    """The hierarchy that fits a field of this type (``categorical`` when none is specific)."""
    if pii_type is None:
        return CategoricalHierarchy.name
    return _BY_TYPE.get(pii_type, CategoricalHierarchy.name)
