"""Synthetic insurance-CRM extracts in the import format, for the demo and the tests.

The vault is only convincing when it is fed data that looks like the real thing:
Chinese resident IDs that pass the MOD 11-2 check, mobiles spelt four different
ways, the same person arriving from two source systems, and free-text notes
that quote a customer's mobile and bank card the way call-centre staff really
type them.  This module writes such data, five CSV files in exactly the
columns of ``docs/import-formats.md``, so the importer, identity resolution,
free-text redaction and the rejects file can all be shown on a fresh machine
without a single real person's data.

Everything is drawn from one seeded :class:`random.Random` plus two seeded
Faker instances (``zh_CN`` for about three quarters of customers, ``en_US`` for
the rest), so a seed always gives byte-identical files.  "Today" is the fixed
:data:`REFERENCE_DATE` rather than the clock for the same reason.  Rows are
streamed to disk as they are made; only the small sets that keep ID numbers,
mobiles and source ids unique are held in memory.

Identifiers are made valid by construction rather than by rejection sampling:
resident IDs get their check digit from ``stdnum.cn.ric`` and a birthplace code
that python-stdnum accepts for the birth year (its register dates most
districts from 1983, so older customers are born in districts it has always
known), mobiles use allocated Chinese mobile prefixes, bank cards get a Luhn
check digit.  ``invalid_rows`` then breaks exactly one rule per extra row, so a
demo can show every kind of reject.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from faker import Faker
from stdnum import luhn
from stdnum.cn import ric

from vault.import_format import (
    CLAIM_COLUMNS,
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    INTERACTION_COLUMNS,
    POLICY_COLUMNS,
)

REFERENCE_DATE = dt.date(2026, 6, 30)
"""The "today" of the generated data: policies end, claims close and notes are
written relative to it, never to the wall clock, so output depends on the seed alone."""

CUSTOM_ATTRIBUTE_COLUMNS = ("vip_tier", "preferred_language")
"""Extra, non-PII customer columns: the importer keeps them as custom attributes."""
INVALID_ROW_KINDS = (
    "bad_check_digit",
    "impossible_id_birth_date",
    "malformed_mobile",
    "malformed_email",
    "impossible_birth_date",
    "missing_full_name",
    "missing_id_and_mobile",
)
"""What the ``invalid_rows`` extra customer rows break, in the order they cycle through.

Row ``k`` of the extras breaks ``INVALID_ROW_KINDS[k % 7]`` and nothing else."""

ZH_SHARE = 0.75
ID_DUPLICATE_SHARE = 0.10
"""Customers who also arrive from ``agency`` with the same ID number (merged by ID)."""
NAME_MOBILE_DUPLICATE_SHARE = 0.02
"""Customers who also arrive from ``agency`` without an ID number (merged by name + mobile)."""
CLAIM_SHARE = 0.25
"""Policies that have at least one claim."""

_PROGRESS_EVERY = 250
_AGENCY_DELAY = 300
"""An agency copy is written up to this many customers after its ``crm`` row: the
files interleave the systems, and the ``crm`` row (which owns the profile) comes first."""

# -- reference tables -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _District:
    code: str
    name: str
    name_en: str
    postcode: str


@dataclass(frozen=True, slots=True)
class _City:
    key: str
    province: str
    city: str
    province_en: str
    city_en: str
    org_units: tuple[str, ...]
    weight: int
    districts: tuple[_District, ...]


_CITIES = (
    _City(
        "SH",
        "上海市",
        "上海市",
        "Shanghai",
        "Shanghai",
        ("SH-01", "SH-02"),
        30,
        (
            _District("310101", "黄浦区", "Huangpu District", "200001"),
            _District("310104", "徐汇区", "Xuhui District", "200030"),
            _District("310105", "长宁区", "Changning District", "200050"),
            _District("310106", "静安区", "Jing'an District", "200040"),
            _District("310107", "普陀区", "Putuo District", "200333"),
            _District("310110", "杨浦区", "Yangpu District", "200082"),
            _District("310115", "浦东新区", "Pudong New Area", "200120"),
        ),
    ),
    _City(
        "BJ",
        "北京市",
        "北京市",
        "Beijing",
        "Beijing",
        ("BJ-01", "BJ-02"),
        25,
        (
            _District("110101", "东城区", "Dongcheng District", "100010"),
            _District("110102", "西城区", "Xicheng District", "100032"),
            _District("110105", "朝阳区", "Chaoyang District", "100020"),
            _District("110106", "丰台区", "Fengtai District", "100071"),
            _District("110108", "海淀区", "Haidian District", "100080"),
        ),
    ),
    _City(
        "GZ",
        "广东省",
        "广州市",
        "Guangdong",
        "Guangzhou",
        ("GZ-01",),
        12,
        (
            _District("440104", "越秀区", "Yuexiu District", "510030"),
            _District("440105", "海珠区", "Haizhu District", "510220"),
            _District("440106", "天河区", "Tianhe District", "510620"),
        ),
    ),
    _City(
        "SZ",
        "广东省",
        "深圳市",
        "Guangdong",
        "Shenzhen",
        ("SZ-01",),
        12,
        (
            _District("440303", "罗湖区", "Luohu District", "518001"),
            _District("440304", "福田区", "Futian District", "518033"),
            _District("440305", "南山区", "Nanshan District", "518052"),
        ),
    ),
    _City(
        "HZ",
        "浙江省",
        "杭州市",
        "Zhejiang",
        "Hangzhou",
        ("HZ-01",),
        7,
        (
            _District("330102", "上城区", "Shangcheng District", "310002"),
            _District("330106", "西湖区", "Xihu District", "310013"),
        ),
    ),
    _City(
        "NJ",
        "江苏省",
        "南京市",
        "Jiangsu",
        "Nanjing",
        ("HZ-01",),
        5,
        (
            _District("320102", "玄武区", "Xuanwu District", "210018"),
            _District("320106", "鼓楼区", "Gulou District", "210009"),
        ),
    ),
    _City(
        "CD",
        "四川省",
        "成都市",
        "Sichuan",
        "Chengdu",
        ("CD-01",),
        5,
        (
            _District("510104", "锦江区", "Jinjiang District", "610021"),
            _District("510107", "武侯区", "Wuhou District", "610041"),
        ),
    ),
    _City(
        "WH",
        "湖北省",
        "武汉市",
        "Hubei",
        "Wuhan",
        ("CD-01",),
        4,
        (
            _District("420102", "江岸区", "Jiang'an District", "430010"),
            _District("420106", "武昌区", "Wuchang District", "430061"),
        ),
    ),
)
_CITY_CUM_WEIGHTS = tuple(itertools.accumulate(c.weight for c in _CITIES))

_HOMETOWN_CODES = (
    # Counties and old city districts people moved to the big cities from.  Which of
    # them a birth year may use is decided by python-stdnum's register (see _birthplaces).
    "120101", "120103", "140121", "210224", "222401", "330122", "340121", "350121",
    "360121", "360426", "430121", "430321", "510121", "620121", "650121", "130627",
    "321281", "341221", "350521", "370724", "372925", "410725", "412723", "421081",
    "430521", "430624", "441581", "513030", "522401", "612401", "350182", "320583",
)  # fmt: skip

_CN_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "147", "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "175", "176", "177", "178", "180", "181", "182", "183",
    "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
_US_AREA_CODES = ("206", "212", "213", "312", "415", "617", "646", "650", "713", "917")
_CARD_BINS_19 = ("622202", "622848", "621700", "622609", "621226", "623668")
_CARD_BINS_16 = ("622588", "621483", "625965")

_ZH_EMAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "foxmail.com", "outlook.com")
_EN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")
_ZH_EDUCATION = ("初中", "高中", "中专", "大专", "本科", "本科", "硕士研究生", "博士研究生")
_EN_EDUCATION = (
    "High school",
    "Associate degree",
    "Bachelor's degree",
    "Bachelor's degree",
    "Master's degree",
    "Doctorate",
)
_EN_STREETS = (
    "Century Avenue", "Nanjing West Road", "Huaihai Middle Road", "Jianguo Road",
    "Zhongshan Road", "Renmin Road", "Jiefang Road", "Heping Road", "Xinhua Road",
    "Changjiang Road", "Yan'an Road", "Tianhe Road", "Shennan Avenue", "Wensan Road",
)  # fmt: skip
_VIP_TIERS = ("standard", "silver", "gold", "platinum")
_VIP_CUM_WEIGHTS = (70, 88, 97, 100)

_NO_LETTERS = re.compile(r"[^a-z0-9]")

# product line -> (premium range, sum insured range in units of 10,000, claim types)
_PRODUCTS: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[str, ...]]] = {
    "auto": ((1800, 12000), (20, 300), ("vehicle_damage", "vehicle_damage", "theft", "accident")),
    "health": ((300, 9000), (5, 600), ("medical", "medical", "medical", "critical_illness")),
    "life": ((3000, 60000), (20, 500), ("death", "critical_illness")),
    "property": ((200, 3000), (50, 500), ("property_damage", "property_damage", "theft")),
    "travel": ((40, 800), (10, 100), ("travel", "travel", "medical")),
    "accident": ((100, 1500), (10, 100), ("accident", "accident", "medical", "death")),
}
_PRODUCT_LINES = tuple(_PRODUCTS)
_PRODUCT_CUM_WEIGHTS = tuple(itertools.accumulate((24, 28, 14, 10, 12, 12)))
_SALES_CHANNELS = ("agent", "broker", "bancassurance", "online", "telesales", "app")
_CLAIM_AMOUNTS: dict[str, tuple[int, int]] = {
    "medical": (300, 80000),
    "accident": (500, 50000),
    "vehicle_damage": (800, 60000),
    "property_damage": (2000, 200000),
    "theft": (1500, 30000),
    "critical_illness": (100000, 500000),
    "death": (200000, 2000000),
    "travel": (300, 20000),
}
_INTERACTION_CHANNELS = ("phone", "email", "sms", "wechat", "app", "branch")
_CONSENT_PURPOSES = ("service_notice", "marketing", "analytics")
_CONSENT_CHANNELS = ("sms", "email", "phone", "wechat", "app", "post")
_CONSENT_SOURCES = ("web_form", "app_settings", "call_center", "branch_paper", "agent_visit")

# -- free-text templates ----------------------------------------------------------------------
# Placeholders: {name} {mobile} {email} {id} {card} {policy} {address} {date}.  Roughly two
# thirds of the templates quote the customer's own data, as real CRM notes do.

_ZH_NOTES: dict[str, tuple[str, ...]] = {
    "policy_renewal": (
        "客户{name}来电咨询保单{policy}续保事宜，已告知续保保费及缴费方式。",
        "外呼提醒续保，客户表示考虑后回复，联系电话{mobile}。",
        "续保提醒短信已发送，客户未回复。",
    ),
    "claim_status": (
        "客户{name}查询理赔进度，手机{mobile}，已告知资料正在审核。",
        "客户来电催理赔款，要求打入银行卡{card}，已转理赔组。",
        "理赔进度已通过短信告知客户。",
    ),
    "address_change": (
        "客户{name}来电，手机{mobile}，要求修改地址",
        "客户要求将通讯地址改为{address}，已核实身份后修改。",
    ),
    "contact_update": (
        "客户更新联系方式：新手机{mobile}，邮箱{email}。",
        "客户{name}要求以后只用邮件联系，邮箱{email}。",
    ),
    "premium_payment": (
        "客户{name}要求把扣款账户改为{card}。",
        "保费扣款失败，已短信通知客户补缴。",
    ),
    "document_request": (
        "客户{name}（身份证{id}）申请补发保单{policy}合同，已邮寄。",
        "客户索要缴费证明，已发送至{email}。",
    ),
    "complaint": (
        "客户投诉理赔时效太慢，情绪激动，已安抚并升级处理。",
        "{name}投诉客服电话多次无人接听，回访电话{mobile}。",
    ),
    "product_inquiry": (
        "客户咨询医疗险产品，已发送产品资料至{email}。",
        "客户咨询少儿教育金产品，约定下周到网点面谈。",
    ),
    "beneficiary_change": (
        "客户{name}申请变更受益人，需提供身份证{id}复印件。",
        "受益人变更材料已收齐，待审核。",
    ),
    "cancellation_request": (
        "客户要求退保，退保金退至{card}，已告知犹豫期规则。",
        "客户{name}（{mobile}）咨询退保损失，已解释现金价值。",
    ),
}
_EN_NOTES: dict[str, tuple[str, ...]] = {
    "policy_renewal": (
        "Customer {name} called about renewing policy {policy}; quoted the renewal premium.",
        "Outbound renewal reminder; customer will call back on {mobile}.",
        "Renewal reminder sent by SMS, no reply yet.",
    ),
    "claim_status": (
        "{name} asked about claim progress, mobile {mobile}; documents under review.",
        "Customer chasing claim payment, wants it paid to card {card}; passed to claims team.",
        "Claim status update sent to customer.",
    ),
    "address_change": (
        "{name} called from {mobile} asking to change the mailing address.",
        "Customer asked to update address to {address}; identity verified, updated.",
    ),
    "contact_update": (
        "Customer updated contact details: new mobile {mobile}, email {email}.",
        "{name} prefers email only from now on: {email}.",
    ),
    "premium_payment": (
        "{name} asked to switch the premium debit to card {card}.",
        "Premium debit failed; SMS reminder sent.",
    ),
    "document_request": (
        "{name} (passport {id}) requested a copy of policy {policy}; mailed.",
        "Customer asked for a premium receipt; sent to {email}.",
    ),
    "complaint": (
        "Customer complained about slow claim handling; escalated to supervisor.",
        "{name} complained nobody answered the hotline, call back on {mobile}.",
    ),
    "product_inquiry": (
        "Customer asked about health cover for expats; brochure sent to {email}.",
        "Customer interested in travel insurance for a family trip.",
    ),
    "beneficiary_change": (
        "{name} wants to change the beneficiary; needs passport {id} copy.",
        "Beneficiary change documents received, pending review.",
    ),
    "cancellation_request": (
        "Customer wants to cancel; refund to card {card}. Explained the cooling-off period.",
        "{name} ({mobile}) asked what they lose by surrendering the policy.",
    ),
}
_TOPICS = tuple(_ZH_NOTES)

_ZH_CLAIMS: dict[str, tuple[str, ...]] = {
    "medical": (
        "被保险人{name}因急性阑尾炎住院治疗，申请报销医疗费用，理赔款请转入{card}。",
        "门诊及住院费用报销，发票已提交，联系电话{mobile}。",
        "被保险人因肺炎住院七天，材料齐全。",
    ),
    "accident": (
        "{name}下楼梯时摔倒导致右腿骨折，联系电话{mobile}。",
        "意外受伤就医，申请意外医疗赔付，收款卡号{card}。",
    ),
    "vehicle_damage": (
        "{date}在高架上发生追尾，车辆前保险杠受损，报案人{name}，电话{mobile}。",
        "停车场倒车刮擦，左后门受损，维修费用请打到{card}。",
        "车辆被树枝砸中，挡风玻璃破裂。",
    ),
    "property_damage": (
        "楼上漏水导致客厅吊顶和地板受损，报案人{name}，电话{mobile}。",
        "台风造成阳台窗户损坏，赔款请转入{card}。",
    ),
    "theft": (
        "{name}报案称家中被盗，丢失笔记本电脑和现金，已报警，电话{mobile}。",
        "车辆停放期间被盗，已取得派出所证明。",
    ),
    "critical_illness": (
        "被保险人{name}确诊恶性肿瘤，身份证{id}，申请重疾赔付至{card}。",
        "被保险人确诊急性心肌梗塞，材料齐全待审核。",
    ),
    "death": (
        "被保险人{name}因病身故，受益人申请理赔，联系电话{mobile}。",
        "被保险人意外身故，受益人已提交死亡证明。",
    ),
    "travel": (
        "{name}出境旅行期间行李延误，申请赔付，联系电话{mobile}。",
        "旅行途中急性肠胃炎就医，赔款请转入{card}。",
    ),
}
_EN_CLAIMS: dict[str, tuple[str, ...]] = {
    "medical": (
        "Insured {name} hospitalised for appendicitis; please pay the refund to card {card}.",
        "Outpatient and inpatient bills submitted; contact {mobile}.",
        "Insured treated for pneumonia, seven days in hospital.",
    ),
    "accident": (
        "{name} fell on the stairs and broke a leg; reachable on {mobile}.",
        "Accidental injury treatment; pay to card {card}.",
    ),
    "vehicle_damage": (
        "Rear-end collision on {date}, front bumper damaged. Reported by {name}, {mobile}.",
        "Scraped while reversing in a car park; repair cost to card {card}.",
        "Windscreen cracked by a falling branch.",
    ),
    "property_damage": (
        "Water leak from the flat above damaged the ceiling. Reported by {name}, {mobile}.",
        "Typhoon broke the balcony window; pay to card {card}.",
    ),
    "theft": (
        "{name} reports a burglary, laptop and cash stolen; police informed. Mobile {mobile}.",
        "Car stolen while parked; police report obtained.",
    ),
    "critical_illness": (
        "Insured {name} (passport {id}) diagnosed with cancer; benefit to card {card}.",
        "Insured diagnosed with acute myocardial infarction, documents complete.",
    ),
    "death": (
        "Insured {name} passed away after an illness; beneficiary contact {mobile}.",
        "Accidental death, beneficiary submitted the death certificate.",
    ),
    "travel": (
        "{name} had luggage delayed abroad; contact {mobile}.",
        "Treated for gastroenteritis while travelling; pay to card {card}.",
    ),
}


# -- public API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFiles:
    """Where the generated extracts are, and how many data rows each holds."""

    customers: Path
    policies: Path
    claims: Path
    interactions: Path
    consents: Path
    counts: dict[str, int]
    """Data rows written per file (header excluded), keyed ``customers``, ``policies``, ..."""


def generate_demo_data(
    out_dir: Path,
    customers: int,
    *,
    seed: int = 0,
    invalid_rows: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> DemoFiles:
    """Write ``customers.csv`` and the four linked files for ``customers`` people.

    Besides one ``crm`` row per customer, ``customers.csv`` carries ``agency``
    copies of about 10% of them (same ID number) and 2% (same name and mobile, no
    ID), interleaved, plus ``invalid_rows`` deliberately broken rows at the end
    (see :data:`INVALID_ROW_KINDS`).  ``on_progress(n)`` is told how many customers
    were generated since its last call, so a caller can drive a progress bar;
    nothing is printed.  The same ``seed`` always writes the same bytes.
    """
    if customers < 0 or invalid_rows < 0:
        raise ValueError("customers and invalid_rows must not be negative")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"{kind}.csv" for kind in _HEADERS}
    with _Writers(paths) as writers:
        _Generator(seed, writers).run(customers, invalid_rows, on_progress)
        counts = dict(writers.counts)
    return DemoFiles(
        customers=paths["customers"],
        policies=paths["policies"],
        claims=paths["claims"],
        interactions=paths["interactions"],
        consents=paths["consents"],
        counts=counts,
    )


# -- output -----------------------------------------------------------------------------------

_HEADERS: dict[str, tuple[str, ...]] = {
    "customers": CUSTOMER_COLUMNS + CUSTOM_ATTRIBUTE_COLUMNS,
    "policies": POLICY_COLUMNS,
    "claims": CLAIM_COLUMNS,
    "interactions": INTERACTION_COLUMNS,
    "consents": CONSENT_COLUMNS,
}


_C = {name: i for i, name in enumerate(_HEADERS["customers"])}
"""Cell positions in a customer row, for breaking one cell of an ``invalid_rows`` row."""


class _Writers:
    """The five open CSV files; rows go straight to disk and are only counted."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = paths
        self._streams: list[TextIO] = []
        self._writers: dict[str, Any] = {}
        self.counts: dict[str, int] = dict.fromkeys(paths, 0)

    def __enter__(self) -> _Writers:
        try:
            for kind, path in self._paths.items():
                stream = path.open("w", encoding="utf-8", newline="")
                self._streams.append(stream)
                writer = csv.writer(stream, lineterminator="\n")
                writer.writerow(_HEADERS[kind])
                self._writers[kind] = writer
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams.clear()

    def write(self, kind: str, row: Sequence[str]) -> None:
        self._writers[kind].writerow(row)
        self.counts[kind] += 1


# -- people -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Person:
    zh: bool
    full_name: str
    gender: str
    birth: dt.date
    id_type: str
    id_number: str
    mobile: str
    """Chinese mobiles: the 11 national digits; others: E.164."""
    mobile_style: int
    email: str
    address: str
    province: str
    city: str
    postcode: str
    occupation: str
    income: str
    marital: str
    education: str
    org_unit: str
    vip_tier: str
    language: str
    since: dt.date
    card: str

    @property
    def cn_mobile(self) -> bool:
        return not self.mobile.startswith("+")


def _spell_mobile(digits: str, style: int) -> str:
    """One of the spellings CRM users type: plain, dashed, spaced, +86 spaced, E.164."""
    if digits.startswith("+"):
        return digits
    a, b, c = digits[:3], digits[3:7], digits[7:]
    match style % 5:
        case 0:
            return digits
        case 1:
            return f"{a}-{b}-{c}"
        case 2:
            return f"{a} {b} {c}"
        case 3:
            return f"+86 {a} {b} {c}"
        case _:
            return f"+86{digits}"


def _spell_card(card: str, style: int) -> str:
    if style % 3 == 1:
        return " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    if style % 3 == 2:
        return "-".join(card[i : i + 4] for i in range(0, len(card), 4))
    return card


def _other_case(email: str) -> str:
    """The same address in a different letter case (agency systems do not preserve it)."""
    lowered = email.lower()
    return lowered if lowered != email else email.upper()


def _with_check_digit(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


@cache
def _birthplaces(year: int) -> tuple[str, ...]:
    """Area codes python-stdnum accepts for someone born in ``year``, residence districts first.

    stdnum checks that the area code was assigned in the birth year, so the set
    shrinks for older customers; the Beijing and Shanghai core districts are
    valid for every year and keep it from ever being empty.
    """
    codes = [d.code for c in _CITIES for d in c.districts] + list(_HOMETOWN_CODES)
    return tuple(c for c in codes if ric.is_valid(_with_check_digit(f"{c}{year}0101001")))


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class _Generator:
    """All random choices of one run; one instance per :func:`generate_demo_data` call."""

    def __init__(self, seed: int, out: _Writers) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not secrets
        self.zh = Faker("zh_CN")
        self.zh.seed_instance(seed)
        self.en = Faker("en_US")
        self.en.seed_instance(seed)
        self.out = out
        self.ids: set[str] = set()
        self.mobiles: set[str] = set()
        self.agency_ids: set[str] = set()
        self.policy_seq = itertools.count(self.rng.randrange(10_000_000, 20_000_000))
        self.claim_seq = itertools.count(self.rng.randrange(10_000_000, 20_000_000))
        self.pending: list[tuple[int, int, list[str]]] = []
        self.pending_seq = itertools.count()

    # -- driving

    def run(
        self, customers: int, invalid_rows: int, on_progress: Callable[[int], None] | None
    ) -> None:
        done = 0
        for index in range(1, customers + 1):
            self.customer(index)
            self.release_agency_rows(index)
            done += 1
            if on_progress is not None and done == _PROGRESS_EVERY:
                on_progress(done)
                done = 0
        self.release_agency_rows(None)
        if on_progress is not None and done:
            on_progress(done)
        for k in range(invalid_rows):
            self.invalid_row(k)

    def customer(self, index: int) -> None:
        rng = self.rng
        person = self.person()
        source_id = f"CRM-{index:06d}"
        self.out.write("customers", self.customer_row(person, "crm", source_id))
        draw = rng.random()
        if draw < ID_DUPLICATE_SHARE:
            self.defer(index, self.agency_row(person, with_id=True))
        elif draw < ID_DUPLICATE_SHARE + NAME_MOBILE_DUPLICATE_SHARE and person.cn_mobile:
            self.defer(index, self.agency_row(person, with_id=False))
        policies = self.policies(person, source_id)
        self.interactions(person, source_id, [p[0] for p in policies])
        self.consents(person, source_id)

    def defer(self, index: int, row: list[str]) -> None:
        release = index + self.rng.randint(1, _AGENCY_DELAY)
        heapq.heappush(self.pending, (release, next(self.pending_seq), row))

    def release_agency_rows(self, index: int | None) -> None:
        while self.pending and (index is None or self.pending[0][0] <= index):
            self.out.write("customers", heapq.heappop(self.pending)[2])

    # -- customers

    def person(self, *, zh: bool | None = None) -> _Person:
        rng = self.rng
        if zh is None:
            zh = rng.random() < ZH_SHARE
        gender = "M" if rng.random() < 0.5 else "F"
        low, high = dt.date(1940, 1, 1).toordinal(), dt.date(2006, 12, 31).toordinal()
        birth = dt.date.fromordinal(int(rng.triangular(low, high, dt.date(1986, 6, 1).toordinal())))
        city = _CITIES[rng.choices(range(len(_CITIES)), cum_weights=_CITY_CUM_WEIGHTS)[0]]
        district = rng.choice(city.districts)
        age = (REFERENCE_DATE - birth).days // 365
        first_day = max(dt.date(2008, 1, 1), birth + dt.timedelta(days=18 * 366))
        since = dt.date.fromordinal(
            rng.randint(first_day.toordinal(), (REFERENCE_DATE - dt.timedelta(days=30)).toordinal())
        )
        mobile = self.cn_mobile() if zh or rng.random() < 0.85 else self.us_mobile()
        if zh:
            fake = self.zh
            given = fake.first_name_male() if gender == "M" else fake.first_name_female()
            name = fake.last_name() + given
            id_type, id_number = "resident_id", self.resident_id(birth, gender, city)
            email = self.zh_email()
            room = f"{rng.randint(1, 30)}{rng.randint(1, 4):02d}"
            address = (
                f"{district.name}{fake.street_name()}{rng.randint(1, 999)}号"
                f"{rng.randint(1, 20)}栋{room}室"
            )
            province, city_name, postcode = city.province, city.city, district.postcode
            occupation = fake.job()
            education = rng.choice(_ZH_EDUCATION)
            income = rng.lognormvariate(11.7, 0.6)
            language = "zh-CN"
        else:
            fake = self.en
            first = fake.first_name_male() if gender == "M" else fake.first_name_female()
            last = fake.last_name()
            name = f"{first} {last}"
            id_type, id_number = "passport", self.passport()
            email = self.en_email(first, last)
            if mobile.startswith("+1"):
                address, city_name = fake.street_address(), fake.city()
                province, postcode = fake.state(), ""
            else:
                address = (
                    f"Apt {rng.randint(1, 30)}{rng.randint(1, 4):02d}, "
                    f"No. {rng.randint(1, 999)} {rng.choice(_EN_STREETS)}, {district.name_en}"
                )
                province, city_name, postcode = city.province_en, city.city_en, district.postcode
            occupation = fake.job()
            education = rng.choice(_EN_EDUCATION)
            income = rng.lognormvariate(12.7, 0.5)
            language = "en-US" if rng.random() < 0.85 else "zh-CN"
        return _Person(
            zh=zh,
            full_name=name,
            gender=gender,
            birth=birth,
            id_type=id_type,
            id_number=id_number,
            mobile=mobile,
            mobile_style=rng.randrange(5),
            email=email if rng.random() < 0.92 else "",
            address=address if rng.random() < 0.95 else "",
            province=province,
            city=city_name,
            postcode=postcode,
            occupation=occupation if rng.random() < 0.9 else "",
            income=f"{round(income, -2):.2f}" if rng.random() < 0.9 else "",
            marital=self.marital(age),
            education=education if rng.random() < 0.9 else "",
            org_unit=rng.choice(city.org_units),
            vip_tier=_VIP_TIERS[rng.choices(range(4), cum_weights=_VIP_CUM_WEIGHTS)[0]],
            language=language,
            since=since,
            card=self.bank_card(),
        )

    def resident_id(self, birth: dt.date, gender: str, city: _City) -> str:
        """A fresh, valid PRC ID: birthplace, birth date, sequence with gender parity, check."""
        rng = self.rng
        places = _birthplaces(birth.year)
        local = [d.code for d in city.districts if d.code in places]
        while True:
            area = rng.choice(local) if local and rng.random() < 0.5 else rng.choice(places)
            sequence = rng.randrange(0, 500) * 2 + (1 if gender == "M" else 0)
            number = _with_check_digit(f"{area}{birth:%Y%m%d}{sequence:03d}")
            if number not in self.ids:
                self.ids.add(number)
                return number

    def passport(self) -> str:
        while True:
            number = f"{self.rng.choice('ACEFGHJKLMNPRSTUVWXYZ')}{self.rng.randrange(10**8):08d}"
            if number not in self.ids:
                self.ids.add(number)
                return number

    def cn_mobile(self) -> str:
        while True:
            number = f"{self.rng.choice(_CN_MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if number not in self.mobiles:
                self.mobiles.add(number)
                return number

    def us_mobile(self) -> str:
        rng = self.rng
        while True:
            exchange = rng.randint(200, 999)
            if exchange % 100 == 11 or exchange == 555:
                continue
            number = f"+1{rng.choice(_US_AREA_CODES)}{exchange}{rng.randrange(10_000):04d}"
            if number not in self.mobiles:
                self.mobiles.add(number)
                return number

    def zh_email(self) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            local = str(rng.randint(10_000_000, 3_999_999_999))
            domain = "qq.com"
        else:
            local = self.zh.user_name()
            if rng.random() < 0.6:
                local += str(rng.randint(1, 9999))
            domain = rng.choice(_ZH_EMAIL_DOMAINS)
        return self.vary_case(f"{local}@{domain}")

    def en_email(self, first: str, last: str) -> str:
        rng = self.rng
        first, last = _NO_LETTERS.sub("", first.lower()), _NO_LETTERS.sub("", last.lower())
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}"))
        if rng.random() < 0.5:
            local += str(rng.randint(1, 99))
        return self.vary_case(f"{local}@{rng.choice(_EN_EMAIL_DOMAINS)}")

    def vary_case(self, email: str) -> str:
        draw = self.rng.random()
        if draw < 0.12:
            return email[0].upper() + email[1:]
        if draw < 0.16:
            return email.upper()
        return email

    def bank_card(self) -> str:
        rng = self.rng
        if rng.random() < 0.7:
            body = rng.choice(_CARD_BINS_19) + f"{rng.randrange(10**12):012d}"
        else:
            body = rng.choice(_CARD_BINS_16) + f"{rng.randrange(10**9):09d}"
        return body + luhn.calc_check_digit(body)

    def marital(self, age: int) -> str:
        rng = self.rng
        if rng.random() < 0.05:
            return ""
        if age < 25:
            weights: tuple[int, ...] = (90, 10, 0, 0)
        elif age < 35:
            weights = (40, 55, 5, 0)
        elif age < 60:
            weights = (8, 78, 12, 2)
        else:
            weights = (4, 70, 6, 20)
        return rng.choices(("single", "married", "divorced", "widowed"), weights=weights)[0]

    def customer_row(self, p: _Person, system: str, source_id: str) -> list[str]:
        """A customer row, cells in header order (the tests parse it back by name)."""
        cells = {
            "source_system": system,
            "source_id": source_id,
            "full_name": p.full_name,
            "gender": p.gender,
            "birth_date": _iso(p.birth),
            "id_type": p.id_type,
            "id_number": p.id_number,
            "mobile": _spell_mobile(p.mobile, p.mobile_style),
            "email": p.email,
            "address": p.address,
            "province": p.province,
            "city": p.city,
            "postcode": p.postcode,
            "occupation": p.occupation,
            "annual_income": p.income,
            "marital_status": p.marital,
            "education": p.education,
            "org_unit": p.org_unit,
            "vip_tier": p.vip_tier,
            "preferred_language": p.language,
        }
        return [cells[column] for column in _HEADERS["customers"]]

    def agency_row(self, p: _Person, *, with_id: bool) -> list[str]:
        """The same person as an agency system records them: fewer fields, other spellings."""
        rng = self.rng
        while True:
            source_id = f"AG-{rng.getrandbits(64):016x}"
            if source_id not in self.agency_ids:
                self.agency_ids.add(source_id)
                break
        if p.zh:
            gender = "男" if p.gender == "M" else "女"
        else:
            gender = "male" if p.gender == "M" else "female"
        id_number = p.id_number.lower() if rng.random() < 0.5 else p.id_number
        return [
            "agency",
            source_id,
            p.full_name,
            gender,
            _iso(p.birth) if with_id or rng.random() < 0.5 else "",
            p.id_type if with_id else "",
            id_number if with_id else "",
            _spell_mobile(p.mobile, p.mobile_style + rng.randint(1, 4)),
            _other_case(p.email) if with_id else "",
            "",
            p.province,
            p.city,
            "",
            p.occupation,
            "",
            "",
            "",
            "",
            "",
            p.language,
        ]

    def invalid_row(self, k: int) -> None:
        """A fresh person whose row breaks exactly the rule ``INVALID_ROW_KINDS[k % 7]``."""
        rng = self.rng
        kind = INVALID_ROW_KINDS[k % len(INVALID_ROW_KINDS)]
        if kind in ("bad_check_digit", "impossible_id_birth_date"):
            p = self.person(zh=True)
        elif kind == "impossible_birth_date":
            p = self.person(zh=False)  # a resident ID would also disagree with the date
        else:
            p = self.person()
        row = self.customer_row(p, "crm", f"CRM-X{k + 1:06d}")
        if kind == "bad_check_digit":
            good = p.id_number[-1]
            row[_C["id_number"]] = p.id_number[:-1] + rng.choice(
                [c for c in "0123456789X" if c != good]
            )
        elif kind == "impossible_id_birth_date":
            month_day = rng.choice(("0230", "0231", "1301", "0431", "0000", "1132"))
            body = f"{p.id_number[:10]}{month_day}{p.id_number[14:17]}"
            row[_C["birth_date"]] = ""  # no real date to agree with
            row[_C["id_number"]] = _with_check_digit(body)
        elif kind == "malformed_mobile":
            digits = p.mobile if p.cn_mobile else self.cn_mobile()
            broken = digits[:-1] if rng.random() < 0.5 else digits + str(rng.randrange(10))
            row[_C["mobile"]] = broken if rng.random() < 0.5 else f"{broken[:3]}-{broken[3:]}"
        elif kind == "malformed_email":
            local, _, domain = (p.email or "someone@163.com").partition("@")
            row[_C["email"]] = rng.choice(
                (f"{local}@@{domain}", f"{local}.{domain}", f"{local}@{domain.split('.')[0]}")
            )
        elif kind == "impossible_birth_date":
            row[_C["birth_date"]] = f"{p.birth.year}-02-30"
        elif kind == "missing_full_name":
            row[_C["full_name"]] = ""
        else:  # missing_id_and_mobile
            row[_C["id_type"]] = row[_C["id_number"]] = row[_C["mobile"]] = ""
        self.out.write("customers", row)

    # -- linked records

    def policies(self, p: _Person, source_id: str) -> list[tuple[str, str, dt.date, dt.date]]:
        """1-3 policies; returns ``(number, product, start, end)`` for claims and notes."""
        rng = self.rng
        made: list[tuple[str, str, dt.date, dt.date]] = []
        for _ in range(rng.choices((1, 2, 3), weights=(50, 35, 15))[0]):
            product = _PRODUCT_LINES[
                rng.choices(range(len(_PRODUCT_LINES)), cum_weights=_PRODUCT_CUM_WEIGHTS)[0]
            ]
            (p_low, p_high), (s_low, s_high), _ = _PRODUCTS[product]
            first_day = p.since.toordinal()
            if product not in ("life", "travel") and rng.random() < 0.5:
                # annual covers are renewed: half of them started within the last year
                first_day = max(first_day, REFERENCE_DATE.toordinal() - 364)
            start = dt.date.fromordinal(rng.randint(first_day, REFERENCE_DATE.toordinal() + 45))
            end: dt.date | None
            if product == "life":
                end = None if rng.random() < 0.4 else _add_years(start, rng.choice((10, 20, 30)))
            elif product == "travel":
                end = start + dt.timedelta(days=rng.randint(3, 60))
            else:
                end = start + dt.timedelta(days=364)
            if start > REFERENCE_DATE:
                status = "pending"
            elif end is not None and end < REFERENCE_DATE:
                status = "expired" if rng.random() < 0.85 else "lapsed"
            else:
                status = rng.choices(("active", "lapsed", "cancelled"), weights=(86, 6, 8))[0]
            number = f"POL{start.year}{next(self.policy_seq):08d}"
            premium = round(rng.uniform(p_low, p_high), 2)
            insured = rng.randint(s_low, s_high) * 10_000
            self.out.write(
                "policies",
                [
                    "crm",
                    source_id,
                    number,
                    product,
                    status,
                    _iso(start),
                    _iso(end) if end else "",
                    f"{premium:.2f}",
                    f"{insured}.00",
                    rng.choice(_SALES_CHANNELS),
                ],
            )
            last_day = min(end or REFERENCE_DATE, REFERENCE_DATE)
            if (last_day - start).days >= 2 and rng.random() < CLAIM_SHARE:
                self.claims(p, source_id, number, product, insured, start, last_day)
            made.append((number, product, start, last_day))
        return made

    def claims(
        self,
        p: _Person,
        source_id: str,
        policy: str,
        product: str,
        insured: int,
        start: dt.date,
        last_day: dt.date,
    ) -> None:
        rng = self.rng
        for _ in range(1 if rng.random() < 0.7 else 2):
            claim_type = rng.choice(_PRODUCTS[product][2])
            incident = dt.date.fromordinal(rng.randint(start.toordinal(), last_day.toordinal()))
            reported = min(incident + dt.timedelta(days=rng.randint(0, 20)), REFERENCE_DATE)
            low, high = _CLAIM_AMOUNTS[claim_type]
            if claim_type in ("death", "critical_illness"):
                claimed = float(insured)  # fixed-benefit covers claim the sum insured
            else:
                claimed = min(round(rng.uniform(low, high), 2), float(insured))
            if (REFERENCE_DATE - reported).days < 30:
                status = rng.choice(("reported", "assessing", "assessing", "approved"))
            else:
                status = rng.choices(
                    ("paid", "closed", "rejected", "approved", "assessing"),
                    weights=(50, 20, 15, 10, 5),
                )[0]
            closed = paid = ""
            if status in ("paid", "closed", "rejected"):
                closed_day = min(reported + dt.timedelta(days=rng.randint(3, 60)), REFERENCE_DATE)
                closed = _iso(closed_day)
            if status in ("paid", "closed"):
                paid = f"{claimed * rng.uniform(0.6, 1.0):.2f}"
            elif status == "rejected":
                paid = "0.00"
            templates = _ZH_CLAIMS if p.zh else _EN_CLAIMS
            text = self.free_text(p, templates, claim_type, policy, _iso(incident))
            self.out.write(
                "claims",
                [
                    "crm",
                    source_id,
                    policy,
                    f"CLM{reported.year}{next(self.claim_seq):08d}",
                    _iso(incident),
                    _iso(reported),
                    closed,
                    claim_type,
                    f"{claimed:.2f}",
                    paid,
                    status,
                    text,
                ],
            )

    def interactions(self, p: _Person, source_id: str, policies: list[str]) -> None:
        rng = self.rng
        count = rng.choices(range(6), weights=(15, 25, 25, 15, 10, 10))[0]
        notes = _ZH_NOTES if p.zh else _EN_NOTES
        first, last = p.since.toordinal(), REFERENCE_DATE.toordinal()
        for _ in range(count):
            day = dt.date.fromordinal(rng.randint(first, last))
            moment = dt.datetime(day.year, day.month, day.day, rng.randint(8, 20))
            moment += dt.timedelta(seconds=rng.randrange(3600))
            if rng.random() < 0.7:
                occurred = f"{moment.isoformat()}+08:00"
            else:  # the same local time, exported as UTC without an offset
                occurred = (moment - dt.timedelta(hours=8)).isoformat()
            topic = rng.choice(_TOPICS)
            note = (
                self.free_text(p, notes, topic, rng.choice(policies)) if rng.random() < 0.95 else ""
            )
            satisfaction = str(rng.randint(1, 5)) if rng.random() < 0.6 else ""
            self.out.write(
                "interactions",
                [
                    "crm",
                    source_id,
                    occurred,
                    rng.choice(_INTERACTION_CHANNELS),
                    "inbound" if rng.random() < 0.6 else "outbound",
                    topic,
                    note,
                    satisfaction,
                ],
            )

    def free_text(
        self,
        p: _Person,
        templates: dict[str, tuple[str, ...]],
        key: str,
        policy: str,
        date: str = "",
    ) -> str:
        """A note or claim description quoting the customer's own data, as staff write them."""
        rng = self.rng
        template = rng.choice(templates[key])
        style = p.mobile_style + rng.randint(1, 4)
        return template.format(
            name=p.full_name,
            mobile=_spell_mobile(p.mobile, style),
            email=p.email.lower() or _spell_mobile(p.mobile, style),
            id=p.id_number,
            card=_spell_card(p.card, rng.randrange(3)),
            policy=policy,
            address=p.address or f"{p.city}{p.province}",
            date=date,
        )

    def consents(self, p: _Person, source_id: str) -> None:
        rng = self.rng
        pairs = rng.sample(
            [(purpose, channel) for purpose in _CONSENT_PURPOSES for channel in _CONSENT_CHANNELS],
            rng.randint(1, 4),
        )
        first, last = p.since.toordinal(), REFERENCE_DATE.toordinal()
        for purpose, channel in pairs:
            granted = self.moment(rng.randint(first, min(first + 30, last)))
            self.consent(source_id, purpose, channel, "granted", granted)
            if purpose != "service_notice" and rng.random() < 0.2:
                withdrawn = self.moment(rng.randint(min(first + 31, last), last))
                self.consent(source_id, purpose, channel, "withdrawn", withdrawn)

    def consent(self, source_id: str, purpose: str, channel: str, status: str, at: str) -> None:
        self.out.write(
            "consents",
            ["crm", source_id, purpose, channel, status, at, self.rng.choice(_CONSENT_SOURCES)],
        )

    def moment(self, ordinal: int) -> str:
        day = dt.date.fromordinal(ordinal)
        seconds = self.rng.randrange(86_400)
        return (
            f"{day.isoformat()}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
        )
