"""Each recognizer, positive and negative, with values touching Chinese characters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stdnum.cn import ric

Found = Callable[..., list[tuple[str, str]]]

MOBILE_SPELLINGS = [
    "13812345678",
    "138-1234-5678",
    "138 1234 5678",
    "+86 13812345678",
    "+86 138 1234 5678",
    "+86-138-1234-5678",
    "+86-13812345678",
    "+8613812345678",
    "(+86)13812345678",
    "(+86) 138 1234 5678",
    "（+86）13812345678",
    "0086 13812345678",
    "86-13812345678",
]


def _resident_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def _luhn(body: str) -> str:
    from vault.redaction.validation import luhn_ok

    return next(body + d for d in "0123456789" if luhn_ok(body + d))


@pytest.mark.parametrize("spelling", MOBILE_SPELLINGS)
def test_every_common_mobile_spelling_is_found_glued_to_chinese(
    found: Found, spelling: str
) -> None:
    assert found(f"手机{spelling}谢谢") == [("MOBILE", spelling)]


@pytest.mark.parametrize("spelling", MOBILE_SPELLINGS)
def test_every_common_mobile_spelling_is_found_in_english(found: Found, spelling: str) -> None:
    assert found(f"Call back on {spelling}, thanks.") == [("MOBILE", spelling)]


def test_mobile_glued_to_latin_letters_is_found(found: Found) -> None:
    assert found("tel13812345678") == [("MOBILE", "13812345678")]


@pytest.mark.parametrize(
    "text",
    [
        "订单号2138123456789",  # eleven digits inside a longer number
        "编号12345678901",  # 123 is not a mobile prefix
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
    ],
)
def test_digit_runs_that_are_not_mobiles_are_kept(found: Found, text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    "number",
    [
        "010-12345678",
        "(0755)1234567",
        "（0755）12345678",
        "021 61234567",
        "+86 10 12345678",
        "+86-755-12345678",
        "0755-1234567转801",
    ],
)
def test_landlines_are_found_next_to_chinese(found: Found, number: str) -> None:
    assert found(f"座机{number}。") == [("LANDLINE", number)]


@pytest.mark.parametrize("number", ["0105-1234567", "01-12345678", "(0755)123456"])
def test_landline_shapes_outside_the_numbering_plan_are_kept(found: Found, number: str) -> None:
    assert [t for t, _ in found(f"编号{number}")] == []


def test_resident_id_with_valid_check_digit_is_found_glued_to_chinese(found: Found) -> None:
    number = _resident_id("11010119900307123")
    assert found(f"身份证{number}已核实") == [("PRC_ID", number)]


def test_resident_id_with_lower_case_x_and_spaces_is_found(found: Found) -> None:
    number = next(
        n for n in (_resident_id(f"110101199003071{i:02d}") for i in range(100)) if n[-1] == "X"
    )
    spaced = f"{number[:6]} {number[6:14]} {number[14:].lower()}"
    assert found(f"ID {spaced} ok") == [("PRC_ID", spaced)]


def test_resident_id_with_wrong_check_digit_is_rejected(found: Found) -> None:
    number = _resident_id("11010119900307123")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert ("PRC_ID", wrong) not in found(f"身份证{wrong}")


def test_resident_id_with_impossible_birth_date_is_rejected(found: Found) -> None:
    body = "11010119900230123"  # 30 February
    number = body + ric.calc_check_digit(body + "0")
    assert ("PRC_ID", number) not in found(f"身份证{number}")


@pytest.mark.parametrize(
    "grouping",
    [
        lambda n: n,
        lambda n: " ".join(n[i : i + 4] for i in range(0, len(n), 4)),
        lambda n: "-".join(n[i : i + 4] for i in range(0, len(n), 4)),
    ],
)
def test_nineteen_digit_unionpay_card_is_found_in_any_grouping(
    found: Found, grouping: Callable[[str], str]
) -> None:
    card = grouping(_luhn("622202123456789012"))
    assert found(f"卡号{card}用于理赔") == [("BANK_CARD", card)]


def test_presidio_credit_card_pattern_misses_the_19_digit_unionpay_card() -> None:
    """The pitfall, measured: presidio's pattern stops at 17 digits."""
    import regex
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    card = _luhn("622202123456789012")
    hits = [
        m.group()
        for p in CreditCardRecognizer.PATTERNS
        for m in regex.finditer(p.regex, f"card {card} ok", flags=regex.IGNORECASE)
    ]
    assert card not in hits


@pytest.mark.parametrize("body", ["411111111111111", "622588123456789", "62220212345678901"])
def test_sixteen_to_eighteen_digit_cards_are_found(found: Found, body: str) -> None:
    card = _luhn(body)
    assert found(f"card {card}.") == [("BANK_CARD", card)]


def test_card_followed_by_a_year_is_cut_to_the_card(found: Found) -> None:
    card = " ".join(_luhn("622202123456789012")[i : i + 4] for i in range(0, 19, 4))
    assert found(f"卡号{card} 2024年到期") == [("BANK_CARD", card)]


def test_card_number_failing_luhn_is_rejected(found: Found) -> None:
    card = _luhn("622202123456789012")
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert found(f"卡号{wrong}") == []


def test_email_glued_to_chinese_on_both_sides_is_found_exactly(found: Found) -> None:
    assert found("邮箱zhang@163.com谢谢") == [("EMAIL", "zhang@163.com")]


def test_presidio_email_pattern_swallows_the_chinese_around_an_address() -> None:
    """The pitfall, measured: ``\\w`` matches CJK, so presidio's match is not the address."""
    import regex
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    pattern = EmailRecognizer.PATTERNS[0].regex
    matches = [m.group() for m in regex.finditer(pattern, "邮箱zhang@163.com谢谢")]
    assert matches != ["zhang@163.com"]


@pytest.mark.parametrize("text", ["a@b.c", "x@version.txt", "foo@bar.notatld", "user@localhost"])
def test_email_without_a_public_suffix_is_rejected(found: Found, text: str) -> None:
    assert found(f"see {text} here") == []


@pytest.mark.parametrize("number", ["E12345678", "EA1234567", "G12345678"])
def test_prc_passports_are_found_without_context(found: Found, number: str) -> None:
    assert found(f"证件{number}已复印") == [("PASSPORT", number)]


@pytest.mark.parametrize(
    "text", ["passport no. N81241586", "护照号：K19961983", "Passport 494205552"]
)
def test_generic_passport_shapes_are_found_after_a_passport_keyword(
    found: Found, text: str
) -> None:
    value = text.split()[-1].split("：")[-1]
    assert found(text) == [("PASSPORT", value)]


def test_generic_passport_shape_without_keyword_is_kept(found: Found) -> None:
    assert found("订单A12345678已发货") == []


def test_passport_keyword_vouches_only_for_the_value_right_after_it(found: Found) -> None:
    assert found("护照E12345678，订单A12345678") == [("PASSPORT", "E12345678")]


@pytest.mark.parametrize(
    "plate",
    ["京A12345", "京A·12345", "黑Y-74068", "粤B·D12345", "粤BD12345", "粤B12345D", "京A1234学"],
)
def test_licence_plates_are_found(found: Found, plate: str) -> None:
    assert found(f"车牌{plate}已定损") == [("LICENSE_PLATE", plate)]


@pytest.mark.parametrize("text", ["京A123456", "京AB1234I", "京IA12345", "沪A股大涨"])
def test_plate_shapes_that_cannot_be_issued_are_rejected(found: Found, text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("born 12 March 1985.", "12 March 1985"),
        ("DOB: 1985-03-12.", "1985-03-12"),
        ("date of birth 12/03/1985.", "12/03/1985"),
        ("born on March 12th, 1985.", "March 12th, 1985"),
        ("客户1985年3月12日出生。", "1985年3月12日"),
        ("出生日期：19850312，", "19850312"),
        ("生日1985年03月12日，", "1985年03月12日"),
        ("出生于1985/3/12，", "1985/3/12"),
    ],
)
def test_dates_of_birth_are_found_in_english_and_chinese_formats(
    found: Found, text: str, date: str
) -> None:
    assert found(text) == [("DATE_OF_BIRTH", date)]


@pytest.mark.parametrize(
    "text",
    [
        "事故发生于2024年5月3日。",
        "保单生效日期2024-01-01。",
        "Paid on 12 March 2024.",
        "The accident happened on 3 May 2024.",
        "born 31 February 1985",
    ],
)
def test_dates_without_birth_context_or_impossible_are_kept(found: Found, text: str) -> None:
    assert found(text) == []


def test_birth_keyword_covers_only_the_first_date_after_it(found: Found) -> None:
    assert found("出生日期1985-03-12，生效日期2024-01-01") == [("DATE_OF_BIRTH", "1985-03-12")]


@pytest.mark.parametrize(
    "address",
    [
        "广东省深圳市南山区科技园路88号3栋1201室",
        "北京市朝阳区建国路88号",
        "杭州市西湖区文三路99号华星大厦5楼",
        "新疆维吾尔自治区乌鲁木齐市天山区解放南路12号",
        "吉林省欣县淄川惠州街B座 674391",
    ],
)
def test_chinese_addresses_are_found_whole(found: Found, address: str) -> None:
    assert found(f"住址：{address}，已更新。") == [("ADDRESS", address)]


def test_a_city_named_alone_is_not_an_address(found: Found) -> None:
    assert found("客户在深圳工作，常去杭州出差。") == []


@pytest.mark.parametrize(
    "address",
    [
        "7631 Johnson Village Suite 690, Adamsbury, OR 13900",
        "953 Levy Canyon, Jacobshire, MH 40190",
        "Room 1201, No. 88 Keji Road, Nanshan District, Shenzhen",
        "12 Main St.",
    ],
)
def test_english_addresses_are_found_whole(found: Found, address: str) -> None:
    assert found(f"Customer lives at {address} now") == [("ADDRESS", address)]


def test_street_without_house_number_is_kept(found: Found) -> None:
    assert found("The office on Main Street is closed.") == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("保单POL202400012345的续保", "POLICY_NUMBER", "POL202400012345"),
        ("理赔CLM202400012345已审核", "CLAIM_NUMBER", "CLM202400012345"),
        ("ref pol-202400012345.", "POLICY_NUMBER", "pol-202400012345"),
    ],
)
def test_policy_and_claim_numbers_are_found(found: Found, text: str, kind: str, value: str) -> None:
    assert found(text) == [(kind, value)]


@pytest.mark.parametrize("text", ["POL20240001234", "POL2024000123456", "XPOL202400012345"])
def test_reference_numbers_of_the_wrong_length_are_kept(found: Found, text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("客户王芳来电咨询。", ["王芳"]),
        ("投保人：张伟，", ["张伟"]),
        ("被保险人是李娜。", ["李娜"]),
        ("张先生反馈进度慢。", ["张"]),
        ("刘建华先生表示理解。", ["刘建华"]),
        ("客户欧阳娜娜来电。", ["欧阳娜娜"]),
        ("已联系王芳，对方称下周提交。", ["王芳"]),
        ("王芳来电称已寄出发票。", ["王芳"]),
        ("于先生来电。", ["于"]),
        ("客户王芳来电。后来王芳又补充了材料。", ["王芳", "王芳"]),
        ("客户张伟手机已停机。", ["张伟"]),
        ("投保人李娜邮箱已更新。", ["李娜"]),
        ("客户王芳身份证已核验。", ["王芳"]),
        ("客户刘洋卡号尾号有误。", ["刘洋"]),
    ],
)
def test_chinese_names_are_found_from_surname_and_context(
    found: Found, text: str, names: list[str]
) -> None:
    assert found(text) == [("PERSON", n) for n in names]


@pytest.mark.parametrize(
    "text",
    [
        "客户方面表示满意。",
        "客户明确表示不需要。",
        "客户于今天来电。",
        "客户高度重视此次理赔。",
        "双方同意和解。",
        "银行反馈已到账。",
    ],
)
def test_common_words_after_role_words_are_not_names(found: Found, text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Spoke with Mr. John Smith today.", ["John Smith"]),
        ("Mr Smith asked for a call back.", ["Smith"]),
        ("Customer April Wilson called.", ["April Wilson"]),
        ("Emergency contact is Alexander Duran, the spouse.", ["Alexander Duran"]),
        ("Regina Reid called to update details.", ["Regina Reid"]),
        ("Insured: Ryan Gallagher. Gallagher paid.", ["Ryan Gallagher", "Gallagher"]),
        ("客户John Smith来电", ["John Smith"]),
    ],
)
def test_latin_names_are_found_in_context(found: Found, text: str, names: list[str]) -> None:
    assert found(text) == [("PERSON", n) for n in names]


@pytest.mark.parametrize(
    "text",
    [
        "The Claims team called Monday.",
        "Customer Service will call back.",
        "Spoke with the underwriter.",
        "Policy renewal is due in May.",
    ],
)
def test_capitalised_words_that_are_not_names_are_kept(found: Found, text: str) -> None:
    assert found(text) == []


def test_no_vault_recognizer_shares_a_name_with_a_presidio_one() -> None:
    """presidio's registry loader finds recognizer classes by name among all subclasses
    loaded in the process: a clash makes it build the vault's class with presidio's
    arguments and breaks any stock presidio registry in the same process."""
    import presidio_analyzer.predefined_recognizers as predefined

    from vault.redaction.recognizers.registry import RECOGNIZERS

    presidio_names = {n for n in dir(predefined) if n.endswith("Recognizer")}
    assert not {cls.__name__ for cls in RECOGNIZERS} & presidio_names
