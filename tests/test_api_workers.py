"""The audit chain under ``customer-vault serve --workers N``: several processes, one chain.

Threads fire reads, searches, writes and denied requests at once at a server
with several uvicorn worker processes, on SQLite and on PostgreSQL.  Afterwards
the chain must verify (``customer-vault audit verify`` and ``/v1/audit/verify``),
be gapless, and hold exactly the events those requests imply -- no more, no
fewer, each under the request id that caused it.  A sampler checks that more
than one worker really served the burst, so the test cannot pass on one process.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from api_support import ServedApi, client, serving_subprocess
from helpers import resident_id

from vault.audit.records import events_table
from vault.policy import load_policies
from vault.services.customers import find_customers
from vault.services.importing import import_one
from vault.services.principals import add_principal
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
WORKERS = 3
THREADS = 8
ROUNDS = 6
ZHANG_ID = resident_id("11010519900307001")
EVENTS_PER_OPERATION = {"read": 1, "search": 1, "write": 2, "denied": 1}
"""Audit events one request of each kind leaves: a write records its intent and its result."""


def _seed(vault: Vault) -> uuid.UUID:
    import_one(
        vault,
        "customers",
        {
            "source_system": "crm",
            "source_id": "C1",
            "full_name": "张伟",
            "id_type": "resident_id",
            "id_number": ZHANG_ID,
            "mobile": "13812345678",
            "org_unit": "SH-01",
        },
    )
    return find_customers(vault, "id_number", ZHANG_ID)[0]


def _keys(vault: Vault) -> dict[str, str]:
    return {
        role: add_principal(
            vault,
            f"p-{role.replace('_', '-')}",
            role,
            known_roles=POLICIES.roles,
            org_unit="SH-01" if POLICIES.role(role).scope.value == "org_unit" else None,
        )[1]
        for role in ("claims_adjuster", "crm_integration", "analyst", "compliance_officer")
    }


def _burst(served: ServedApi, keys: dict[str, str], customer: uuid.UUID) -> list[tuple[str, str]]:
    """Every thread runs ``ROUNDS`` rounds of read, search, write, denied; (kind, request id)."""
    done: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    together = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        try:
            together.wait()
            for round_ in range(ROUNDS):
                # A fresh connection per round, so the kernel spreads them over the workers.
                with (
                    client(served.url, keys["claims_adjuster"], "claims_processing") as adjuster,
                    client(served.url, keys["crm_integration"], "customer_support") as crm,
                    client(served.url, keys["analyst"], "analytics") as analyst,
                ):
                    requests = [
                        ("read", adjuster.get(f"/v1/customers/{customer}"), 200),
                        (
                            "search",
                            adjuster.post("/v1/customers/search", json={"mobile": "13812345678"}),
                            200,
                        ),
                        (
                            "write",
                            crm.post(
                                f"/v1/customers/{customer}/interactions",
                                json={
                                    "occurred_at": "2025-01-01T00:00:00Z",
                                    "channel": "app",
                                    "direction": "inbound",
                                    "topic": f"t{thread}_{round_}",
                                },
                            ),
                            201,
                        ),
                        ("denied", analyst.get(f"/v1/customers/{customer}"), 403),
                    ]
                    for kind, response, status in requests:
                        assert response.status_code == status, (kind, response.text)
                        with lock:
                            done.append((kind, response.headers["x-request-id"]))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if failures:
        raise failures[0]
    return done


def _sample_workers(served: ServedApi, stop: threading.Event, seen: set[int]) -> None:
    """Record every worker seen holding a client connection while the burst runs."""
    while not stop.is_set():
        seen.update(pid for pid, held in served.connections_by_worker().items() if held)
        time.sleep(0.02)


def test_several_workers_serving_at_once_keep_one_gapless_valid_chain(
    vault: Vault, cli_env: dict[str, str], tmp_path: Path
) -> None:
    customer = _seed(vault)
    keys = _keys(vault)
    events = events_table()
    with vault.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    with serving_subprocess(cli_env, tmp_path, workers=WORKERS) as served:
        assert len(served.worker_pids()) == WORKERS
        stop, seen = threading.Event(), set[int]()
        sampler = threading.Thread(target=_sample_workers, args=(served, stop, seen))
        sampler.start()
        try:
            done = _burst(served, keys, customer)
        finally:
            stop.set()
            sampler.join()
        assert len(seen) >= 2, f"only workers {seen} served the burst"
        with client(served.url, keys["compliance_officer"], "audit_review") as officer:
            verified = officer.get("/v1/audit/verify")
    assert verified.status_code == 200
    assert verified.json()["ok"] is True, verified.json()

    assert len(done) == THREADS * ROUNDS * len(EVENTS_PER_OPERATION)
    expected_total = before + sum(EVENTS_PER_OPERATION[kind] for kind, _ in done)
    with vault.engine.connect() as conn:
        seqs = list(conn.execute(sa.select(events.c.seq).order_by(events.c.seq)).scalars())
        by_request = collections.Counter(
            conn.execute(sa.select(events.c.request_id).where(events.c.seq > before)).scalars()
        )
    assert seqs == list(range(1, expected_total + 1))  # gapless, nothing extra, nothing lost
    assert by_request == collections.Counter(
        {request_id: EVENTS_PER_OPERATION[kind] for kind, request_id in done}
    )

    result = subprocess.run(
        [sys.executable, "-m", "vault", "audit", "verify", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["events_checked"] == expected_total
    assert report["breaks"] == []


def test_the_cli_verifier_fails_a_chain_broken_after_a_multi_worker_run(
    vault: Vault, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The control for the test above: the same verification catches a deleted event."""
    customer = _seed(vault)
    keys = _keys(vault)
    with (
        serving_subprocess(cli_env, tmp_path, workers=2) as served,
        client(served.url, keys["claims_adjuster"], "claims_processing") as adjuster,
    ):
        for _ in range(5):
            assert adjuster.get(f"/v1/customers/{customer}").status_code == 200
    events = events_table()
    with vault.engine.begin() as conn:
        middle = conn.execute(sa.select(sa.func.max(events.c.seq))).scalar_one() - 2
        conn.execute(sa.delete(events).where(events.c.seq == middle))
    result = subprocess.run(
        [sys.executable, "-m", "vault", "audit", "verify", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False
