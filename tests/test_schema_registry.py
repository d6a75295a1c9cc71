"""The schema registry and the SQL tables agree, and the registry's rules hold."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vault import schema
from vault.services.runtime import Vault
from vault.storage.tables import TABLES, metadata


def test_every_table_column_is_classified_in_the_registry() -> None:
    from vault.storage.audit_tables import AUDIT_TABLES

    every = dict(TABLES) | dict(AUDIT_TABLES)
    assert set(every) == set(schema.registry())
    for name, model in every.items():
        entry = schema.table(name)
        columns = {c.name for c in model.__table__.columns}  # type: ignore[attr-defined]
        declared = {f.name for f in entry.fields} | set(entry.blind_index_columns)
        assert columns == declared, name


def test_every_encrypted_field_is_a_binary_column() -> None:
    for field in schema.pii_fields():
        column = TABLES[field.table].__table__.columns[field.name]  # type: ignore[attr-defined]
        assert isinstance(column.type, sa.LargeBinary), field.qualified_name


def test_direct_identifiers_sensitive_and_free_text_fields_are_all_encrypted() -> None:
    for field in schema.all_fields():
        if (
            field.classification
            in (
                schema.Classification.DIRECT_IDENTIFIER,
                schema.Classification.SENSITIVE,
                schema.Classification.QUASI_IDENTIFIER,
            )
            or field.free_text
        ):
            assert field.encrypted, field.qualified_name


def test_tables_with_encrypted_fields_name_their_data_key_subject() -> None:
    for entry in schema.registry().values():
        if entry.encrypted_fields:
            assert entry.subject is not None, entry.name


def test_migrations_produce_exactly_the_declared_schema(vault: Vault) -> None:
    with vault.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata())
    assert diff == []
