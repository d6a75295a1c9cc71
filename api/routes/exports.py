"""``POST /v1/exports``: a k-anonymous analytics extract, for roles allowed ``export.create``.

Role, action and purpose are checked by the route dependency (403, audited);
the use case (:mod:`vault.services.exports`) refuses a profile made for
another purpose, audits the intent and the result (profile, row count,
suppressed rows, levels) and writes the extract into a new directory under
the server's exports directory (``VAULT_EXPORTS``).  The response is the
manifest: counts, levels and a digest, never a customer's value.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.schemas import ExportIn, ExportOut
from api.security import Context, permission
from vault.extracts.output import Format
from vault.services.access import Caller
from vault.services.exports import export_as_principal

router = APIRouter(prefix="/v1", tags=["exports"])


@router.post(
    "/exports",
    status_code=201,
    response_model=ExportOut,
    summary="Produce a de-identified, k-anonymous analytics extract",
)
def create_export(
    body: ExportIn,
    ctx: Context,
    caller: Annotated[Caller, Depends(permission("export.create"))],
) -> dict[str, Any]:
    """Runs the export to completion (readers in this process) and returns its manifest."""
    export_id, result = export_as_principal(
        ctx.access,
        caller,
        ctx.export_profiles,
        profile_name=body.profile,
        fmt=Format(body.format),
        exports_dir=ctx.settings.exports_dir,
        as_of=body.as_of,
    )
    return {"id": export_id, "manifest": result.manifest}
