"""SQL tables of the store.  They hold ciphertext and digests; they never encrypt.

Columns for encrypted fields are ``bytes``: the services seal values before they
reach a table and open them after (no crypto hidden in column types).  Which
columns are encrypted is the schema registry's decision (:mod:`vault.schema`);
``tests/test_schema_registry.py`` checks these classes against it.

Children of a customer cascade on delete, so erasing a customer is one delete
of the customer row plus its wrapped data key.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, LargeBinary, Numeric, String, Uuid
from sqlalchemy.types import DateTime as SADateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite as on PostgreSQL."""

    impl = SADateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class RawBytes(LargeBinary):
    """BLOB/bytea handed to the driver as ``bytes``, without a per-value wrapper.

    sqlite3 and psycopg both take ``bytes`` natively; SQLAlchemy's default
    ``Binary()`` wrapping costs about half of a bulk insert of sealed rows.
    """

    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def _blob(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=RawBytes, nullable=nullable)


def _digest(*, unique: bool = False, index: bool = True) -> Any:
    return Field(default=None, sa_type=RawBytes, nullable=True, unique=unique, index=index)


def _ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable)


def _money() -> Any:
    return Field(default=None, sa_type=Numeric(14, 2), nullable=True)


def _customer_fk() -> Any:
    return Field(
        sa_column=Column(
            Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(32), unique=True, index=True)
    name: str = Field(sa_type=String(100))
    parent_id: int | None = Field(default=None, foreign_key="org_units.id")


class Employee(SQLModel, table=True):
    __tablename__ = "employees"

    id: uuid.UUID = Field(primary_key=True)
    employee_no: str = Field(sa_type=String(32), unique=True)
    org_unit_id: int = Field(foreign_key="org_units.id", index=True)
    full_name: bytes | None = _blob()
    email: bytes | None = _blob()
    active: int = Field(default=1)
    created_at: dt.datetime = _ts()


class DataKeyRow(SQLModel, table=True):
    """Wrapped data keys, one per subject (customer or employee)."""

    __tablename__ = "data_keys"

    subject_id: uuid.UUID = Field(primary_key=True)
    version: int = Field(default=1)
    kek_version: int = Field(index=True)
    wrapped: bytes = Field(sa_type=RawBytes)
    created_at: dt.datetime = _ts()


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: uuid.UUID = Field(primary_key=True)
    full_name: bytes | None = _blob()
    gender: bytes | None = _blob()
    birth_date: bytes | None = _blob()
    id_type: str | None = Field(default=None, sa_type=String(16))
    id_number: bytes | None = _blob()
    id_number_bidx: bytes | None = _digest(unique=True)
    mobile: bytes | None = _blob()
    mobile_bidx: bytes | None = _digest()
    email: bytes | None = _blob()
    email_bidx: bytes | None = _digest()
    name_mobile_bidx: bytes | None = _digest()
    address: bytes | None = _blob()
    province: bytes | None = _blob()
    city: bytes | None = _blob()
    postcode: bytes | None = _blob()
    occupation: bytes | None = _blob()
    annual_income: bytes | None = _blob()
    marital_status: bytes | None = _blob()
    education: bytes | None = _blob()
    org_unit_id: int | None = Field(default=None, foreign_key="org_units.id", index=True)
    custom_attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class SourceLink(SQLModel, table=True):
    """Which source system's record is which customer: the key of idempotent imports."""

    __tablename__ = "source_links"

    source_system: str = Field(sa_type=String(32), primary_key=True)
    source_id: str = Field(sa_type=String(64), primary_key=True)
    customer_id: uuid.UUID = _customer_fk()
    content_digest: bytes | None = Field(default=None, sa_type=RawBytes)
    linked_at: dt.datetime = _ts()


class Policy(SQLModel, table=True):
    __tablename__ = "policies"

    id: uuid.UUID = Field(primary_key=True)
    customer_id: uuid.UUID = _customer_fk()
    policy_number: bytes | None = _blob()
    policy_number_bidx: bytes | None = _digest(unique=True)
    product_line: str = Field(sa_type=String(32))
    status: str = Field(sa_type=String(16), index=True)
    start_date: dt.date
    end_date: dt.date | None = None
    annual_premium: decimal.Decimal | None = _money()
    sum_insured: decimal.Decimal | None = _money()
    sales_channel: str = Field(sa_type=String(32))
    source_system: str = Field(sa_type=String(32))
    content_digest: bytes | None = Field(default=None, sa_type=RawBytes)
    created_at: dt.datetime = _ts()


class Claim(SQLModel, table=True):
    __tablename__ = "claims"

    id: uuid.UUID = Field(primary_key=True)
    customer_id: uuid.UUID = _customer_fk()
    policy_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("policies.id", ondelete="CASCADE"), nullable=False)
    )
    claim_number: bytes | None = _blob()
    claim_number_bidx: bytes | None = _digest(unique=True)
    incident_date: dt.date
    reported_date: dt.date
    closed_date: dt.date | None = None
    claim_type: bytes | None = _blob()
    claimed_amount: decimal.Decimal | None = _money()
    paid_amount: decimal.Decimal | None = _money()
    status: str = Field(sa_type=String(16))
    description: bytes | None = _blob()
    description_redacted: bytes | None = _blob()
    source_system: str = Field(sa_type=String(32))
    content_digest: bytes | None = Field(default=None, sa_type=RawBytes)
    created_at: dt.datetime = _ts()


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"

    id: uuid.UUID = Field(primary_key=True)
    customer_id: uuid.UUID = _customer_fk()
    channel: str = Field(sa_type=String(16))
    direction: str = Field(sa_type=String(16))
    occurred_at: dt.datetime = _ts()
    topic: str = Field(sa_type=String(64))
    note: bytes | None = _blob()
    note_redacted: bytes | None = _blob()
    satisfaction: int | None = None
    source_system: str = Field(sa_type=String(32))
    fingerprint: bytes | None = _digest(unique=True)
    created_at: dt.datetime = _ts()


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer_purpose", "customer_id", "purpose", "channel"),)

    id: uuid.UUID = Field(primary_key=True)
    customer_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    )
    purpose: str = Field(sa_type=String(32))
    channel: str = Field(sa_type=String(16))
    status: str = Field(sa_type=String(16))
    recorded_at: dt.datetime = _ts()
    source: str | None = Field(default=None, sa_type=String(64))
    source_system: str | None = Field(default=None, sa_type=String(32))
    fingerprint: bytes | None = _digest(unique=True)


class Principal(SQLModel, table=True):
    """Who may call the API: a service account or an employee, with one API key."""

    __tablename__ = "principals"

    id: uuid.UUID = Field(primary_key=True)
    name: str = Field(sa_type=String(64), unique=True)
    kind: str = Field(sa_type=String(16))
    role: str = Field(sa_type=String(32))
    org_unit_id: int | None = Field(default=None, foreign_key="org_units.id")
    key_id: str = Field(sa_type=String(16), unique=True, index=True)
    key_hash: bytes = Field(sa_type=RawBytes)
    created_at: dt.datetime = _ts()
    revoked_at: dt.datetime | None = _ts(nullable=True)


TABLES: dict[str, type[SQLModel]] = {
    "org_units": OrgUnit,
    "employees": Employee,
    "data_keys": DataKeyRow,
    "customers": Customer,
    "source_links": SourceLink,
    "policies": Policy,
    "claims": Claim,
    "interactions": Interaction,
    "consents": Consent,
    "principals": Principal,
}
"""Every table by name, in dependency order (parents first)."""


def metadata() -> Any:
    """Every table of the store (the audit log's included), for migrations and checks."""
    from vault.storage import audit_tables  # noqa: F401 - registers the audit tables

    return SQLModel.metadata


def columns(model: type[SQLModel]) -> Any:
    """``model.__table__.c``: Core columns, for queries SQLModel's typing cannot express."""
    return model.__table__.c  # type: ignore[attr-defined]
