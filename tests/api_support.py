"""A real API server for tests: uvicorn on a loopback port, real database, real policy file.

``running_api`` serves in a thread of the test process (fast; in-process log
capture works); ``serving_subprocess`` runs ``customer-vault serve`` as its own
process tree, with several workers if asked, and captures its output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    # uvicorn closes a keep-alive connection after 5 idle seconds; a client that reuses it
    # at that moment gets "connection reset". Expiring idle connections sooner avoids the race.
    limits = httpx.Limits(keepalive_expiry=2.0)
    return httpx.Client(base_url=base_url, headers=headers, timeout=30, limits=limits)


@dataclasses.dataclass
class ServedApi:
    """A ``customer-vault serve`` subprocess: its URL, process, and captured output files."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (spawned children; not multiprocessing's tracker)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        workers = []
        with contextlib.suppress(FileNotFoundError):
            for pid in path.read_text().split():
                with contextlib.suppress(FileNotFoundError):
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        workers.append(int(pid))
        return workers

    def connections_by_worker(self) -> dict[int, int]:
        """Established client connections each worker holds on the API port, right now."""
        established = _established_socket_inodes(self.port)
        counts = {}
        for pid in self.worker_pids():
            held = 0
            with contextlib.suppress(FileNotFoundError, PermissionError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        target = os.readlink(fd)
                        if target.startswith("socket:[") and target[8:-1] in established:
                            held += 1
            counts[pid] = held
        return counts

    def logs(self) -> bytes:
        """Everything the server wrote on stdout and stderr so far."""
        return self.stdout.read_bytes() + self.stderr.read_bytes()


def _established_socket_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                    inodes.add(fields[9])
    return inodes


@contextmanager
def serving_subprocess(
    env: dict[str, str], directory: Path, *, workers: int = 1, ready_timeout: float = 60
) -> Iterator[ServedApi]:
    """Run ``customer-vault serve --workers N`` on a loopback port until the block ends.

    ``env`` names the vault (``VAULT_DATABASE_URL``, ``VAULT_KEYS``...).  The
    server's stdout and stderr go to files in ``directory`` so tests can scan
    them.  Ready once ``/healthz`` answers and all ``workers`` processes exist.
    """
    port = _free_port()
    repo = str(Path(__file__).resolve().parents[1])
    env = {**env, "PYTHONPATH": os.pathsep.join([repo, env.get("PYTHONPATH", "")]).rstrip(":")}
    stdout, stderr = directory / "serve.stdout", directory / "serve.stderr"
    command = [sys.executable, "-m", "vault", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
    served = ServedApi(f"http://127.0.0.1:{port}", port, process, stdout, stderr)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: {served.logs()!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start in time")
            with contextlib.suppress(httpx.TransportError):
                if (
                    httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200
                    and len(served.worker_pids()) >= workers
                ):
                    break
            time.sleep(0.1)
        yield served
    finally:
        process.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
