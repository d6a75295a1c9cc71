"""A labelled corpus of synthetic insurance CRM notes, English and Chinese, for measuring redaction.

Every note is assembled from sentence templates whose slots are filled with
synthetic values (Faker ``zh_CN``/``en_US`` for names and places, valid-by-
construction IDs, cards and phones), and the exact span of every planted
value is recorded as it is written.  Values are spelled the many ways people
write them (``138-1234-5678``, ``(+86)138…``, spaced card numbers, lower-case
``x`` in IDs, e-mails glued to Chinese text).  Filler sentences carry the
words a redactor should keep, traps included: incident and payment dates
that are not birth dates, amounts, and phrases such as ``客户方面表示`` that
start with a surname character.

About a third of the notes come with ``known`` values (what the vault holds
for the customer) and mention some of them in spellings no pattern is meant
to catch: spaced names, dotted mobiles, capitalised e-mails, address
fragments, a bare city.  Those spans are flagged ``known``.

Nothing is downloaded; the same seed gives the same corpus.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from faker import Faker
from stdnum.cn import ric

from vault.redaction.entities import EntityType
from vault.redaction.validation import luhn_ok, mobile_ok

T = EntityType


@dataclass(frozen=True, slots=True)
class Span:
    """A planted value: ``text[start:end]`` must be redacted."""

    type: EntityType
    start: int
    end: int
    known: bool = False


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    lang: str
    text: str
    spans: tuple[Span, ...]
    known: dict[str, str] | None = None


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    length: int = 0

    def text(self, s: str) -> _Builder:
        self.parts.append(s)
        self.length += len(s)
        return self

    def pii(self, kind: EntityType, value: str, known: bool = False) -> _Builder:
        self.spans.append(Span(kind, self.length, self.length + len(value), known))
        return self.text(value)


_MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]
_AREA_CODES = [
    "10",
    "20",
    "21",
    "22",
    "23",
    "24",
    "25",
    "27",
    "28",
    "29",
    "311",
    "351",
    "371",
    "431",
    "451",
    "531",
    "551",
    "571",
    "574",
    "591",
    "592",
    "731",
    "755",
    "757",
    "760",
    "769",
    "871",
    "898",
    "991",
]
_REGIONS = [
    "110101",
    "110105",
    "120101",
    "310104",
    "310115",
    "320102",
    "330106",
    "340102",
    "350203",
    "370102",
    "410105",
    "420106",
    "430104",
    "440106",
    "440305",
    "500103",
    "510107",
    "610113",
    "210102",
    "220102",
]
_CARD_PREFIXES = (
    ("622202", 19),
    ("621700", 19),
    ("622848", 19),
    ("623668", 19),
    ("621483", 16),
    ("622588", 16),
    ("625801", 16),
    ("628888", 17),
    ("620000", 18),
    ("4", 16),
    ("51", 16),
    ("55", 16),
)
_EMAIL_DOMAINS = [
    "163.com",
    "126.com",
    "qq.com",
    "sina.com",
    "foxmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com.cn",
    "example.com",
    "example.org",
    "insurer.com.cn",
]
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂桂甘晋蒙陕吉闽贵粤青川宁琼"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class _Values:
    """Synthetic values, valid where a check exists, written in varied spellings."""

    def __init__(self, rng: random.Random, zh: Faker, en: Faker) -> None:
        self.rng, self.zh, self.en = rng, zh, en

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def mobile_number(self) -> str:
        while True:
            number = self.rng.choice(_MOBILE_PREFIXES) + self.digits(8)
            if mobile_ok(number):
                return number

    def mobile_spelling(self, n: str) -> str:
        return self.rng.choice(
            (
                n,
                n,
                f"{n[:3]}-{n[3:7]}-{n[7:]}",
                f"{n[:3]} {n[3:7]} {n[7:]}",
                f"+86 {n}",
                f"+86-{n}",
                f"(+86){n}",
                f"+86 {n[:3]} {n[3:7]} {n[7:]}",
                f"0086 {n}",
                f"（+86）{n}",
            )
        )

    def landline(self) -> str:
        area = self.rng.choice(_AREA_CODES)
        size = 8 if len(area) == 2 or self.rng.random() < 0.6 else 7
        local = self.rng.choice("2345678") + self.digits(size - 1)
        return self.rng.choice(
            (
                f"0{area}-{local}",
                f"(0{area}){local}",
                f"（0{area}）{local}",
                f"0{area} {local}",
                f"+86 {area} {local}",
                f"+86-{area}-{local}",
                f"0{area}-{local}转{self.digits(3)}",
            )
        )

    def resident_id(self) -> str:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randrange(20000))
        body = self.rng.choice(_REGIONS) + born.strftime("%Y%m%d") + self.digits(3)
        number = body + ric.calc_check_digit(body + "0")
        return self.rng.choice(
            (
                number,
                number,
                number.lower(),
                f"{number[:6]} {number[6:14]} {number[14:]}",
            )
        )

    def bank_card(self) -> str:
        prefix, length = self.rng.choice(_CARD_PREFIXES)
        body = prefix + self.digits(length - len(prefix) - 1)
        number = next(body + d for d in "0123456789" if luhn_ok(body + d))
        groups = [number[i : i + 4] for i in range(0, len(number), 4)]
        return self.rng.choice((number, " ".join(groups), "-".join(groups), " ".join(groups)))

    def email(self) -> str:
        user = self.en.user_name().replace("_", ".")
        return f"{user}@{self.rng.choice(_EMAIL_DOMAINS)}"

    def prc_passport(self) -> str:
        if self.rng.random() < 0.5:
            return "E" + self.digits(8)
        return "E" + self.rng.choice(_PLATE_LETTERS) + self.digits(7)

    def generic_passport(self) -> str:
        return str(self.en.passport_number())

    def plate(self) -> str:
        head = self.rng.choice(_PLATE_PROVINCES) + self.rng.choice(_PLATE_LETTERS)
        sep = self.rng.choice(("", "", "·", "-", " "))
        if self.rng.random() < 0.3:
            serial = self.rng.choice("DF") + self.digits(5)
        else:
            serial = "".join(
                self.rng.choice(_PLATE_LETTERS)
                if i == 1 and self.rng.random() < 0.4
                else self.rng.choice("0123456789")
                for i in range(5)
            )
        return head + sep + serial

    def birth_date(self) -> dt.date:
        return dt.date(1940, 1, 1) + dt.timedelta(days=self.rng.randrange(24000))

    def policy(self) -> str:
        return "POL" + self.digits(12)

    def claim(self) -> str:
        return "CLM" + self.digits(12)

    def zh_name(self) -> str:
        return str(self.zh.name())

    def zh_address_parts(self) -> list[str]:
        district = str(self.zh.district())
        parts = [
            str(self.zh.province()),
            str(self.zh.city_name()) + "市",
            district if district.endswith(("区", "县")) else district + self.rng.choice("区区区县"),
            str(self.zh.street_name()),
            f"{self.rng.randint(1, 999)}号",
        ]
        if parts[0].endswith("市"):  # municipalities: 北京市朝阳区…
            del parts[1]
        if self.rng.random() < 0.5:
            parts.append(f"{self.rng.randint(1, 30)}栋")
            parts.append(f"{self.rng.randint(1, 6)}单元")
        if self.rng.random() < 0.6:
            parts.append(f"{self.rng.randint(1, 33)}0{self.rng.randint(1, 9)}室")
        return parts

    def zh_address(self) -> str:
        if self.rng.random() < 0.15:
            return str(self.zh.address())  # Faker's own shape: 吉林省欣县淄川惠州街B座 674391
        parts = self.zh_address_parts()
        if self.rng.random() < 0.25:
            parts = parts[1:]  # without the province
        return "".join(parts)

    def en_address(self) -> str:
        if self.rng.random() < 0.2:
            room = (
                f"Room {self.rng.randint(1, 33)}0{self.rng.randint(1, 9)}, "
                if self.rng.random() < 0.5
                else ""
            )
            road = self.rng.choice(("Keji", "Zhongshan", "Renmin", "Jiefang", "Huaihai", "Nanjing"))
            district = self.rng.choice(
                ("Nanshan", "Futian", "Chaoyang", "Xuhui", "Tianhe", "Jiangbei")
            )
            city = self.rng.choice(("Shenzhen", "Beijing", "Shanghai", "Guangzhou", "Chongqing"))
            return f"{room}No. {self.rng.randint(1, 999)} {road} Road, {district} District, {city}"
        street = str(self.en.street_address())
        state = self.en.state_abbr(include_territories=False)
        return f"{street}, {self.en.city()}, {state} {self.en.zipcode()}"


def _dob_zh(v: _Values, b: _Builder, known: bool = False) -> None:
    d = v.birth_date()
    shape = v.rng.randrange(5)
    if shape == 0:
        b.text("客户").pii(T.DATE_OF_BIRTH, f"{d.year}年{d.month}月{d.day}日", known).text("出生，")
    elif shape == 1:
        b.text("出生日期：").pii(T.DATE_OF_BIRTH, d.isoformat(), known).text("，")
    elif shape == 2:
        b.text("生日").pii(T.DATE_OF_BIRTH, f"{d.year}年{d.month:02d}月{d.day:02d}日", known).text(
            "，"
        )
    elif shape == 3:
        b.text("被保险人出生于").pii(T.DATE_OF_BIRTH, f"{d.year}/{d.month}/{d.day}", known).text(
            "，"
        )
    else:
        b.text("出生年月日").pii(T.DATE_OF_BIRTH, d.strftime("%Y%m%d"), known).text("，")


def _dob_en(v: _Values, b: _Builder, known: bool = False) -> None:
    d = v.birth_date()
    month = _MONTHS_EN[d.month - 1]
    lead, value = v.rng.choice(
        (
            ("born ", f"{d.day} {month} {d.year}"),
            ("DOB: ", d.isoformat()),
            ("date of birth ", f"{d.day:02d}/{d.month:02d}/{d.year}"),
            ("born on ", f"{month} {d.day}, {d.year}"),
            ("D.O.B. ", f"{d.year}/{d.month:02d}/{d.day:02d}"),
            ("birthday is ", f"{month[:3]} {d.day}, {d.year}"),
        )
    )
    b.text(lead).pii(T.DATE_OF_BIRTH, value, known)


_ZH_FILLER = (
    "客户对理赔结果表示满意。",
    "本次来电主要咨询保单条款和等待期。",
    "已告知客户需提供的材料清单。",
    "客户方面表示会尽快补充材料。",
    "客户明确表示不需要增加保额。",
    "系统显示该保单目前处于有效状态。",
    "建议客户通过官方App查询理赔进度。",
    "客户询问退保手续费的计算方式。",
    "下次回访时间定于本周五下午。",
    "本次通话时长约五分钟，客户情绪平稳。",
    "事故发生于2024年5月3日，已报警处理。",
    "保费金额为3650元，已于3月12日扣款成功。",
    "客户希望将缴费方式改为年缴。",
    "医院发票共计12张，合计金额8900元。",
    "理赔款预计在5个工作日内到账。",
    "客户反映App登录时经常提示网络异常。",
    "已提交核保部门审核，等待结果。",
    "保单生效日期为2023年1月1日。",
    "客户高度重视此次理赔，要求加急处理。",
    "已为客户办理保单复效手续。",
)
_EN_FILLER = (
    "Customer was satisfied with the outcome of the review.",
    "Advised the customer to upload the documents through the app.",
    "The premium of 3,650 CNY was debited on 12 March 2024.",
    "Next follow-up is scheduled for Friday afternoon.",
    "The call lasted about five minutes and the customer was calm.",
    "Explained the waiting period and the main exclusions of the plan.",
    "The Claims team will review the medical receipts next week.",
    "Customer asked how the surrender charge is calculated.",
    "The accident happened on 3 May 2024 and was reported to the police.",
    "Policy renewal is due on 1 January 2025.",
    "Hospital invoices total 8,900 CNY across twelve receipts.",
    "Payment is expected within five working days.",
    "Customer reported that the app often shows a network error.",
    "The case was escalated to underwriting for a second review.",
    "Customer prefers to be contacted in the evening after work.",
)


def _zh_sentences(v: _Values) -> list[Callable[[_Builder], None]]:
    r = v.rng

    def name(b: _Builder) -> None:
        lead, tail = r.choice(
            (
                ("客户", "来电咨询续保事宜。"),
                ("投保人：", "，"),
                ("被保险人", "表示已收到理赔通知。"),
                ("联系人", "同意补充病历资料。"),
                ("已联系", "，对方称下周提交材料。"),
                ("今天与", "沟通了理赔进度。"),
                ("客户经理", "负责后续跟进。"),
                ("报案人", "称车辆在小区内被刮。"),
                ("受益人为", "，与被保险人系夫妻关系。"),
                ("回访时", "女士对服务表示满意。"),
                ("致电", "先生，确认银行账户信息。"),
                ("", "来电称已寄出发票原件。"),
                ("", "表示对赔付金额有异议。"),
                ("家属", "陪同就诊。"),
                ("", "的保单已完成续期。"),
            )
        )
        b.text(lead).pii(T.PERSON, v.zh_name()).text(tail)

    def surname_title(b: _Builder) -> None:
        full = v.zh_name()
        surname = full[:2] if full[:2] in ("欧阳", "司马", "上官", "诸葛") else full[:1]
        title = r.choice(("先生", "女士", "经理", "小姐"))
        tail = r.choice(
            ("反馈理赔进度较慢，要求尽快处理。", "来电要求修改联系方式。", "表示理解。")
        )
        b.pii(T.PERSON, surname).text(title + tail)

    def mobile(b: _Builder) -> None:
        lead = r.choice(("手机", "联系电话", "客户手机号：", "新号码为", "手机号码"))
        b.text(lead).pii(T.MOBILE, v.mobile_spelling(v.mobile_number())).text(
            r.choice(("。", "，", "，请回电。"))
        )

    def landline(b: _Builder) -> None:
        b.text(r.choice(("座机", "办公电话", "家庭电话："))).pii(T.LANDLINE, v.landline()).text(
            "。"
        )

    def resident(b: _Builder) -> None:
        b.text(r.choice(("身份证号", "身份证号码：", "证件号", "身份证"))).pii(
            T.PRC_ID, v.resident_id()
        )
        b.text(r.choice(("，已核实无误。", "。", "，与系统一致。")))

    def card(b: _Builder) -> None:
        b.text(r.choice(("银行卡号", "收款账户", "卡号："))).pii(T.BANK_CARD, v.bank_card()).text(
            "用于理赔款支付。"
        )

    def email(b: _Builder) -> None:
        b.text(r.choice(("邮箱", "电子邮箱：", "邮件发至"))).pii(T.EMAIL, v.email()).text(
            r.choice(("谢谢。", "，已发送。", "。"))
        )

    def passport(b: _Builder) -> None:
        if r.random() < 0.6:
            b.text(r.choice(("护照号码", "护照", "客户护照号："))).pii(T.PASSPORT, v.prc_passport())
        else:
            b.text("护照号").pii(T.PASSPORT, v.generic_passport())
        b.text("，计划下月出境旅行。")

    def plate(b: _Builder) -> None:
        b.text(r.choice(("车牌号", "车牌", "客户车辆"))).pii(T.LICENSE_PLATE, v.plate())
        b.text(r.choice(("于昨日发生追尾事故。", "在停车场被刮。", "已完成定损。")))

    def dob(b: _Builder) -> None:
        _dob_zh(v, b)
        b.text("投保时年龄符合要求。")

    def address(b: _Builder) -> None:
        lead = r.choice(("住址：", "客户家住", "理赔材料请寄到", "通讯地址为", "现居住在"))
        b.text(lead).pii(T.ADDRESS, v.zh_address()).text(
            r.choice(("。", "，方便上门。", "，已更新。"))
        )

    def policy(b: _Builder) -> None:
        b.text(r.choice(("保单号", "保单", "咨询保单"))).pii(T.POLICY_NUMBER, v.policy()).text(
            "的续保事宜。"
        )

    def claim(b: _Builder) -> None:
        b.text(r.choice(("理赔案件", "案件号", "理赔"))).pii(T.CLAIM_NUMBER, v.claim()).text(
            "已进入审核。"
        )

    return [
        name,
        name,
        surname_title,
        mobile,
        landline,
        resident,
        card,
        email,
        passport,
        plate,
        dob,
        address,
        policy,
        claim,
    ]


def _en_sentences(v: _Values) -> list[Callable[[_Builder], None]]:
    r = v.rng

    def full_name() -> str:
        if r.random() < 0.15:
            return str(v.zh.romanized_name())
        return f"{v.en.first_name()} {v.en.last_name()}"

    def name(b: _Builder) -> None:
        lead, tail = r.choice(
            (
                ("Customer ", " called about the renewal."),
                ("Spoke with ", " regarding the claim status."),
                ("Insured: ", ". "),
                ("Call from ", ", who asked about the waiting period."),
                ("Policyholder ", " agreed to send the receipts."),
                ("", " called to update the contact details."),
                ("Emergency contact is ", ", the spouse."),
                ("Claimant ", " reported the accident yesterday."),
                ("Left a voicemail for ", "."),
                ("", "'s claim was approved last week."),
                ("Agreed with ", " to call again on Monday."),
            )
        )
        b.text(lead).pii(T.PERSON, full_name()).text(tail)

    def honorific(b: _Builder) -> None:
        title = r.choice(("Mr", "Mrs", "Ms", "Dr", "Mr.", "Ms."))
        b.text(f"{title} ").pii(T.PERSON, str(v.en.last_name())).text(
            r.choice((" asked for a call back.", " was satisfied.", " complained about the delay."))
        )

    def mobile(b: _Builder) -> None:
        b.text(r.choice(("Mobile: ", "New mobile number is ", "Call back on ", "Tel "))).pii(
            T.MOBILE, v.mobile_spelling(v.mobile_number())
        ).text(".")

    def landline(b: _Builder) -> None:
        b.text(r.choice(("Office phone ", "Landline: "))).pii(T.LANDLINE, v.landline()).text(".")

    def resident(b: _Builder) -> None:
        b.text(r.choice(("ID number ", "Resident ID: ", "ID card "))).pii(
            T.PRC_ID, v.resident_id()
        ).text(" verified.")

    def card(b: _Builder) -> None:
        b.text(r.choice(("Refund to card ", "Bank card: ", "Card number "))).pii(
            T.BANK_CARD, v.bank_card()
        ).text(".")

    def email(b: _Builder) -> None:
        b.text(r.choice(("Email on file: ", "Send the letter to ", "Emailed "))).pii(
            T.EMAIL, v.email()
        ).text(".")

    def passport(b: _Builder) -> None:
        if r.random() < 0.5:
            b.text("Passport ").pii(T.PASSPORT, v.prc_passport())
        else:
            b.text(r.choice(("Passport no. ", "passport number "))).pii(
                T.PASSPORT, v.generic_passport()
            )
        b.text(" provided for the travel policy.")

    def plate(b: _Builder) -> None:
        b.text("Vehicle plate ").pii(T.LICENSE_PLATE, v.plate()).text(
            " was damaged in the car park."
        )

    def dob(b: _Builder) -> None:
        b.text("Customer ")
        _dob_en(v, b)
        b.text(".")

    def address(b: _Builder) -> None:
        b.text(r.choice(("Customer lives at ", "Mailing address: ", "Send documents to "))).pii(
            T.ADDRESS, v.en_address()
        ).text(".")

    def policy(b: _Builder) -> None:
        b.text(r.choice(("Policy ", "Re policy ", "policy number "))).pii(
            T.POLICY_NUMBER, v.policy()
        ).text(" is active.")

    def claim(b: _Builder) -> None:
        b.text(r.choice(("Claim ", "Claim ref "))).pii(T.CLAIM_NUMBER, v.claim()).text(
            " is under review."
        )

    return [
        name,
        name,
        honorific,
        mobile,
        landline,
        resident,
        card,
        email,
        passport,
        plate,
        dob,
        address,
        policy,
        claim,
    ]


@dataclass(frozen=True, slots=True)
class _Customer:
    name: str
    mobile: str
    email: str
    id_number: str
    address: str
    birth_date: dt.date
    city: str

    def known(self) -> dict[str, str]:
        return {
            "name": self.name,
            "mobile": "+86" + self.mobile,
            "email": self.email.lower(),
            "id_number": self.id_number.upper().replace(" ", ""),
            "address": self.address,
            "birth_date": self.birth_date.isoformat(),
            "city": self.city,
        }


def _customer(v: _Values, lang: str) -> _Customer:
    if lang == "zh":
        parts = v.zh_address_parts()
        city = next((p for p in parts if p.endswith("市")), parts[0])
        return _Customer(
            v.zh_name(),
            v.mobile_number(),
            v.email(),
            v.resident_id().replace(" ", ""),
            "".join(parts),
            v.birth_date(),
            city,
        )
    address = v.en_address()
    return _Customer(
        f"{v.en.first_name()} {v.en.last_name()}",
        v.mobile_number(),
        v.email(),
        v.resident_id().replace(" ", ""),
        address,
        v.birth_date(),
        address.split(", ")[-2] if address.count(",") >= 2 else "Shenzhen",
    )


def _known_mentions(v: _Values, c: _Customer, lang: str) -> list[Callable[[_Builder], None]]:
    """Sentences that mention the customer's known values in spellings patterns may miss."""
    r = v.rng
    m = c.mobile

    def name(b: _Builder) -> None:
        if lang == "zh":
            spaced = r.choice((" ".join(c.name), c.name, "\u3000".join(c.name)))
            b.text(r.choice(("今天", "上午", "刚才"))).pii(T.PERSON, spaced, True).text(
                r.choice(("又打来电话。", "再次来电催促。"))
            )
        else:
            first, last = c.name.split(" ", 1)
            spelled = r.choice(
                (c.name.upper(), c.name.lower(), f"{last}, {first}", f"{last.upper()} {first}")
            )
            b.text("Record shows ").pii(T.PERSON, spelled, True).text(" as the payer.")

    def mobile(b: _Builder) -> None:
        spelled = r.choice(
            (
                f"{m[:3]}.{m[3:7]}.{m[7:]}",
                f"{m[:7]} {m[7:]}",
                "".join(chr(0xFF10 + int(d)) for d in m),
                f"{m[:3]}-{m[3:]}",
                f"{m[:2]} {m[2:5]} {m[5:8]} {m[8:]}",
            )
        )
        b.text("回拨" if lang == "zh" else "Rang back on ").pii(T.MOBILE, spelled, True).text(
            "。" if lang == "zh" else "."
        )

    def email(b: _Builder) -> None:
        local, domain = c.email.split("@")
        spelled = r.choice(
            (
                c.email.upper(),
                f"{local} at {domain.replace('.', ' dot ')}",
                f"{local.title()}@{domain.upper()}",
            )
        )
        b.text("邮箱" if lang == "zh" else "Mail ").pii(T.EMAIL, spelled, True).text(
            "，" if lang == "zh" else ", "
        )

    def address(b: _Builder) -> None:
        if lang == "zh":
            fragment = c.address[c.address.find("市") + 1 :] if "市" in c.address else c.address
            b.text("客户说材料放在").pii(T.ADDRESS, fragment, True).text("门卫处。")
        else:
            street = c.address.split(",")[0]
            b.text("Parcel left at ").pii(T.ADDRESS, street, True).text(".")

    def city(b: _Builder) -> None:
        if lang == "zh":
            b.text("客户目前在").pii(T.LOCATION, c.city.removesuffix("市"), True).text("工作。")
        else:
            b.text("Customer works in ").pii(T.LOCATION, c.city, True).text(" now.")

    def dob(b: _Builder) -> None:
        d = c.birth_date
        spelled = r.choice(
            (
                f"{d.year}/{d.month}/{d.day}",
                f"{d.year}.{d.month:02d}.{d.day:02d}",
                f"{d.year}年{d.month}月{d.day}日",
            )
        )
        b.text("核对资料：" if lang == "zh" else "Checked ").pii(
            T.DATE_OF_BIRTH, spelled, True
        ).text("。" if lang == "zh" else ".")

    def id_number(b: _Builder) -> None:
        n = c.id_number
        spelled = r.choice(
            (
                f"{n[:3]} {n[3:6]} {n[6:10]} {n[10:14]} {n[14:]}",
                "-".join(n[i : i + 6] for i in range(0, 18, 6)),
            )
        )
        b.text("证件" if lang == "zh" else "Document ").pii(T.PRC_ID, spelled, True).text(
            "。" if lang == "zh" else "."
        )

    return [name, mobile, email, address, city, dob, id_number]


def generate_corpus(n: int, seed: int = 0, known_share: float = 0.3) -> Iterator[Note]:
    """``n`` notes, alternating English and Chinese, deterministic for a seed."""
    rng = random.Random(seed)  # noqa: S311 - synthetic test data, reproducible on purpose
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed + 1)
    values = _Values(rng, zh, en)
    zh_sentences, en_sentences = _zh_sentences(values), _en_sentences(values)
    for i in range(n):
        lang = "zh" if i % 2 else "en"
        sentences = zh_sentences if lang == "zh" else en_sentences
        filler = _ZH_FILLER if lang == "zh" else _EN_FILLER
        joiner = "" if lang == "zh" else " "
        b = _Builder()
        pieces: list[Callable[[_Builder], None]] = rng.sample(sentences, rng.randint(4, 6))
        known: dict[str, str] | None = None
        if rng.random() < known_share:
            customer = _customer(values, lang)
            known = customer.known()
            pieces += rng.sample(_known_mentions(values, customer, lang), rng.randint(2, 4))
        fillers = rng.sample(filler, rng.randint(3, 5 if lang == "en" else 6))
        order: list[Callable[[_Builder], None] | str] = [*pieces, *fillers]
        rng.shuffle(order)
        for k, piece in enumerate(order):
            if k and joiner:
                b.text(joiner)
            if isinstance(piece, str):
                b.text(piece)
            else:
                piece(b)
        yield Note(f"{lang}-{i:06d}", lang, "".join(b.parts), tuple(b.spans), known)
