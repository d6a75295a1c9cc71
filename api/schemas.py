"""Request and response models: strict, bounded, and never the table models.

Unknown fields, wrong types and oversize strings are refused by pydantic with a
422 that names the field; identifiers (PRC IDs, mobiles, emails) are checked by
the same validators as the importer, inside the use case.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Short = Annotated[str, Field(min_length=1, max_length=100)]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=4000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Profile(Strict):
    """The profile fields a caller may set; every one optional here."""

    full_name: Short | None = None
    gender: Literal["M", "F"] | None = None
    birth_date: dt.date | None = None
    id_type: Literal["resident_id", "passport"] | None = None
    id_number: Annotated[str, Field(max_length=32)] | None = None
    mobile: Annotated[str, Field(max_length=32)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    address: Annotated[str, Field(max_length=200)] | None = None
    province: Annotated[str, Field(max_length=50)] | None = None
    city: Annotated[str, Field(max_length=50)] | None = None
    postcode: Annotated[str, Field(pattern=r"^\d{6}$")] | None = None
    occupation: Short | None = None
    annual_income: Annotated[float, Field(ge=0, lt=1e12)] | None = None
    marital_status: Literal["single", "married", "divorced", "widowed"] | None = None
    education: Short | None = None


class CustomerIn(_Profile):
    """A new customer (or another source's copy of one: identity resolution applies)."""

    full_name: Short
    org_unit: Annotated[str, Field(pattern=r"^[A-Z0-9_-]{1,32}$")] | None = None
    source_system: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")] = "api"
    source_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    custom_attributes: Annotated[
        dict[Code, Annotated[str, Field(max_length=500)]], Field(max_length=50)
    ] = Field(default_factory=dict)


class CustomerPatch(_Profile):
    """Fields to change; absent fields are left as they are."""

    @model_validator(mode="after")
    def _not_empty(self) -> CustomerPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class SearchIn(Strict):
    """Exactly one identifier; it travels in the body, never in a URL."""

    id_number: Annotated[str, Field(max_length=32)] | None = None
    mobile: Annotated[str, Field(max_length=32)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SearchIn:
        given = [k for k in ("id_number", "mobile", "email") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of id_number, mobile, email")
        return self

    def term(self) -> tuple[str, str]:
        for name in ("id_number", "mobile", "email"):
            value = getattr(self, name)
            if value:
                return name, value
        raise ValueError("no search term")  # unreachable after validation


class Created(BaseModel):
    id: uuid.UUID
    outcome: str


class SearchOut(BaseModel):
    items: list[dict[str, Any]]


class PolicyIn(Strict):
    policy_number: Annotated[str, Field(pattern=r"^POL\d{12}$")]
    product_line: Literal["auto", "health", "life", "property", "travel", "accident"]
    status: Literal["active", "lapsed", "cancelled", "expired", "pending"]
    start_date: dt.date
    end_date: dt.date | None = None
    annual_premium: Annotated[float, Field(ge=0, lt=1e12)]
    sum_insured: Annotated[float, Field(ge=0, lt=1e12)]
    sales_channel: Literal["agent", "broker", "bancassurance", "online", "telesales", "app"]


class ClaimIn(Strict):
    policy_number: Annotated[str, Field(pattern=r"^POL\d{12}$")]
    claim_number: Annotated[str, Field(pattern=r"^CLM\d{12}$")]
    incident_date: dt.date
    reported_date: dt.date
    closed_date: dt.date | None = None
    claim_type: Literal[
        "medical",
        "accident",
        "vehicle_damage",
        "property_damage",
        "theft",
        "critical_illness",
        "death",
        "travel",
    ]
    claimed_amount: Annotated[float, Field(ge=0, lt=1e12)]
    paid_amount: Annotated[float, Field(ge=0, lt=1e12)] | None = None
    status: Literal["reported", "assessing", "approved", "rejected", "paid", "closed"]
    description: Text | None = None


class InteractionIn(Strict):
    occurred_at: dt.datetime
    channel: Literal["phone", "email", "sms", "wechat", "app", "branch"]
    direction: Literal["inbound", "outbound"]
    topic: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
    note: Text | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None


class ConsentIn(Strict):
    purpose: Literal[
        "service_notice", "marketing", "analytics", "customer_support", "claims_processing"
    ]
    channel: Literal["phone", "email", "sms", "wechat", "app", "post"]
    status: Literal["granted", "withdrawn"]
    recorded_at: dt.datetime
    source: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] | None = None


class RedactIn(Strict):
    text: Annotated[str, Field(max_length=20000)]
    lang: Literal["en", "zh"] | None = None
    known: dict[Code, Annotated[str, Field(max_length=500)]] | None = None


class ExportIn(Strict):
    """An analytics extract to produce: which profile of ``policies/exports.yaml``, what format."""

    profile: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = "analytics"
    format: Literal["parquet", "csv"] = "parquet"
    as_of: dt.date | None = None
    """The day ages, tenure and recency refer to (default: today)."""


class ExportOut(BaseModel):
    id: str
    """The export's directory under the server's exports directory."""
    manifest: dict[str, Any]
