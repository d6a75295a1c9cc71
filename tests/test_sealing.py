"""Sealed fields: registry-driven, typed, and bound to their table, field, row and subject."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault import schema
from vault.crypto import Aead, SecretKey
from vault.envelope import DataKey, new_data_key, open_data_key
from vault.errors import IntegrityError
from vault.keyring import FileKeyProvider, KeyFamily, KeyVersion
from vault.sealing import field_aad, open_fields, open_sealed, seal, seal_fields

VECTORS = json.loads((Path(__file__).parent / "vectors" / "sealed_fields.json").read_text())


def _key(subject: uuid.UUID | None = None) -> DataKey:
    return DataKey(subject_id=subject or uuid.uuid4(), version=1, aead=Aead(SecretKey.generate()))


CUSTOMERS = schema.table("customers")


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['table']}.{v['field']}")
def test_known_answer_vectors_open_to_their_plaintext(vector: dict[str, str]) -> None:
    field = schema.table(vector["table"]).field(vector["field"])
    key = DataKey(
        subject_id=uuid.UUID(vector["subject_id"]),
        version=int(vector["dek_version"]),
        aead=Aead(SecretKey(bytes.fromhex(vector["key_hex"]))),
    )
    record = uuid.UUID(vector["record_id"])
    sealed = bytes.fromhex(vector["sealed_hex"])
    assert sealed[:3] + field_aad(field, record, key) == bytes.fromhex(vector["aad_hex"])
    assert open_sealed(field, record, key, sealed) == vector["plaintext"]


text = st.text(max_size=300)


@given(
    name=text,
    birth=st.dates(min_value=dt.date(1900, 1, 1)),
    income=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
)
def test_typed_values_round_trip_through_sealing(
    name: str, birth: dt.date, income: decimal.Decimal
) -> None:
    key, record = _key(), uuid.uuid4()
    values = {"full_name": name, "birth_date": birth, "annual_income": income}
    sealed = seal_fields(CUSTOMERS, record, key, values)
    assert all(isinstance(v, bytes) for v in sealed.values())
    assert open_fields(CUSTOMERS, record, key, sealed) == values


def test_ciphertext_moved_to_another_row_fails_to_open() -> None:
    key = _key()
    field = CUSTOMERS.field("mobile")
    sealed = seal(field, uuid.uuid4(), key, "+8613812345678")
    with pytest.raises(IntegrityError, match=r"customers\.mobile of record"):
        open_sealed(field, uuid.uuid4(), key, sealed)


def test_ciphertext_moved_to_another_field_fails_to_open() -> None:
    key, record = _key(), uuid.uuid4()
    sealed = seal(CUSTOMERS.field("mobile"), record, key, "+8613812345678")
    with pytest.raises(IntegrityError, match=r"customers\.email"):
        open_sealed(CUSTOMERS.field("email"), record, key, sealed)


def test_ciphertext_moved_to_another_table_fails_to_open() -> None:
    key, record = _key(), uuid.uuid4()
    sealed = seal(schema.table("interactions").field("note"), record, key, "note")
    with pytest.raises(IntegrityError):
        open_sealed(schema.table("claims").field("description"), record, key, sealed)


def test_ciphertext_of_another_customer_fails_even_with_the_same_key_bytes() -> None:
    raw = SecretKey.generate()
    alice = DataKey(subject_id=uuid.uuid4(), version=1, aead=Aead(raw))
    bob = DataKey(subject_id=uuid.uuid4(), version=1, aead=Aead(raw))
    record = uuid.uuid4()
    sealed = seal(CUSTOMERS.field("full_name"), record, alice, "张伟")
    with pytest.raises(IntegrityError):
        open_sealed(CUSTOMERS.field("full_name"), record, bob, sealed)


def test_key_version_is_bound_into_the_ciphertext() -> None:
    raw, subject, record = SecretKey.generate(), uuid.uuid4(), uuid.uuid4()
    v1 = DataKey(subject_id=subject, version=1, aead=Aead(raw))
    v2 = DataKey(subject_id=subject, version=2, aead=Aead(raw))
    field = CUSTOMERS.field("email")
    sealed = seal(field, record, v1, "a@b.cn")
    with pytest.raises(IntegrityError):
        open_sealed(field, record, v2, sealed)
    relabelled = bytes((1,)) + (2).to_bytes(2, "big") + sealed[3:]
    with pytest.raises(IntegrityError):
        open_sealed(field, record, v2, relabelled)


def test_plain_fields_cannot_be_sealed_by_mistake_nor_left_plain() -> None:
    with pytest.raises(ValueError, match="not an encrypted field"):
        seal_fields(CUSTOMERS, uuid.uuid4(), _key(), {"org_unit_id": 3})


def test_wrapped_data_key_moved_to_another_subject_does_not_unwrap() -> None:
    family = KeyFamily("kek", 1, {1: KeyVersion(1, SecretKey.generate(), dt.datetime.now(dt.UTC))})
    provider = FileKeyProvider(family)
    alice = uuid.uuid4()
    key, wrapped = new_data_key(provider, alice)
    assert open_data_key(provider, wrapped).subject_id == alice
    stolen = type(wrapped)(uuid.uuid4(), wrapped.version, wrapped.kek_version, wrapped.wrapped)
    with pytest.raises(IntegrityError):
        open_data_key(provider, stolen)
    assert "***" in repr(key)
