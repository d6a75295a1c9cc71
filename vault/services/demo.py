"""The demo's finishing touch: a key per shipped role and a customer worth looking at.

Demo principals are named ``demo-<role>``; running the demo again revokes the
previous ones and issues fresh keys, which are printed once and never stored
in clear.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection

import sqlalchemy as sa

from vault.services.principals import add_principal, list_principals, revoke_principal
from vault.services.runtime import Vault
from vault.storage.tables import Consent, Customer, OrgUnit, columns


def demo_customer(vault: Vault) -> tuple[uuid.UUID, str | None]:
    """A customer with an org unit and a granted marketing-by-SMS consent, and its unit code."""
    c, k, u = columns(Customer), columns(Consent), columns(OrgUnit)
    query = (
        sa.select(c.id, u.code)
        .join(OrgUnit.__table__, u.id == c.org_unit_id)  # type: ignore[attr-defined]
        .join(Consent.__table__, k.customer_id == c.id)  # type: ignore[attr-defined]
        .where(k.purpose == "marketing", k.channel == "sms", k.status == "granted")
        .order_by(c.created_at, c.id)
        .limit(1)
    )
    with vault.reader.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            row = conn.execute(sa.select(c.id, sa.null()).order_by(c.created_at).limit(1)).one()
    return row[0], row[1]


def demo_principals(
    vault: Vault, roles: Collection[str], org_unit: str | None, scoped_roles: Collection[str]
) -> dict[str, str]:
    """Fresh demo keys, one per role; earlier demo principals are revoked first."""
    for principal in list_principals(vault):
        if principal.name.startswith("demo-") and not principal.revoked:
            revoke_principal(vault, principal.name)
    keys: dict[str, str] = {}
    suffix = secrets.token_hex(2)
    for role in sorted(roles):
        _, keys[role] = add_principal(
            vault,
            f"demo-{role.replace('_', '-')}-{suffix}",
            role,
            known_roles=roles,
            org_unit=org_unit if role in scoped_roles else None,
        )
    return keys
