"""The audit log for compliance officers: filtered, paginated events and chain verification."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.security import Context, permission
from vault.audit import EventQuery, list_events, public_keys_from_keyring, verify_log
from vault.services.access import Caller

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/events", summary="Audit events, filtered and paginated by sequence number")
def events(
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("audit.read"))],
    customer_id: uuid.UUID | None = None,
    principal: Annotated[str | None, Query(max_length=128)] = None,
    purpose: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(pattern="^(allowed|denied|failed)$")] = None,
    occurred_from: Annotated[dt.datetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[dt.datetime | None, Query(alias="to")] = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    query = EventQuery(
        customer_id=customer_id,
        principal=principal,
        purpose=purpose,
        outcome=outcome,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        after_seq=after_seq,
        limit=limit,
    )
    page = list_events(ctx.vault.reader, query)
    return {
        "events": [
            {
                "seq": e.seq,
                "occurred_at": e.occurred_at,
                "principal": e.principal,
                "role": e.role,
                "org_unit": e.org_unit,
                "purpose": e.purpose,
                "action": e.action,
                "outcome": e.outcome,
                "request_id": e.request_id,
                "customer_ids": list(e.customer_ids),
                "fields_in_clear": list(e.fields_in_clear),
                "reason": e.reason,
                "detail": dict(e.detail),
                "hash": e.event_hash.hex(),
            }
            for e in page.events
        ],
        "next_after_seq": page.next_after_seq,
    }


@router.get("/verify", summary="Verify the hash chain and signed checkpoints")
def verify(
    ctx: Context, caller: Annotated[Caller, Depends(permission("audit.verify"))]
) -> dict[str, Any]:
    keys = public_keys_from_keyring(ctx.vault.current_keyring())
    report = verify_log(ctx.vault.reader, keys)
    first = report.first_break
    return {
        "ok": report.ok,
        "first_break": None
        if first is None
        else {"seq": first.seq, "kind": str(first.kind), "detail": first.detail},
        "public_keys": [base64.b64encode(k).decode() for k in keys],
    }
