"""ASGI middleware: a request id on every exchange, a body-size limit, and no caching.

Every response carries ``Cache-Control: no-store`` (customer data must never sit
in a proxy or browser cache) and ``X-Request-ID`` (which the audit event and
the problem details carry too).  Bodies over the limit get 413 before the
application reads them, whether the client declared a length or streams.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault.logs import get_logger


class _TooLarge(Exception):
    pass


def new_request_id() -> str:
    """``rq`` + 16 hex digits: the letters keep the id from ever reading as a phone number.

    (Bare hex runs of 11+ decimal digits occur in ~3% of ids, and the audit log
    rightly refuses anything that looks like a PRC ID or a mobile.)
    """
    return "rq" + secrets.token_hex(8)


class VaultMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        overflowed = False  # the body went over the limit while the application read it
        replaced = False  # so the application's own answer was replaced by a 413

        async def send_decorated(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers += [
                    (b"cache-control", b"no-store"),
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        async def send_with_headers(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if overflowed and not started:
                # The application caught the overflow while reading the body (FastAPI turns
                # any body-reading error into a 400): whatever it answers, the answer is 413.
                replaced = True
                await _too_large(send_decorated, request_id, self.max_body_bytes)
                return
            await send_decorated(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _too_large(send_with_headers, request_id, self.max_body_bytes)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    overflowed = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            if not started:
                await _too_large(send_with_headers, request_id, self.max_body_bytes)
        except Exception as exc:  # never let a traceback reach the server's logs
            get_logger("api.middleware").error(
                "api.unexpected_error", error_type=type(exc).__name__, request_id=request_id
            )
            if not started:
                await _problem(
                    send_with_headers,
                    request_id,
                    500,
                    "the vault failed to serve this request; see the request id in the logs",
                )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Any, request_id: str, limit: int) -> None:
    await _problem(send, request_id, 413, f"request bodies are limited to {limit} bytes")


async def _problem(send: Any, request_id: str, status: int, detail: str) -> None:
    kind = "too-large" if status == 413 else "internal"
    title = "Request body too large" if status == 413 else "Internal error"
    body = json.dumps(
        {
            "type": f"urn:customer-vault:problem:{kind}",
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
