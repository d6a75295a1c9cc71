"""Finding and reading customers: blind-index search and the decrypted 360 record.

``read_customer`` returns plaintext.  It is the one door through which sealed
profile data leaves the store; callers (the API's policy layer, exports,
the customer's own access request) decide what of it anyone may see.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from vault import blind_index, schema
from vault.errors import IntegrityError, NotFoundError, ValidationError
from vault.sealing import open_fields
from vault.services.datakeys import load_data_keys
from vault.services.runtime import Vault
from vault.storage.tables import (
    Claim,
    Consent,
    Customer,
    DataKeyRow,
    Interaction,
    Policy,
    SourceLink,
    columns,
)

SEARCHABLE = {
    blind_index.ID_NUMBER: "id_number_bidx",
    blind_index.MOBILE: "mobile_bidx",
    blind_index.EMAIL: "email_bidx",
}


def find_customers(vault: Vault, field: str, value: str) -> list[uuid.UUID]:
    """Customer ids whose ``field`` equals ``value`` (any spelling), without decrypting."""
    if field not in SEARCHABLE:
        raise ValidationError(field, "is not a searchable field (id_number, mobile, email)")
    digests = vault.indexer.candidates(field, blind_index.search_form(field, value))
    c = columns(Customer)
    column = getattr(c, SEARCHABLE[field])
    with vault.reader.connect() as conn:
        found = conn.execute(
            sa.select(c.id).where(column.in_(digests)).order_by(c.created_at, c.id)
        )
        return list(found.scalars())


def read_customer(vault: Vault, customer_id: uuid.UUID) -> dict[str, Any]:
    """The decrypted customer 360: profile, links, policies, claims, interactions, consents."""
    with vault.reader.connect() as conn:
        row = (
            conn.execute(
                sa.select(Customer.__table__).where(columns(Customer).id == customer_id)  # type: ignore[attr-defined]
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError("no such customer")
        keys = load_data_keys(conn, vault.provider, [customer_id])
        if customer_id not in keys:
            raise IntegrityError(f"customer {customer_id} has no data key")
        key = keys[customer_id]
        profile = _plain(schema.table("customers"), row) | open_fields(
            schema.table("customers"), customer_id, key, row
        )
        children: dict[str, list[dict[str, Any]]] = {}
        for name, model, order in (
            ("policies", Policy, "start_date"),
            ("claims", Claim, "reported_date"),
            ("interactions", Interaction, "occurred_at"),
            ("consents", Consent, "recorded_at"),
        ):
            table = schema.table(name)
            c = columns(model)
            result = conn.execute(
                sa.select(*c).where(c.customer_id == customer_id).order_by(c[order], c.id)
            ).mappings()
            children[name] = [
                _plain(table, r) | open_fields(table, r["id"], key, r) for r in result
            ]
        links = conn.execute(
            sa.select(columns(SourceLink).source_system, columns(SourceLink).source_id).where(
                columns(SourceLink).customer_id == customer_id
            )
        )
        profile["source_links"] = [{"source_system": s, "source_id": i} for s, i in links]
    return profile | children


def _plain(table: schema.Table, row: Any) -> dict[str, Any]:
    """The registry's non-PII columns of a row (digests and internal columns left out)."""
    internal = {"content_digest", "fingerprint"}
    return {
        f.name: row[f.name]
        for f in table.fields
        if not f.encrypted and f.name not in internal and f.name in row
    }


def store_counts(vault: Vault) -> dict[str, int]:
    """How many rows each part of the customer 360 has (no PII involved)."""
    models = {
        "customers": Customer,
        "source_links": SourceLink,
        "policies": Policy,
        "claims": Claim,
        "interactions": Interaction,
        "consents": Consent,
        "data_keys": DataKeyRow,
    }
    with vault.reader.connect() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())
            for name, model in models.items()
        }
