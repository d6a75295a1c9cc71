"""The import file formats (docs/import-formats.md): columns, rules, and typed rows.

Each ``parse_*`` turns one CSV row into a frozen, canonical record or raises
:class:`~vault.validation.RowRejected` listing every broken rule.  Canonical
means: mobiles in E.164, ID numbers upper-case without separators, names in
NFKC with single spaces, dates as dates.  The importer only ever sees rows
that passed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vault import identifiers
from vault.custom_attributes import attribute_problem
from vault.errors import ValidationError
from vault.validation import RowReader, required

SOURCE_SYSTEM = re.compile(r"[a-z0-9_]{1,32}")
SOURCE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
ORG_UNIT = re.compile(r"[A-Z0-9_-]{1,32}")
POSTCODE = re.compile(r"\d{6}")
LABEL = re.compile(r"[a-z0-9_]{1,64}")
POLICY_NUMBER = re.compile(r"POL\d{12}")
CLAIM_NUMBER = re.compile(r"CLM\d{12}")

GENDERS = {"m": "M", "f": "F", "male": "M", "female": "F", "男": "M", "女": "F"}
MARITAL = ("single", "married", "divorced", "widowed")
PRODUCT_LINES = ("auto", "health", "life", "property", "travel", "accident")
POLICY_STATUSES = ("active", "lapsed", "cancelled", "expired", "pending")
SALES_CHANNELS = ("agent", "broker", "bancassurance", "online", "telesales", "app")
CLAIM_TYPES = (
    "medical",
    "accident",
    "vehicle_damage",
    "property_damage",
    "theft",
    "critical_illness",
    "death",
    "travel",
)
CLAIM_STATUSES = ("reported", "assessing", "approved", "rejected", "paid", "closed")
INTERACTION_CHANNELS = ("phone", "email", "sms", "wechat", "app", "branch")
DIRECTIONS = ("inbound", "outbound")
CONSENT_PURPOSES = (
    "service_notice",
    "marketing",
    "analytics",
    "customer_support",
    "claims_processing",
)
CONSENT_CHANNELS = ("phone", "email", "sms", "wechat", "app", "post")
CONSENT_STATUSES = ("granted", "withdrawn")
FREE_TEXT_MAX = 4000

CUSTOMER_COLUMNS = (
    "source_system",
    "source_id",
    "full_name",
    "gender",
    "birth_date",
    "id_type",
    "id_number",
    "mobile",
    "email",
    "address",
    "province",
    "city",
    "postcode",
    "occupation",
    "annual_income",
    "marital_status",
    "education",
    "org_unit",
)
POLICY_COLUMNS = (
    "source_system",
    "customer_source_id",
    "policy_number",
    "product_line",
    "status",
    "start_date",
    "end_date",
    "annual_premium",
    "sum_insured",
    "sales_channel",
)
CLAIM_COLUMNS = (
    "source_system",
    "customer_source_id",
    "policy_number",
    "claim_number",
    "incident_date",
    "reported_date",
    "closed_date",
    "claim_type",
    "claimed_amount",
    "paid_amount",
    "status",
    "description",
)
INTERACTION_COLUMNS = (
    "source_system",
    "customer_source_id",
    "occurred_at",
    "channel",
    "direction",
    "topic",
    "note",
    "satisfaction",
)
CONSENT_COLUMNS = (
    "source_system",
    "customer_source_id",
    "purpose",
    "channel",
    "status",
    "recorded_at",
    "source",
)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("source_system", "source_id", "full_name"),
    "policies": (
        *POLICY_COLUMNS[:5],
        "start_date",
        "annual_premium",
        "sum_insured",
        "sales_channel",
    ),
    "claims": (
        "source_system",
        "customer_source_id",
        "policy_number",
        "claim_number",
        "incident_date",
        "reported_date",
        "claim_type",
        "claimed_amount",
        "status",
    ),
    "interactions": (
        "source_system",
        "customer_source_id",
        "occurred_at",
        "channel",
        "direction",
        "topic",
    ),
    "consents": (
        "source_system",
        "customer_source_id",
        "purpose",
        "channel",
        "status",
        "recorded_at",
    ),
}


def check_header(kind: str, header: list[str] | None) -> None:
    """A file missing a required column is refused whole, before any row is read."""
    if not header:
        raise ValidationError(f"{kind} file", "is empty or has no header row")
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in header]
    if missing:
        raise ValidationError(f"{kind} file", "missing column(s) " + ", ".join(missing))
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ValidationError(f"{kind} file", "repeated column(s) " + ", ".join(duplicated))


@dataclass(frozen=True, slots=True)
class CustomerRow:
    source_system: str
    source_id: str
    full_name: str
    gender: str | None
    birth_date: dt.date | None
    id_type: str | None
    id_number: str | None
    mobile: str | None
    email: str | None
    address: str | None
    province: str | None
    city: str | None
    postcode: str | None
    occupation: str | None
    annual_income: decimal.Decimal | None
    marital_status: str | None
    education: str | None
    org_unit: str | None
    custom_attributes: dict[str, str] = field(default_factory=dict)


def _source(reader: RowReader, id_column: str) -> tuple[str | None, str | None]:
    system = reader.text(
        "source_system", required=True, pattern=SOURCE_SYSTEM, rule="must match [a-z0-9_]{1,32}"
    )
    source_id = reader.text(
        id_column, required=True, pattern=SOURCE_ID, rule="must be 1-64 of A-Z a-z 0-9 _ . : -"
    )
    return system, source_id


def parse_customer(row: Mapping[str, str | None]) -> CustomerRow:
    reader = RowReader(row)
    system, source_id = _source(reader, "source_id")
    name = reader.parsed("full_name", identifiers.canonical_name, required=True)
    gender = reader.choice("gender", set(GENDERS.values()), aliases=GENDERS)
    birth = reader.date("birth_date", past=True)
    id_type = reader.choice("id_type", identifiers.ID_TYPES)
    raw_id = (row.get("id_number") or "").strip()
    id_number: str | None = None
    if raw_id:
        if id_type is None and not reader.problems_for("id_type"):
            reader.fail("id_type", "is required with id_number")
        elif id_type == identifiers.RESIDENT_ID:
            resident = reader.parsed("id_number", identifiers.parse_resident_id)
            if resident is not None:
                id_number = resident.number
                if birth is not None and birth != resident.birth_date:
                    reader.fail("birth_date", "does not match the resident ID")
                if gender is not None and gender != resident.gender:
                    reader.fail("gender", "does not match the resident ID")
                birth = birth or resident.birth_date
                gender = gender or resident.gender
        elif id_type == identifiers.PASSPORT:
            id_number = reader.parsed("id_number", identifiers.canonical_passport)
    elif id_type is not None:
        reader.fail("id_number", "is required with id_type")
    mobile = reader.parsed("mobile", identifiers.canonical_mobile)
    if not raw_id and not (row.get("mobile") or "").strip():
        reader.fail("id_number", "an id_number or a mobile is required")
    email = reader.parsed("email", identifiers.canonical_email)
    address = reader.text("address", max_length=200)
    province = reader.text("province", max_length=50)
    city = reader.text("city", max_length=50)
    postcode = reader.text("postcode", pattern=POSTCODE, rule="must be 6 digits")
    occupation = reader.text("occupation", max_length=100)
    income = reader.amount("annual_income")
    marital = reader.choice("marital_status", MARITAL)
    education = reader.text("education", max_length=100)
    org_unit = reader.text(
        "org_unit", max_length=32, pattern=ORG_UNIT, rule="must match [A-Z0-9_-]{1,32}"
    )
    custom: dict[str, str] = {}
    for key, value in row.items():
        if key is None:
            reader.fail("row", "has more cells than the header has columns")
            continue
        if key not in CUSTOMER_COLUMNS and value and value.strip():
            if len(key) > 64 or len(value) > 500:
                reader.fail(key, "custom attribute longer than allowed (64/500 characters)")
            elif problem := attribute_problem(key, value):
                reader.fail(key, problem)
            else:
                custom[key] = value.strip()
    reader.finish()
    return CustomerRow(
        source_system=required(system),
        source_id=required(source_id),
        full_name=required(name),
        gender=gender,
        birth_date=birth,
        id_type=id_type if id_number else None,
        id_number=id_number,
        mobile=mobile,
        email=email,
        address=address,
        province=province,
        city=city,
        postcode=postcode,
        occupation=occupation,
        annual_income=income,
        marital_status=marital,
        education=education,
        org_unit=org_unit,
        custom_attributes=custom,
    )


@dataclass(frozen=True, slots=True)
class PolicyRow:
    source_system: str
    customer_source_id: str
    policy_number: str
    product_line: str
    status: str
    start_date: dt.date
    end_date: dt.date | None
    annual_premium: decimal.Decimal
    sum_insured: decimal.Decimal
    sales_channel: str


def parse_policy(row: Mapping[str, str | None]) -> PolicyRow:
    reader = RowReader(row)
    system, csid = _source(reader, "customer_source_id")
    number = reader.text(
        "policy_number", required=True, pattern=POLICY_NUMBER, rule="must be POL + 12 digits"
    )
    product = reader.choice("product_line", PRODUCT_LINES, required=True)
    status = reader.choice("status", POLICY_STATUSES, required=True)
    start = reader.date("start_date", required=True)
    end = reader.date("end_date")
    if start and end and end < start:
        reader.fail("end_date", "is before start_date")
    premium = reader.amount("annual_premium", required=True)
    insured = reader.amount("sum_insured", required=True)
    channel = reader.choice("sales_channel", SALES_CHANNELS, required=True)
    _no_extra_cells(reader, row)
    reader.finish()
    return PolicyRow(
        required(system),
        required(csid),
        required(number),
        required(product),
        required(status),
        required(start),
        end,
        required(premium),
        required(insured),
        required(channel),
    )


@dataclass(frozen=True, slots=True)
class ClaimRow:
    source_system: str
    customer_source_id: str
    policy_number: str
    claim_number: str
    incident_date: dt.date
    reported_date: dt.date
    closed_date: dt.date | None
    claim_type: str
    claimed_amount: decimal.Decimal
    paid_amount: decimal.Decimal | None
    status: str
    description: str | None


def parse_claim(row: Mapping[str, str | None]) -> ClaimRow:
    reader = RowReader(row)
    system, csid = _source(reader, "customer_source_id")
    policy = reader.text(
        "policy_number", required=True, pattern=POLICY_NUMBER, rule="must be POL + 12 digits"
    )
    number = reader.text(
        "claim_number", required=True, pattern=CLAIM_NUMBER, rule="must be CLM + 12 digits"
    )
    incident = reader.date("incident_date", required=True)
    reported = reader.date("reported_date", required=True)
    closed = reader.date("closed_date")
    if incident and reported and reported < incident:
        reader.fail("reported_date", "is before incident_date")
    if closed and reported and closed < reported:
        reader.fail("closed_date", "is before reported_date")
    claim_type = reader.choice("claim_type", CLAIM_TYPES, required=True)
    claimed = reader.amount("claimed_amount", required=True)
    paid = reader.amount("paid_amount")
    status = reader.choice("status", CLAIM_STATUSES, required=True)
    description = reader.text("description", max_length=FREE_TEXT_MAX)
    _no_extra_cells(reader, row)
    reader.finish()
    return ClaimRow(
        required(system),
        required(csid),
        required(policy),
        required(number),
        required(incident),
        required(reported),
        closed,
        required(claim_type),
        required(claimed),
        paid,
        required(status),
        description,
    )


@dataclass(frozen=True, slots=True)
class InteractionRow:
    source_system: str
    customer_source_id: str
    occurred_at: dt.datetime
    channel: str
    direction: str
    topic: str
    note: str | None
    satisfaction: int | None


def parse_interaction(row: Mapping[str, str | None]) -> InteractionRow:
    reader = RowReader(row)
    system, csid = _source(reader, "customer_source_id")
    occurred = reader.timestamp("occurred_at", required=True)
    channel = reader.choice("channel", INTERACTION_CHANNELS, required=True)
    direction = reader.choice("direction", DIRECTIONS, required=True)
    topic = reader.text("topic", required=True, pattern=LABEL, rule="must match [a-z0-9_]{1,64}")
    note = reader.text("note", max_length=FREE_TEXT_MAX)
    satisfaction = reader.integer("satisfaction", 1, 5)
    _no_extra_cells(reader, row)
    reader.finish()
    return InteractionRow(
        required(system),
        required(csid),
        required(occurred),
        required(channel),
        required(direction),
        required(topic),
        note,
        satisfaction,
    )


@dataclass(frozen=True, slots=True)
class ConsentRow:
    source_system: str
    customer_source_id: str
    purpose: str
    channel: str
    status: str
    recorded_at: dt.datetime
    source: str | None


def parse_consent(row: Mapping[str, str | None]) -> ConsentRow:
    reader = RowReader(row)
    system, csid = _source(reader, "customer_source_id")
    purpose = reader.choice("purpose", CONSENT_PURPOSES, required=True)
    channel = reader.choice("channel", CONSENT_CHANNELS, required=True)
    status = reader.choice("status", CONSENT_STATUSES, required=True)
    recorded = reader.timestamp("recorded_at", required=True)
    source = reader.text("source", pattern=LABEL, rule="must match [a-z0-9_]{1,64}")
    _no_extra_cells(reader, row)
    reader.finish()
    return ConsentRow(
        required(system),
        required(csid),
        required(purpose),
        required(channel),
        required(status),
        required(recorded),
        source,
    )


def _no_extra_cells(reader: RowReader, row: Mapping[Any, Any]) -> None:
    if None in row:
        reader.fail("row", "has more cells than the header has columns")
