"""Re-computing every blind index under the primary index key (index-key rotation).

After a new index key becomes primary, new rows get digests under it, lookups
try every version (:meth:`vault.blind_index.BlindIndexer.candidates`) and the
importer matches under every version too, so nothing is missed meanwhile.  This
pass then decrypts each row's indexed fields and rewrites its digests under the
primary, batch by batch.  Each update is a compare-and-swap on the ciphertexts
it read: a row changed meanwhile is left to its writer (which indexed it under
the primary already) and checked again in the next pass.  Passes repeat until
one finds nothing left to change, after which the old index key indexes nothing
and may be retired.

Which columns exist comes from the schema registry (a field's ``blind_index``
and a table's ``derived_indexes``); how each digest is formed mirrors the
importer, and the tests hold the two to the same digests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from vault import blind_index, identifiers, schema
from vault.blind_index import BlindIndexer
from vault.progress import NullProgress, Progress
from vault.sealing import open_sealed
from vault.services.datakeys import load_data_keys
from vault.services.runtime import Vault
from vault.storage.tables import metadata

MAX_PASSES = 5

Digests = Callable[[BlindIndexer, Mapping[str, Any]], dict[str, bytes | None]]


def _customer_digests(indexer: BlindIndexer, v: Mapping[str, Any]) -> dict[str, bytes | None]:
    mobile, email, id_number = v.get("mobile"), v.get("email"), v.get("id_number")
    return {
        "id_number_bidx": indexer.digest(blind_index.ID_NUMBER, id_number) if id_number else None,
        "mobile_bidx": indexer.digest(blind_index.MOBILE, mobile) if mobile else None,
        "email_bidx": (
            indexer.digest(blind_index.EMAIL, identifiers.email_index_form(email))
            if email
            else None
        ),
        "name_mobile_bidx": indexer.name_mobile(v["full_name"], mobile) if mobile else None,
    }


def _number_digests(field: str, column: str) -> Digests:
    def digests(indexer: BlindIndexer, v: Mapping[str, Any]) -> dict[str, bytes | None]:
        value = v.get(field)
        return {column: indexer.digest(field, value) if value else None}

    return digests


DIGESTS: dict[str, Digests] = {
    "customers": _customer_digests,
    "policies": _number_digests(blind_index.POLICY_NUMBER, "policy_number_bidx"),
    "claims": _number_digests(blind_index.CLAIM_NUMBER, "claim_number_bidx"),
}
"""How each indexed table's digests are formed from its decrypted fields."""


def indexed_tables() -> list[schema.Table]:
    """Every table with a blind-index column, per the registry; each must be in DIGESTS."""
    tables = [t for t in schema.registry().values() if t.blind_index_columns]
    missing = sorted(t.name for t in tables if t.name not in DIGESTS)
    if missing:  # a new indexed table must say how its digests are formed
        raise RuntimeError(f"no re-index rule for {', '.join(missing)}")
    return tables


def reindex(vault: Vault, *, batch_size: int = 500, progress: Progress | None = None) -> int:
    """Rewrite every digest not under the primary index key; returns the rows changed."""
    progress = progress or NullProgress()
    tables = indexed_tables()
    total = 0
    for _ in range(MAX_PASSES):
        with vault.engine.connect() as conn:
            rows = sum(
                int(conn.execute(sa.select(sa.func.count()).select_from(_sa(t))).scalar_one())
                for t in tables
            )
        progress.start("re-indexing blind indexes", rows)
        try:
            changed = sum(_pass(vault, t, batch_size, progress) for t in tables)
        finally:
            progress.finish()
        total += changed
        if changed == 0:
            break
    return total


def _sa(table: schema.Table) -> sa.Table:
    found: sa.Table = metadata().tables[table.name]
    return found


def _pass(vault: Vault, table: schema.Table, batch_size: int, progress: Progress) -> int:
    t = _sa(table)
    sources = [f for f in table.encrypted_fields if f.blind_index or _feeds_derived(table, f)]
    indexes = list(table.blind_index_columns)
    subject = t.c[table.subject or "id"]
    digests = DIGESTS[table.name]
    update = (
        sa.update(t)
        .where(t.c.id == sa.bindparam("b_id"))
        .where(*(t.c[f.name].is_not_distinct_from(sa.bindparam(f"b_{f.name}")) for f in sources))
        .values({c: sa.bindparam(f"n_{c}") for c in indexes})
    )
    changed = 0
    after: uuid.UUID | None = None
    while True:
        query = sa.select(t.c.id, subject.label("subject"), *(t.c[f.name] for f in sources))
        query = query.add_columns(*(t.c[c] for c in indexes)).order_by(t.c.id).limit(batch_size)
        if after is not None:
            query = query.where(t.c.id > after)
        with vault.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            keys = load_data_keys(conn, vault.provider, {r["subject"] for r in rows})
        if not rows:
            return changed
        indexer = vault.indexer
        params = []
        for r in rows:
            key = keys[r["subject"]]
            plain = {
                f.name: open_sealed(f, r["id"], key, r[f.name]) if r[f.name] is not None else None
                for f in sources
            }
            wanted = digests(indexer, plain)
            if all(wanted[c] == r[c] for c in indexes):
                continue
            params.append(
                {"b_id": r["id"]}
                | {f"b_{f.name}": r[f.name] for f in sources}
                | {f"n_{c}": wanted[c] for c in indexes}
            )
        if params:
            with vault.engine.begin() as conn:
                conn.execute(update, params)
        changed += len(params)
        after = rows[-1]["id"]
        progress.advance(len(rows))


def _feeds_derived(table: schema.Table, field: schema.Field) -> bool:
    """Fields a derived index is computed from (customers: name + mobile)."""
    return bool(table.derived_indexes) and field.name == "full_name"
