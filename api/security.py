"""Authentication and purpose, declared as route dependencies (never inline in route bodies).

``Authorization: Bearer <key>`` identifies the principal (401 otherwise, with the
same answer for unknown, malformed and revoked keys).  ``X-Purpose`` states why
the data is wanted (400 if missing).  :func:`permission` checks role, action and
purpose against the policy before the route runs (403, audited); scope against
the customer's org unit is checked by the use case, which knows the customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from vault.audit.group import Ticket
from vault.errors import AuthenticationError, PurposeRequired
from vault.services.access import Caller
from vault.services.principals import PrincipalInfo, authenticate


async def context(request: Request) -> AppContext:
    """The app's context (``async``: no thread-pool hop for a lookup)."""
    ctx: AppContext = request.app.state.context
    return ctx


Context = Annotated[AppContext, Depends(context)]

_PURPOSE_HELP = (
    "Why the data is needed: customer_support, claims_processing, service_notice, marketing, "
    "analytics, audit_review, erasure_request, retention, administration."
)


def _principal(ctx: AppContext, authorization: str | None) -> PrincipalInfo:
    if not authorization:
        raise AuthenticationError("missing Authorization: Bearer <API key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("use Authorization: Bearer <API key>")
    return authenticate(ctx.vault, key.strip())


def _purpose(x_purpose: str | None) -> str:
    if x_purpose is None or not x_purpose.strip():
        raise PurposeRequired
    return x_purpose.strip()


def _customer_in_path(request: Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(request.path_params["customer_id"]))
    except (KeyError, ValueError):
        return None


def permission(action: str) -> Callable[..., Caller]:
    """A dependency that admits only principals whose role may take ``action`` for the purpose.

    Authentication (401), purpose (400) and the policy check (403, audited) run
    in this order in one synchronous dependency: FastAPI runs each synchronous
    dependency in its own thread-pool hop, and three hops per request cost
    more than the checks.
    """

    def check(
        request: Request,
        ctx: Context,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_purpose: Annotated[str | None, Header(description=_PURPOSE_HELP, max_length=64)] = None,
    ) -> Caller:
        return _admit(request, ctx, action, authorization, x_purpose)

    check.__name__ = f"permission_{action.replace('.', '_')}"
    return check


def _admit(
    request: Request,
    ctx: AppContext,
    action: str,
    authorization: str | None,
    x_purpose: str | None,
    ticket: Ticket | None = None,
) -> Caller:
    who = _principal(ctx, authorization)
    why = _purpose(x_purpose)
    caller = ctx.access.caller(who, why, request.state.request_id, ticket)
    ctx.access.check(caller, action, _customer_in_path(request))
    return caller


T = TypeVar("T")


class Admission:
    """A request's credentials, to be checked where the use case runs (loop or worker thread).

    :func:`permission` is a synchronous dependency, so FastAPI runs it in a
    thread-pool hop of its own before the (synchronous) route's hop; on the
    hottest route, the 360 read, the second hop costs about a sixth of the
    request.  An ``async`` route takes an :class:`Admission` instead and calls
    :meth:`run`: authentication (401), purpose (400) and the policy check
    (403, audited) run in that order, then the use case, in one hop (or
    none, on SQLite).
    """

    __slots__ = ("_action", "_authorization", "_ctx", "_purpose", "_request")

    def __init__(
        self,
        request: Request,
        ctx: AppContext,
        action: str,
        authorization: str | None,
        x_purpose: str | None,
    ) -> None:
        self._request = request
        self._ctx = ctx
        self._action = action
        self._authorization = authorization
        self._purpose = x_purpose

    async def run(self, use_case: Callable[[Caller], T]) -> T:
        """Admit, then run ``use_case``: on the event loop on SQLite, else in a worker thread.

        Why SQLite reads stay on the loop is said in :class:`~api.context.AppContext`.
        """

        def admitted(ticket: Ticket | None) -> T:
            caller = _admit(
                self._request, self._ctx, self._action, self._authorization, self._purpose, ticket
            )
            return use_case(caller)

        if self._ctx.inline_reads:
            # No ticket: the read's event is committed on the loop (or, when the write lock
            # is taken, handed to the writer already), so the writer thread has nothing to
            # wait for (vault/audit/group.py).
            return admitted(None)
        # The request will submit an audit event (a read's, or a denial's): a busy
        # group-commit writer waits for it rather than commit without it.
        with self._ctx.audit.expect() as ticket:
            return await run_in_threadpool(admitted, ticket)


def admission(action: str) -> Callable[..., Awaitable[Admission]]:
    """Like :func:`permission`, checked by :meth:`Admission.run` in the route's own hop."""

    async def collect(
        request: Request,
        ctx: Context,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_purpose: Annotated[str | None, Header(description=_PURPOSE_HELP, max_length=64)] = None,
    ) -> Admission:
        return Admission(request, ctx, action, authorization, x_purpose)

    collect.__name__ = f"admission_{action.replace('.', '_')}"
    return collect
