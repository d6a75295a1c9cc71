"""Group commit: concurrent requests share commits, each still waits for its own durable event."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import Future

import pytest
from helpers import read_event

from vault.audit import (
    AuditLog,
    public_keys_from_keyring,
    signer_from_keyring,
    verify_log,
)
from vault.audit.group import GroupCommitLog, await_durable, wait_durable
from vault.audit.log import chain_transaction
from vault.audit.records import RecordedEvent
from vault.errors import AuditUnavailable
from vault.policy import load_policies
from vault.services.access import AccessService, Pending
from vault.services.customers import find_customers
from vault.services.importing import import_one
from vault.services.principals import PrincipalInfo
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES


def test_concurrent_appends_are_all_recorded_once_in_a_valid_chain(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    results: dict[int, int] = {}

    def worker(start: int) -> None:
        for n in range(start, start + 25):
            results[n] = log.append(read_event(n)).seq

    threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sorted(results.values()) == list(range(1, 201))  # gapless, each event once
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
    assert report.ok
    assert report.events_checked == 200


def test_a_multi_event_submission_stays_together(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    recorded = log.append_all([read_event(1), read_event(2), read_event(3)])
    log.close()
    assert [r.seq for r in recorded] == [1, 2, 3]


def test_when_the_commit_fails_every_waiting_request_fails_closed(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    with vault.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        failures: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                log.append(read_event(n))
            except AuditUnavailable as exc:
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(failures) == 6
    finally:
        with vault.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
        log.close()


def test_submitted_events_release_held_data_only_once_committed(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    try:
        pending = Pending({"name": "held"}, log.submit([read_event(1)]))
        assert asyncio.run(pending.released()) == {"name": "held"}
        assert pending.result() == {"name": "held"}
        with vault.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar() == 1
    finally:
        log.close()


def test_held_data_is_never_released_when_its_event_fails_or_never_commits(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    with vault.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        failed = Pending("secret", log.submit([read_event(1)]))
        with pytest.raises(AuditUnavailable):
            failed.result()
        with pytest.raises(AuditUnavailable):
            asyncio.run(failed.released())
    finally:
        with vault.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
        log.close()
    never: Future[tuple[RecordedEvent, ...]] = Future()  # a commit that does not come back
    with pytest.raises(AuditUnavailable):
        wait_durable(never, timeout=0.05)  # what Pending.result waits on
    with pytest.raises(AuditUnavailable):
        asyncio.run(await_durable(never, timeout=0.05))  # and Pending.released


def test_a_waiter_that_gives_up_does_not_stop_the_writer(vault: Vault) -> None:
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)))
    try:
        with chain_transaction(vault.engine):  # the writer waits for the chain until we leave
            gone = log.submit([read_event(1)])
            assert gone.cancel()  # what asyncio does to the wrapped future of a cancelled request
        assert log.append(read_event(2)).seq == 2  # the writer answered the cancelled one and lives
    finally:
        log.close()


def test_a_plain_log_commits_a_submission_at_once_and_settles_its_outcome(vault: Vault) -> None:
    log = AuditLog(vault.engine, signer_from_keyring(vault.keyring))
    done = log.submit([read_event(1)])
    assert done.done()  # committed before submit returned
    assert [r.seq for r in done.result()] == [1]
    with vault.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        with pytest.raises(AuditUnavailable):
            Pending("secret", log.submit([read_event(2)])).result()
    finally:
        with vault.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")


def test_without_announced_requests_every_submission_is_committed_at_once(vault: Vault) -> None:
    gather = 2.0
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)), gather=gather)
    try:
        started = time.monotonic()
        for n in range(5):  # one client, one request after another: never held back
            wait_durable(log.submit([read_event(n)]))
        assert time.monotonic() - started < gather  # five gathers would take 10 s
    finally:
        log.close()


def test_a_busy_log_waits_for_announced_submissions_and_commits_them_together(
    vault: Vault,
) -> None:
    gather = 0.5
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)), gather=gather)
    try:
        alone = wait_durable(log.submit([read_event(1)]))
        with log.expect() as coming:  # another request is on its way to submitting
            second = log.submit([read_event(2)])
            time.sleep(gather / 5)
            third = log.submit([read_event(3)], coming)
        together = wait_durable(second) + wait_durable(third)
        # One transaction reads the clock once: the same time means the same commit.
        assert together[0].occurred_at == together[1].occurred_at != alone[0].occurred_at
        assert [r.seq for r in alone + together] == [1, 2, 3]
        with log.expect():  # a request that ends without submitting (a 401, a 404) ...
            pass
        started = time.monotonic()
        wait_durable(log.submit([read_event(4)]))  # ... holds nobody back afterwards
        assert time.monotonic() - started < gather
    finally:
        log.close()
    report = verify_log(vault.engine, public_keys_from_keyring(vault.keyring))
    assert report.ok


def test_a_held_read_waits_as_long_as_its_audit_log_says(vault: Vault) -> None:
    import_one(
        vault,
        "customers",
        {"source_system": "crm", "source_id": "T1", "full_name": "赵敏", "mobile": "13700001234"},
    )
    (customer_id,) = find_customers(vault, "mobile", "13700001234")
    policies = load_policies(PACKAGED_POLICIES / "roles.yaml")
    log = GroupCommitLog(AuditLog(vault.engine, signer_from_keyring(vault.keyring)), timeout=0.2)
    access = AccessService(vault, policies, log)
    who = PrincipalInfo(uuid.uuid4(), "svc-claims", "service", "claims_adjuster", None, False)
    caller = access.caller(who, "claims_processing", "req-held")
    try:
        with chain_transaction(vault.engine):  # the commit cannot happen while we hold the chain
            held = access.begin_read(caller, customer_id)
            started = time.monotonic()
            with pytest.raises(AuditUnavailable):
                held.result()
            assert time.monotonic() - started < 5  # the log's 0.2 s, not the default 30 s
    finally:
        log.close()
