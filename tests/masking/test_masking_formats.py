"""Format-aware partial masks: each shows only what its rule allows, in any spelling."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.cn import ric

from vault.masking import (
    REDACTED,
    AddressMask,
    BankCardMask,
    BirthDateMask,
    EmailMask,
    PassportMask,
    PersonNameMask,
    PhoneMask,
    PostcodeMask,
    ResidentIdMask,
)
from vault.masking.formats import FormatMask

ALL_MASKS: list[FormatMask | AddressMask] = [
    ResidentIdMask(),
    PassportMask(),
    PhoneMask(),
    EmailMask(),
    BankCardMask(),
    PersonNameMask(),
    AddressMask(),
    AddressMask("province"),
    AddressMask("district"),
    PostcodeMask(),
    BirthDateMask(),
]


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """Valid 18-character PRC IDs: region, birth date, sequence, ISO 7064 check character."""
    region = draw(st.integers(110000, 829999))
    birth = draw(st.dates(dt.date(1900, 1, 1), dt.date(2024, 12, 31)))
    sequence = draw(st.integers(0, 999))
    body = f"{region:06d}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body)


def _visible(masked: str) -> str:
    return "".join(ch for ch in masked if ch.isalnum())


# --- PRC resident ID ---------------------------------------------------------------------------


@given(resident_ids())
def test_masked_resident_id_never_contains_birth_date_or_gender_digit(number: str) -> None:
    masked = ResidentIdMask().apply(number)
    assert masked == number[0] + "*" * 16 + number[17]
    assert masked[6:14] == "*" * 8, "birth date must be hidden"
    assert masked[16] == "*", "gender digit must be hidden"
    assert _visible(masked) == number[0] + number[17]


@given(resident_ids(), st.sampled_from(["{}", "{} ", " {}", "{}-"]), st.booleans())
def test_resident_id_masks_the_same_in_any_spelling(number: str, layout: str, lower: bool) -> None:
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
    spelt = layout.format(spaced.lower() if lower else spaced)
    assert ResidentIdMask().apply(spelt) == ResidentIdMask().apply(number)


def test_resident_id_example_reveals_first_and_last_character_only() -> None:
    assert ResidentIdMask().apply("11010519491231002X") == "1****************X"


@pytest.mark.parametrize(
    "value",
    [
        "110105491231002",  # old 15-digit ID: its last digit is the gender digit
        "11010519491231002",
        "11010519491231002XX",
        "A1010519491231002X",
        "not an id",
    ],
)
def test_resident_id_that_is_not_18_characters_is_fully_redacted(value: str) -> None:
    assert ResidentIdMask().apply(value) == REDACTED


# --- passports -------------------------------------------------------------------------------


def test_passport_shows_first_character_and_last_two() -> None:
    assert PassportMask().apply("E12345678") == "E******78"
    assert PassportMask().apply("ea 123 4567") == "E******67"


@given(st.from_regex(r"[A-Z][A-Z0-9]{6,19}", fullmatch=True))
def test_masked_passport_hides_everything_between_first_and_last_two(number: str) -> None:
    masked = PassportMask().apply(number)
    assert masked == number[0] + "*" * (len(number) - 3) + number[-2:]
    assert masked.count("*") >= 4


@pytest.mark.parametrize("value", ["E1234", "E12345", "护照12345678"])
def test_passport_too_short_or_malformed_is_fully_redacted(value: str) -> None:
    assert PassportMask().apply(value) == REDACTED


# --- phones ----------------------------------------------------------------------------------

cn_mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
MOBILE_SPELLINGS = [
    "{n}",
    "{a}-{b}-{c}",
    "{a} {b} {c}",
    "+86 {a} {b} {c}",
    "+86{n}",
    "0086-{n}",
    "86{n}",
    "(+86) {a}-{b}-{c}",
]


@given(cn_mobiles, st.sampled_from(MOBILE_SPELLINGS))
def test_masked_mobile_never_contains_digits_4_to_7(number: str, spelling: str) -> None:
    spelt = spelling.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    masked = PhoneMask().apply(spelt)
    assert masked == number[:3] + "****" + number[7:]
    assert _visible(masked) == number[:3] + number[7:]


def test_mobile_example_in_every_documented_spelling() -> None:
    for spelt in ("13812345678", "138-1234-5678", "+86 138 1234 5678", "１３８１２３４５６７８"):
        assert PhoneMask().apply(spelt) == "138****5678"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("010-12345678", "010-****5678"),
        ("0755-1234567", "0755-****567"),
        ("021 8765 4321", "021-****4321"),
        ("+86 10 1234 5678", "010-****5678"),
        ("+86 755 8765 4321", "0755-****4321"),
    ],
)
def test_landline_keeps_area_code_and_at_most_last_four(value: str, masked: str) -> None:
    assert PhoneMask().apply(value) == masked


@given(
    st.sampled_from(["010", "021", "029", "0755", "0571", "0931"]),
    st.from_regex(r"[0-9]{7,8}", fullmatch=True),
)
def test_masked_landline_always_hides_four_subscriber_digits(area: str, subscriber: str) -> None:
    masked = PhoneMask().apply(f"{area}-{subscriber}")
    shown_area, shown_subscriber = masked.split("-")
    assert shown_area == area
    assert shown_subscriber.count("*") == 4
    assert _visible(shown_subscriber) == subscriber[4:]


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+44 7911 123456", "+44 ******3456"),
        ("+1 (650) 253-0000", "+1 ******0000"),
        ("+852 9123 4567", "+852 ****4567"),
        ("0044 7911 123456", "+44 ******3456"),
    ],
)
def test_foreign_number_keeps_country_code_and_last_four(value: str, masked: str) -> None:
    assert PhoneMask().apply(value) == masked


@pytest.mark.parametrize(
    "value", ["12345", "234567890", "1381234567", "138123456789", "call me", "010-12345678-123"]
)
def test_unreadable_phone_is_fully_redacted(value: str) -> None:
    assert PhoneMask().apply(value) == REDACTED


# --- e-mail ----------------------------------------------------------------------------------


def test_email_example_keeps_first_character_and_domain() -> None:
    assert EmailMask().apply("zhangwei@163.com") == "z***@163.com"


@given(
    st.from_regex(r"[A-Za-z0-9._%+-]{2,40}", fullmatch=True),
    st.sampled_from(["163.com", "qq.com", "example.com.cn", "mail.example.org"]),
)
def test_masked_email_hides_local_part_after_the_first_character(local: str, domain: str) -> None:
    masked = EmailMask().apply(f"{local}@{domain}")
    shown_local, _, shown_domain = masked.rpartition("@")
    assert shown_local == local[0] + "***"
    assert shown_domain == domain


def test_one_character_local_part_shows_nothing_of_itself() -> None:
    assert EmailMask().apply("z@163.com") == "***@163.com"


@pytest.mark.parametrize("value", ["zhangwei", "@163.com", "zhangwei@", "zhang wei@163.com"])
def test_malformed_email_is_fully_redacted(value: str) -> None:
    assert EmailMask().apply(value) == REDACTED


# --- bank cards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("6222 0212 3456 1234", "**** **** **** 1234"),
        ("6222021234561234", "************1234"),
        ("6222021234567891234", "***************1234"),
        ("6222-0212-3456-7890-123", "****-****-****-***0-123"),
    ],
)
def test_bank_card_shows_last_four_digits_in_its_layout(value: str, masked: str) -> None:
    assert BankCardMask().apply(value) == masked


@given(st.from_regex(r"[0-9]{16,19}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_masked_bank_card_contains_only_the_last_four_digits(digits: str, sep: str) -> None:
    grouped = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    masked = BankCardMask().apply(grouped)
    assert _visible(masked) == digits[-4:]
    assert masked.count("*") == len(digits) - 4


@pytest.mark.parametrize("value", ["6222 0212 3456", "62220212345678901234", "6222 0212 3456 12ab"])
def test_bank_card_of_wrong_length_or_characters_is_fully_redacted(value: str) -> None:
    assert BankCardMask().apply(value) == REDACTED


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张伟", "张*"),
        ("王小明", "王**"),
        ("张 伟", "张*"),
        ("欧阳娜娜", "欧阳**"),
        ("司马光", "司马*"),
        ("上官婉儿", "上官**"),
        ("诸葛亮", "诸葛*"),
        ("东方不败", "东方**"),
        ("皇甫嵩", "皇甫*"),
        ("歐陽修", "歐陽*"),
        ("东方", "东*"),  # a compound surname alone is a surname plus a given name
        ("李", "*"),
        ("买买提·艾力", "买**·**"),
        ("司马义·艾买提", "司**·***"),  # a transliterated name starts with its given name
    ],
)
def test_chinese_name_keeps_the_surname_and_stars_each_other_character(
    name: str, masked: str
) -> None:
    assert PersonNameMask().apply(name) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("John Smith", "J*** S****"),
        ("  john   smith ", "j*** s****"),
        ("Mary-Jane O'Neil", "M***-**** O'****"),
        ("J. R. R. Tolkien", "J. R. R. T******"),
        ("José Álvarez", "J*** Á******"),
        ("ZHANG WEI", "Z**** W**"),
        ("J", "*"),  # only initials: the rule would show everything, so nothing shows
        ("J. R.", "*. *."),
    ],
)
def test_latin_name_keeps_the_initial_of_each_part(name: str, masked: str) -> None:
    assert PersonNameMask().apply(name) == masked


@given(st.lists(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True), min_size=1, max_size=4))
def test_masked_latin_name_shows_one_letter_per_part(parts: list[str]) -> None:
    assume(any(len(p) > 1 for p in parts))
    masked = PersonNameMask().apply(" ".join(parts))
    assert masked.split(" ") == [p[0] + "*" * (len(p) - 1) for p in parts]


# --- addresses and postcodes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("广东省深圳市南山区科技园路1号", "广东省深圳市****"),
        ("广东深圳市南山区科技园路1号", "广东省深圳市****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("上海浦东新区世纪大道100号", "上海市浦东新区****"),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放路1号", "新疆维吾尔自治区乌鲁木齐市****"),
        ("吉林省延边朝鲜族自治州延吉市人民路2号", "吉林省延边朝鲜族自治州****"),
        ("深圳市南山区科技园路1号", "广东省深圳市****"),  # the province follows from the city
        ("海口市美兰区海甸岛", "海南省海口市****"),  # a city's current province, not its former
        ("吉林市船营区", "吉林省吉林市****"),
        ("湖北省仙桃市干河街道", "湖北省仙桃市****"),  # county-level city under the province
        ("广东省城市花园小区3栋", "广东省****"),  # "城市" is not a city: show less
        ("广东省农贸市场", "广东省****"),
    ],
)
def test_chinese_address_keeps_up_to_city_level(address: str, masked: str) -> None:
    assert AddressMask().apply(address) == masked


def test_address_keep_chooses_how_much_of_the_prefix_shows() -> None:
    address = "广东省深圳市南山区科技园路1号"
    assert AddressMask("province").apply(address) == "广东省****"
    assert AddressMask("district").apply(address) == "广东省深圳市南山区****"
    assert AddressMask("province").apply("北京市朝阳区建国路88号") == "北京市****"
    assert AddressMask("district").apply("北京市朝阳区建国路88号") == "北京市朝阳区****"


@given(
    st.sampled_from([("广东省", "深圳市"), ("浙江省", "杭州市"), ("四川省", "成都市")]),
    st.sampled_from(["南山区", "西湖区", "武侯区", ""]),
    st.from_regex(r"[一-龥]{1,6}(路|街|大道)[0-9]{1,4}号", fullmatch=True),
)
def test_masked_address_never_shows_the_street(
    unit: tuple[str, str], district: str, street: str
) -> None:
    province, city = unit
    masked = AddressMask().apply(province + city + district + street)
    assert masked == province + city + "****"


@pytest.mark.parametrize(
    "address",
    [
        "221B Baker Street, London",
        "Flat 3, 12 Market St",
        "路1号",
        "北京路123号",  # a street in Guangzhou, not Beijing
        "上海路",
    ],
)
def test_address_without_readable_province_or_city_is_fully_redacted(address: str) -> None:
    assert AddressMask().apply(address) == REDACTED


def test_postcode_keeps_first_two_digits() -> None:
    assert PostcodeMask().apply("518057") == "51****"
    assert PostcodeMask().apply("5180") == REDACTED


def test_birth_date_keeps_the_year() -> None:
    assert BirthDateMask().apply("1990-05-17") == "1990-**-**"
    assert BirthDateMask().apply("17/05/1990") == REDACTED


# --- every mask ------------------------------------------------------------------------------


@given(st.text(max_size=60))
def test_every_mask_is_deterministic_and_total_on_any_text(value: str) -> None:
    for operator in ALL_MASKS:
        assert operator.apply(value) == operator.apply(value)


@given(st.text(max_size=60))
def test_a_mask_never_returns_a_value_with_letters_or_digits_unchanged(value: str) -> None:
    assume(any(ch.isalnum() for ch in value))
    for operator in ALL_MASKS:
        assert operator.apply(value) != value
