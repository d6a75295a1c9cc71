"""Principals: the service accounts and employees that may call the API, and their API keys.

An API key is ``cdv_<key id>_<secret>``: the key id (8 random bytes, hex) finds
the principal, the secret (32 random bytes, base64url) proves it.  Only the
SHA-256 of the secret is stored (a high-entropy secret needs no slow hash), and
it is compared in constant time.  The key is shown once, when created.
Unknown, malformed and revoked keys all fail the same way.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vault.crypto import constant_time_equal, sha256
from vault.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from vault.services.runtime import Vault
from vault.storage.tables import OrgUnit, Principal, columns

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_DIGIT_RUN = re.compile(r"\d{7}")
"""Audit events refuse identifiers that could be a phone or ID number; so do principal names."""
KINDS = ("service", "employee")
_KEY = re.compile(r"cdv_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_FAILED = "invalid or revoked API key"


@dataclass(frozen=True, slots=True)
class PrincipalInfo:
    id: uuid.UUID
    name: str
    kind: str
    role: str
    org_unit: str | None
    revoked: bool
    org_unit_id: int | None = None
    """The org unit's row id, when the principal was loaded with it (saves a lookup per request)."""


def add_principal(
    vault: Vault,
    name: str,
    role: str,
    *,
    known_roles: Collection[str],
    org_unit: str | None = None,
    kind: str = "service",
) -> tuple[PrincipalInfo, str]:
    """Create a principal and return it with its API key (the only time the key exists)."""
    if not NAME.fullmatch(name):
        raise ValidationError(
            "name", "must be 2-64 of a-z 0-9 . _ - (an identifier, not a person's name)"
        )
    if _DIGIT_RUN.search(name):
        raise ValidationError("name", "may not hold 7 or more digits in a row (could be a number)")
    if role not in known_roles:
        raise ValidationError("role", "is not a role in the policy file")
    if kind not in KINDS:
        raise ValidationError("kind", "must be service or employee")
    if kind == "employee" and org_unit is None:
        raise ValidationError("org_unit", "an employee belongs to an org unit")
    key_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    now = vault.clock()
    with vault.engine.begin() as conn:
        unit_id = _org_unit_id(conn, org_unit) if org_unit else None
        exists = conn.execute(
            sa.select(columns(Principal).id).where(columns(Principal).name == name)
        ).first()
        if exists:
            raise ConflictError(f"a principal named {name} already exists")
        principal_id = uuid.uuid4()
        conn.execute(
            sa.insert(Principal).values(
                id=principal_id,
                name=name,
                kind=kind,
                role=role,
                org_unit_id=unit_id,
                key_id=key_id,
                key_hash=sha256(secret.encode()),
                created_at=now,
            )
        )
    info = PrincipalInfo(principal_id, name, kind, role, org_unit, revoked=False)
    return info, f"cdv_{key_id}_{secret}"


def _org_unit_id(conn: sa.Connection, code: str) -> int:
    unit = columns(OrgUnit)
    found = conn.execute(sa.select(unit.id).where(unit.code == code)).scalar()
    if found is None:
        raise NotFoundError(f"no org unit with code {code}")
    return int(found)


def list_principals(vault: Vault) -> list[PrincipalInfo]:
    p, unit = columns(Principal), columns(OrgUnit)
    query = (
        sa.select(p.id, p.name, p.kind, p.role, unit.code, p.revoked_at)
        .select_from(sa.outerjoin(Principal.__table__, OrgUnit.__table__))  # type: ignore[attr-defined]
        .order_by(p.name)
    )
    with vault.reader.connect() as conn:
        return [
            PrincipalInfo(i, n, k, r, code, revoked=revoked_at is not None)
            for i, n, k, r, code, revoked_at in conn.execute(query)
        ]


def revoke_principal(vault: Vault, name: str) -> None:
    p = columns(Principal)
    with vault.engine.begin() as conn:
        result = conn.execute(
            sa.update(Principal)
            .where(p.name == name, p.revoked_at.is_(None))
            .values(revoked_at=vault.clock())
        )
        if result.rowcount != 1:
            raise NotFoundError(f"no active principal named {name}")


@functools.cache
def _by_key_id() -> sa.Select[Any]:
    """The authentication query, built once: it runs on every request."""
    p, unit = columns(Principal), columns(OrgUnit)
    return (
        sa.select(
            p.id,
            p.name,
            p.kind,
            p.role,
            unit.code,
            unit.id.label("org_unit_id"),
            p.revoked_at,
            p.key_hash,
        )
        .select_from(sa.outerjoin(Principal.__table__, OrgUnit.__table__))  # type: ignore[attr-defined]
        .where(p.key_id == sa.bindparam("key_id"))
    )


def authenticate(vault: Vault, presented: str) -> PrincipalInfo:
    """The principal an API key belongs to; AuthenticationError for anything else."""
    match = _KEY.fullmatch(presented)
    if match is None:
        raise AuthenticationError(_FAILED)
    key_id, secret = match.groups()
    with vault.reader.connect() as conn:
        row = conn.execute(_by_key_id(), {"key_id": key_id}).first()
    presented_hash = sha256(secret.encode())
    stored_hash = row.key_hash if row is not None else sha256(b"no such key")
    if not constant_time_equal(presented_hash, stored_hash) or row is None:
        raise AuthenticationError(_FAILED)
    if row.revoked_at is not None:
        raise AuthenticationError(_FAILED)
    return PrincipalInfo(
        row.id, row.name, row.kind, row.role, row.code, revoked=False, org_unit_id=row.org_unit_id
    )
