"""Finding and reading customers: blind-index search and the decrypted 360 record.

``read_customer`` returns plaintext.  It is the one door through which sealed
profile data leaves the store; callers (the API's policy layer, exports,
the customer's own access request) decide what of it anyone may see.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vault import blind_index, schema
from vault.envelope import WrappedKey, open_data_key
from vault.errors import IntegrityError, NotFoundError, ValidationError
from vault.redaction.stored import collect
from vault.sealing import open_fields
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


_CHILDREN = (
    ("policies", Policy, "start_date"),
    ("claims", Claim, "reported_date"),
    ("interactions", Interaction, "occurred_at"),
    ("consents", Consent, "recorded_at"),
)


@dataclass(frozen=True)
class _Reads:
    """The statements of one 360 read, built once: constructing them costs more than running."""

    profile: sa.Select[Any]
    children: tuple[tuple[str, schema.Table, sa.Select[Any]], ...]
    links: sa.Select[Any]


@functools.cache
def _reads() -> _Reads:
    c, k, link = columns(Customer), columns(DataKeyRow), columns(SourceLink)
    wanted: sa.BindParameter[Any] = sa.bindparam("customer_id")
    profile = (
        sa.select(
            Customer.__table__,  # type: ignore[attr-defined]
            k.version.label("__dek_version"),
            k.kek_version.label("__dek_kek_version"),
            k.wrapped.label("__dek_wrapped"),
        )
        .select_from(sa.outerjoin(Customer.__table__, DataKeyRow.__table__, k.subject_id == c.id))  # type: ignore[attr-defined]
        .where(c.id == wanted)
    )
    children = tuple(
        (
            name,
            schema.table(name),
            sa.select(*columns(model))
            .where(columns(model).customer_id == wanted)
            .order_by(columns(model)[order], columns(model).id),
        )
        for name, model, order in _CHILDREN
    )
    links = sa.select(link.source_system, link.source_id).where(link.customer_id == wanted)
    return _Reads(profile, children, links)


def read_customer(
    vault: Vault,
    customer_id: uuid.UUID,
    *,
    authorise: Callable[[int | None], None] | None = None,
    stored_redactions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The decrypted customer 360: profile, links, policies, claims, interactions, consents.

    ``authorise(org_unit_id)`` is called with the customer's org unit once the
    row is found and before anything is decrypted, so that a policy decision
    that depends on the customer costs no extra query; if it raises, nothing
    is opened.

    Stored redactions (:mod:`vault.redaction.stored`) are not part of the
    record; given a ``stored_redactions`` dict, the read adds to it the
    customer's entries (basis -> redacted text), read in the same statements.
    """
    reads = _reads()
    params = {"customer_id": customer_id}
    with vault.reader.connect() as conn:
        row = conn.execute(reads.profile, params).mappings().first()
        if row is None:
            raise NotFoundError("no such customer")
        if authorise is not None:
            authorise(row["org_unit_id"])
        if row["__dek_wrapped"] is None:
            raise IntegrityError(f"customer {customer_id} has no data key")
        wrapped = WrappedKey(
            customer_id, row["__dek_version"], row["__dek_kek_version"], row["__dek_wrapped"]
        )
        key = open_data_key(vault.provider, wrapped)
        customers = schema.table("customers")
        profile = _plain(customers, row) | open_fields(customers, customer_id, key, row)
        children: dict[str, list[dict[str, Any]]] = {}
        for name, table, query in reads.children:
            rows = [
                _plain(table, r) | open_fields(table, r["id"], key, r)
                for r in conn.execute(query, params).mappings()
            ]
            for f in table.stored_redactions:
                entries = [row.pop(f.name, None) for row in rows]
                if stored_redactions is not None:
                    stored_redactions.update(collect(entries))
            children[name] = rows
        links = conn.execute(reads.links, params)
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
