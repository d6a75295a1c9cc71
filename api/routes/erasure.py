"""``DELETE /v1/customers/{id}``: erasure by crypto-shredding, for roles allowed ``customer.erase``.

The role, action and purpose (``erasure_request``) are checked by the route
dependency; a denial is audited and answered 403, a missing purpose 400.  The
use case (:mod:`vault.services.erasure`) audits the intent, writes the
tombstone, deletes the customer's rows and wrapped data key in one
transaction and audits the result.  Erasing an erased customer answers 200
with ``outcome: already_erased``; an id the vault never knew, 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from api.security import Context, permission
from vault.services.access import Caller
from vault.services.erasure import erase_as_principal

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class Erased(BaseModel):
    id: uuid.UUID
    outcome: str
    """``erased`` or ``already_erased``."""
    erased_at: dt.datetime
    rows_deleted: dict[str, int]
    """Rows removed per table (empty when the customer was already erased)."""


@router.delete(
    "/{customer_id}", response_model=Erased, summary="Erase a customer (crypto-shredding)"
)
def erase_customer(
    customer_id: Annotated[uuid.UUID, Path(description="The vault's customer id (a UUID).")],
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("customer.erase"))],
) -> dict[str, Any]:
    """Destroy the customer's data key and delete its rows, blind indexes and source links."""
    return erase_as_principal(ctx.access, caller, customer_id)
