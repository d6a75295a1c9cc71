"""Errors as RFC 9457 problem details, mapped from the vault's error tree in one place.

No handler ever echoes a request value: pydantic's validation errors are
reduced to the field path and the rule, and unexpected exceptions become a
generic 500 with the request id (the traceback is not even logged: its frames
could hold plaintext).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vault import errors
from vault.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger("api.problems")

STATUS: list[tuple[type[errors.VaultError], int, str]] = [
    (errors.AuthenticationError, 401, "unauthenticated"),
    (errors.AccessDenied, 403, "forbidden"),
    (errors.NotFoundError, 404, "not-found"),
    (errors.ConflictError, 409, "conflict"),
    (errors.PurposeRequired, 400, "purpose-required"),
    (errors.ValidationError, 422, "invalid-request"),
    (errors.AuditUnavailable, 503, "audit-unavailable"),
    (errors.IntegrityError, 500, "integrity-failure"),
    (errors.ConfigurationError, 500, "misconfigured"),
    (errors.StorageError, 503, "storage-unavailable"),
]
TITLES = {
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    400: "Bad request",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    request: Request | None = None,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:customer-vault:problem:{kind or status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None and getattr(request.state, "request_id", None):
        body["request_id"] = request.state.request_id
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _vault_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.VaultError)
    status, kind = next(((s, k) for t, s, k in STATUS if isinstance(exc, t)), (500, "internal"))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    detail = str(exc) if status < 500 else _server_detail(status)
    extra = None
    if isinstance(exc, errors.ValidationError):
        extra = {"errors": [{"field": exc.field, "reason": exc.reason}]}
    if status >= 500:
        log.error(
            "api.error",
            status=status,
            error_type=type(exc).__name__,
            request_id=_request_id(request),
        )
    return problem(status, detail, kind=kind, request=request, extra=extra, headers=headers)


def _request_id(request: Request) -> str | None:
    """The id the problem body names, so the log line it points to can be found."""
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def _server_detail(status: int) -> str:
    if status == 503:
        return "the vault cannot serve this request right now; nothing was returned or changed"
    return "the vault failed to serve this request; see the request id in the logs"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        problems.append({"field": ".".join(location) or "body", "reason": error.get("msg", "")})
    fields = ", ".join(p["field"] for p in problems)
    return problem(
        422,
        f"invalid field(s): {fields}",
        kind="invalid-request",
        request=request,
        extra={"errors": problems},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    return problem(exc.status_code, detail, request=request, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "api.unexpected_error", error_type=type(exc).__name__, request_id=_request_id(request)
    )
    return problem(500, _server_detail(500), kind="internal", request=request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.VaultError, _vault_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
