"""Sealing field values under a subject's data key, bound to where they live.

A sealed field is ``0x01 || dek_version (2 bytes) || nonce || ciphertext || tag``.
Its associated data names the table, the field, the record id, the subject and
the DEK version, so a ciphertext copied to another row, another field or
another customer fails to open with :class:`~vault.errors.IntegrityError`.

What gets sealed is decided by the schema registry (:mod:`vault.schema`), not
by the caller: :func:`seal_fields` seals exactly the registry's encrypted
fields it is given and refuses plain ones, so a field cannot be stored in
clear by forgetting to list it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import uuid
from collections.abc import Mapping
from typing import Any

from vault.envelope import DataKey
from vault.errors import IntegrityError
from vault.schema import Field, Kind, Table

FORMAT_V1 = 1
_HEADER = 3


def field_aad(field: Field, record_id: uuid.UUID, key: DataKey) -> bytes:
    return _field_part(field) + _record_part(record_id, key)


@functools.lru_cache(maxsize=256)
def _field_part(field: Field) -> bytes:
    return b"cdv:field:v1\x00%s\x00%s" % (field.table.encode(), field.name.encode())


def _record_part(record_id: uuid.UUID, key: DataKey) -> bytes:
    return b"\x00%s\x00%s\x00%d" % (
        str(record_id).encode(),
        str(key.subject_id).encode(),
        key.version,
    )


def _header(key: DataKey) -> bytes:
    return bytes((FORMAT_V1,)) + key.version.to_bytes(2, "big")


def encode_value(kind: Kind, value: Any) -> bytes:
    """Plaintext bytes for a typed value; the registry's kind fixes the encoding."""
    if kind is Kind.TEXT:
        return str(value).encode("utf-8")
    if kind in (Kind.DATE, Kind.DATETIME):
        return value.isoformat().encode("ascii")  # type: ignore[no-any-return]
    if kind is Kind.DECIMAL:
        return str(decimal.Decimal(value)).encode("ascii")
    if kind is Kind.INTEGER:
        return str(int(value)).encode("ascii")
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")


def decode_value(kind: Kind, raw: bytes) -> Any:
    text = raw.decode("utf-8")
    if kind is Kind.TEXT:
        return text
    if kind is Kind.DATE:
        return dt.date.fromisoformat(text)
    if kind is Kind.DATETIME:
        return dt.datetime.fromisoformat(text)
    if kind is Kind.DECIMAL:
        return decimal.Decimal(text)
    if kind is Kind.INTEGER:
        return int(text)
    return json.loads(text)


def seal(field: Field, record_id: uuid.UUID, key: DataKey, value: Any) -> bytes:
    return _seal(field, key, value, _header(key), _record_part(record_id, key))


def _seal(field: Field, key: DataKey, value: Any, header: bytes, record_part: bytes) -> bytes:
    aad = header + _field_part(field) + record_part
    return header + key.aead.seal(encode_value(field.kind, value), aad)


def record_aad(record_id: uuid.UUID, key: DataKey) -> bytes:
    """The record's share of every field's associated data: compute once per row, not per field."""
    return _record_part(record_id, key)


def open_sealed(
    field: Field,
    record_id: uuid.UUID,
    key: DataKey,
    sealed: bytes,
    *,
    record_part: bytes | None = None,
) -> Any:
    """Open one field; ``record_part`` is :func:`record_aad` of this record, when already made."""
    header = bytes(sealed[:_HEADER])
    if len(sealed) <= _HEADER or header[0] != FORMAT_V1:
        raise _integrity(field, record_id)
    if int.from_bytes(header[1:3], "big") != key.version:
        raise _integrity(field, record_id)
    if record_part is None:
        record_part = _record_part(record_id, key)
    try:
        raw = key.aead.open(bytes(sealed[_HEADER:]), header + _field_part(field) + record_part)
    except IntegrityError:
        raise _integrity(field, record_id) from None
    return decode_value(field.kind, raw)


def seal_fields(
    table: Table, record_id: uuid.UUID, key: DataKey, values: Mapping[str, Any]
) -> dict[str, bytes | None]:
    """Seal the given encrypted fields of one row; ``None`` stays ``NULL``."""
    sealed: dict[str, bytes | None] = {}
    header, record_part = _header(key), _record_part(record_id, key)
    for name, value in values.items():
        field = table.field(name)
        if not field.encrypted:
            raise ValueError(f"{field.qualified_name} is not an encrypted field")
        sealed[name] = None if value is None else _seal(field, key, value, header, record_part)
    return sealed


def open_fields(
    table: Table, record_id: uuid.UUID, key: DataKey, row: Mapping[Any, Any]
) -> dict[str, Any]:
    """Open every encrypted field of ``table`` present in ``row``."""
    opened: dict[str, Any] = {}
    record_part = _record_part(record_id, key)
    for field in table.encrypted_fields:
        if field.name in row:
            blob = row[field.name]
            opened[field.name] = (
                None
                if blob is None
                else open_sealed(field, record_id, key, blob, record_part=record_part)
            )
    return opened


def _integrity(field: Field, record_id: uuid.UUID) -> IntegrityError:
    return IntegrityError(
        f"integrity check failed for {field.qualified_name} of record {record_id}: "
        "the ciphertext does not belong here or was altered"
    )
