"""Free-text redaction as a service: any permitted caller can have PII stripped from text."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.schemas import RedactIn
from api.security import Context, permission
from vault.services.access import Caller

router = APIRouter(prefix="/v1", tags=["redaction"])


@router.post("/redact", summary="Strip PII from free text (offline presidio + vault recognizers)")
def redact(
    body: RedactIn, ctx: Context, caller: Annotated[Caller, Depends(permission("redact.text"))]
) -> dict[str, Any]:
    """Returns the text with each entity replaced by ``<TYPE>`` and the entities found.

    Nothing is stored and no customer is touched, so no audit event is written;
    the text itself is never logged.
    """
    result = ctx.redactor().redact(body.text, lang=body.lang, known=body.known)
    return {"text": result.text, "entities": [e.to_dict() for e in result.entities]}
