"""Shared seed data for the lifecycle tests (erasure, retention, backup and restore)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa
from helpers import customer, resident_id, write_csv

from vault.import_format import (
    CLAIM_COLUMNS,
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    INTERACTION_COLUMNS,
    POLICY_COLUMNS,
)
from vault.services.customers import find_customers
from vault.services.importing import ImportSources, import_files
from vault.services.runtime import Vault
from vault.storage.tables import Customer, columns

LONG_AGO = dt.datetime(2011, 6, 1, tzinfo=dt.UTC)

ZHANG_ID = resident_id("11010519900307001")
LI_ID = resident_id("31010419850615002")
WANG_ID = resident_id("44030619780101003")
ZHAO_ID = resident_id("51010719920202004")
NOTE = "客户张伟来电，手机138-1234-5678，要求修改地址"
PEOPLE = {
    "C1": ("张伟", ZHANG_ID, "13812345678", "zhangwei@163.com"),
    "C2": ("李娜", LI_ID, "13912345678", "lina@qq.com"),
    "C3": ("王芳", WANG_ID, "13712345678", "wangfang@126.com"),
    "C4": ("赵磊", ZHAO_ID, "13612345678", "zhaolei@sina.com"),
}
"""source id -> name, ID number, mobile, email."""


def seed(vault: Vault, tmp_path: Path) -> dict[str, uuid.UUID]:
    """Four customers with a child row in every table; returns source id -> customer id.

    C1: active policy with an open claim, a recent interaction, a consent.
    C2: a lapsed policy that ended in 2012, an interaction in 2011.
    C3: no policy, no interaction (only the profile).
    C4: a pending policy (in force soon): never due for erasure.
    """
    customers = [
        customer(
            source_system="crm",
            source_id=source,
            full_name=name,
            id_type="resident_id",
            id_number=id_number,
            mobile=mobile,
            email=email,
            address="上海市浦东新区世纪大道100号",
            org_unit="SH-01",
        )
        for source, (name, id_number, mobile, email) in PEOPLE.items()
    ]
    policy = {
        "source_system": "crm",
        "product_line": "health",
        "annual_premium": "3000",
        "sum_insured": "500000",
        "sales_channel": "agent",
    }
    policies = [
        {**policy, "customer_source_id": "C1", "policy_number": "POL202400000001",
         "status": "active", "start_date": "2024-01-01"},
        {**policy, "customer_source_id": "C2", "policy_number": "POL201000000002",
         "status": "lapsed", "start_date": "2010-01-01", "end_date": "2012-01-01"},
        {**policy, "customer_source_id": "C4", "policy_number": "POL202400000004",
         "status": "pending", "start_date": "2010-01-01"},
    ]  # fmt: skip
    claims = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "policy_number": "POL202400000001",
            "claim_number": "CLM202400000001",
            "incident_date": "2024-03-01",
            "reported_date": "2024-03-02",
            "claim_type": "medical",
            "claimed_amount": "1200",
            "status": "assessing",
            "description": "住院治疗，张伟，手机13812345678",
        }
    ]
    interactions = [
        {"source_system": "crm", "customer_source_id": "C1", "occurred_at": "2024-05-01T09:30:00Z",
         "channel": "phone", "direction": "inbound", "topic": "address_change", "note": NOTE},
        {"source_system": "crm", "customer_source_id": "C2", "occurred_at": "2011-05-01T09:30:00Z",
         "channel": "phone", "direction": "inbound", "topic": "renewal", "note": "续保咨询"},
    ]  # fmt: skip
    consents = [
        {"source_system": "crm", "customer_source_id": "C1", "purpose": "marketing",
         "channel": "sms", "status": "granted", "recorded_at": "2024-01-01T00:00:00Z"},
    ]  # fmt: skip
    import_files(
        vault,
        ImportSources(
            customers=write_csv(tmp_path / "c.csv", customers, CUSTOMER_COLUMNS),
            policies=write_csv(tmp_path / "p.csv", policies, POLICY_COLUMNS),
            claims=write_csv(tmp_path / "cl.csv", claims, CLAIM_COLUMNS),
            interactions=write_csv(tmp_path / "i.csv", interactions, INTERACTION_COLUMNS),
            consents=write_csv(tmp_path / "k.csv", consents, CONSENT_COLUMNS),
        ),
    )
    ids = {source: find_customers(vault, "id_number", p[1])[0] for source, p in PEOPLE.items()}
    # Profiles were written "now" by the import; date them back so only the business dates count.
    c = columns(Customer)
    with vault.engine.begin() as conn:
        conn.execute(sa.update(Customer).values({c.created_at: LONG_AGO, c.updated_at: LONG_AGO}))
    return ids


def rows_of(vault: Vault, customer_id: uuid.UUID) -> dict[str, int]:
    """Rows that mention the customer, per table the registry marks as the customer's data."""
    from vault import schema
    from vault.storage.tables import metadata

    tables = metadata().tables
    counts = {}
    with vault.reader.connect() as conn:
        for entry in schema.erased_with_customer():
            table = tables[entry.name]
            column = table.c[entry.erased_with]
            counts[entry.name] = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(column == customer_id)
                ).scalar_one()
            )
    return counts
