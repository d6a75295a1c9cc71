"""Encrypted backup and verified restore, on SQLite and PostgreSQL, with real pg_dump and psql.

A round trip restores into an empty vault and reads every customer back; a
tampered or truncated archive is refused before the database is touched; the
archive holds no plaintext (byte scan with positive controls); and a backup
taken before an erasure does not bring the customer back.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import stat
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from lifecycle_support import PEOPLE, rows_of, seed
from sqlalchemy.engine import make_url

from vault.audit import AuditLog, public_keys_from_keyring, signer_from_keyring, verify_log
from vault.backup_archive import FORMAT, MAGIC, open_archive
from vault.demo_data import generate_demo_data
from vault.errors import IntegrityError, KeyringError, ValidationError
from vault.keyring import read_keyring_document, write_keyring
from vault.services import backup as backup_service
from vault.services.customers import find_customers, read_customer
from vault.services.erasure import ERASURE_REQUEST, Operator, erase_as_operator
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings
from vault.tombstones import tombstone_path

CLI = [sys.executable, "-m", "vault"]
PG_ADMIN_URL = os.environ.get(
    "VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SMALL_CHUNKS = 4096


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ids(vault: Vault) -> list[uuid.UUID]:
    from vault.storage.tables import Customer, columns

    with vault.reader.connect() as conn:
        return sorted(conn.execute(sa.select(columns(Customer).id)).scalars())


def _erase(vault: Vault, customer_id: uuid.UUID) -> None:
    audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
    erase_as_operator(vault, audit, Operator(purpose=ERASURE_REQUEST), customer_id)


@pytest.fixture
def demo_files(tmp_path: Path) -> ImportSources:
    demo = generate_demo_data(tmp_path / "demo", 40, seed=11)
    return ImportSources(
        demo.customers, demo.policies, demo.claims, demo.interactions, demo.consents
    )


@pytest.fixture
def stocked(vault: Vault, tmp_path: Path, demo_files: ImportSources) -> dict[str, uuid.UUID]:
    """The test vault with demo customers and the four lifecycle customers."""
    import_files(vault, demo_files)
    return seed(vault, tmp_path)


@pytest.fixture
def empty_settings(backend: str, tmp_path: Path, keys_path: Path) -> Iterator[Settings]:
    """Settings of a second, empty vault (no schema at all) sharing the keyring."""
    if backend == "sqlite":
        yield Settings.resolve(
            database_url=f"sqlite:///{tmp_path / 'restored' / 'vault.db'}",
            keys_path=keys_path,
            env={},
        )
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cdv_restore_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        admin.dispose()
        pytest.skip("PostgreSQL is not reachable")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield Settings.resolve(database_url=url, keys_path=keys_path, env={})
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _never(question: str) -> bool:
    raise AssertionError(f"asked for confirmation on an empty database: {question}")


def _always(question: str) -> bool:
    return True


# --- round trip -----------------------------------------------------------------------


def test_a_restore_into_an_empty_vault_reads_every_customer_back_identically(
    vault: Vault, stocked: dict[str, uuid.UUID], empty_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "vault.cvb"
    written = backup_service.backup(vault, archive)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert written["row_counts"]["customers"] == len(_ids(vault)) >= 40
    assert written["backend"] == vault.engine.dialect.name

    restored = backup_service.restore(empty_settings, archive, confirm=_never)

    assert restored["tombstones_reapplied"] == 0
    for table, count in written["row_counts"].items():
        assert restored["row_counts"][table] == count, table
    other = open_vault(empty_settings)
    try:
        assert _ids(other) == _ids(vault)
        for customer_id in _ids(vault):
            assert read_customer(other, customer_id) == read_customer(vault, customer_id)
        assert find_customers(other, "mobile", PEOPLE["C1"][2]) == [stocked["C1"]]
        assert verify_log(other.engine, public_keys_from_keyring(other.keyring)).ok
    finally:
        other.close()


def test_a_backup_never_overwrites_a_file(vault: Vault, tmp_path: Path) -> None:
    existing = tmp_path / "taken.cvb"
    existing.write_bytes(b"precious")
    with pytest.raises(ValidationError, match="already exists"):
        backup_service.backup(vault, existing)
    assert existing.read_bytes() == b"precious"
    assert list(tmp_path.glob(".taken.cvb.tmp-*")) == []


# --- no plaintext in the archive ------------------------------------------------------


def _seeded_values(sources: ImportSources) -> set[str]:
    values: set[str] = set()
    with sources.customers.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        for row in csv.DictReader(fh):
            for column in ("full_name", "id_number", "mobile", "email", "address"):
                value = (row.get(column) or "").strip()
                if len(value.encode()) >= 6:
                    values.add(value)
    return values


def test_the_archive_holds_no_plaintext_pii(
    vault: Vault, stocked: dict[str, uuid.UUID], demo_files: ImportSources, tmp_path: Path
) -> None:
    archive = tmp_path / "vault.cvb"
    backup_service.backup(vault, archive)
    raw = archive.read_bytes()
    plain = io.BytesIO()
    with archive.open("rb") as fh:
        open_archive(fh, vault.keyring.backup, plain)
    # Positive controls: the scan sees the manifest, and a value stored in clear in the
    # database (a source id) is in the decrypted snapshot yet nowhere in the archive.
    assert FORMAT.encode() in raw
    with demo_files.customers.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        first_source_id = next(csv.DictReader(fh))["source_id"].encode()
    assert first_source_id in plain.getvalue()
    assert first_source_id not in raw
    values = _seeded_values(demo_files) | {v for p in PEOPLE.values() for v in p}
    assert len(values) > 100
    leaked = [v for v in values if v.encode() in raw]
    assert leaked == []


# --- tampering ------------------------------------------------------------------------


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every chunk frame."""
    (header_len,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    offset = len(MAGIC) + 4 + header_len
    frames = []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        frames.append((offset, 4 + length))
        offset += 4 + length
    return frames


def _tamper(data: bytes, how: str) -> bytes:
    frames = _frames(data)
    assert len(frames) >= 4
    if how == "header":
        at = data.index(b'"created_at": "') + len('"created_at": "') + 2
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    if how == "middle_chunk":
        offset, length = frames[len(frames) // 2]
        at = offset + length // 2
        return data[:at] + bytes([data[at] ^ 0x80]) + data[at + 1 :]
    if how == "truncated":
        return data[: frames[-1][0]]
    if how == "swapped":
        (a, la), (b, lb) = frames[1], frames[2]
        assert la == lb
        return data[:a] + data[b : b + lb] + data[a : a + la] + data[b + lb :]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["header", "middle_chunk", "truncated", "swapped"])
def test_a_tampered_archive_is_refused_and_the_database_is_untouched(
    vault: Vault, stocked: dict[str, uuid.UUID], tmp_path: Path, how: str
) -> None:
    archive = tmp_path / "vault.cvb"
    backup_service.backup(vault, archive, chunk_bytes=SMALL_CHUNKS)
    tampered = tmp_path / f"{how}.cvb"
    tampered.write_bytes(_tamper(archive.read_bytes(), how))
    # A change after the backup: a restore that went ahead would undo it.
    add_principal(vault, "p-after-backup", "admin", known_roles=frozenset({"admin"}))
    before = _ids(vault)

    with pytest.raises(IntegrityError, match="failed verification"):
        backup_service.restore(vault.settings, tampered, confirm=_always)

    assert _ids(vault) == before
    with vault.reader.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM principals")).scalar_one() == 1


def test_the_cli_backs_up_refuses_tampering_with_exit_4_and_restores_with_yes(
    vault: Vault, stocked: dict[str, uuid.UUID], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    archive = tmp_path / "cli.cvb"
    made = _run(["backup", str(archive), "--json"], cli_env)
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["row_counts"]["customers"] >= 44
    assert len(manifest["plaintext_sha256"]) == 64
    assert _run(["backup", str(archive)], cli_env).returncode == 2  # never clobbers

    broken = tmp_path / "broken.cvb"
    data = archive.read_bytes()
    broken.write_bytes(data[:-1])
    refused = _run(["restore", str(broken), "--yes"], cli_env)
    assert refused.returncode == 4
    assert "failed verification" in refused.stderr
    assert "Traceback" not in refused.stderr

    not_confirmed = _run(["restore", str(archive)], cli_env)  # non-empty, no terminal, no --yes
    assert not_confirmed.returncode == 2
    assert "--yes" in not_confirmed.stderr

    _erase(vault, stocked["C3"])  # after the backup
    restored = _run(["restore", str(archive), "--yes", "--json"], cli_env)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["tombstones_reapplied"] == 1
    assert rows_of(vault, stocked["C3"])["customers"] == 0
    assert rows_of(vault, stocked["C1"])["customers"] == 1


def test_an_archive_of_the_other_backend_is_refused_with_a_clear_message(
    vault: Vault, stocked: dict[str, uuid.UUID], tmp_path: Path, backend: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    archive = tmp_path / "vault.cvb"
    backup_service.backup(vault, archive)
    if backend == "sqlite":
        other_url = request.getfixturevalue("pg_database_url")
    else:
        other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Settings.resolve(database_url=other_url, keys_path=vault.settings.keys_path, env={})
    with pytest.raises(ValidationError, match=f"backup of a {backend} vault"):
        backup_service.restore(other, archive, confirm=_always)


# --- erasure survives restore ---------------------------------------------------------


def test_an_erasure_survives_the_restore_of_a_backup_taken_before_it(
    vault: Vault, stocked: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    archive = tmp_path / "before-erasure.cvb"
    backup_service.backup(vault, archive)
    _erase(vault, stocked["C1"])

    result = backup_service.restore(vault.settings, archive, confirm=_always)

    assert result["tombstones_reapplied"] == 1
    assert set(rows_of(vault, stocked["C1"]).values()) == {0}
    assert find_customers(vault, "id_number", PEOPLE["C1"][1]) == []
    assert rows_of(vault, stocked["C2"])["customers"] == 1
    assert verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).ok


def test_an_erasure_recorded_only_in_the_replaced_databases_audit_log_is_reapplied_too(
    vault: Vault, stocked: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    """E.g. erased through another host whose tombstone file this one does not have."""
    archive = tmp_path / "before-erasure.cvb"
    backup_service.backup(vault, archive)
    _erase(vault, stocked["C2"])
    tombstone_path(vault.settings.keys_path).unlink()

    result = backup_service.restore(vault.settings, archive, confirm=_always)

    assert result["tombstones_reapplied"] == 1
    assert rows_of(vault, stocked["C2"])["customers"] == 0
    assert tombstone_path(vault.settings.keys_path).exists()  # remembered from now on


def test_a_keyring_without_a_backup_key_is_refused_and_init_adds_one(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = vault.settings.keys_path
    document = read_keyring_document(path)
    del document["backup"]
    write_keyring(path, document, overwrite=True)
    old = open_vault(vault.settings)
    try:
        with pytest.raises(KeyringError, match="customer-vault init"):
            backup_service.backup(old, tmp_path / "x.cvb")
    finally:
        old.close()
    result = _run(["init", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keyring_families_added"] == ["backup"]
    upgraded = read_keyring_document(path)
    assert upgraded["kek"] == document["kek"]
    assert "backup" in upgraded
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_restore_refuses_a_file_that_is_not_an_archive(vault: Vault, tmp_path: Path) -> None:
    junk = tmp_path / "junk.cvb"
    junk.write_bytes(b"hello world, not a backup")
    with pytest.raises(ValidationError, match="not a customer-vault backup"):
        backup_service.restore(vault.settings, junk, confirm=_always)
