"""Principals and API keys: shown once, stored hashed, compared in constant time, revocable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vault.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from vault.services.principals import (
    add_principal,
    authenticate,
    list_principals,
    revoke_principal,
)
from vault.services.runtime import Vault
from vault.storage.tables import OrgUnit

ROLES = {"customer_service", "admin"}


def test_a_new_key_authenticates_as_its_principal_and_only_a_hash_is_stored(vault: Vault) -> None:
    info, key = add_principal(vault, "crm-app", "customer_service", known_roles=ROLES)
    prefix, key_id, secret = key[:4], key[4:20], key[21:]
    assert (prefix, key[20]) == ("cdv_", "_")
    assert len(secret) == 43  # 32 random bytes, base64url
    assert authenticate(vault, key) == info
    with vault.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_id, key_hash FROM principals")).one()
    assert stored.key_id == key_id
    assert secret.encode() not in bytes(stored.key_hash)
    assert secret not in str(stored)


@pytest.mark.parametrize(
    "presented",
    ["", "Bearer x", "cdv_0000000000000000_" + "A" * 43, "cdv_zz_short", "x" * 5000],
)
def test_unknown_and_malformed_keys_are_refused(vault: Vault, presented: str) -> None:
    add_principal(vault, "crm-app", "customer_service", known_roles=ROLES)
    with pytest.raises(AuthenticationError, match="invalid or revoked"):
        authenticate(vault, presented)


def test_a_key_with_a_known_id_but_wrong_secret_is_refused(vault: Vault) -> None:
    _, key = add_principal(vault, "crm-app", "customer_service", known_roles=ROLES)
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(AuthenticationError):
        authenticate(vault, forged)


def test_a_revoked_key_is_refused_at_once(vault: Vault) -> None:
    _, key = add_principal(vault, "crm-app", "customer_service", known_roles=ROLES)
    revoke_principal(vault, "crm-app")
    with pytest.raises(AuthenticationError):
        authenticate(vault, key)
    assert list_principals(vault)[0].revoked is True
    with pytest.raises(NotFoundError):
        revoke_principal(vault, "crm-app")


def test_principals_are_validated(vault: Vault) -> None:
    with pytest.raises(ValidationError, match="role"):
        add_principal(vault, "x-app", "superuser", known_roles=ROLES)
    with pytest.raises(ValidationError, match="name"):
        add_principal(vault, "张伟", "admin", known_roles=ROLES)
    with pytest.raises(ValidationError, match="org_unit"):
        add_principal(vault, "e1001", "customer_service", known_roles=ROLES, kind="employee")
    with pytest.raises(NotFoundError, match="org unit"):
        add_principal(vault, "e1001", "customer_service", known_roles=ROLES, org_unit="NOPE")
    add_principal(vault, "x-app", "admin", known_roles=ROLES)
    with pytest.raises(ConflictError):
        add_principal(vault, "x-app", "admin", known_roles=ROLES)


def test_an_employee_principal_carries_its_org_unit(vault: Vault) -> None:
    with vault.engine.begin() as conn:
        conn.execute(sa.insert(OrgUnit).values(code="SH-01", name="Shanghai 1"))
    _, key = add_principal(
        vault, "e1001", "customer_service", known_roles=ROLES, org_unit="SH-01", kind="employee"
    )
    assert authenticate(vault, key).org_unit == "SH-01"
    assert [p.name for p in list_principals(vault)] == ["e1001"]


def test_a_name_that_could_be_a_phone_number_is_refused(vault: Vault) -> None:
    with pytest.raises(ValidationError, match="digits"):
        add_principal(vault, "u13812345678", "admin", known_roles=ROLES)
