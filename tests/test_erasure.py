"""Erasure by crypto-shredding: through the service, the HTTP API and the command line.

What an erasure must leave behind: no row of the customer in any table the schema
registry marks as its data, no wrapped data key, nothing the blind index can find,
an audit chain that still verifies and names the customer only by id, and an
authenticated tombstone beside the keyring.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_support import client, running_api
from lifecycle_support import NOTE, PEOPLE, rows_of, seed
from sqlalchemy.engine import make_url

from vault import schema
from vault.audit import AuditLog, public_keys_from_keyring, signer_from_keyring, verify_log
from vault.errors import IntegrityError, NotFoundError
from vault.policy import load_policies
from vault.services.customers import find_customers, read_customer
from vault.services.erasure import ERASURE_REQUEST, Operator, erase_as_operator, tombstones_of
from vault.services.principals import add_principal
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES, Settings
from vault.tombstones import tombstone_path

CLI = [sys.executable, "-m", "vault"]
POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")


def _audit(vault: Vault) -> AuditLog:
    return AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)


def _erase(vault: Vault, customer_id: uuid.UUID) -> dict[str, object]:
    return erase_as_operator(
        vault, _audit(vault), Operator(purpose=ERASURE_REQUEST), customer_id
    ).as_dict()


def _audit_text(vault: Vault) -> str:
    with vault.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_events ORDER BY seq")).mappings()
        return json.dumps([dict(r) for r in rows], default=str, ensure_ascii=False)


def _chain_ok(vault: Vault) -> bool:
    return verify_log(vault.engine, public_keys_from_keyring(vault.keyring)).ok


def _assert_gone(vault: Vault, customer_id: uuid.UUID, source: str) -> None:
    assert set(rows_of(vault, customer_id).values()) == {0}
    _, id_number, mobile, email = PEOPLE[source]
    for field, value in (("id_number", id_number), ("mobile", mobile), ("email", email)):
        assert find_customers(vault, field, value) == [], field
    with pytest.raises(NotFoundError):
        read_customer(vault, customer_id)


# --- the service ----------------------------------------------------------------------


def test_erasure_deletes_every_row_the_data_key_and_the_blind_index_entries(
    vault: Vault, tmp_path: Path
) -> None:
    ids = seed(vault, tmp_path)
    before = rows_of(vault, ids["C1"])
    assert all(before[t] >= 1 for t in ("customers", "data_keys", "source_links", "policies"))
    assert all(before[t] >= 1 for t in ("claims", "interactions", "consents"))

    result = _erase(vault, ids["C1"])

    assert result["outcome"] == "erased"
    assert result["rows_deleted"] == before
    _assert_gone(vault, ids["C1"], "C1")
    for other in ("C2", "C3", "C4"):  # nobody else is touched
        assert read_customer(vault, ids[other])["full_name"] == PEOPLE[other][0]
    assert _chain_ok(vault)


def test_the_audit_record_of_an_erasure_names_the_customer_by_id_only(
    vault: Vault, tmp_path: Path
) -> None:
    ids = seed(vault, tmp_path)
    _erase(vault, ids["C1"])
    text = _audit_text(vault)
    assert str(ids["C1"]) in text or ids["C1"].hex in text  # positive control
    assert '"erase"' in text
    for value in (*PEOPLE["C1"], NOTE, "13812345678"):
        assert value not in text


def test_erasing_twice_says_already_erased_and_an_unknown_id_is_not_found(
    vault: Vault, tmp_path: Path
) -> None:
    ids = seed(vault, tmp_path)
    first = _erase(vault, ids["C3"])
    again = _erase(vault, ids["C3"])
    assert again["outcome"] == "already_erased"
    assert again["erased_at"] == first["erased_at"]
    assert again["rows_deleted"] == {}
    with pytest.raises(NotFoundError):
        _erase(vault, uuid.uuid4())
    assert _chain_ok(vault)


def test_the_tombstone_is_private_authenticated_and_holds_no_pii(
    vault: Vault, tmp_path: Path
) -> None:
    ids = seed(vault, tmp_path)
    _erase(vault, ids["C1"])
    _erase(vault, ids["C2"])
    path = tombstone_path(vault.settings.keys_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="ascii")
    assert str(ids["C1"]) in text
    for value in (*PEOPLE["C1"], *PEOPLE["C2"]):
        assert value not in text
    assert [t.customer_id for t in tombstones_of(vault).entries()] == [ids["C1"], ids["C2"]]

    edited = text.replace(str(ids["C1"]), str(uuid.uuid4()))
    path.write_text(edited, encoding="ascii")
    with pytest.raises(IntegrityError, match="tombstone 1 is not authentic"):
        tombstones_of(vault).entries()
    path.write_text("".join(text.splitlines(keepends=True)[1:]), encoding="ascii")
    with pytest.raises(IntegrityError, match="out of sequence"):
        tombstones_of(vault).entries()


def test_every_table_holding_a_customer_reference_is_erased_with_it_except_the_audit_log() -> None:
    """A new child table must declare ``erased_with`` or erasure would leave its rows."""
    referencing = {
        t.name
        for t in schema.registry().values()
        if {f.name for f in t.fields} & {"customer_id", "subject_id"} or t.name == "customers"
    }
    erased = {t.name for t in schema.erased_with_customer()}
    assert referencing - erased == {"audit_event_customers"}
    order = [t.name for t in schema.erased_with_customer()]
    assert order.index("claims") < order.index("policies") < order.index("customers")


def test_on_sqlite_the_erased_ciphertext_and_wrapped_key_are_overwritten_on_disk(
    vault: Vault, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL keeps dead tuples until VACUUM (docs/lifecycle.md)")
    ids = seed(vault, tmp_path)
    with vault.engine.connect() as conn:
        wrapped = conn.execute(
            sa.text("SELECT wrapped FROM data_keys WHERE subject_id = :s"), {"s": ids["C1"].hex}
        ).scalar_one()
        sealed_name = conn.execute(
            sa.text("SELECT full_name FROM customers WHERE id = :s"), {"s": ids["C1"].hex}
        ).scalar_one()
    _erase(vault, ids["C1"])
    vault.close()
    database = Path(make_url(vault.settings.database_url).database or "")
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file())
    assert bytes(wrapped) not in raw
    assert bytes(sealed_name) not in raw


# --- the HTTP API ---------------------------------------------------------------------


@pytest.fixture
def api(
    vault: Vault, settings: Settings, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], dict[str, uuid.UUID]]]:
    ids = seed(vault, tmp_path)
    keys = {}
    for role in ("compliance_officer", "customer_service", "admin"):
        org_unit = "SH-01" if role == "customer_service" else None
        _, keys[role] = add_principal(
            vault,
            f"p-{role.replace('_', '-')}",
            role,
            known_roles=POLICIES.roles,
            org_unit=org_unit,
        )
    with running_api(settings) as url:
        yield url, keys, ids


def test_delete_erases_for_a_compliance_officer_with_purpose_erasure_request(
    api: tuple[str, dict[str, str], dict[str, uuid.UUID]], vault: Vault
) -> None:
    url, keys, ids = api
    with client(url, keys["compliance_officer"], "erasure_request") as officer:
        response = officer.delete(f"/v1/customers/{ids['C1']}")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["outcome"] == "erased"
        assert body["id"] == str(ids["C1"])
        assert body["rows_deleted"]["data_keys"] == 1
        again = officer.delete(f"/v1/customers/{ids['C1']}")
        assert again.status_code == 200
        assert again.json()["outcome"] == "already_erased"
        assert officer.delete(f"/v1/customers/{uuid.uuid4()}").status_code == 404
    with client(url, keys["compliance_officer"], "audit_review") as reader:
        assert reader.get(f"/v1/customers/{ids['C1']}").status_code == 404
    _assert_gone(vault, ids["C1"], "C1")
    assert _chain_ok(vault)
    text = _audit_text(vault)
    for value in PEOPLE["C1"]:
        assert value not in text


@pytest.mark.parametrize(
    ("role", "purpose"),
    [("customer_service", "customer_support"), ("admin", "administration"),
     ("compliance_officer", "audit_review")],
)  # fmt: skip
def test_delete_is_forbidden_and_audited_for_anyone_else(
    api: tuple[str, dict[str, str], dict[str, uuid.UUID]], vault: Vault, role: str, purpose: str
) -> None:
    url, keys, ids = api
    with client(url, keys[role], purpose) as other:
        response = other.delete(f"/v1/customers/{ids['C1']}")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert set(rows_of(vault, ids["C1"]).values()) != {0}
    with vault.engine.connect() as conn:
        denied = conn.execute(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE action = 'erase' AND outcome = 'denied'"
            )
        ).scalar_one()
    assert denied == 1


def test_delete_without_a_purpose_is_a_400(
    api: tuple[str, dict[str, str], dict[str, uuid.UUID]], vault: Vault
) -> None:
    url, keys, ids = api
    with client(url, keys["compliance_officer"], None) as officer:
        response = officer.delete(f"/v1/customers/{ids['C1']}")
    assert response.status_code == 400
    assert rows_of(vault, ids["C1"])["customers"] == 1


# --- the command line -----------------------------------------------------------------


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


def test_cli_erase_needs_yes_without_a_terminal_then_erases(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    ids = seed(vault, tmp_path)
    refused = _run(["erase", str(ids["C2"])], cli_env)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert rows_of(vault, ids["C2"])["customers"] == 1

    done = _run(["erase", str(ids["C2"]), "--yes", "--json"], cli_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "erased"
    _assert_gone(vault, ids["C2"], "C2")
    again = _run(["erase", str(ids["C2"]), "--yes"], cli_env)
    assert again.returncode == 0
    assert "already erased" in again.stdout
    assert _run(["erase", str(uuid.uuid4()), "--yes"], cli_env).returncode == 3
    assert _run(["erase", "not-a-uuid", "--yes"], cli_env).returncode == 2
    verify = _run(["audit", "verify", "--json"], cli_env)
    assert verify.returncode == 0
    assert json.loads(verify.stdout)["ok"] is True
    for result in (refused, done, again):
        assert "Traceback" not in result.stderr
        for value in PEOPLE["C2"]:
            assert value not in result.stdout + result.stderr


def test_cli_erase_asks_on_a_terminal(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import pty

    ids = seed(vault, tmp_path)
    for answer, expected in ((b"n\n", 1), (b"y\n", 0)):
        main, secondary = pty.openpty()
        process = subprocess.Popen(
            [*CLI, "erase", str(ids["C3"])],
            env=cli_env,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=secondary,
        )
        os.close(secondary)
        prompt = b""
        while b"[y/N]" not in prompt:
            prompt += os.read(main, 1024)
        os.write(main, answer)
        assert process.wait(timeout=120) == expected
        process.stdout.close()  # type: ignore[union-attr]
        os.close(main)
        assert rows_of(vault, ids["C3"])["customers"] == (1 if expected else 0)
