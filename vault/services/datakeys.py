"""Storing and loading subjects' wrapped data keys (the envelope's outer layer)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vault.envelope import DataKey, WrappedKey, open_data_key
from vault.keyring import KeyProvider
from vault.storage.tables import DataKeyRow, columns


def wrapped_key_row(wrapped: WrappedKey, now: dt.datetime) -> dict[str, Any]:
    return {
        "subject_id": wrapped.subject_id,
        "version": wrapped.version,
        "kek_version": wrapped.kek_version,
        "wrapped": wrapped.wrapped,
        "created_at": now,
    }


def load_data_keys(
    conn: Connection, provider: KeyProvider, subject_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, DataKey]:
    """Unwrap the DEKs of these subjects (one query); a subject without one is left out."""
    if not subject_ids:
        return {}
    key = columns(DataKeyRow)
    result = conn.execute(
        sa.select(key.subject_id, key.version, key.kek_version, key.wrapped).where(
            key.subject_id.in_(list(subject_ids))
        )
    )
    return {
        sid: open_data_key(provider, WrappedKey(sid, version, kek_version, wrapped))
        for sid, version, kek_version, wrapped in result
    }
