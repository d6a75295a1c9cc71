"""Known values: whatever the vault holds for the customer is found, however it is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer import PatternRecognizer

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.known import KnownValuesRecognizer, matchers_for, pii_type_of
from vault.schema import PiiType

Found = Callable[..., list[tuple[str, str]]]


@pytest.mark.parametrize(
    "spelling",
    [
        "138.1234.5678",
        "１３８１２３４５６７８",
        "1381234 5678",
        "13 812 345 678",
        "+86 (138) 1234-5678",
    ],
)
def test_known_mobile_is_found_in_spellings_no_pattern_covers(found: Found, spelling: str) -> None:
    known = {"mobile": "+8613812345678"}
    assert found(f"回拨{spelling}。", known=known) == [("MOBILE", spelling)]


def test_known_mobile_is_not_found_inside_a_longer_number(found: Found) -> None:
    assert found("单号9138123456789", known={"mobile": "+8613812345678"}) == []


def test_known_landline_is_found_with_or_without_trunk_zero(found: Found) -> None:
    known = {"phone": "+86 755 1234 5678"}
    text = "座机0755.1234.5678，或+86 755-12345678"
    assert [t for t, _ in found(text, known=known)] == ["LANDLINE", "LANDLINE"]


@pytest.mark.parametrize("spelling", ["张 伟", "张\u3000伟", "张·伟"])
def test_known_chinese_name_is_found_with_gaps_between_characters(
    found: Found, spelling: str
) -> None:
    assert found(f"今天{spelling}又打来电话", known={"name": "张伟"}) == [("PERSON", spelling)]


@pytest.mark.parametrize("spelling", ["JOHN SMITH", "john smith", "Smith, John", "SMITH John"])
def test_known_latin_name_is_found_in_any_case_and_order(found: Found, spelling: str) -> None:
    assert found(f"Record shows {spelling} as payer", known={"name": "John Smith"}) == [
        ("PERSON", spelling)
    ]


def test_a_part_of_a_known_latin_name_is_found_when_capitalised(found: Found) -> None:
    assert found("Smith paid; a smith forged it", known={"name": "John Smith"}) == [
        ("PERSON", "Smith")
    ]


@pytest.mark.parametrize(
    "spelling", ["ZHANG.WEI@163.COM", "zhang.wei at 163 dot com", "zhang.wei＠163.com"]
)
def test_known_email_is_found_in_other_case_and_spelled_out(found: Found, spelling: str) -> None:
    assert found(f"邮箱{spelling}谢谢", known={"email": "Zhang.Wei@163.com"}) == [
        ("EMAIL", spelling)
    ]


def test_fragment_of_a_known_chinese_address_is_found(found: Found) -> None:
    known = {"address": "广东省深圳市南山区科技园路88号3栋1201室"}
    text = "材料放在科技园路88号3栋门卫处"
    assert found(text, known=known) == [("ADDRESS", "科技园路88号3栋")]


def test_fragment_of_a_known_english_address_is_found(found: Found) -> None:
    known = {"address": "7631 Johnson Village Suite 690, Adamsbury, OR 13900"}
    assert found("Parcel left at johnson village suite 690.", known=known) == [
        ("ADDRESS", "johnson village suite 690")
    ]


def test_known_city_is_found_without_its_suffix(found: Found) -> None:
    assert found("客户目前在深圳工作", known={"city": "深圳市"}) == [("LOCATION", "深圳")]


@pytest.mark.parametrize("spelling", ["1985/3/12", "12.03.1985", "1985年3月12日", "March 12, 1985"])
def test_known_birth_date_is_found_in_any_format_without_context(
    found: Found, spelling: str
) -> None:
    assert found(f"核对 {spelling} 无误", known={"birth_date": "1985-03-12"}) == [
        ("DATE_OF_BIRTH", spelling)
    ]


def test_known_id_number_is_found_with_separators(found: Found) -> None:
    known = {"id_number": "11010119900307123X"}
    assert found("证件110-101-1990-0307-123x。", known=known) == [
        ("ID_NUMBER", "110-101-1990-0307-123x")
    ]


def test_known_values_may_be_lists(found: Found) -> None:
    known = {"email": ["a.one@163.com", "b.two@qq.com"]}
    assert [t for t, _ in found("A.ONE@163.COM, B.TWO@QQ.COM", known=known)] == ["EMAIL", "EMAIL"]


def test_gender_and_income_are_never_matched_but_other_quasi_identifiers_are(
    found: Found,
) -> None:
    known = {"gender": "女", "annual_income": "200000", "occupation": "教师"}
    assert found("女士收入200000，职业教师", known=known) == [("PII", "教师")]


def test_unknown_keys_are_matched_literally_as_pii(found: Found) -> None:
    assert found("wechat id: zw_1985", known={"wechat": "ZW_1985"}) == [("PII", "zw_1985")]


def test_keys_are_read_through_the_schema_registry_with_aliases() -> None:
    assert pii_type_of("mobile") is PiiType.MOBILE
    assert pii_type_of("phone") is PiiType.MOBILE
    assert pii_type_of("full_name") is PiiType.PERSON_NAME
    assert pii_type_of("name") is PiiType.PERSON_NAME
    assert pii_type_of("policy_number") is PiiType.POLICY_NUMBER
    assert pii_type_of("wechat") is None


def test_matchers_are_cached_per_value() -> None:
    assert matchers_for("mobile", "+8613812345678") is matchers_for("mobile", "+8613812345678")


def test_known_values_recognizer_reports_several_types() -> None:
    rec = KnownValuesRecognizer({"name": "张伟", "mobile": "13812345678"}, "zh")
    results = rec.analyze("张伟 13812345678", [], None)
    assert sorted(r.entity_type for r in results) == [EntityType.MOBILE, EntityType.PERSON]


def test_presidio_deny_list_misses_a_name_between_chinese_characters(found: Found) -> None:
    """The pitfall, measured: presidio's deny-list regex needs ``\\W`` around the word."""
    deny = PatternRecognizer(supported_entity="PERSON", deny_list=["张三"])
    assert deny.analyze("客户张三来电", ["PERSON"]) == []
    assert found("客户张三来电", known={"name": "张三"}) == [("PERSON", "张三")]


# --- the matchers alone (no presidio): dates and e-mails without a pattern per value -------

_DATE_SPELLINGS: list[Callable[[dt.date], str]] = [
    lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d.year} 年 {d.month:02d} 月 {d.day:02d} 号",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{d.day} {d.strftime('%B')} {d.year}",
    lambda d: f"{d.day}th of {d.strftime('%b')} {d.year}",
    lambda d: f"{d.strftime('%B').upper()} {d.day}, {d.year}",
    lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
]


def _spans(key: str, value: str, text: str) -> list[str]:
    recognizer = KnownValuesRecognizer({key: value})
    return [text[f.start : f.end] for f in recognizer.find(text)]


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)),
    st.sampled_from(_DATE_SPELLINGS),
    st.sampled_from(["客户生日{}。", "born {} in", "{}", "DOB:{}x"]),
)
def test_known_date_is_found_in_every_spelling_and_nothing_else(
    date: dt.date, spell: Callable[[dt.date], str], frame: str
) -> None:
    spelled = spell(date)
    text = frame.format(spelled)
    assert _spans("birth_date", date.isoformat(), text) == [spelled]
    other = date + dt.timedelta(days=1)
    assert _spans("birth_date", other.isoformat(), text) in ([], [spelled])
    if spelled.split()[0].isdigit() and "/" not in spelled and "." not in spelled:
        assert _spans("birth_date", other.isoformat(), text) == []


def test_known_date_is_not_found_inside_a_longer_number() -> None:
    assert _spans("birth_date", "1990-03-05", "账号6219900305123") == []
    assert _spans("birth_date", "1990-03-05", "19900305") == ["19900305"]


_LOCAL = st.from_regex(r"[a-z0-9_+\-]{1,8}(\.[a-z0-9_+\-]{1,8}){0,2}", fullmatch=True)
_DOMAIN = st.from_regex(r"[a-z0-9\-]{1,8}(\.[a-z]{2,4}){1,2}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(_LOCAL, _DOMAIN, st.sampled_from(["邮箱{}谢谢", "mail {} please", "{}", "({})"]))
def test_known_email_is_found_spelled_out_and_not_when_glued(
    local: str, domain: str, frame: str
) -> None:
    email = f"{local}@{domain}"
    for spelled in (email, email.upper(), f"{local} at {domain.replace('.', ' dot ')}"):
        assert _spans("email", email, frame.format(spelled)) == [spelled]
    assert _spans("email", email, f"x{email}") == []
    assert _spans("email", email, f"{email}x") == []
    assert _spans("email", f"{local}@other-{domain}", frame.format(email)) == []
