"""A real API server for tests: uvicorn on a loopback port, real database, real policy file."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from api.app import create_app
from vault.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` over HTTP on 127.0.0.1; yields the base URL."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="error", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def client(base_url: str, key: str | None = None, purpose: str | None = None) -> httpx.Client:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if purpose is not None:
        headers["X-Purpose"] = purpose
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)
