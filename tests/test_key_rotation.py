"""Key lifecycle: KEK rotation (online, resumable, survives kill -9), retirement, status,
audit-key rotation, and API workers that keep serving across a rotation made elsewhere."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import client, running_api
from helpers import customer, resident_id, write_csv

from vault.audit import public_keys_from_keyring, verify_log
from vault.demo_data import generate_demo_data
from vault.errors import ConflictError, KeyringError
from vault.keyring import load_keyring, read_keyring_document, write_keyring
from vault.keyring_edits import add_version, locked, promote, retire
from vault.services import keys as key_service
from vault.services.customers import read_customer
from vault.services.datakeys import load_data_keys
from vault.services.importing import ImportSources, import_files, import_one
from vault.services.principals import add_principal
from vault.services.runtime import Vault, open_vault
from vault.settings import PACKAGED_POLICIES, Settings
from vault.storage.tables import Customer, DataKeyRow, columns

ROLES = frozenset({"admin", "claims_adjuster", "customer_service", "crm_integration"})
CLI = [sys.executable, "-m", "vault"]


def _seed(vault: Vault, tmp_path: Path, n: int) -> list[uuid.UUID]:
    demo = generate_demo_data(tmp_path / "demo", n, seed=11)
    import_files(vault, ImportSources(customers=demo.customers, policies=demo.policies))
    with vault.engine.connect() as conn:
        return list(conn.execute(sa.select(columns(Customer).id)).scalars())


def _kek_usage(vault: Vault) -> dict[int, int]:
    return key_service.kek_usage(vault)


def _all_deks_open(settings: Settings) -> int:
    """Unwrap every stored DEK with a freshly opened vault; returns how many."""
    fresh = open_vault(settings)
    try:
        with fresh.engine.connect() as conn:
            ids = list(conn.execute(sa.select(columns(DataKeyRow).subject_id)).scalars())
            opened = load_data_keys(conn, fresh.provider, ids)
        assert len(opened) == len(ids)
        return len(ids)
    finally:
        fresh.close()


def _customers_bytes(vault: Vault) -> list[tuple[Any, ...]]:
    with vault.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(Customer.__table__).order_by("id"))]  # type: ignore[attr-defined]


def _backdate(keys_path: Path, family: str, version: int, days: int) -> None:
    """Pretend a key version was created ``days`` ago (the file keeps only dates)."""
    with locked(keys_path):
        doc = read_keyring_document(keys_path)
        entry = doc[family]["versions"][str(version)]
        entry["created_at"] = entry["created_at"] - dt.timedelta(days=days)
        write_keyring(keys_path, doc, overwrite=True)


# --------------------------------------------------------------------------- keyring edits


def test_keyring_edits_add_promote_retire_and_never_reuse_a_number(keys_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    assert add_version(keys_path, "kek", now=now) == 2
    ring = load_keyring(keys_path)
    assert ring.kek.primary == 1
    assert set(ring.kek.versions) == {1, 2}
    promote(keys_path, "kek", 2)
    with pytest.raises(KeyringError, match="primary"):
        retire(keys_path, "kek", 2, now=now)
    retire(keys_path, "kek", 1, now=now)
    ring = load_keyring(keys_path)
    assert set(ring.kek.versions) == {2}
    assert set(ring.kek.retired) == {1}
    assert "1" not in read_keyring_document(keys_path)["kek"]["versions"]
    assert add_version(keys_path, "kek", now=now) == 3  # 1 is retired, not free
    with pytest.raises(KeyringError, match="no live"):
        promote(keys_path, "kek", 1)
    assert os.stat(keys_path).st_mode & 0o777 == 0o600


def test_a_retired_version_with_key_material_left_in_it_is_refused(keys_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    add_version(keys_path, "kek", now=now)
    promote(keys_path, "kek", 2)
    retire(keys_path, "kek", 1, now=now)
    doc = read_keyring_document(keys_path)
    doc["kek"]["retired"]["1"]["key"] = doc["kek"]["versions"]["2"]["key"]
    write_keyring(keys_path, doc, overwrite=True)
    with pytest.raises(KeyringError, match="still holds key material"):
        load_keyring(keys_path)


def test_a_temp_file_left_by_a_killed_editor_is_cleared(keys_path: Path) -> None:
    stale = keys_path.with_name(f".{keys_path.name}.tmp-{os.getpid()}")
    stale.write_text("half a keyring", encoding="utf-8")
    add_version(keys_path, "index", now=dt.datetime.now(dt.UTC))
    assert not stale.exists()
    assert set(load_keyring(keys_path).index.versions) == {1, 2}


# --------------------------------------------------------------------------- KEK rotation


def test_rotation_rewraps_every_dek_and_touches_no_field(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    ids = _seed(vault, tmp_path, 120)
    before = {cid: read_customer(vault, cid) for cid in ids}
    fields_before = _customers_bytes(vault)
    result = key_service.rotate_kek(vault, batch_size=7)
    assert (result.to_version, result.resumed, result.remaining) == (2, False, 0)
    assert result.rewrapped == len(ids)
    assert _kek_usage(vault) == {2: len(ids)}
    assert _customers_bytes(vault) == fields_before  # not one field re-encrypted
    fresh = open_vault(settings)
    try:
        assert {cid: read_customer(fresh, cid) for cid in ids} == before
    finally:
        fresh.close()
    second = key_service.rotate_kek(vault)
    assert (second.to_version, second.from_versions, second.rewrapped) == (3, (2,), len(ids))


def test_rotation_resumes_a_version_added_but_never_promoted(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    ids = _seed(vault, tmp_path, 30)
    add_version(settings.keys_path, "kek", now=vault.clock())  # the run died right here
    result = key_service.rotate_kek(vault)
    assert (result.to_version, result.resumed) == (2, True)
    assert _kek_usage(vault) == {2: len(ids)}
    assert set(load_keyring(settings.keys_path).kek.versions) == {1, 2}


def test_rotation_resumes_a_half_done_rewrap_without_adding_a_version(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    ids = _seed(vault, tmp_path, 40)
    add_version(settings.keys_path, "kek", now=vault.clock())
    promote(settings.keys_path, "kek", 2)  # promoted, nothing re-wrapped yet
    result = key_service.rotate_kek(vault, batch_size=9)
    assert (result.to_version, result.resumed, result.rewrapped) == (2, True, len(ids))
    assert _kek_usage(vault) == {2: len(ids)}


def test_retirement_is_refused_while_used_or_too_soon_and_destroys_the_key_after(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    ids = _seed(vault, tmp_path, 25)
    add_version(settings.keys_path, "kek", now=vault.clock())
    promote(settings.keys_path, "kek", 2)
    with pytest.raises(ConflictError, match="still wraps 25 data keys"):
        key_service.retire_kek(vault, 1, grace=dt.timedelta(0))
    key_service.rotate_kek(vault)
    with pytest.raises(ConflictError, match="replaced less than"):
        key_service.retire_kek(vault, 1)
    with pytest.raises(ConflictError, match="primary"):
        key_service.retire_kek(vault, 2, grace=dt.timedelta(0))
    key_service.retire_kek(vault, 1, grace=dt.timedelta(0))
    assert 1 not in load_keyring(settings.keys_path).kek.versions
    assert _all_deks_open(settings) == len(ids)
    states = {(s.family, s.version): s.state for s in key_service.status(vault)}
    assert states[("kek", 1)] == "retired"
    assert states[("kek", 2)] == "primary"


def test_status_counts_deks_per_version_and_flags_keys_past_their_cryptoperiod(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    ids = _seed(vault, tmp_path, 10)
    _backdate(settings.keys_path, "index", 1, days=800)
    rows = {(s.family, s.version): s for s in key_service.status(vault)}
    assert rows[("kek", 1)].data_keys == len(ids)
    assert rows[("kek", 1)].state == "primary"
    assert rows[("index", 1)].past_cryptoperiod
    assert rows[("index", 1)].age_days >= 800
    assert not rows[("kek", 1)].past_cryptoperiod


def test_a_vault_opened_before_a_rotation_elsewhere_reads_and_writes_across_it(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """The running-worker case: another process rotates and retires; this one keeps going."""
    ids = _seed(vault, tmp_path, 40)
    before = {cid: read_customer(vault, cid) for cid in ids[:10]}
    other = open_vault(settings)
    try:
        key_service.rotate_kek(other)
        key_service.retire_kek(other, 1, grace=dt.timedelta(0))
    finally:
        other.close()
    assert {cid: read_customer(vault, cid) for cid in ids[:10]} == before
    import_one(vault, "customers", _person(9001))
    assert _kek_usage(vault) == {2: len(ids) + 1}  # the new DEK went under the new primary


def _person(n: int) -> dict[str, str]:
    return customer(
        source_system="fuzz",
        source_id=f"F{n}",
        full_name=f"测试{n % 97}号",
        id_type="resident_id",
        id_number=resident_id(f"110105199{n % 10}0101{n % 1000:03d}"),
        mobile=f"139{n:08d}",
        email=f"p{n}@example.com",
    )


def test_randomized_encrypt_read_rotate_fuzz(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """Many threads creating and reading customers while another 'process' keeps rotating.

    In the spirit of HashiCorp Vault's transit policy fuzzing: every read must return
    exactly what was written; the only errors allowed are none at all.
    """
    rng = random.Random(20261122)
    written: dict[uuid.UUID, str] = {}
    lock = threading.Lock()
    failures: list[str] = []
    stop = time.monotonic() + 6.0
    counter = iter(range(1, 10**6))

    def creator() -> None:
        while time.monotonic() < stop:
            with lock:
                n = next(counter)
            raw = _person(n)
            try:
                import_one(vault, "customers", raw)
                cid = _find(vault, raw["source_id"])
                with lock:
                    written[cid] = raw["email"]
            except Exception as exc:
                failures.append(f"create: {type(exc).__name__}: {exc}")

    def reader(seed: int) -> None:
        local = random.Random(seed)
        while time.monotonic() < stop:
            with lock:
                items = list(written.items())
            if not items:
                time.sleep(0.01)
                continue
            cid, email = local.choice(items)
            try:
                if read_customer(vault, cid)["email"] != email:
                    failures.append(f"read: wrong value for {cid}")
            except Exception as exc:
                failures.append(f"read: {type(exc).__name__}: {exc}")

    def rotator() -> None:
        other = open_vault(settings)  # a separate 'process' with its own keys in memory
        try:
            while time.monotonic() < stop:
                try:
                    key_service.rotate_kek(other, batch_size=rng.randint(1, 25))
                except Exception as exc:
                    failures.append(f"rotate: {type(exc).__name__}: {exc}")
                time.sleep(rng.random() * 0.2)
        finally:
            other.close()

    threads = [threading.Thread(target=creator) for _ in range(2)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=rotator))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    assert len(written) > 20
    versions = load_keyring(settings.keys_path).kek.versions
    assert len(versions) > 3  # it really rotated, several times
    final = key_service.rotate_kek(vault)
    assert final.remaining == 0
    fresh = open_vault(settings)
    try:
        for cid, email in written.items():
            assert read_customer(fresh, cid)["email"] == email
    finally:
        fresh.close()


def _find(vault: Vault, source_id: str) -> uuid.UUID:
    from vault.storage.tables import SourceLink

    link = columns(SourceLink)
    with vault.engine.connect() as conn:
        cid: uuid.UUID = conn.execute(
            sa.select(link.customer_id).where(link.source_id == source_id)
        ).scalar_one()
    return cid


# --------------------------------------------------------------------------- kill -9


def test_kill_9_at_random_points_never_leaves_a_dek_unreadable_and_a_rerun_finishes(
    vault: Vault, settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Real process kills (SIGKILL) of ``customer-vault keys rotate``, again and again."""
    ids = _seed(vault, tmp_path, 400)
    rng = random.Random(9)
    command = [*CLI, "--log-level", "WARNING", "keys", "rotate", "--batch-size", "5"]
    command += ["--pause", "0.01"]
    killed_mid_rewrap = 0
    for round_ in range(6):
        before = _kek_usage(vault)
        proc = subprocess.Popen(
            command, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if round_ % 2:  # anywhere: start-up, keyring edits, first batches
            time.sleep(rng.uniform(0.0, 2.0))
        else:  # surely mid-re-wrap: once the process is seen re-wrapping, a moment later
            _wait_for_rewrap(vault, settings, before, proc)
            time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert _all_deks_open(settings) == len(ids)  # every DEK unwraps after every kill
        usage = _kek_usage(vault)
        killed_mid_rewrap += len(usage) > 1
    assert killed_mid_rewrap >= 1, "no kill landed in the middle of a re-wrap"
    done = subprocess.run(
        [*CLI, "--log-level", "WARNING", "keys", "rotate", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    primary = load_keyring(settings.keys_path).kek.primary
    assert _kek_usage(vault) == {primary: len(ids)}
    assert _all_deks_open(settings) == len(ids)
    assert not list(settings.keys_path.parent.glob(".*.tmp-*"))


def _wait_for_rewrap(
    vault: Vault, settings: Settings, before: dict[int, int], proc: subprocess.Popen[bytes]
) -> None:
    """Until the newest KEK version wraps more DEKs than before the process started."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        newest = max(load_keyring(settings.keys_path).kek.versions)
        if _kek_usage(vault).get(newest, 0) > before.get(newest, 0):
            return
        time.sleep(0.02)


# --------------------------------------------------------------------------- audit key


def test_audit_key_rotation_keeps_the_chain_and_old_checkpoints_verifiable(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    from vault.audit import AuditLog, signer_from_keyring, verify_exported_checkpoint

    log = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
    old_checkpoint = log.checkpoint().to_json()
    result = key_service.rotate_audit_key(vault)
    assert result.to_version == 2
    ring = load_keyring(settings.keys_path)
    assert verify_log(vault.reader, public_keys_from_keyring(ring)).ok
    key_service.retire_version(vault, "audit", 1)
    ring = load_keyring(settings.keys_path)
    assert 1 not in ring.families["audit"].versions
    trusted = public_keys_from_keyring(ring)
    assert len(trusted) == 2  # the retired key's public half is still trusted
    assert verify_log(vault.reader, trusted).ok
    assert verify_exported_checkpoint(vault.reader, old_checkpoint, trusted).ok


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
def api(vault: Vault, settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    keys = {
        role: add_principal(vault, f"{role}-svc", role, known_roles=ROLES)[1]
        for role in sorted(ROLES)
    }
    serve = Settings.resolve(
        database_url=settings.database_url,
        keys_path=settings.keys_path,
        policies_dir=PACKAGED_POLICIES,
        env={},
    )
    with running_api(serve) as url:
        yield url, keys


def test_api_workers_keep_serving_every_customer_during_a_cli_rotation(
    api: tuple[str, dict[str, str]],
    vault: Vault,
    settings: Settings,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    url, keys = api
    ids = _seed(vault, tmp_path, 150)
    statuses: list[int] = []
    created: list[int] = []
    done = threading.Event()

    def read_loop() -> None:
        with client(url, keys["claims_adjuster"], "claims_processing") as http:
            i = 0
            while not done.is_set():
                statuses.append(http.get(f"/v1/customers/{ids[i % len(ids)]}").status_code)
                i += 1

    def write_loop() -> None:
        with client(url, keys["crm_integration"], "customer_support") as http:
            n = 0
            while not done.is_set():
                n += 1
                body = {"full_name": f"轮换{n}", "mobile": f"136{n:08d}"}
                created.append(http.post("/v1/customers", json=body).status_code)

    readers = [threading.Thread(target=read_loop) for _ in range(3)]
    readers.append(threading.Thread(target=write_loop))
    for t in readers:
        t.start()
    try:
        rotated = subprocess.run(
            [*CLI, "--log-level", "WARNING", "keys", "rotate", "--batch-size", "10"],
            env=cli_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        done.set()
        for t in readers:
            t.join(timeout=30)
    assert rotated.returncode == 0, rotated.stderr
    assert statuses
    assert set(statuses) == {200}
    assert created
    assert set(created) == {201}  # writes kept working too
    total = _count_customers(vault)
    if 1 in _kek_usage(vault):  # a write that straddled the promotion, committed after the sweeps
        assert key_service.rotate_kek(vault).to_version == 2  # resumes, adds no version
    assert _kek_usage(vault) == {2: total}
    assert total == len(ids) + len(created)
    key_service.retire_kek(vault, 1, grace=dt.timedelta(0))
    with client(url, keys["claims_adjuster"], "claims_processing") as http:
        assert {http.get(f"/v1/customers/{cid}").status_code for cid in ids} == {200}
    assert _all_deks_open(vault.settings) == total


def test_rotate_endpoint_is_for_admins_only_and_audited(
    api: tuple[str, dict[str, str]], vault: Vault, tmp_path: Path
) -> None:
    url, keys = api
    ids = _seed(vault, tmp_path, 20)
    with client(url, keys["customer_service"], "customer_support") as http:
        denied = http.post("/v1/admin/keys/rotate", json={})
        assert denied.status_code == 403
    with client(url, keys["admin"]) as http:
        assert http.post("/v1/admin/keys/rotate", json={}).status_code == 400  # no purpose
    with client(url, keys["admin"], "administration") as http:
        bad = http.post("/v1/admin/keys/rotate", json={"family": "pseudonym"})
        assert bad.status_code == 422
        response = http.post("/v1/admin/keys/rotate", json={"batch_size": 8})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["to_version"], body["rewrapped"], body["remaining"]) == (2, len(ids), 0)
        status = http.get("/v1/admin/keys").json()
        kek = {v["version"]: v for v in status["versions"] if v["family"] == "kek"}
        assert kek[2]["state"] == "primary"
        assert kek[2]["data_keys"] == len(ids)
        assert http.post("/v1/admin/keys/rotate", json={"family": "audit"}).status_code == 200
    with vault.engine.connect() as conn:
        events = conn.exec_driver_sql(
            "SELECT role, action, outcome FROM audit_events WHERE action = 'rotate_keys' "
            "OR (role = 'customer_service' AND outcome = 'denied') ORDER BY seq"
        ).all()
    assert [tuple(e) for e in events] == [
        ("customer_service", "rotate_keys", "denied"),
        ("admin", "rotate_keys", "allowed"),
        ("admin", "rotate_keys", "allowed"),
        ("admin", "rotate_keys", "allowed"),
        ("admin", "rotate_keys", "allowed"),
    ]
    assert verify_log(vault.reader, public_keys_from_keyring(vault.current_keyring())).ok


def test_cli_status_json_and_retire_errors(
    vault: Vault, settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    _seed(vault, tmp_path, 5)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "--log-level", "WARNING", "keys", *args],
            env=cli_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert run("rotate").returncode == 0
    refused = run("retire", "--version", "1", "--yes")
    assert refused.returncode == 2
    assert "replaced less than" in refused.stderr
    assert "Traceback" not in refused.stderr
    _backdate(settings.keys_path, "kek", 2, days=800)
    assert run("retire", "--version", "2", "--yes").returncode == 2  # primary
    assert run("retire", "--version", "1").returncode == 2  # no --yes off a terminal
    assert run("retire", "--version", "1", "--yes").returncode == 0
    import json

    status = json.loads(run("status", "--json").stdout)
    kek = {v["version"]: v for v in status["versions"] if v["family"] == "kek"}
    assert kek[1]["state"] == "retired"
    assert kek[2]["past_cryptoperiod"] is True
    assert status["past_cryptoperiod"] == 1


# --------------------------------------------------------------------------- index key


def _digests(vault: Vault) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    with vault.engine.connect() as conn:
        for table, column in (
            ("customers", "id_number_bidx"),
            ("customers", "mobile_bidx"),
            ("customers", "email_bidx"),
            ("customers", "name_mobile_bidx"),
            ("policies", "policy_number_bidx"),
            ("claims", "claim_number_bidx"),
        ):
            found = conn.exec_driver_sql(f"SELECT {column} FROM {table}").scalars()
            out[f"{table}.{column}"] = {bytes(d) for d in found if d is not None}
    return out


def _import_demo(vault: Vault, demo: Any) -> Any:
    return import_files(
        vault,
        ImportSources(customers=demo.customers, policies=demo.policies, claims=demo.claims),
    )


def test_reindex_under_an_unchanged_key_changes_nothing(vault: Vault, tmp_path: Path) -> None:
    """The re-index forms digests exactly as the importer does."""
    from vault.services.reindexing import reindex

    _import_demo(vault, generate_demo_data(tmp_path / "demo", 60, seed=5))
    before = _digests(vault)
    assert all(before.values())
    assert reindex(vault, batch_size=7) == 0
    assert _digests(vault) == before


def test_index_key_rotation_keeps_search_and_identity_resolution_working_throughout(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    from vault.services.customers import find_customers

    demo = generate_demo_data(tmp_path / "demo", 60, seed=5)
    _import_demo(vault, demo)
    before = _digests(vault)
    people = _people(vault, 8)
    count = _count_customers(vault)

    # An interrupted rotation: the new index key is primary, nothing re-indexed yet.
    add_version(settings.keys_path, "index", now=vault.clock())
    promote(settings.keys_path, "index", 2)
    for cid, values in people.items():
        for field in ("id_number", "mobile", "email"):
            if values.get(field):
                assert find_customers(vault, field, values[field]) == [cid]
    # The same people from another source system: matched on ID number or name + mobile
    # digests under the *old* key (not yet re-indexed), merged, never duplicated.
    branch = _as_other_source(demo.customers, tmp_path / "branch.csv")
    again = import_files(vault, ImportSources(customers=branch)).totals()
    assert _count_customers(vault) == count
    assert again["imported"] == 0
    assert again["merged"] > 50
    with pytest.raises(ConflictError, match="not all under index version 2"):
        key_service.retire_version(vault, "index", 1, grace=dt.timedelta(0))

    result = key_service.rotate_index_key(vault, batch_size=9)  # resumes: no version 3
    assert (result.to_version, result.resumed) == (2, True)
    after = _digests(vault)
    for column, digests in after.items():
        assert digests.isdisjoint(before[column]), column  # every digest re-computed
        assert len(digests) == len(before[column])
    key_service.retire_version(vault, "index", 1, grace=dt.timedelta(0))
    assert set(load_keyring(settings.keys_path).index.versions) == {2}
    fresh = open_vault(settings)
    try:
        for cid, values in people.items():
            for field in ("id_number", "mobile", "email"):
                if values.get(field):
                    assert find_customers(fresh, field, values[field]) == [cid]
        assert _import_demo(fresh, demo).totals()["imported"] == 0
        assert _count_customers(fresh) == count
    finally:
        fresh.close()


def _as_other_source(path: Path, out: Path) -> Path:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["source_system"] = "branch"
        row["source_id"] = "BR-" + row["source_id"]
    return write_csv(out, rows, list(rows[0]))


def _people(vault: Vault, n: int) -> dict[uuid.UUID, dict[str, Any]]:
    with vault.engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.select(columns(Customer).id).where(columns(Customer).id_number.is_not(None))
            ).scalars()
        )[:n]
    return {cid: read_customer(vault, cid) for cid in ids}


def _count_customers(vault: Vault) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one())


def test_an_unwrap_retries_when_another_thread_reloaded_the_keyring_first(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """The race behind a 500 seen during a rotation: thread A fails to unwrap under a KEK
    version it has not loaded; thread B re-reads the file before A does, so A's own
    re-read finds nothing changed. A must still retry with the keyring B loaded."""
    from vault.live_keyring import LiveKeyProvider

    ids = _seed(vault, tmp_path, 5)
    other = open_vault(settings)
    try:
        key_service.rotate_kek(other)  # DEKs now under version 2, which `vault` never loaded
    finally:
        other.close()
    provider = vault.provider
    assert isinstance(provider, LiveKeyProvider)
    live = provider._live
    stale = live.provider(check=False)

    class ReloadedMeanwhile:
        """The stale provider, as thread A holds it while thread B reloads the file."""

        def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> object:
            try:
                return stale.unwrap(kek_version, wrapped, aad)
            finally:
                assert live.refresh()  # thread B got there first

    live._provider = ReloadedMeanwhile()  # type: ignore[assignment]
    with vault.engine.connect() as conn:
        key = load_data_keys(conn, vault.provider, [ids[0]])
    assert set(key) == {ids[0]}
