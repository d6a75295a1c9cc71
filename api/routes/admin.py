"""Key administration for the ``admin`` role: key status and online rotation, audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from api.schemas import Strict
from api.security import Context, permission
from vault.services import keys as key_service
from vault.services.access import Caller

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RotateRequest(Strict):
    family: Literal["kek", "index", "audit"] = "kek"
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000


@router.get("/keys", summary="Key versions, their age and the data keys each KEK wraps")
def key_status(
    ctx: Context, caller: Annotated[Caller, Depends(permission("keys.manage"))]
) -> dict[str, Any]:
    versions = key_service.status(ctx.vault)
    return {
        "cryptoperiod_days": key_service.CRYPTOPERIOD.days,
        "versions": [
            {
                "family": v.family,
                "version": v.version,
                "state": v.state,
                "created_at": v.created_at,
                "age_days": v.age_days,
                "past_cryptoperiod": v.past_cryptoperiod,
                "data_keys": v.data_keys,
                "retired_at": v.retired_at,
            }
            for v in versions
        ],
    }


@router.post("/keys/rotate", summary="Rotate a key family online (or finish a rotation)")
def rotate(
    body: RotateRequest,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("keys.manage"))],
) -> dict[str, Any]:
    """Runs to completion before answering; reads and writes keep being served meanwhile.

    For the KEK this re-wraps every data key (about 10,000 per second); very large
    vaults may prefer ``customer-vault keys rotate``, which shows progress.
    """

    def perform() -> key_service.RotationResult:
        if body.family == "audit":
            return key_service.rotate_audit_key(ctx.vault)
        if body.family == "index":
            return key_service.rotate_index_key(ctx.vault, batch_size=body.batch_size)
        return key_service.rotate_kek(ctx.vault, batch_size=body.batch_size)

    result = ctx.access.administer(
        caller,
        "keys.manage",
        perform,
        lambda r: {
            "family": r.family,
            "to_version": r.to_version,
            "rewrapped": r.rewrapped,
            "remaining": r.remaining,
        },
    )
    return {
        "family": result.family,
        "from_versions": list(result.from_versions),
        "to_version": result.to_version,
        "rewrapped": result.rewrapped,
        "resumed": result.resumed,
        "remaining": result.remaining,
        "seconds": round(result.seconds, 3),
    }
