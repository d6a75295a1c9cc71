"""The HTTP API: ``create_app`` builds everything in the lifespan, nothing at import time.

Data flows one way: routes (``api/routes``) authenticate and validate, then
call use cases in ``vault.services``; errors are mapped to problem details once
(``api/problems.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import problems
from api.context import AppContext
from api.middleware import VaultMiddleware
from api.routes import admin, audit, customers, erasure, exports, health, redact
from vault.logs import configure_logging
from vault.settings import Settings

MAX_BODY_BYTES = 256 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app for ``settings`` (default: from the environment, as the CLI resolves them)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()  # every worker process: JSON lines through the PII scrubber
        context = AppContext.open(settings or Settings.resolve())
        # The redactor takes about a second to load; loaded here, in a worker thread before
        # the first request, it cannot stall the event loop (where SQLite reads run) later.
        await run_in_threadpool(context.redactor)
        app.state.context = context
        try:
            yield
        finally:
            context.close()

    app = FastAPI(
        title="Customer Data Vault",
        version="0.1.0",
        description=(
            "Role-, purpose- and field-level access to an insurer's customer 360 data. "
            "Every request that touches customer data needs `Authorization: Bearer <key>` "
            "and `X-Purpose`; every access is written to a tamper-evident audit log."
        ),
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry spans, metrics and logs are off, whatever providers
        # or FASTAPI_OTEL_AUTO_CONFIGURE the environment sets: its logs record
        # validation failures "including the original input values" and exception
        # messages, which here can be ID numbers on their way to a 422, and nothing it
        # exports passes through the vault's PII scrubber (vault/logs.py).
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    problems.install(app)
    app.add_middleware(VaultMiddleware, max_body_bytes=MAX_BODY_BYTES)
    app.include_router(health.router)
    app.include_router(customers.router)
    app.include_router(audit.router)
    app.include_router(redact.router)
    app.include_router(admin.router)
    app.include_router(erasure.router)
    app.include_router(exports.router)
    return app
