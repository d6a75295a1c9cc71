"""Read benchmark: ``GET /v1/customers/{id}`` against a plaintext baseline, in one run.

    .venv/bin/python bench/read.py [--customers 2000] [--concurrency 16] [--workers 1]
                                   [--client wrk|httpx] [--seconds 20] [--requests 3000]
                                   [--no-redaction-cache] [--no-stored-redactions]
                                   [--warm-all]

Both servers run as separate uvicorn processes with the same settings (``--workers``
processes each, loopback).  The vault endpoint authenticates, checks the policy,
decrypts, masks, redacts notes (from the redactions stored at import, as
``customer-vault import`` leaves them, or live with ``--no-stored-redactions``)
and writes an audit event per request; the baseline returns the same
customers from a plaintext SQLModel table with no auth and no audit.  The load is
``--concurrency`` connections kept busy over the same random customer ids for both.
The load comes from wrk (one C thread; ``apt-get install wrk``) when it is
installed, so that the client does not take the CPU the servers need on a small
machine; ``--client httpx`` uses Python client threads instead (``--requests``
per run).

Targets (issue): vault throughput >= 0.5 x baseline, p99 <= 50 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def baseline_app(database: str) -> Any:
    """The baseline: the same customers in clear, no auth, no policy, no audit."""
    from fastapi import FastAPI, HTTPException
    from sqlmodel import Session, create_engine

    sys.path.insert(0, str(HERE))
    from ingest import PlainCustomer

    engine = create_engine(f"sqlite:///{database}", connect_args={"check_same_thread": False})
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/plain/{customer_id}")
    def read(customer_id: uuid.UUID) -> dict[str, Any]:
        with Session(engine) as session:
            row = session.get(PlainCustomer, customer_id)
            if row is None:
                raise HTTPException(404)
            return row.model_dump()

    return app


def baseline_from_env() -> Any:
    """The baseline app for uvicorn's worker processes (``--workers`` > 1)."""
    return baseline_app(os.environ["CDV_BENCH_PLAIN_DB"])


def seed(
    home: Path, customers: int, *, stored_redactions: bool = True
) -> tuple[list[uuid.UUID], str, Path]:
    """A vault with demo customers, a claims-adjuster key, and the same rows in clear.

    Imported as ``customer-vault import`` does: free text redacted ahead of reads
    and stored sealed, unless ``stored_redactions`` is off.
    """
    from sqlmodel import Session, SQLModel, create_engine

    sys.path.insert(0, str(HERE))
    from ingest import PlainCustomer, _parsed_rows, _plain

    from vault.demo_data import generate_demo_data
    from vault.keyring import create_keyring
    from vault.policy import load_policies
    from vault.services.importing import ImportSources, import_files
    from vault.services.principals import add_principal
    from vault.services.runtime import open_vault
    from vault.settings import PACKAGED_POLICIES, Settings
    from vault.storage import migrate
    from vault.storage.engine import create_vault_engine

    files = generate_demo_data(home / "data", customers, seed=2)
    url = f"sqlite:///{home / 'vault.db'}"
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    create_keyring(home / "keys.toml")
    settings = Settings.resolve(database_url=url, keys_path=home / "keys.toml", env={})
    vault = open_vault(settings)
    import_files(vault, ImportSources(customers=files.customers, interactions=files.interactions))
    if stored_redactions:
        from vault.redaction import Redactor
        from vault.redaction.stored import StoredRedactions
        from vault.services.redactions import refresh_redactions

        refresh_redactions(vault, StoredRedactions(Redactor()))
    roles = load_policies(PACKAGED_POLICIES / "roles.yaml").roles
    _, key = add_principal(vault, "bench-adjuster", "claims_adjuster", known_roles=roles)
    with vault.engine.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM customers")]
    vault.close()

    plain_db = home / "plain.db"
    plain = create_engine(f"sqlite:///{plain_db}")
    SQLModel.metadata.create_all(plain, tables=[PlainCustomer.__table__])  # type: ignore[attr-defined]
    with Session(plain) as session:
        for customer_id, row in zip(ids, _parsed_rows(files.customers), strict=False):
            record = _plain(row)
            record.id = uuid.UUID(str(customer_id))
            session.add(record)
        session.commit()
    return [uuid.UUID(str(i)) for i in ids], key, plain_db


def load(
    url_for: Any,
    headers: dict[str, str],
    ids: list[uuid.UUID],
    requests: int,
    concurrency: int,
    *,
    each_once: bool = False,
) -> dict[str, float]:
    """``requests`` reads of random ids (or, ``each_once``, one read of every id)."""
    rng = random.Random(7)
    plan = list(ids) if each_once else [rng.choice(ids) for _ in range(requests)]
    requests = len(plan)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    cursor = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(headers=headers, timeout=30) as client:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                started = time.perf_counter()
                response = client.get(url_for(plan[i]))
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": requests / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


_WRK_SCRIPT = """
local ids = {}
for line in io.lines(os.getenv("CDV_BENCH_IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("CDV_BENCH_PREFIX")
local key = os.getenv("CDV_BENCH_KEY")
math.randomseed(tonumber(os.getenv("CDV_BENCH_SEED")))
request = function()
  local headers = {}
  if key ~= "" then
    headers["Authorization"] = "Bearer " .. key
    headers["X-Purpose"] = "claims_processing"
  end
  return wrk.format("GET", prefix .. ids[math.random(#ids)], headers)
end
done = function(summary, latency, requests)
  local out = io.open(os.getenv("CDV_BENCH_OUT"), "w")
  local e = summary.errors
  out:write(string.format("summary %d %d %d\\n", summary.requests, summary.duration,
                          e.connect + e.read + e.write + e.timeout + e.status))
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("%d %d\\n", value, count))
  end
  out:close()
end
"""


class Tally:
    """Requests, time and the latency histogram (microseconds) of one server, over rounds."""

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0
        self.errors = 0
        self.histogram: dict[int, int] = {}

    def add(self, text: str) -> None:
        for line in text.splitlines():
            if line.startswith("summary "):
                requests, duration_us, errors = (int(x) for x in line.split()[1:])
                self.requests += requests
                self.seconds += duration_us / 1e6
                self.errors += errors
            elif line.strip():
                value, count = (int(x) for x in line.split())
                self.histogram[value] = self.histogram.get(value, 0) + count

    def percentile_ms(self, p: float) -> float:
        total = sum(self.histogram.values())
        seen = 0
        for value in sorted(self.histogram):
            seen += self.histogram[value]
            if seen >= total * p / 100:
                return value / 1000
        return 0.0

    def result(self) -> dict[str, float]:
        return {
            "rps": self.requests / self.seconds,
            "p50_ms": self.percentile_ms(50),
            "p99_ms": self.percentile_ms(99),
            "errors": float(self.errors),
        }


def wrk_round(
    tally: Tally,
    base: str,
    prefix: str,
    key: str,
    id_file: Path,
    seconds: float,
    concurrency: int,
    seed: int,
) -> None:
    """One wrk run (C, one thread: the client does not take the servers' CPU) into ``tally``."""
    with tempfile.TemporaryDirectory(prefix="cdv-wrk-") as tmp:
        script, out = Path(tmp) / "read.lua", Path(tmp) / "out"
        script.write_text(_WRK_SCRIPT)
        env = dict(
            os.environ,
            CDV_BENCH_IDS=str(id_file),
            CDV_BENCH_PREFIX=prefix,
            CDV_BENCH_KEY=key,
            CDV_BENCH_SEED=str(seed),
            CDV_BENCH_OUT=str(out),
        )
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(seconds, 1):.0f}s"]
        subprocess.run(
            [*command, "-s", str(script), base], env=env, capture_output=True, text=True, check=True
        )
        tally.add(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of each server")
    parser.add_argument(
        "--no-redaction-cache",
        action="store_true",
        help="VAULT_REDACTION_CACHE=0: every note analysed on every read",
    )
    parser.add_argument(
        "--no-stored-redactions",
        action="store_true",
        help="import without redacting free text ahead of reads (customer-vault import "
        "--no-redact): every first read of a customer redacts its notes live",
    )
    parser.add_argument(
        "--warm-all",
        action="store_true",
        help="read every customer once before measuring: the steady state of a workload that "
        "reads the same customers again (redaction cache full), not a cold one",
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator (default wrk when installed: apt-get install wrk)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="wrk: seconds of load per server"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="wrk: the seconds split into this many rounds, alternating between the servers",
    )
    parser.add_argument("--serve-baseline", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        import uvicorn

        if args.workers > 1:  # uvicorn's workers import the app by name
            os.environ["CDV_BENCH_PLAIN_DB"] = args.serve_baseline
            sys.path.insert(0, str(HERE))
            uvicorn.run(
                "read:baseline_from_env",
                factory=True,
                host="127.0.0.1",
                port=args.port,
                log_level="warning",
                access_log=False,
                workers=args.workers,
            )
            return
        uvicorn.run(
            baseline_app(args.serve_baseline),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
        )
        return

    with tempfile.TemporaryDirectory(prefix="cdv-read-") as tmp:
        home = Path(tmp)
        ids, key, plain_db = seed(
            home, args.customers, stored_redactions=not args.no_stored_redactions
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update(
            VAULT_DATABASE_URL=f"sqlite:///{home / 'vault.db'}", VAULT_KEYS=str(home / "keys.toml")
        )
        if args.no_redaction_cache:
            env["VAULT_REDACTION_CACHE"] = "0"
        vault_port, plain_port = _free_port(), _free_port()
        workers = ["--workers", str(args.workers)]
        vault_proc = subprocess.Popen(
            [sys.executable, "-m", "vault", "serve", "--port", str(vault_port), *workers], env=env
        )
        plain_proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-baseline",
                str(plain_db),
                "--port",
                str(plain_port),
                *workers,
            ],
            env=env,
        )
        try:
            _wait(f"http://127.0.0.1:{vault_port}/healthz", vault_proc)
            _wait(f"http://127.0.0.1:{plain_port}/healthz", plain_proc)
            headers = {"Authorization": f"Bearer {key}", "X-Purpose": "claims_processing"}
            warm = max(args.requests // 10, 50)
            load(
                lambda i: f"http://127.0.0.1:{vault_port}/v1/customers/{i}",
                headers,
                ids,
                warm,
                args.concurrency,
            )  # loads the redaction engine, warms caches
            if args.warm_all:
                load(
                    lambda i: f"http://127.0.0.1:{vault_port}/v1/customers/{i}",
                    headers,
                    ids,
                    0,
                    args.concurrency,
                    each_once=True,
                )
            load(
                lambda i: f"http://127.0.0.1:{plain_port}/plain/{i}",
                {},
                ids,
                warm,
                args.concurrency,
            )
            if args.client == "wrk":
                # Rounds alternate between the servers (ABBA...), so that a machine
                # whose speed drifts during the run slows both alike.
                tallies = {"vault": Tally(), "plain": Tally()}
                targets = {
                    "vault": (f"http://127.0.0.1:{vault_port}", "/v1/customers/", key),
                    "plain": (f"http://127.0.0.1:{plain_port}", "/plain/", ""),
                }
                id_file = home / "ids"
                id_file.write_text("".join(f"{i}\n" for i in ids))
                per_round = args.seconds / args.rounds
                for n in range(args.rounds):
                    order = ("vault", "plain") if n % 2 == 0 else ("plain", "vault")
                    for name in order:
                        wrk_round(
                            tallies[name],
                            *targets[name],
                            id_file,
                            per_round,
                            args.concurrency,
                            seed=7 + n,
                        )
                vault, plain = tallies["vault"].result(), tallies["plain"].result()
            else:
                vault = load(
                    lambda i: f"http://127.0.0.1:{vault_port}/v1/customers/{i}",
                    headers,
                    ids,
                    args.requests,
                    args.concurrency,
                )
                plain = load(
                    lambda i: f"http://127.0.0.1:{plain_port}/plain/{i}",
                    {},
                    ids,
                    args.requests,
                    args.concurrency,
                )
        finally:
            for proc in (vault_proc, plain_proc):
                proc.terminate()
                proc.wait(timeout=30)
    amount = (
        f"{args.seconds:.0f} s in {args.rounds} alternating rounds"
        if args.client == "wrk"
        else f"{args.requests} requests"
    )
    print(
        f"{args.client}: {amount} each, concurrency {args.concurrency}, "
        f"{args.customers} customers, "
        f"{args.workers} worker(s) per server"
        + (", redaction cache off" if args.no_redaction_cache else "")
        + (", no stored redactions" if args.no_stored_redactions else "")
        + (", every customer read once before" if args.warm_all else "")
    )
    for name, r in (("vault GET /v1/customers/{id}", vault), ("baseline plaintext", plain)):
        print(
            f"  {name:32s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']:.0f}"
        )
    print(
        f"  ratio vault/baseline throughput = {vault['rps'] / plain['rps']:.2f} (target >= 0.5); "
        f"vault p99 {'<=' if vault['p99_ms'] <= 50 else '>'} 50 ms"
    )


if __name__ == "__main__":
    main()
