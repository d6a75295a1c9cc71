"""Initial schema: customers 360, wrapped data keys, source links, org units, employees.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id"),
    )
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_keys_kek_version"), ["kek_version"], unique=False)

    op.create_table(
        "org_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["org_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_units_code"), ["code"], unique=True)

    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.LargeBinary(), nullable=True),
        sa.Column("gender", sa.LargeBinary(), nullable=True),
        sa.Column("birth_date", sa.LargeBinary(), nullable=True),
        sa.Column("id_type", sa.String(length=16), nullable=True),
        sa.Column("id_number", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("mobile", sa.LargeBinary(), nullable=True),
        sa.Column("mobile_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("email_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("name_mobile_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("province", sa.LargeBinary(), nullable=True),
        sa.Column("city", sa.LargeBinary(), nullable=True),
        sa.Column("postcode", sa.LargeBinary(), nullable=True),
        sa.Column("occupation", sa.LargeBinary(), nullable=True),
        sa.Column("annual_income", sa.LargeBinary(), nullable=True),
        sa.Column("marital_status", sa.LargeBinary(), nullable=True),
        sa.Column("education", sa.LargeBinary(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("custom_attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_email_bidx"), ["email_bidx"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customers_id_number_bidx"), ["id_number_bidx"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_customers_mobile_bidx"), ["mobile_bidx"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customers_name_mobile_bidx"), ["name_mobile_bidx"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customers_org_unit_id"), ["org_unit_id"], unique=False)

    op.create_table(
        "employees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("employee_no", sa.String(length=32), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("employee_no"),
    )
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_employees_org_unit_id"), ["org_unit_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("source_system", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consents_customer_purpose", ["customer_id", "purpose", "channel"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consents_fingerprint"), ["fingerprint"], unique=True)

    op.create_table(
        "interactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interactions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_interactions_fingerprint"), ["fingerprint"], unique=True
        )

    op.create_table(
        "policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("policy_number", sa.LargeBinary(), nullable=True),
        sa.Column("policy_number_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("product_line", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("annual_premium", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("sum_insured", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("sales_channel", sa.String(length=32), nullable=False),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("content_digest", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policies_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_policies_policy_number_bidx"), ["policy_number_bidx"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_policies_status"), ["status"], unique=False)

    op.create_table(
        "source_links",
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("content_digest", sa.LargeBinary(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_system", "source_id"),
    )
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_source_links_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("claim_number", sa.LargeBinary(), nullable=True),
        sa.Column("claim_number_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("incident_date", sa.Date(), nullable=False),
        sa.Column("reported_date", sa.Date(), nullable=False),
        sa.Column("closed_date", sa.Date(), nullable=True),
        sa.Column("claim_type", sa.LargeBinary(), nullable=True),
        sa.Column("claimed_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("paid_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.LargeBinary(), nullable=True),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("content_digest", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_claims_claim_number_bidx"), ["claim_number_bidx"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_claims_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_customer_id"))
        batch_op.drop_index(batch_op.f("ix_claims_claim_number_bidx"))

    op.drop_table("claims")
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_links_customer_id"))

    op.drop_table("source_links")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policies_status"))
        batch_op.drop_index(batch_op.f("ix_policies_policy_number_bidx"))
        batch_op.drop_index(batch_op.f("ix_policies_customer_id"))

    op.drop_table("policies")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_interactions_customer_id"))

    op.drop_table("interactions")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_fingerprint"))
        batch_op.drop_index("ix_consents_customer_purpose")

    op.drop_table("consents")
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_employees_org_unit_id"))

    op.drop_table("employees")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_org_unit_id"))
        batch_op.drop_index(batch_op.f("ix_customers_name_mobile_bidx"))
        batch_op.drop_index(batch_op.f("ix_customers_mobile_bidx"))
        batch_op.drop_index(batch_op.f("ix_customers_id_number_bidx"))
        batch_op.drop_index(batch_op.f("ix_customers_email_bidx"))

    op.drop_table("customers")
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_units_code"))

    op.drop_table("org_units")
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_keys_kek_version"))

    op.drop_table("data_keys")
