"""Customer endpoints: the 360 view, blind-index search, writes, sub-resources, access report.

Identifiers never travel in URLs (search takes a JSON body); every response
that carries customer data is ``no-store`` (middleware) and every access is
audited by the use case before the response is built.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, status

from api.schemas import (
    ClaimIn,
    ConsentIn,
    Created,
    CustomerIn,
    CustomerPatch,
    InteractionIn,
    PolicyIn,
    SearchIn,
    SearchOut,
)
from api.security import Admission, Context, admission, permission
from vault.errors import NotFoundError, ValidationError
from vault.import_format import CUSTOMER_COLUMNS
from vault.services import customers as customer_store
from vault.services.access import Caller
from vault.services.importing import import_one
from vault.services.runtime import Vault
from vault.storage.tables import SourceLink, columns

router = APIRouter(prefix="/v1/customers", tags=["customers"])
CustomerId = Annotated[uuid.UUID, Path(description="The vault's customer id (a UUID).")]


def _cells(model: Any, exclude: set[str] | None = None) -> dict[str, str]:
    """A request model as the import format's string cells."""
    cells = {}
    for name, value in model.model_dump(exclude_none=True, exclude=exclude or set()).items():
        cells[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return cells


def _link(vault: Vault, customer_id: uuid.UUID) -> tuple[str, str]:
    link = columns(SourceLink)
    with vault.reader.connect() as conn:
        row = conn.execute(
            sa.select(link.source_system, link.source_id)
            .where(link.customer_id == customer_id)
            .order_by(link.linked_at, link.source_system, link.source_id)
            .limit(1)
        ).first()
    if row is None:
        raise NotFoundError("no such customer")
    return str(row[0]), str(row[1])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Created)
def create_customer(
    body: CustomerIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("customer.create"))],
) -> dict[str, Any]:
    """Create a customer; a copy from another source attaches to the existing one."""
    source_id = body.source_id or f"api-{uuid.uuid4().hex}"
    raw = _cells(body, exclude={"custom_attributes", "source_id"})
    if set(body.custom_attributes) & set(CUSTOMER_COLUMNS):
        raise ValidationError("custom_attributes", "keys may not be profile field names")
    raw.update(body.custom_attributes)
    raw["source_id"] = source_id

    def perform() -> tuple[uuid.UUID, dict[str, Any]]:
        guard = ctx.access.scope_check(caller, "customer.create")
        outcome = import_one(ctx.vault, "customers", raw, scope_check=guard)
        link = columns(SourceLink)
        with ctx.vault.reader.connect() as conn:
            customer_id = conn.execute(
                sa.select(link.customer_id).where(
                    link.source_system == body.source_system, link.source_id == source_id
                )
            ).scalar_one()
        return customer_id, {"id": customer_id, "outcome": outcome}

    return ctx.access.write(caller, "customer.create", None, perform, target_org_unit=body.org_unit)


@router.get("/{customer_id}", summary="The customer 360, shaped by the caller's policy")
async def read_customer(
    customer_id: CustomerId,
    ctx: Context,
    admitted: Annotated[Admission, Depends(admission("customer.read"))],
) -> dict[str, Any]:
    # The hot path: admission and the read run together, on the event loop on SQLite or in
    # one worker-thread hop on PostgreSQL (api/security.py); the wait for the audit commit
    # happens here, awaited, so no thread is held and the loop serves others meanwhile (on
    # SQLite the commit itself then runs on the loop: vault/audit/group.py).
    pending = await admitted.run(
        lambda caller: ctx.access.begin_read(caller, customer_id, awaited=ctx.inline_reads)
    )
    return await pending.released()


@router.post("/search", response_model=SearchOut, summary="Find customers via blind indexes")
def search(
    body: SearchIn, ctx: Context, caller: Annotated[Caller, Depends(permission("customer.search"))]
) -> dict[str, Any]:
    field, value = body.term()
    return {"items": ctx.access.search(caller, field, value)}


@router.patch("/{customer_id}", response_model=Created)
def update_customer(
    customer_id: CustomerId,
    body: CustomerPatch,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("customer.update"))],
) -> dict[str, Any]:
    """Change the given fields; absent fields are kept."""

    def perform() -> tuple[uuid.UUID, dict[str, Any]]:
        system, source_id = _link(ctx.vault, customer_id)
        raw = _cells(body)
        # The import rules need a name and an identifier; absent from the patch, the
        # stored ones are re-supplied (rewriting a field with its own value).
        current = customer_store.read_customer(ctx.vault, customer_id)
        raw.setdefault("full_name", current["full_name"])
        if "mobile" not in raw and "id_number" not in raw:
            if current.get("mobile"):
                raw["mobile"] = current["mobile"]
            elif current.get("id_number"):
                raw.update(id_type=current["id_type"], id_number=current["id_number"])
        raw.update(source_system=system, source_id=source_id)
        guard = ctx.access.scope_check(caller, "customer.update")
        outcome = import_one(ctx.vault, "customers", raw, scope_check=guard)
        return customer_id, {"id": customer_id, "outcome": outcome}

    return ctx.access.write(caller, "customer.update", customer_id, perform)


def _child(
    ctx: Context, caller: Caller, action: str, kind: str, customer_id: uuid.UUID, body: Any
) -> dict[str, Any]:
    def perform() -> tuple[uuid.UUID, dict[str, Any]]:
        system, source_id = _link(ctx.vault, customer_id)
        raw = _cells(body)
        raw.update(source_system=system, customer_source_id=source_id)
        outcome = import_one(ctx.vault, kind, raw)
        return customer_id, {"id": customer_id, "outcome": outcome}

    return ctx.access.write(caller, action, customer_id, perform)


@router.post("/{customer_id}/policies", status_code=201, response_model=Created)
def add_policy(
    customer_id: CustomerId,
    body: PolicyIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("policy.create"))],
) -> dict[str, Any]:
    return _child(ctx, caller, "policy.create", "policies", customer_id, body)


@router.post("/{customer_id}/claims", status_code=201, response_model=Created)
def add_claim(
    customer_id: CustomerId,
    body: ClaimIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("claim.create"))],
) -> dict[str, Any]:
    return _child(ctx, caller, "claim.create", "claims", customer_id, body)


@router.post("/{customer_id}/interactions", status_code=201, response_model=Created)
def add_interaction(
    customer_id: CustomerId,
    body: InteractionIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("interaction.create"))],
) -> dict[str, Any]:
    return _child(ctx, caller, "interaction.create", "interactions", customer_id, body)


@router.post("/{customer_id}/consents", status_code=201, response_model=Created)
def add_consent(
    customer_id: CustomerId,
    body: ConsentIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("consent.create"))],
) -> dict[str, Any]:
    return _child(ctx, caller, "consent.create", "consents", customer_id, body)


@router.get("/{customer_id}/access-report", summary="Who saw this customer's data (PIPL/GDPR)")
def access_report(
    customer_id: CustomerId,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("access_report.read"))],
) -> dict[str, Any]:
    return {"customer_id": customer_id, "entries": ctx.access.access_report(caller, customer_id)}
