"""Generalisation hierarchies: levels from the value to ``*``, each merging, never splitting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import ValidationError
from vault.masking import (
    AddressHierarchy,
    BirthDateHierarchy,
    CategoricalHierarchy,
    GenderHierarchy,
    Generalise,
    Hierarchy,
    IncomeHierarchy,
    PostcodeHierarchy,
    build_hierarchy,
    hierarchy_name,
)
from vault.schema import PiiType

TODAY = dt.date(2024, 6, 30)


def assert_monotone(hierarchy: Hierarchy[Any], values: Iterable[Any]) -> None:
    """Values sharing a label at one level share it at the next: each level is a function
    of the one below."""
    values = list(values)
    for level in range(hierarchy.top):
        coarser: dict[str, str] = {}
        for value in values:
            label = hierarchy.generalise(value, level)
            above = hierarchy.generalise(value, level + 1)
            assert coarser.setdefault(label, above) == above, (level, label)


HIERARCHIES: list[tuple[Hierarchy[Any], Any]] = [
    (BirthDateHierarchy(TODAY), dt.date(1990, 5, 17)),
    (AddressHierarchy(), "广东省深圳市南山区科技园路1号"),
    (PostcodeHierarchy(), "518057"),
    (IncomeHierarchy(), Decimal("120000")),
    (GenderHierarchy(), "F"),
    (CategoricalHierarchy(), "married"),
]


@pytest.mark.parametrize(("hierarchy", "value"), HIERARCHIES, ids=lambda x: repr(x)[:20])
def test_level_zero_is_the_value_and_the_last_level_is_a_star(
    hierarchy: Hierarchy[Any], value: Any
) -> None:
    assert hierarchy.generalise(value, 0) == (
        value.isoformat() if isinstance(value, dt.date) else str(value)
    )
    assert hierarchy.generalise(value, hierarchy.levels - 1) == "*"
    assert hierarchy.levels == len(hierarchy.level_names)


@pytest.mark.parametrize(("hierarchy", "value"), HIERARCHIES, ids=lambda x: repr(x)[:20])
def test_a_level_outside_the_hierarchy_is_refused(hierarchy: Hierarchy[Any], value: Any) -> None:
    for level in (-1, hierarchy.levels):
        with pytest.raises(ValidationError, match="level"):
            hierarchy.generalise(value, level)


# --- birth dates -----------------------------------------------------------------------------


def test_birth_date_climbs_year_then_age_bands() -> None:
    h = BirthDateHierarchy(TODAY)
    labels = [h.generalise(dt.date(1990, 5, 17), level) for level in range(h.levels)]
    assert labels == ["1990-05-17", "1990", "30-34", "30-39", "*"]


def test_ages_are_computed_against_the_today_passed_in() -> None:
    born = dt.date(1990, 5, 17)
    assert BirthDateHierarchy(dt.date(2024, 1, 1)).generalise(born, 2) == "30-34"
    assert BirthDateHierarchy(dt.date(2025, 1, 1)).generalise(born, 2) == "35-39"


def test_people_born_in_one_year_share_an_age_band_whatever_their_birthdays() -> None:
    h = BirthDateHierarchy(TODAY)
    assert h.generalise(dt.date(1989, 1, 1), 2) == h.generalise(dt.date(1989, 12, 31), 2)


def test_the_very_old_share_one_top_coded_band() -> None:
    h = BirthDateHierarchy(TODAY)
    assert h.generalise(dt.date(1930, 1, 1), 2) == "90+"
    assert h.generalise(dt.date(1920, 1, 1), 3) == "90+"


def test_a_birth_date_after_today_is_refused() -> None:
    with pytest.raises(ValidationError, match="after today"):
        BirthDateHierarchy(TODAY).generalise(dt.date(2024, 7, 1), 1)


def test_every_birth_date_of_a_century_generalises_monotonically() -> None:
    first = dt.date(1925, 1, 1)
    days = (TODAY - first).days
    assert_monotone(BirthDateHierarchy(TODAY), (first + dt.timedelta(d) for d in range(days)))


@given(st.lists(st.dates(dt.date(1920, 1, 1), TODAY), min_size=2, max_size=60))
def test_birth_date_levels_are_monotone(dates: list[dt.date]) -> None:
    assert_monotone(BirthDateHierarchy(TODAY), dates)


# --- addresses -------------------------------------------------------------------------------

ADDRESS_PARTS = st.tuples(
    st.sampled_from(["广东省", "广东", "浙江省", "北京市", "上海", ""]),
    st.sampled_from(["深圳市", "广州市", "杭州市", ""]),
    st.sampled_from(["南山区", "天河区", "西湖区", "朝阳区", "浦东新区", ""]),
    st.sampled_from(["科技园路1号", "城市花园3栋", "北京路8号", ""]),
)


def test_address_climbs_city_then_province() -> None:
    h = AddressHierarchy()
    labels = [h.generalise("广东深圳市南山区科技园路1号", level) for level in range(h.levels)]
    assert labels == ["广东深圳市南山区科技园路1号", "广东省深圳市", "广东省", "*"]
    assert h.generalise("北京市朝阳区建国路88号", 1) == "北京市"
    assert h.generalise("221B Baker Street", 1) == "*"


@given(st.lists(ADDRESS_PARTS.map("".join), min_size=2, max_size=40))
def test_address_levels_are_monotone(addresses: list[str]) -> None:
    assert_monotone(AddressHierarchy(), addresses)


# --- postcodes -------------------------------------------------------------------------------


def test_postcode_keeps_four_then_two_digits() -> None:
    h = PostcodeHierarchy()
    assert [h.generalise("518057", level) for level in range(h.levels)] == [
        "518057",
        "5180**",
        "51****",
        "*",
    ]
    assert h.generalise("5180", 1) == "*"


@given(st.lists(st.from_regex(r"[0-9]{6}|[0-9]{4}", fullmatch=True), min_size=2, max_size=80))
def test_postcode_levels_are_monotone(codes: list[str]) -> None:
    assert_monotone(PostcodeHierarchy(), codes)


# --- income ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("income", "band", "coarse"),
    [
        (0, "<50k", "<100k"),
        (49_999, "<50k", "<100k"),
        (50_000, "50k-100k", "<100k"),
        (Decimal("150000.50"), "100k-200k", "100k-500k"),
        (200_000, "200k-500k", "100k-500k"),
        (500_000, "≥500k", "≥500k"),
        (12_000_000, "≥500k", "≥500k"),
    ],
)
def test_income_falls_into_a_band_and_a_coarser_band(
    income: Decimal | int, band: str, coarse: str
) -> None:
    h = IncomeHierarchy()
    assert h.generalise(income, 1) == band
    assert h.generalise(income, 2) == coarse


@given(st.lists(st.integers(0, 2_000_000), min_size=2, max_size=80))
def test_income_levels_are_monotone(incomes: list[int]) -> None:
    assert_monotone(IncomeHierarchy(), incomes)


def test_income_bands_must_nest() -> None:
    with pytest.raises(ValidationError, match="coarse_bands"):
        IncomeHierarchy(bands=(50_000, 100_000), coarse_bands=(75_000,))
    with pytest.raises(ValidationError, match="bands"):
        IncomeHierarchy(bands=(100_000, 50_000), coarse_bands=(100_000,))


def test_a_negative_income_is_refused() -> None:
    with pytest.raises(ValidationError, match="income"):
        IncomeHierarchy().generalise(-1, 1)


# --- categorical -----------------------------------------------------------------------------


def test_gender_and_categories_have_only_the_value_and_a_star() -> None:
    for h in (GenderHierarchy(), CategoricalHierarchy()):
        assert h.levels == 2
        assert [h.generalise("F", level) for level in range(h.levels)] == ["F", "*"]


# --- by name, by type, as an operator --------------------------------------------------------


def test_hierarchy_for_each_quasi_identifier_type() -> None:
    assert hierarchy_name(PiiType.DATE_OF_BIRTH) == "birth_date"
    assert hierarchy_name(PiiType.POSTCODE) == "postcode"
    assert hierarchy_name(PiiType.GENDER) == "gender"
    assert hierarchy_name(PiiType.OTHER) == "categorical"
    assert hierarchy_name(None) == "categorical"


def test_birth_date_hierarchy_needs_an_explicit_today() -> None:
    with pytest.raises(ValidationError, match=r"birth_date\.today"):
        build_hierarchy("birth_date", {})


def test_generalise_operator_passes_the_remaining_parameters_to_its_hierarchy() -> None:
    op: Generalise[dt.date] = Generalise.from_params(
        {"hierarchy": "birth_date", "level": 3, "today": TODAY}
    )
    assert op.apply(dt.date(1990, 5, 17)) == "30-39"


def test_generalise_operator_refuses_a_level_the_hierarchy_does_not_have() -> None:
    with pytest.raises(ValidationError, match="level"):
        Generalise.from_params({"hierarchy": "gender", "level": 2})


def test_generalise_operator_refuses_an_unknown_hierarchy() -> None:
    with pytest.raises(ValidationError, match="hierarchy"):
        Generalise.from_params({"hierarchy": "shoe_size", "level": 1})
